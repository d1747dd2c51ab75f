"""Config loading shared by training and evaluation (mmseg_adala.train, mmseg_adala.test)."""
import os.path as osp
from typing import List, Optional

import torch
import torch.distributed as dist
from mmengine.config import Config, DictAction

from ..datasets.image_size import DEFAULT_MAX_PIXELS
from .config_check import check_hook_arguments, check_option_keys, check_option_types
from .config_files import find_config


class CfgOptionsAction(DictAction):
    """mmengine's `--cfg-options KEY=VALUE ...` parser, with a usage error for a KEY without `=VALUE`."""

    def __call__(self, parser, namespace, values, option_string=None):
        for option in values:
            if '=' not in option:
                parser.error(f'{option_string} takes KEY=VALUE pairs; {option!r} has no value '
                             f'(e.g. {option}=VALUE)')
        super().__call__(parser, namespace, values, option_string)


def load_run_config(config: str, launcher: str = 'none', work_dir: Optional[str] = None,
                    cfg_options: Optional[dict] = None) -> Config:
    """The config (a file, or a shipped config's name: `find_config`) with command-line
    overrides, its work_dir (default work_dirs/<name>) and launcher.

    A config that does not exist raises `ConfigNotFoundError`; overrides that nothing would read,
    or text where the config holds a number (`ConfigValueError`), and hook arguments that do not
    exist raise `ConfigKeyError` here, before any training; checkpoints are made resumable
    (`resumable_checkpoints`), training stops at a NaN (`NonFiniteCheckHook`) and the data
    pipelines check what they read (`checked_pipelines`).
    """
    cfg = Config.fromfile(find_config(config))
    cfg.launcher = launcher
    if cfg_options:
        check_option_keys(cfg, cfg_options)
        check_option_types(cfg, cfg_options)
        cfg.merge_from_dict(cfg_options)
    cfg.work_dir = work_dir or cfg.get('work_dir') or osp.join(
        './work_dirs', osp.splitext(osp.basename(config))[0])
    if launcher != 'none' and not torch.cuda.is_available():
        use_cpu_process_group(cfg)
    resumable_checkpoints(cfg)
    add_custom_hook(cfg, 'NonFiniteCheckHook')
    check_hook_arguments(cfg)
    checked_pipelines(cfg)
    return cfg


def add_custom_hook(cfg: Config, hook_type: str, **kwargs) -> None:
    """Append `dict(type=hook_type, **kwargs)` to `cfg.custom_hooks` unless a hook of that type is there."""
    custom_hooks = list(cfg.get('custom_hooks') or [])
    if not any(isinstance(hook, dict) and hook.get('type') == hook_type for hook in custom_hooks):
        cfg.custom_hooks = custom_hooks + [dict(type=hook_type, **kwargs)]


def resumable_checkpoints(cfg: Config) -> None:
    """Checkpoints written atomically (`AtomicLocalBackend`) and holding the random state (`RandomStateHook`).

    Applied to every config our tools run, whatever its stage: a run may be killed at any
    moment and resumed exactly. Checkpoints going to another backend (`backend_args` or
    `file_client_args` set, e.g. petrel) are left to it.
    """
    checkpoint = (cfg.get('default_hooks') or {}).get('checkpoint')
    if checkpoint is not None and not checkpoint.get('backend_args') and not checkpoint.get('file_client_args'):
        checkpoint['backend_args'] = dict(backend='atomic_local')
    add_custom_hook(cfg, 'RandomStateHook')


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
            scales.append((int(scale[0] * ratio), int(scale[1] * ratio)) if not isinstance(scale, int) else
                          (int(scale * ratio),) * 2)
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


def use_cpu_process_group(cfg: Config) -> None:
    """Let torchrun + `--launcher pytorch` run on CPU-only machines, over gloo.

    mmengine 0.10.7's pytorch launcher calls `torch.cuda.set_device` and wraps the model in
    DDP with `device_ids=[LOCAL_RANK]`, both CUDA-only. mmengine keeps a process group that
    already exists, so we start torchrun's group with gloo and give DDP no device ids.
    """
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    wrapper = cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel', broadcast_buffers=False)
    cfg.model_wrapper_cfg = dict(wrapper, device_ids=None)
