"""The files around inference: which images the arguments name, the checks that stop a run before
any work, reading an image with the reason it cannot be read, and the written outputs.

For each image `<stem>.<ext>` the outputs are `<stem>_labels.png` (uint8 class ids),
`<stem>_mask.png` (the ids in the dataset's palette colours) and `<stem>_overlay.jpg`, each
written atomically: a full disk or a kill leaves the previous file or none, never a 0-byte or
half-written one under an output's name.
"""
import glob
import tempfile
from collections import Counter
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np
from mmcv.transforms import LoadImageFromFile

from ..engine.atomic_file import atomic_write

IMAGE_SUFFIXES = {'.jpg', '.jpeg', '.png', '.webp', '.bmp', '.tif', '.tiff'}
OUTPUT_SUFFIXES = ('_labels.png', '_mask.png', '_overlay.jpg')
IGNORE_INDEX = 255


class ImageInputError(ValueError):
    """Arguments that would make a run segment the wrong files, or none, or lose its outputs."""


class UnreadableImageError(ValueError):
    """An input file that is no image OpenCV decodes."""


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
        raise ImageInputError('nothing was segmented; these inputs match no image:\n' + '\n'.join(unmatched))
    clashes = sorted(stem for stem, count in Counter(p.stem for p in found).items() if count > 1)
    if clashes:  # their outputs would overwrite each other
        raise ImageInputError(f'several inputs are named {", ".join(clashes)}; run them with different --out-dir')
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
        raise ImageInputError('outputs would overwrite files that the inputs match:\n' + ''.join(
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
        raise ImageInputError(f'cannot write to --out-dir {out_dir}: {error.strerror or error}')


def read_image(path: Path) -> np.ndarray:
    """The image at `path` (H, W, 3 BGR uint8), as MMSeg's test pipeline loads it;
    `UnreadableImageError` saying why there is none.

    OpenCV fails on an empty file with an assertion about its buffer, and mmcv on undecodable
    bytes with 'failed to load image': neither says what is wrong with the file.
    """
    if path.stat().st_size == 0:
        raise UnreadableImageError('the file is empty (0 bytes)')
    try:
        return LoadImageFromFile()(dict(img_path=str(path)))['img']
    except (AssertionError, cv2.error):
        raise UnreadableImageError(f'OpenCV cannot decode it: it is no image, or a damaged one '
                                   f'({path.stat().st_size} bytes)') from None


def colour_table(palette: Optional[Sequence[Sequence[int]]]) -> np.ndarray:
    """A (256, 3) BGR colour per class id: the dataset's RGB palette, else fixed random colours.

    A look-up table paints a 4096x4096 map in a fraction of a second (MMSeg's visualizer
    goes through matplotlib). The ignore index is black.
    """
    table = np.random.default_rng(0).integers(0, 256, (256, 3), dtype=np.uint8)
    if palette:
        table[:len(palette)] = np.asarray(palette, np.uint8)
    table[IGNORE_INDEX] = 0
    return table[:, ::-1]  # RGB -> BGR, as cv2 writes


def save_outputs(out_dir: Path, image_path: Path, image: np.ndarray, labels: np.ndarray,
                 colours: np.ndarray, opacity: float) -> None:
    """Writes the label map, its colours and their blend with `image`, all at the image's size, atomically."""
    labels = labels.astype(np.uint8)
    mask = colours[labels]
    overlay = cv2.addWeighted(image, 1 - opacity, mask, opacity, 0)
    for path, array in zip(output_paths(out_dir, image_path), (labels, mask, overlay)):
        encoded, data = cv2.imencode(path.suffix, array)
        if not encoded:
            raise OSError(f'could not encode {path}')
        with atomic_write(path) as f:
            f.write(data.tobytes())
