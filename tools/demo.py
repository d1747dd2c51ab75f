"""The embedded default: all three ViT-AdaLA stages end to end, on CPU, with no data to download.

    python tools/demo.py [--work-dir work_dirs/demo]

1. Writes two synthetic ADE20K-layout datasets (textured shapes): one plays the foundation
   model's pretraining data (and stage 1/2's unlabeled images), the other the ADE20K of stage 3.
2. Pretrains a tiny softmax DINOv2-shaped ViT on the first, so that its attention means
   something, and saves it in the official DINOv2 release layout (loaded by the real loader).
3. Stage 1 (attention alignment) and stage 2 (feature alignment), from their configs.
4. Stage 3 (UperNet on the frozen backbone) and evaluation for the paper's ablation at toy scale:
   softmax teacher, linear without alignment, stage 1 only, stage 2 only, stages 1+2.
5. Segments one 2048x2048 image whole with the ViT-AdaLA model (tools/infer.py).
Prints a table of mIoU and the time each step took; every run keeps its work_dir and logs.
"""
import argparse
import os.path as osp
import subprocess
import sys
import time
from contextlib import contextmanager

import torch
from mmengine.runner import Runner

import mmseg_adala  # noqa: F401  (registers our modules)
from mmseg_adala.datasets.synthetic_ade20k import make_synthetic_ade20k, write_synthetic_image
from mmseg_adala.engine.run_config import load_run_config
from mmseg_adala.models.backbones import read_vit_state_dict, timm_to_official_dinov2

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY = osp.join(REPO, 'configs', 'tiny')
TEACHER_CONFIG = osp.join(TINY, 'softmax_upernet_synthetic_tiny.py')
SEGMENTOR_CONFIG = osp.join(TINY, 'adala_upernet_synthetic_tiny.py')
STAGE1_CONFIG = osp.join(TINY, 'adala_stage1_tiny.py')
STAGE2_CONFIG = osp.join(TINY, 'adala_stage2_tiny.py')
PRETRAIN_ITERS = 900


class Timer:
    """Wall time of each named step, printed as it ends."""

    def __init__(self):
        self.seconds = {}

    @contextmanager
    def step(self, name: str):
        print(f'==> {name} ...', flush=True)
        start = time.perf_counter()
        yield
        self.seconds[name] = time.perf_counter() - start
        print(f'    done in {self.seconds[name]:.0f} s', flush=True)


def data_options(root: str) -> dict:
    """Point every dataloader of a segmentation config at a synthetic ADE20K-layout root."""
    return {f'{split}_dataloader.dataset.data_root': root for split in ('train', 'val', 'test')}


def run(config: str, work_dir: str, options: dict, checkpoint: str = None):
    """Train (or, given a checkpoint, test) a config as tools/train.py and tools/test.py do."""
    cfg = load_run_config(config, work_dir=work_dir, cfg_options=dict(options, randomness=dict(seed=0)))
    cfg.log_level = 'WARNING'  # the full logs stay in the work_dir
    # mmengine keeps one visualizer per name for the whole process: one name per run, so
    # each run's scalars land in its own work_dir.
    cfg.visualizer.name = f'visualizer_{work_dir}_{"test" if checkpoint else "train"}'
    if checkpoint is None:
        Runner.from_cfg(cfg).train()
        return None
    cfg.load_from = checkpoint
    return Runner.from_cfg(cfg).test()


