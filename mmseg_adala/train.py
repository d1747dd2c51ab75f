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
from mmseg_adala.datasets.image_size import ImageSizeError
from mmseg_adala.datasets.sample_checks import DataCheckError, LabelMapError, assert_dataset_is_sound
from mmseg_adala.engine.checkpoint_fit import CheckpointMismatchError
from mmseg_adala.engine.config_check import ConfigKeyError
from mmseg_adala.engine.config_files import ConfigNotFoundError
from mmseg_adala.engine.mixed_precision import AMP_DTYPES, PrecisionError, require_amp_device, set_precision
from mmseg_adala.engine.non_finite_hook import NonFiniteTrainingError
from mmseg_adala.engine.resume import ResumeError, refuse_to_overwrite, resume_checkpoint
from mmseg_adala.engine.run_config import CfgOptionsAction, add_custom_hook, load_run_config
from mmseg_adala.engine.work_dir_lock import WorkDirLock, WorkDirLockedError, launcher_rank


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a model (alignment stage or segmentor)')
    parser.add_argument('config', help='config file, or the name of a shipped config')
    parser.add_argument('--work-dir', help='where logs, checkpoints and exports go')
    parser.add_argument('--resume', nargs='?', const='auto', default=None,
                        help='resume from CHECKPOINT, or from the newest one in the work_dir that loads')
    precision = parser.add_mutually_exclusive_group()
    precision.add_argument('--amp', action='store_true',
                           help='mixed precision (AmpOptimWrapper, bfloat16 unless --amp-dtype says otherwise); '
                                'needs a GPU')
    precision.add_argument('--no-amp', action='store_true',
                           help="float32 with a plain OptimWrapper, also where the config's optimizer wrapper is "
                                'AmpOptimWrapper (all full-scale configs): what trains on a machine without a GPU')
    parser.add_argument('--amp-dtype', choices=AMP_DTYPES,
                        help='the dtype of mixed precision (default: the config\'s, else bfloat16); implies --amp')
    parser.add_argument('--check-data', action='store_true',
                        help='before training, read every image header and label map of the training and '
                             'validation sets once, and stop with a list of the bad ones')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config settings, e.g. model.backbone.init_cfg.checkpoint=PATH')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher (torchrun: pytorch)')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if args.no_amp and args.amp_dtype:
        parser.error('--amp-dtype is mixed precision, --no-amp float32: give one of them')
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def check_data(runner: Runner) -> None:
    """`--check-data`: the training and validation sets, one pass each, before any training."""
    assert_dataset_is_sound(runner.train_dataloader.dataset, 'the training set')
    if runner.val_loop is not None:
        assert_dataset_is_sound(runner.val_loop.dataloader.dataset, 'the validation set')


def main(argv=None):
    args = parse_args(argv)
    program = osp.basename(sys.argv[0])  # as argparse names the program
    try:
        cfg = load_run_config(args.config, args.launcher, args.work_dir, args.cfg_options)
        set_precision(cfg, args.amp, args.amp_dtype, args.no_amp)
        require_amp_device(cfg)
    except (ConfigKeyError, ConfigNotFoundError, PrecisionError) as error:
        sys.exit(f'{program}: {error}')
    lock = WorkDirLock(cfg.work_dir, enabled=launcher_rank() == 0)  # one lock per run, not per process
    try:
        lock.acquire()
        if args.resume is None:
            refuse_to_overwrite(cfg.work_dir)
        else:
            resume_from = resume_checkpoint(cfg.work_dir, None if args.resume == 'auto' else args.resume)
            if resume_from is not None:
                cfg.resume = True
                cfg.load_from = resume_from
                add_custom_hook(cfg, 'CheckpointFitHook', resume=True)
        runner = Runner.from_cfg(cfg)
        if lock.taken_over:
            runner.logger.warning(f'took over {lock.path} from a run that ended without releasing it '
                                  f"(PID {lock.taken_over.get('pid')}, started {lock.taken_over.get('started')})")
        if args.check_data:
            check_data(runner)
        runner.train()
    except (WorkDirLockedError, ResumeError, CheckpointMismatchError, DataCheckError, LabelMapError, ImageSizeError,
            NonFiniteTrainingError) as error:
        sys.exit(f'{program}: {error}')
    finally:
        lock.release()
    return runner


if __name__ == '__main__':
    main()
