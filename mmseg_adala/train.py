"""Train with a config: stage 1, stage 2 or stage 3 (MMSeg's tools/train.py, same flags).

    python -m mmseg_adala.train adala_dinov2_l_ade20k.py [--work-dir DIR ...]

CONFIG is a file or the name of a config shipped with the package (`find_config`);
tools/train.py and the launchers run this module.
"""
import argparse
import os
import os.path as osp
import sys

from mmengine.runner import Runner

import mmseg_adala  # noqa: F401  (registers our modules; configs also pull it in via custom_imports)
from mmseg_adala.engine.config_check import ConfigKeyError
from mmseg_adala.engine.config_files import ConfigNotFoundError
from mmseg_adala.engine.resume import ResumeError, refuse_to_overwrite, resume_checkpoint
from mmseg_adala.engine.run_config import CfgOptionsAction, load_run_config


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a model (alignment stage or segmentor)')
    parser.add_argument('config', help='config file, or the name of a shipped config')
    parser.add_argument('--work-dir', help='where logs, checkpoints and exports go')
    parser.add_argument('--resume', nargs='?', const='auto', default=None,
                        help='resume from CHECKPOINT, or from the newest one in the work_dir that loads')
    parser.add_argument('--amp', action='store_true', help='mixed precision (CUDA only)')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config settings, e.g. model.backbone.init_cfg.checkpoint=PATH')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher (torchrun: pytorch)')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        cfg = load_run_config(args.config, args.launcher, args.work_dir, args.cfg_options)
        if args.resume is None:
            refuse_to_overwrite(cfg.work_dir)
        else:
            resume_from = resume_checkpoint(cfg.work_dir, None if args.resume == 'auto' else args.resume)
            if resume_from is not None:
                cfg.resume = True
                cfg.load_from = resume_from
    except (ConfigKeyError, ConfigNotFoundError, ResumeError) as error:
        sys.exit(f'{osp.basename(sys.argv[0])}: {error}')  # as argparse names the program
    if args.amp:
        if cfg.optim_wrapper.get('type', 'OptimWrapper') != 'AmpOptimWrapper':
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


if __name__ == '__main__':
    main()
