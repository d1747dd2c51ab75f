"""Segment images with a segmentor, each whole and at its own resolution, and save the results.

Linear attention's cost grows linearly with the number of pixels, so a whole 2048x2048 or
4096x4096 image fits in one forward pass (`--mode whole`, the default); `--mode slide` runs
MMSeg's sliding window instead, for comparison. Either way the image is not resized.

Usage:
    python tools/infer.py configs/adala_dinov2_l_ade20k.py work_dirs/adala/iter_160000.pth \\
        photo.jpg photos/ 'scans/*.png' --out-dir work_dirs/infer --device cuda
    # Smoke test with random weights:
    python tools/infer.py configs/tiny/adala_upernet_synthetic_tiny.py none big.jpg \\
        --out-dir work_dirs/infer --device cpu --cfg-options model.backbone.init_cfg=None

For each image `<stem>.<ext>`, --out-dir receives `<stem>_labels.png` (uint8 class ids),
`<stem>_mask.png` (the ids in the dataset's palette colours) and `<stem>_overlay.jpg`.
"""
import argparse
import glob
import sys
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

import mmseg_adala  # noqa: F401  (registers our modules)

IMAGE_SUFFIXES = {'.jpg', '.jpeg', '.png', '.webp', '.bmp', '.tif', '.tiff'}
IGNORE_INDEX = 255


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Segment images and write <stem>_labels.png, <stem>_mask.png and '
                    '<stem>_overlay.jpg per image. Exits with status 1 if any image failed '
                    '(the others are still processed).')
    parser.add_argument('config', help='segmentor config file')
    parser.add_argument('checkpoint', help="segmentor checkpoint from tools/train.py, or 'none' "
                                           'for random weights (smoke tests)')
    parser.add_argument('inputs', nargs='+', metavar='INPUT',
                        help="image files, folders (not recursive) or quoted glob patterns")
    parser.add_argument('--out-dir', required=True, help='folder for the outputs (created)')
    parser.add_argument('--mode', choices=['whole', 'slide'], default='whole',
                        help='whole: each image in one forward pass; slide: MMSeg sliding window')
    parser.add_argument('--crop-size', type=int, default=512, help='slide mode: window side')
    parser.add_argument('--stride', type=int, default=341, help='slide mode: window step')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu',
                        help='cpu, cuda or cuda:N (default: cuda if available)')
    parser.add_argument('--opacity', type=float, default=0.5, help='weight of the mask in the overlay')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings')
    return parser.parse_args(argv)


def find_images(inputs: Sequence[str]) -> List[Path]:
    """Expands files, folders and glob patterns to a sorted list without duplicates.

    Files named explicitly are kept whatever their suffix (the user asked for them); folders
    and patterns contribute image suffixes only, so stray files there are not reported as failures.
    """
    found = set()
    for item in inputs:
        path = Path(item)
        if path.is_file():
            found.add(path.resolve())
            continue
        candidates = path.iterdir() if path.is_dir() else map(Path, glob.glob(item))
        found.update(p.resolve() for p in candidates if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not found:
        raise SystemExit(f'error: no images found in {", ".join(inputs)} '
                         f'(looked for {", ".join(sorted(IMAGE_SUFFIXES))})')
    clashes = sorted(stem for stem, count in Counter(p.stem for p in found).items() if count > 1)
    if clashes:  # their outputs would overwrite each other
        raise SystemExit(f'error: several inputs are named {", ".join(clashes)}; '
                         'run them with different --out-dir')
    return sorted(found)


def build_model(args: argparse.Namespace) -> Tuple[torch.nn.Module, Compose]:
    """The segmentor in eval mode on `args.device`, and the pipeline that loads an image for it."""
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    # No resizing: configs' test pipelines usually resize (ADE20K: to 2048x512), which would
    # discard the resolution that whole-image linear attention makes affordable, and slide
    # mode would see another image than whole mode. (No LoadAnnotations either: no labels here.)
    # The data preprocessor's `size` pads training crops only; at test time it pads only if
    # its own `test_cfg` asks, and that padding is cropped off the prediction again.
    cfg.test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackSegInputs')]
    if args.mode == 'whole':
        cfg.model.test_cfg = dict(mode='whole')
    else:
        cfg.model.test_cfg = dict(mode='slide', crop_size=(args.crop_size,) * 2, stride=(args.stride,) * 2)
    checkpoint = None if args.checkpoint.lower() == 'none' else args.checkpoint
    model = init_model(cfg, checkpoint, device=args.device)
    return model, Compose(cfg.test_pipeline)


def segment(model: torch.nn.Module, pipeline: Compose, path: Path) -> Tuple[np.ndarray, np.ndarray]:
    """Returns the image as loaded (H, W, 3 BGR uint8) and its (H, W) uint8 class ids.

    The loaded image is returned so the overlay does not decode a large file a second time.
    """
    data = pipeline(dict(img_path=str(path)))
    with torch.inference_mode():
        sample = model.test_step(dict(inputs=[data['inputs']], data_samples=[data['data_samples']]))[0]
    image = np.ascontiguousarray(data['inputs'].permute(1, 2, 0).numpy())
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


def save_outputs(out_dir: Path, stem: str, image: np.ndarray, labels: np.ndarray,
                 colours: np.ndarray, opacity: float) -> None:
    mask = colours[labels]
    overlay = cv2.addWeighted(image, 1 - opacity, mask, opacity, 0)
    for suffix, array in (('_labels.png', labels), ('_mask.png', mask), ('_overlay.jpg', overlay)):
        if not cv2.imwrite(str(out_dir / f'{stem}{suffix}'), array):
            raise OSError(f'could not write {out_dir / (stem + suffix)}')


def main(argv=None) -> int:
    """Runs the tool; returns the exit status: 1 if any image failed, else 0."""
    args = parse_args(argv)
    images = find_images(args.inputs)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model, pipeline = build_model(args)
    colours = colour_table(model)

    failed = []
    bar = ProgressBar(len(images))
    start = time.perf_counter()
    for path in images:
        try:
            image, labels = segment(model, pipeline, path)
            save_outputs(out_dir, path.stem, image, labels, colours, args.opacity)
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