def pretrain_teacher(work_dir: str, data_root: str) -> str:
    """A softmax foundation model: supervised on the pretraining set, saved like a DINOv2 release."""
    # LayerScale starts at 1, not DINOv2's 1e-5: from scratch, 1e-5 keeps every block an
    # identity for hundreds of iterations (the demo's teacher then learns nothing).
    run(TEACHER_CONFIG, work_dir, {**data_options(data_root), 'model.backbone.init_cfg': None,
                                   'model.backbone.vit_cfg.init_values': 1.0,
                                   'train_cfg.max_iters': PRETRAIN_ITERS, 'param_scheduler.1.end': PRETRAIN_ITERS})
    backbone = read_vit_state_dict(osp.join(work_dir, f'iter_{PRETRAIN_ITERS}.pth'))
    path = osp.join(work_dir, 'dinov2_tiny_pretrain.pth')
    torch.save(timm_to_official_dinov2(backbone), path)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--work-dir', default='work_dirs/demo', help='where data, runs and results go')
    args = parser.parse_args()
    root = osp.abspath(args.work_dir)
    timer = Timer()

    with timer.step('synthetic data'):
        pretrain_data = osp.join(root, 'data', 'pretrain')
        ade_data = osp.join(root, 'data', 'synthetic_ade20k')
        for data, seed in ((pretrain_data, 1), (ade_data, 0)):
            if not osp.isdir(data):
                make_synthetic_ade20k(data, num_train=200, num_val=50, image_size=128, num_classes=3, seed=seed)
    with timer.step('teacher pretraining (softmax, from scratch)'):
        teacher = pretrain_teacher(osp.join(root, 'teacher'), pretrain_data)

    unlabeled = {'model.teacher.init_cfg.checkpoint': teacher,
                 'train_dataloader.dataset.data_root': osp.join(pretrain_data, 'images', 'training'),
                 'val_dataloader.dataset.data_root': osp.join(pretrain_data, 'images', 'validation'),
                 'train_cfg.max_iters': 300, 'train_cfg.val_interval': 300,
                 'default_hooks.checkpoint.interval': 300}
    with timer.step('stage 1: attention alignment'):
        run(STAGE1_CONFIG, osp.join(root, 'stage1'), unlabeled)
    stage1 = osp.join(root, 'stage1', 'backbone_final.pth')
    with timer.step('stage 2: feature alignment (from stage 1)'):
        run(STAGE2_CONFIG, osp.join(root, 'stage2'), {**unlabeled, 'model.student.init_cfg.checkpoint': stage1})
    with timer.step('stage 2 alone (from the teacher)'):
        run(STAGE2_CONFIG, osp.join(root, 'stage2_only'), {**unlabeled, 'model.student.init_cfg.checkpoint': teacher})

    variants = [('softmax teacher', 'softmax', teacher),
                ('linear, no alignment', 'linear', teacher),
                ('linear, stage 1 only', 'linear', stage1),
                ('linear, stage 2 only', 'linear', osp.join(root, 'stage2_only', 'backbone_final.pth')),
                ('linear, stages 1+2 (ViT-AdaLA)', 'linear', osp.join(root, 'stage2', 'backbone_final.pth'))]
    results = []
    for index, (name, attn_type, backbone) in enumerate(variants):
        work_dir = osp.join(root, f'stage3_{index}')
        # The backbone stays frozen (linear-probing style, as the paper also evaluates): at toy
        # scale, fine-tuning all of it for 300 iterations makes every variant equal, so only a
        # frozen backbone shows what the alignment stages gave it.
        options = {**data_options(ade_data), 'model.backbone.attn_type': attn_type,
                   'model.backbone.init_cfg.checkpoint': backbone, 'model.backbone.frozen_blocks': 'all'}
        with timer.step(f'stage 3 + test: {name}'):
            run(SEGMENTOR_CONFIG, work_dir, options)
            metrics = run(SEGMENTOR_CONFIG, work_dir, options, checkpoint=osp.join(work_dir, 'iter_300.pth'))
        results.append((name, metrics['mIoU'], timer.seconds[f'stage 3 + test: {name}']))

    with timer.step('whole-image inference, 2048x2048 (tools/infer.py)'):
        image = osp.join(root, 'highres', 'scene_2048.jpg')
        write_synthetic_image(image, size=(2048, 2048), num_classes=3)
        subprocess.run([sys.executable, osp.join(REPO, 'tools', 'infer.py'), SEGMENTOR_CONFIG,
                        osp.join(root, 'stage3_4', 'iter_300.pth'), image, '--out-dir', osp.join(root, 'highres'),
                        '--cfg-options', 'model.backbone.init_cfg=None'], check=True)

    lines = ['| stage-3 backbone | mIoU (val) | fine-tune + test time |', '|---|---|---|']
    lines += [f'| {name} | {miou:.2f} | {seconds:.0f} s |' for name, miou, seconds in results]
    lines += ['', '| step | time |', '|---|---|']
    lines += [f'| {name} | {seconds:.0f} s |' for name, seconds in timer.seconds.items()]
    lines += [f'| total | {sum(timer.seconds.values()):.0f} s |']
    table = '\n'.join(lines)
    with open(osp.join(root, 'results.md'), 'w') as f:
        f.write(table + '\n')
    print('\n' + table + f'\n\nChance level: about 20 mIoU (3 classes, random guess). Results: {root}/results.md, '
          f'2048x2048 segmentation: {root}/highres/')


if __name__ == '__main__':
    main()
