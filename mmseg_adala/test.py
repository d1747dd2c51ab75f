"""Evaluate a checkpoint on a config's test set (MMSeg's tools/test.py, same flags), e.g.
`python -m mmseg_adala.test adala_dinov2_l_ade20k.py CHECKPOINT --out DIR`, where CONFIG is a
file or a shipped config's name. tools/test.py and the launchers run this module."""
import argparse
import os
import os.path as osp
import sys
from typing import List

from mmengine.runner import Runner

import mmseg_adala  # noqa: F401  (registers our modules)
from mmseg_adala.datasets.image_size import ImageSizeError
from mmseg_adala.datasets.sample_checks import DataCheckError, LabelMapError, assert_dataset_is_sound
from mmseg_adala.engine.checkpoint_file import CheckpointFileError, read_checkpoint
from mmseg_adala.engine.checkpoint_fit import SEGMENTOR_CHECKPOINT, CheckpointMismatchError
from mmseg_adala.engine.config_check import ConfigKeyError
from mmseg_adala.engine.config_files import ConfigNotFoundError
from mmseg_adala.engine.run_config import CfgOptionsAction, load_run_config


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (and evaluate) a segmentor')
    parser.add_argument('config', help='config file, or the name of a shipped config')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where the evaluation log and metrics go')
    parser.add_argument('--out', help='folder for the predicted label maps (PNG)')
    parser.add_argument('--show', action='store_true', help='show the predictions in a window')
    parser.add_argument('--show-dir', help='folder for painted predictions')
    parser.add_argument('--wait-time', type=float, default=2, help='seconds between shown images')
    parser.add_argument('--tta', action='store_true', help='test-time augmentation (config tta_model)')
    parser.add_argument('--check-data', action='store_true',
                        help='before testing, read every image header and label map of the test set once, '
                             'and stop with a list of the bad ones')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction, help='override config settings')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def enable_visualization(cfg, args):
    """Route painted predictions through MMSeg's SegVisualizationHook."""
    hook = cfg.default_hooks.visualization
    hook.draw = True
    if args.show:
        hook.show = True
        hook.wait_time = args.wait_time
    if args.show_dir:
        cfg.visualizer.save_dir = args.show_dir


def empty_images(runner: Runner) -> List[str]:
    """The test set's 0-byte image files: OpenCV's decoder fails on them with an assertion that names no file."""
    dataset = runner.test_dataloader.dataset
    paths = (dataset.get_data_info(i)['img_path'] for i in range(len(dataset)))
    return [path for path in paths if osp.isfile(path) and osp.getsize(path) == 0]


def main(argv=None):
    args = parse_args(argv)
    try:
        cfg = load_run_config(args.config, args.launcher, args.work_dir, args.cfg_options)
    except (ConfigKeyError, ConfigNotFoundError) as error:
        sys.exit(f'{osp.basename(sys.argv[0])}: {error}')  # as argparse names the program
    cfg.load_from = args.checkpoint
    # mmseg's default_runtime autotunes cuDNN for every new input shape: whole images of many sizes
    # would each pay for it, for no gain.
    cfg.env_cfg = dict(cfg.get('env_cfg') or {}, cudnn_benchmark=False)
    # mmengine loads with strict=False: refuse a checkpoint that leaves weights unset or set wrong.
    cfg.custom_hooks = [*cfg.custom_hooks, dict(type='CheckpointFitHook')]
    if args.show or args.show_dir:
        enable_visualization(cfg, args)
    if args.tta:
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        # SegTTAModel averages full-resolution seg_logits, which AdaLAEncoderDecoder keeps only when asked.
        cfg.model.test_cfg = dict(cfg.model.get('test_cfg') or {}, keep_logits=True)
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    if args.out is not None:
        cfg.test_evaluator['output_dir'] = args.out
        cfg.test_evaluator['keep_results'] = True
    program = osp.basename(sys.argv[0])
    try:
        # mmengine's load fails on a file that is no checkpoint without naming it; memory-mapped, this is cheap.
        read_checkpoint(args.checkpoint, expected=SEGMENTOR_CHECKPOINT, mmap=True)
    except (CheckpointFileError, FileNotFoundError) as error:
        sys.exit(f'{program}: {error}')
    runner = Runner.from_cfg(cfg)
    empty = empty_images(runner)
    if empty:
        sys.exit(f'{program}: empty test image files (0 bytes), {len(empty)} in all: {", ".join(empty[:5])}'
                 + (' ...' if len(empty) > 5 else '') + '. Restore them from the dataset\'s archive.')
    try:
        if args.check_data:
            assert_dataset_is_sound(runner.test_dataloader.dataset, 'the test set')
        return runner.test()
    except (CheckpointMismatchError, DataCheckError, LabelMapError, ImageSizeError) as error:
        sys.exit(f'{program}: {error}')


if __name__ == '__main__':
    main()
