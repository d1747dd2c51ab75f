#!/usr/bin/env python
"""Segment images with a segmentor, each whole, and save the results at each image's resolution.

Linear attention's cost grows linearly with the number of pixels, so a whole 2048x2048 or
4096x4096 image fits in one forward pass (`--mode whole`, the default); `--mode slide` runs
MMSeg's sliding window instead, for comparison. Before either, an image is resized as the
config's test pipeline resizes (`--scale config`, the default: ADE20K configs bring the short
side to 512, the scale the model was trained at), or not at all (`--scale native`: a model
trained at short side 512 then sees a 4096-px photo at 8x its training scale), or to
`--scale WxH`. The outputs always have the input image's own resolution.

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
cannot be written.
"""
import argparse
import glob
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import List, Sequence, Tuple

import cv2
import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.dataset import Compose
from mmengine.utils import ProgressBar
from mmseg.apis import init_model

from mmseg_adala.engine import CheckpointMismatchError, load_segmentor_checkpoint
from mmseg_adala.engine.checkpoint_file import CheckpointFileError

IMAGE_SUFFIXES = {'.jpg', '.jpeg', '.png', '.webp', '.bmp', '.tif', '.tiff'}
OUTPUT_SUFFIXES = ('_labels.png', '_mask.png', '_overlay.jpg')
IGNORE_INDEX = 255


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
    parser.add_argument('--opacity', type=float, default=0.5, help='weight of the mask in the overlay')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings')
    return parser.parse_args(argv)


def find_images(inputs: Sequence[str]) -> Tuple[List[Path], List[Path]]:
    """Expands files, folders and glob patterns to the images to segment, sorted, without
    duplicates, and the files skipped as outputs of an earlier run (both resolved).

    Files named explicitly are kept whatever their name (the user asked for them); folders
    and patterns contribute image suffixes only, so stray files there are not reported as
    failures, and not our own output names, so a second run does not segment the first one's
    label maps. An argument that matches no image is an error, reported with all others like
    it before any work: a typo must not silently shrink the run.
    """
    found, skipped, unmatched = set(), set(), []
    for item in inputs:
        path = Path(item)
        if path.is_file():
            found.add(path.resolve())
            continue
        candidates = path.iterdir() if path.is_dir() else map(Path, glob.glob(item))
        images = {p.resolve() for p in candidates if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES}
        outputs = {p for p in images if p.name.endswith(OUTPUT_SUFFIXES)}
        found |= images - outputs
        skipped |= outputs
        if images == outputs:  # nothing to segment from this argument
            if not (path.is_dir() or glob.has_magic(item)):
                reason = 'no such file or folder'
            else:
                kind = 'folder' if path.is_dir() else 'pattern'
                reason = f'{kind} without images ({", ".join(sorted(IMAGE_SUFFIXES))})'
                if outputs:
                    reason += ' other than outputs of this tool'
            unmatched.append(f'  {item}: {reason}')
    if unmatched:
        raise SystemExit('error: nothing was segmented; these inputs match no image:\n' + '\n'.join(unmatched))
    if skipped:
        names = ', '.join(p.name for p in sorted(skipped)[:3]) + (', ...' if len(skipped) > 3 else '')
        print(f'skipped {len(skipped)} files named like outputs of this tool '
              f'(*{", *".join(OUTPUT_SUFFIXES)}): {names}')
    clashes = sorted(stem for stem, count in Counter(p.stem for p in found).items() if count > 1)
    if clashes:  # their outputs would overwrite each other
        raise SystemExit(f'error: several inputs are named {", ".join(clashes)}; '
                         'run them with different --out-dir')
    return sorted(found), sorted(skipped)


def output_paths(out_dir: Path, image: Path) -> List[Path]:
    return [out_dir / f'{image.stem}{suffix}' for suffix in OUTPUT_SUFFIXES]


def check_no_input_is_overwritten(images: Sequence[Path], skipped: Sequence[Path], out_dir: Path) -> None:
    """Stops before any work if an output would replace a file that the arguments match.

    The skipped files count too: a user's photo named `scene_overlay.jpg`, beside `scene.jpg`,
    looks exactly like an output of an earlier run, and only the user knows which it is. So a
    second run into the folder of the first one's outputs is refused as well.
    """
    matched = set(images) | set(skipped)
    clashes = [(output, image) for image in images for output in output_paths(out_dir.resolve(), image)
               if output in matched]
    if clashes:
        raise SystemExit('error: outputs would overwrite files that the inputs match:\n' + ''.join(
            f'  {output} (output of {image.name})\n' for output, image in clashes) +
            'Pass an --out-dir that holds none of the inputs, or move these files.')


def check_writable(out_dir: Path) -> None:
    """Creates out_dir and writes a file there, so a read-only folder fails before the model runs.

    A real write rather than os.access: root passes os.access everywhere, and read-only mounts
    and full disks show only on writing.
    """
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out_dir):
            pass
    except OSError as error:
        raise SystemExit(f'error: cannot write to --out-dir {out_dir}: {error.strerror or error}')


