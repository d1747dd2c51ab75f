#!/usr/bin/env python
"""Segment images with a segmentor, each whole, and save the results at each image's resolution.

A command line over `mmseg_adala.apis.AdaLAInferencer` (see there for --scale and --mode) and
the image files around it (`mmseg_adala.apis.image_files`).

Usage:
    python tools/infer.py configs/adala_dinov2_l_ade20k.py work_dirs/adala/iter_160000.pth \\
        photo.jpg photos/ 'scans/*.png' --out-dir work_dirs/infer --device cuda
    # Smoke test with random weights:
    python tools/infer.py configs/tiny/adala_upernet_synthetic_tiny.py none big.jpg \\
        --out-dir work_dirs/infer --device cpu --cfg-options model.backbone.init_cfg=None

For each image `<stem>.<ext>`, --out-dir receives `<stem>_labels.png` (uint8 class ids),
`<stem>_mask.png` (the ids in the dataset's palette colours) and `<stem>_overlay.jpg`.
Files with these names found in input folders or patterns are taken for outputs of an
earlier run and skipped. Before any image is computed the tool stops if an argument matches
no image, if an output would overwrite a file that the arguments match, or if --out-dir
cannot be written. An image above --max-pixels, or of an aspect ratio the model cannot take
at the chosen scale, fails (and only it) before it is decoded, its header says so.
"""
import argparse
import sys
import time
from pathlib import Path

import torch
from mmengine.config import DictAction
from mmengine.utils import ProgressBar

from mmseg_adala.apis import (AdaLAInferencer, ImageInputError, check_no_input_is_overwritten, check_writable,
                              colour_table, find_images, read_image, save_outputs)
from mmseg_adala.apis.image_files import OUTPUT_SUFFIXES
from mmseg_adala.apis.inferencer import DTYPES
from mmseg_adala.datasets.image_size import DEFAULT_MAX_PIXELS, header_size
from mmseg_adala.engine import CheckpointMismatchError
from mmseg_adala.engine.checkpoint_file import CheckpointFileError


def parse_scale(text: str):
    """'config', 'native', or 'WxH' as a (W, H) tuple, the `scale` of MMSeg's Resize."""
    if text in ('config', 'native'):
        return text
    try:
        width, height = map(int, text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'config', 'native' or WxH such as 2048x512, got {text!r}")
    return width, height


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Segment images and write <stem>_labels.png, <stem>_mask.png and '
                    '<stem>_overlay.jpg per image. Exits with status 1 if any image failed '
                    '(the others are still processed), and before any work if an input matches no '
                    'image, an output would overwrite an input or --out-dir cannot be written.')
    parser.add_argument('config', help='segmentor config file')
    parser.add_argument('checkpoint', help="segmentor checkpoint from tools/train.py, or 'none' "
                                           'for random weights (smoke tests)')
    parser.add_argument('inputs', nargs='+', metavar='INPUT',
                        help="image files, folders (not recursive) or quoted glob patterns")
    parser.add_argument('--out-dir', required=True, help='folder for the outputs (created)')
    parser.add_argument('--scale', type=parse_scale, default='config', metavar='{config,native,WxH}',
                        help="config (default): resize as the config's test pipeline does (its Resize), "
                             "to the scale the model was trained at; native: no resizing; WxH: "
                             "Resize(scale=(W, H), keep_ratio=True), i.e. long side <= max(W, H) and short "
                             "side <= min(W, H). Outputs are at each input's own resolution either way")
    parser.add_argument('--mode', choices=['whole', 'slide'], default='whole',
                        help='whole: each image in one forward pass; slide: MMSeg sliding window')
    parser.add_argument('--crop-size', type=int, default=512, help='slide mode: window side')
    parser.add_argument('--stride', type=int, default=341, help='slide mode: window step')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu',
                        help='cpu, cuda or cuda:N (default: cuda if available)')
    parser.add_argument('--dtype', choices=DTYPES, default='float32',
                        help='bfloat16/float16: autocast over float32 weights (attention statistics stay float32)')
    parser.add_argument('--opacity', type=float, default=0.5, help='weight of the mask in the overlay')
    parser.add_argument('--max-pixels', type=int, default=None,
                        help="refuse images with more pixels, from their header, before decoding (default: the "
                             f"config's max_image_pixels, else {DEFAULT_MAX_PIXELS} = 16384^2)")
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    """Runs the tool; returns the exit status: 1 if any image failed, else 0."""
    args = parse_args(argv)
    out_dir = Path(args.out_dir)
    try:
        images, skipped = find_images(args.inputs)
        if skipped:
            names = ', '.join(p.name for p in skipped[:3]) + (', ...' if len(skipped) > 3 else '')
            print(f'skipped {len(skipped)} files named like outputs of this tool '
                  f'(*{", *".join(OUTPUT_SUFFIXES)}): {names}')
        check_no_input_is_overwritten(images, skipped, out_dir)
        check_writable(out_dir)
        inferencer = AdaLAInferencer(
            args.config, None if args.checkpoint.lower() == 'none' else args.checkpoint, scale=args.scale,
            mode=args.mode, crop_size=args.crop_size, stride=args.stride, device=args.device,
            cfg_options=args.cfg_options, dtype=args.dtype, max_pixels=args.max_pixels)
    except (ImageInputError, CheckpointFileError, CheckpointMismatchError) as error:
        raise SystemExit(f'error: {error}')
    inferencer.show_progress = False  # one bar over all images below, not one per image
    colours = colour_table((inferencer.model.dataset_meta or {}).get('palette'))

    failed = []
    bar = ProgressBar(len(images))
    start = time.perf_counter()
    for path in images:
        try:
            size = header_size(str(path))
            if size is not None:
                inferencer.check_input_size(str(path), size)
            image = read_image(path)  # decoded once, for the forward pass and the overlay
            labels = inferencer(image)['predictions']
            save_outputs(out_dir, path, image, labels, colours, args.opacity)
        except Exception as error:  # one unreadable image (or one too large) must not stop the rest
            failed.append(path)
            said = str(error).removeprefix(f'{path}: ')  # an ImageSizeError names the file itself
            print(f'\nfailed: {path}: {type(error).__name__}: {said}', file=sys.stderr, flush=True)
        bar.update()
    seconds = (time.perf_counter() - start) / len(images)
    print(f'\n{len(images) - len(failed)} images done, {len(failed)} failed, '
          f'{seconds:.2f} s per image; outputs in {out_dir}')
    for path in failed:
        print(f'failed: {path}', file=sys.stderr)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
