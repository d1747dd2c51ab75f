"""The sample checks (`mmseg_adala.datasets.sample_checks`) put into every data pipeline of a config.

Applied by `load_run_config`, so a user's own config inheriting MMSeg's dataset bases gets them
too: before each image load the pixel limit and the smallest resize (`CheckImageSize`), after
each label load the ids and the size (`CheckLabelMap`).
"""
from typing import List, Optional

from mmengine.config import Config

from ..datasets.image_size import DEFAULT_MAX_PIXELS


def _type_name(transform) -> Optional[str]:
    """A pipeline entry's transform name, without its registry scope (`mmseg.Resize` -> 'Resize')."""
    kind = transform.get('type') if isinstance(transform, dict) else None
    return kind.split('.')[-1] if isinstance(kind, str) else getattr(kind, '__name__', None)


def _smallest_resize_scale(pipeline: list) -> Optional[tuple]:
    """The smallest (W, H) that a keep-ratio resize of `pipeline` may resize to, or None."""
    scales = []
    for transform in pipeline:
        name, scale = _type_name(transform), transform.get('scale') if isinstance(transform, dict) else None
        if name in ('Resize', 'RandomResize') and transform.get('keep_ratio') and scale is not None:
            ratio = min(transform.get('ratio_range') or (1.0,)) if name == 'RandomResize' else 1.0
            scales.append(tuple(int(side * ratio) for side in ((scale,) * 2 if isinstance(scale, int) else scale)))
        elif name == 'RandomChoiceResize' and transform.get('resize_type', 'Resize') == 'Resize':
            scales += [tuple(s) for s in transform.get('scales', [])]
    return min(scales, key=max) if scales else None


def _checked_pipeline(pipeline: list, image_check: dict, label_check: Optional[dict]) -> list:
    """`pipeline` with `CheckImageSize` before each image load and `CheckLabelMap` after each label
    load, where they are not already (a config saved by an earlier run holds them)."""
    names = [_type_name(t) for t in pipeline]
    checked = []
    for i, (name, transform) in enumerate(zip(names, pipeline)):
        if name == 'LoadImageFromFile' and names[i - 1:i] != ['CheckImageSize']:
            checked.append(dict(image_check, fit_scale=_smallest_resize_scale(pipeline)))
        if name == 'LoadImageOrSkip':
            transform = dict(transform, max_pixels=transform.get('max_pixels', image_check['max_pixels']))
        if name == 'TestTimeAug' and label_check is not None:
            steps: List[list] = []
            step_names = [[_type_name(t) for t in step] for step in transform['transforms']]
            for j, step in enumerate(transform['transforms']):
                steps.append(step)
                if 'LoadAnnotations' in step_names[j] and step_names[j + 1:j + 2] != [['CheckLabelMap']]:
                    steps.append([label_check])  # a step of one alternative: applied to every branch
            transform = dict(transform, transforms=steps)
        checked.append(transform)
        if name == 'LoadAnnotations' and label_check is not None and names[i + 1:i + 2] != ['CheckLabelMap']:
            checked.append(label_check)
    return checked


def checked_pipelines(cfg: Config) -> None:
    """Every dataset pipeline of `cfg` (and `tta_pipeline`) refuses bad samples, naming the file.

    Images above `max_image_pixels` (a top-level config key, default 16384^2) are refused from
    their header before decoding (`CheckImageSize`; `LoadImageOrSkip` skips them), and label
    maps whose ids the model has no class for, or whose size is not the image's, are errors
    (`CheckLabelMap`, with `model.decode_head`'s `num_classes` and `ignore_index`).
    """
    image_check = dict(type='CheckImageSize', max_pixels=cfg.get('max_image_pixels', DEFAULT_MAX_PIXELS))
    head = (cfg.get('model') or {}).get('decode_head')
    head = head[0] if isinstance(head, (list, tuple)) and head else head
    label_check = (dict(type='CheckLabelMap', num_classes=head['num_classes'],
                        ignore_index=head.get('ignore_index', 255))
                   if isinstance(head, dict) and 'num_classes' in head else None)

    def check(dataset) -> None:
        if not isinstance(dataset, dict):
            return
        if isinstance(dataset.get('pipeline'), list):
            dataset['pipeline'] = _checked_pipeline(dataset['pipeline'], image_check, label_check)
        check(dataset.get('dataset'))
        for inner in dataset.get('datasets') or []:
            check(inner)

    for split in ('train', 'val', 'test'):
        check((cfg.get(f'{split}_dataloader') or {}).get('dataset'))
    if isinstance(cfg.get('tta_pipeline'), list):
        cfg.tta_pipeline = _checked_pipeline(cfg.tta_pipeline, image_check, label_check)