def build_model(args: argparse.Namespace) -> Tuple[torch.nn.Module, Compose, Compose]:
    """The segmentor in eval mode on `args.device`, the pipeline that loads an image, and the
    one that resizes (as `args.scale` says) and packs it for the segmentor.

    The image is loaded apart so that the overlay is drawn on it at its own resolution (the
    segmentor resizes its prediction back to the loaded size, `ori_shape`). Of the config's
    test pipeline only the Resize is kept: no labels are loaded here. The data preprocessor's
    `size` pads training crops only; at test time it pads only if its own `test_cfg` asks,
    and that padding is cropped off the prediction again.
    """
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.scale == 'config':
        resize = [transform for transform in cfg.test_pipeline if transform['type'] == 'Resize']
    elif args.scale == 'native':
        resize = []
    else:
        resize = [dict(type='Resize', scale=args.scale, keep_ratio=True)]
    if args.mode == 'whole':
        cfg.model.test_cfg = dict(mode='whole')
    else:
        cfg.model.test_cfg = dict(mode='slide', crop_size=(args.crop_size,) * 2, stride=(args.stride,) * 2)
    model = init_model(cfg, None, device=args.device)
    if args.checkpoint.lower() != 'none':
        # Strict: a checkpoint that does not fit the config (a stage export, another attention)
        # is refused with its cause instead of segmenting with random weights.
        checkpoint = load_segmentor_checkpoint(model, args.checkpoint, cfg.model)
        model.dataset_meta = checkpoint.get('meta', {}).get('dataset_meta')
    return model, Compose([dict(type='LoadImageFromFile')]), Compose([*resize, dict(type='PackSegInputs')])


class UnreadableImageError(ValueError):
    """An input file that is no image OpenCV decodes."""


def load_image(load: Compose, path: Path) -> dict:
    """`load`'s results for the image at `path`; `UnreadableImageError` saying why there is none.

    OpenCV fails on an empty file with an assertion about its buffer, and mmcv on undecodable
    bytes with 'failed to load image': neither says what is wrong with the file.
    """
    if path.stat().st_size == 0:
        raise UnreadableImageError('the file is empty (0 bytes)')
    try:
        return load(dict(img_path=str(path)))
    except (AssertionError, cv2.error):
        raise UnreadableImageError(f'OpenCV cannot decode it: it is no image, or a damaged one '
                                   f'({path.stat().st_size} bytes)') from None


def segment(model: torch.nn.Module, load: Compose, prepare: Compose, path: Path) -> Tuple[np.ndarray, np.ndarray]:
    """Returns the image as loaded (H, W, 3 BGR uint8) and its (H, W) uint8 class ids.

    The loaded image is returned so the overlay does not decode a large file a second time.
    """
    results = load_image(load, path)
    image = results['img']  # Resize puts a new array in `results`, this one stays as loaded
    data = prepare(results)
    with torch.inference_mode():
        sample = model.test_step(dict(inputs=[data['inputs']], data_samples=[data['data_samples']]))[0]
    return image, sample.pred_sem_seg.data[0].cpu().numpy().astype(np.uint8)


def colour_table(model: torch.nn.Module) -> np.ndarray:
    """A (256, 3) BGR colour per class id: the dataset's palette, else fixed random colours.

    A look-up table paints a 4096x4096 map in a fraction of a second (MMSeg's visualizer
    goes through matplotlib). The ignore index is black.
    """
    table = np.random.default_rng(0).integers(0, 256, (256, 3), dtype=np.uint8)
    palette = (getattr(model, 'dataset_meta', None) or {}).get('palette')
    if palette:
        table[:len(palette)] = np.asarray(palette, np.uint8)
    table[IGNORE_INDEX] = 0
    return table[:, ::-1]  # RGB -> BGR, as cv2 writes


def save_outputs(out_dir: Path, image_path: Path, image: np.ndarray, labels: np.ndarray,
                 colours: np.ndarray, opacity: float) -> None:
    mask = colours[labels]
    overlay = cv2.addWeighted(image, 1 - opacity, mask, opacity, 0)
    for path, array in zip(output_paths(out_dir, image_path), (labels, mask, overlay)):
        if not cv2.imwrite(str(path), array):
            raise OSError(f'could not write {path}')


def main(argv=None) -> int:
    """Runs the tool; returns the exit status: 1 if any image failed, else 0."""
    args = parse_args(argv)
    images, skipped = find_images(args.inputs)
    out_dir = Path(args.out_dir)
    check_no_input_is_overwritten(images, skipped, out_dir)
    check_writable(out_dir)
    try:
        model, load, prepare = build_model(args)
    except (CheckpointFileError, CheckpointMismatchError) as error:
        raise SystemExit(f'error: {error}')
    colours = colour_table(model)

    failed = []
    bar = ProgressBar(len(images))
    start = time.perf_counter()
    for path in images:
        try:
            image, labels = segment(model, load, prepare, path)
            save_outputs(out_dir, path, image, labels, colours, args.opacity)
        except Exception as error:  # one unreadable image (or one too large) must not stop the rest
            failed.append(path)
            print(f'\nfailed: {path}: {type(error).__name__}: {error}', file=sys.stderr, flush=True)
        bar.update()
    seconds = (time.perf_counter() - start) / len(images)
    print(f'\n{len(images) - len(failed)} images done, {len(failed)} failed, '
          f'{seconds:.2f} s per image; outputs in {out_dir}')
    for path in failed:
        print(f'failed: {path}', file=sys.stderr)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
