"""Config loading shared by training and evaluation (mmseg_adala.train, mmseg_adala.test)."""
import itertools
import os.path as osp
from typing import Optional

import torch
import torch.distributed as dist
from mmengine.config import Config, DictAction

from .checked_pipelines import checked_pipelines
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
    pipelines check what they read (`checked_pipelines`); each run logs to its own visualizer.
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
    own_visualizer(cfg)
    add_custom_hook(cfg, 'NonFiniteCheckHook')
    check_hook_arguments(cfg)
    checked_pipelines(cfg)
    return cfg


def add_custom_hook(cfg: Config, hook_type: str, **kwargs) -> None:
    """Append `dict(type=hook_type, **kwargs)` to `cfg.custom_hooks` unless a hook of that type is there."""
    custom_hooks = list(cfg.get('custom_hooks') or [])
    if not any(isinstance(hook, dict) and hook.get('type') == hook_type for hook in custom_hooks):
        cfg.custom_hooks = custom_hooks + [dict(type=hook_type, **kwargs)]


_RUNS_IN_THIS_PROCESS = itertools.count()


def own_visualizer(cfg: Config) -> None:
    """A visualizer name of this run's own.

    mmengine keeps one visualizer per name for the whole process and MMSeg's configs all name
    theirs 'visualizer': a second run in the same process (a notebook, tools/demo.py, the tests)
    would get the first run's, and log its scalars into the first run's folder.
    """
    if cfg.get('visualizer'):
        name = cfg.visualizer.get('name', 'visualizer')
        cfg.visualizer.name = f'{name}_run{next(_RUNS_IN_THIS_PROCESS)}'


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
