#!/usr/bin/env python
"""The embedded default: the three ViT-AdaLA stages and the paper's ablation, on CPU, no downloads.

    python tools/demo.py [--work-dir work_dirs/demo] [--seeds 0 1]

The task is one that needs attention (mmseg_adala/datasets/context_scenes.py): the class of
every object in an image is told only by a small coloured key elsewhere in it. So a backbone
that lost what softmax attention computed scores visibly lower, and the table can tell a
working alignment from a broken one.

1. Writes two context-scene datasets in ADE20K's layout: one plays the foundation model's
   pretraining data (and the unlabeled images of stages 1 and 2), the other ADE20K.
2. Pretrains a 6-block softmax DINOv2-shaped ViT on the first and saves it in the official
   DINOv2 release layout (loaded back through the real loader).
3. Per seed, each seed's chain in a process of its own: stage 1, stage 2, the stage-2
   ablations (from the teacher; Q/K/V only) and the paper's baselines (LoLCATs' stage 1; an
   L2ViT-style stages 1+2), from configs/demo; then stage 3 for every row
   (configs/demo/probe_*.py): the backbone frozen, DINOv2's linear head trained on top. The
   table gives mIoU as mean and spread over the seeds (each a whole chain of stages 1-3),
   beside the final-feature cosine to the teacher and the mean per-block attention error on
   held-out images.
4. Draws work_dirs/demo/ablation.png, segments one 2048x2048 scene whole with the ViT-AdaLA
   model (tools/infer.py) and scores it, times the toy segmentor with softmax and with linear
   attention at that size (mmseg_adala.benchmark), and checks the paper's claims against the
   run's own noise: every number it prints is read by a check.
Exits with status 1 if the table does not show what the method claims.

Every process computes on one thread: the numbers then do not depend on the machine's core
count (PyTorch's default thread count would change the float rounding, and with it the last
digits of the table), and the seeds' chains run side by side instead of sharing the cores.
"""
import argparse
import multiprocessing
import os
import os.path as osp
import subprocess
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmseg.registry import MODELS

import mmseg_adala  # noqa: F401  (registers our modules)
from mmseg_adala.alignment.teacher_records import TeacherReference
from mmseg_adala.benchmark import BenchmarkSettings, run_benchmark, write_report
from mmseg_adala.datasets.context_scenes import render_context_scene
from mmseg_adala.datasets.synthetic_ade20k import make_synthetic_ade20k, write_synthetic_image
from mmseg_adala.engine.run_config import load_run_config
from mmseg_adala.models import AdaLAViT
from mmseg_adala.models.backbones import read_vit_state_dict, timm_to_official_dinov2

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO = osp.join(REPO, 'configs', 'demo')
NUM_CLASSES = 4  # background + 3 object classes (configs/demo/linear_probe.py)
# Stage-3 rows: name in the table, config, backbone weights ('teacher', or relative to a seed's
# folder), and the paper's ADE20K mIoU for the same row (DINOv2-L, UperNet fine-tuned).
ROWS = [
    ('softmax teacher', 'probe_softmax_teacher', 'teacher', 56.73),
    ('no attention (control)', 'probe_no_attention', 'teacher', None),
    ('linear, no alignment', 'probe_no_alignment', 'teacher', 22.92),
    ('linear, stage 1 only', 'probe_stage1_only', 'stage1/backbone_final.pth', 19.37),
    ('linear, stage 2 only', 'probe_stage2_only', 'stage2_only/backbone_final.pth', 52.46),
    ('linear, stages 1+2, QKV-only stage 2', 'probe_stage2_qkv', 'stage2_qkv/backbone_final.pth', 48.82),
    ('linear, stages 1+2 (ViT-AdaLA)', 'linear_probe', 'stage2/backbone_final.pth', 55.55),
    ('LoLCATs: window + Hedgehog, its stage 1', 'probe_lolcats', 'stage1_lolcats/backbone_final.pth', 17.42),
    ('L2ViT-style: window / linear + LCM, stages 1+2', 'probe_l2vit', 'stage2_l2vit/backbone_final.pth', None),
]
# The baselines' rows: their short names, and their stage-1 exports (relative to a seed's folder),
# whose attention error is compared with the same kernels on the teacher's weights. L2ViT's row
# is after stage 2, which aligns the features, not the attentions (as the stage-2-only row shows).
BASELINES = {'probe_lolcats': ('LoLCATs', 'stage1_lolcats/backbone_final.pth'),
             'probe_l2vit': ('L2ViT-style', 'stage1_l2vit/backbone_final.pth')}
# The whole-image scene of the high-resolution step, and the speed measured at its size.
HIGHRES_SIDE = 2048
# A strict "<" must beat the noise by this much too (a tie of constant rows is no evidence).
MARGIN = 1e-3
# The memory compared between softmax and linear attention: the backbone's peak. The neck and head
# after it are the same for both, and their larger peak (resident memory, on a CPU) moves with the
# allocator's state by more than the attention kernels differ.
PEAK = 'backbone_peak_mb'


class Progress(Hook):
    """A line at most every 20 s with the step, the iteration and the time left, so the demo
    never goes silent; keeps the last validation metrics for the table. `demo_start` is a
    `time.time()`, which the seeds' processes share."""

    priority = 'VERY_LOW'

    def __init__(self, step: str, demo_start: float, interval_s: float = 20.0) -> None:
        self.step, self.demo_start, self.interval_s = step, demo_start, interval_s
        self.metrics: Dict[str, float] = {}

    def before_train(self, runner) -> None:
        self.start = self.last = time.perf_counter()

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        now, done, total = time.perf_counter(), runner.iter + 1, runner.max_iters
        if now - self.last >= self.interval_s or done == total:
            self.last = now
            left = (now - self.start) / done * (total - done)
            print(f'    [{self.step}] iteration {done}/{total}, about {left:.0f} s left in this step '
                  f'({(time.time() - self.demo_start) / 60:.1f} min into the demo)', flush=True)

    def after_val_epoch(self, runner, metrics: Optional[Dict[str, float]] = None) -> None:
        self.metrics = dict(metrics or {})


def run(config: str, work_dir: str, step: str, demo_start: float, options: dict, seed: int = 0) -> Dict[str, float]:
    """Train a config as tools/train.py does; returns the metrics of its final validation."""
    print(f'==> {step}', flush=True)
    start = time.perf_counter()
    cfg = load_run_config(osp.join(DEMO, f'{config}.py'), work_dir=work_dir,
                          cfg_options=dict(options, randomness=dict(seed=seed)))
    # The console shows the demo's own progress lines (mmengine's would repeat the same notices
    # in each of 30 runs); each work_dir keeps the run's config, checkpoints and logged scalars
    # (vis_data/scalars.json).
    cfg.log_level = 'ERROR'
    runner = Runner.from_cfg(cfg)
    progress = Progress(step, demo_start)
    runner.register_hook(progress)
    runner.train()
    print(f'    done in {time.perf_counter() - start:.0f} s', flush=True)
    return progress.metrics


def held_out_images(data_root: str) -> torch.Tensor:
    """The validation images of a context-scene set, normalised as the probes normalise them.

    The preprocessor is taken from a built probe: the configs leave mean/std out and the
    segmentor fills in its backbone arch's, so the config's own dict would not normalise.
    """
    folder = osp.join(data_root, 'images', 'validation')
    images = [torch.from_numpy(cv2.imread(osp.join(folder, name))).permute(2, 0, 1)  # BGR, as mmcv loads them
              for name in sorted(os.listdir(folder))]
    preprocessor = MODELS.build(Config.fromfile(osp.join(DEMO, 'linear_probe.py')).model).data_preprocessor
    return preprocessor(dict(inputs=images), False)['inputs']


def final_checkpoint(config: str, work_dir: str) -> str:
    """The last checkpoint a demo config's run writes, named from its own max_iters."""
    return osp.join(work_dir, f'iter_{Config.fromfile(osp.join(DEMO, f"{config}.py")).train_cfg.max_iters}.pth')


def load_backbone(config: str, checkpoint: str) -> AdaLAViT:
    """The backbone of a stage-3 row's config with these weights, in eval mode."""
    backbone_cfg = Config.fromfile(osp.join(DEMO, f'{config}.py')).model.backbone
    backbone = MODELS.build(dict(backbone_cfg, init_cfg=dict(type='Pretrained', checkpoint=checkpoint)))
    backbone.init_weights()
    return backbone.eval()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--work-dir', default='work_dirs/demo', help='where data, runs and results go')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1],
                        help='seeds of stages 1, 2 and 3, each a whole chain (>= 2 for a spread)')
    args = parser.parse_args()
    prepare_process()
    # mmcv, mmseg and mmengine repeat the same deprecation notices in every one of the demo's
    # runs (not ours to fix): the seeds' processes and tools/infer.py's inherit this.
    os.environ['PYTHONWARNINGS'] = 'ignore::UserWarning'
    root = osp.abspath(args.work_dir)
    start = time.time()
    path = lambda relative: osp.join(root, relative)  # noqa: E731

    print('==> context-scene data (pretraining set, ADE20K-layout set)', flush=True)
    pretrain_data, ade_data = path('data/context_pretrain'), path('data/context_ade20k')
    for data, seed, num_train in ((pretrain_data, 1, 600), (ade_data, 0, 300)):
        if not osp.isdir(data):
            make_synthetic_ade20k(data, num_train=num_train, num_val=100, image_size=112, num_classes=NUM_CLASSES,
                                  seed=seed, scene=render_context_scene)

    run('teacher_pretrain', path('teacher'), 'teacher pretraining (softmax, from scratch)', start,
        {f'{split}_dataloader.dataset.data_root': pretrain_data for split in ('train', 'val', 'test')})
    teacher = path('teacher/dinov2_tiny_pretrain.pth')
    torch.save(timm_to_official_dinov2(read_vit_state_dict(path(final_checkpoint('teacher_pretrain', 'teacher')))),
               teacher)

    reference = TeacherReference(load_backbone('probe_softmax_teacher', teacher), held_out_images(ade_data))
    # The baselines' kernels on the teacher's weights, before their stage 1; each seed adds the
    # errors after it.
    baseline_errors = {config: dict(stage1=[], unaligned=float(
        reference.attention_errors(load_backbone(config, teacher)).mean())) for config in BASELINES}
    rows = {config: dict(name=name, config=config, paper=paper, mious=[], cosines=[], errors=[], block_errors=[])
            for name, config, _, paper in ROWS}
    cores = len(os.sched_getaffinity(0))
    with ProcessPoolExecutor(max_workers=min(len(args.seeds), cores), initializer=prepare_process,
                             mp_context=multiprocessing.get_context('spawn')) as pool:
        for seed_rows, seed_baseline_errors in pool.map(seed_chain, [root] * len(args.seeds), args.seeds,
                                                        [start] * len(args.seeds), [reference] * len(args.seeds)):
            for config, measured in seed_rows.items():
                for column, value in measured.items():
                    rows[config][column].append(value)
            for config, error in seed_baseline_errors.items():
                baseline_errors[config]['stage1'].append(error)
    results = [dict(row, block_errors=torch.stack(row['block_errors']).mean(0).tolist()) for row in rows.values()]
    adala_probe = path(final_checkpoint('linear_probe', f'seed{args.seeds[0]}/stage3/linear_probe'))
    highres_miou = segment_highres(root, adala_probe)
    speed = measure_speed(root)
    write_outputs(root, results, speed)
    holds = check_claims(results, highres_miou, speed, baseline_errors)
    print(f'\nDemo time: {(time.time() - start) / 60:.1f} min. Results: {root}/results.md, '
          f'{root}/ablation.png, {HIGHRES_SIDE}x{HIGHRES_SIDE} segmentation in {root}/highres/, speed in {root}/speed/')
    sys.exit(0 if holds else 1)


def prepare_process() -> None:
    """One thread (see the module's docstring), MMSeg's registry scope for the models built outside
    a Runner, and no repeated upstream notices: in the demo's process and in each seed's."""
    torch.set_num_threads(1)
    init_default_scope('mmseg')
    warnings.filterwarnings('ignore', category=UserWarning)


def seed_chain(root: str, seed: int, demo_start: float,
               reference: TeacherReference) -> Tuple[Dict[str, dict], Dict[str, float]]:
    """One seed's stages 1 and 2, ablations and baselines, then stage 3 and the diagnostics of every
    row against the teacher's `reference` (recorded once, in the demo's process). Returns, by row
    config, the mIoU, final-feature cosine, mean and per-block attention error; and, by baseline
    row, the mean attention error of its stage-1 export."""
    path = lambda relative: osp.join(root, relative)  # noqa: E731
    seed_dir = lambda relative: path(f'seed{seed}/{relative}')  # noqa: E731
    pretrain_data, ade_data = path('data/context_pretrain'), path('data/context_ade20k')
    teacher = path('teacher/dinov2_tiny_pretrain.pth')
    images = {'model.teacher.init_cfg.checkpoint': teacher,
              'train_dataloader.dataset.data_root': osp.join(pretrain_data, 'images', 'training'),
              'val_dataloader.dataset.data_root': osp.join(pretrain_data, 'images', 'validation')}

    def after(stage1: str) -> dict:
        return {**images, 'model.student.init_cfg.checkpoint': seed_dir(f'{stage1}/backbone_final.pth')}

    for config, options, step in (('stage1', images, 'stage 1: attention alignment'),
                                  ('stage2', after('stage1'), 'stage 2: feature alignment (from stage 1)'),
                                  ('stage2_only', {**images, 'model.student.init_cfg.checkpoint': teacher},
                                   'stage 2 alone (from the teacher)'),
                                  ('stage2_qkv', after('stage1'), 'stage 2, Q/K/V only (from stage 1)'),
                                  ('stage1_lolcats', images, 'LoLCATs: its stage 1 (feature maps only)'),
                                  ('stage1_l2vit', images, 'L2ViT-style: stage 1'),
                                  ('stage2_l2vit', after('stage1_l2vit'), 'L2ViT-style: stage 2')):
        run(config, seed_dir(config), f'seed {seed}, {step}', demo_start, options, seed=seed)

    measured = {}
    for name, config, weights, _ in ROWS:
        weights = teacher if weights == 'teacher' else seed_dir(weights)
        backbone = load_backbone(config, weights)
        block_errors = reference.attention_errors(backbone).mean(0)
        metrics = run(config, seed_dir(f'stage3/{config}'), f'seed {seed}, stage 3, {name}', demo_start,
                      {**{f'{split}_dataloader.dataset.data_root': ade_data for split in ('train', 'val', 'test')},
                       'model.backbone.init_cfg.checkpoint': weights}, seed=seed)
        measured[config] = dict(mious=metrics['mIoU'], cosines=float(reference.feature_cosine(backbone).mean()),
                                errors=float(block_errors.mean()), block_errors=block_errors)
    stage1_errors = {config: float(reference.attention_errors(load_backbone(config, seed_dir(export))).mean())
                     for config, (_, export) in BASELINES.items()}
    return measured, stage1_errors


def segment_highres(root: str, checkpoint: str) -> float:
    """Segments a 2048x2048 context scene whole with tools/infer.py; returns its mIoU.

    The scene is drawn at 2048 px (key and shapes 18x larger, the key still ~4% of the
    21,610 tokens: 147 x 147 patches of the image resized to 2058 px, and the class token), so
    the model must find the key across the whole image, in one pass.
    """
    print(f'==> whole-image inference, {HIGHRES_SIDE}x{HIGHRES_SIDE} (tools/infer.py)', flush=True)
    image = osp.join(root, 'highres', f'scene_{HIGHRES_SIDE}.jpg')
    label = write_synthetic_image(image, size=(HIGHRES_SIDE, HIGHRES_SIDE), num_classes=NUM_CLASSES,
                                  object_size=HIGHRES_SIDE, scene=render_context_scene)
    subprocess.run([sys.executable, osp.join(REPO, 'tools', 'infer.py'), osp.join(DEMO, 'linear_probe.py'),
                    checkpoint, image, '--out-dir', osp.dirname(image), '--scale', 'native',
                    '--cfg-options', 'model.backbone.init_cfg=None'], check=True)
    predicted = cv2.imread(osp.join(root, 'highres', f'scene_{HIGHRES_SIDE}_labels.png'), cv2.IMREAD_UNCHANGED) + 1
    valid = label > 0  # the key (0) is ignored, as in training
    ious = [((predicted == c) & (label == c) & valid).sum() / ((predicted == c) | (label == c))[valid].sum()
            for c in np.unique(label[valid])]
    miou = 100 * float(np.mean(ious))
    print(f'    ViT-AdaLA on the whole {HIGHRES_SIDE}x{HIGHRES_SIDE} image: mIoU {miou:.2f} '
          f'over its {len(ious)} classes', flush=True)
    return miou


def measure_speed(root: str) -> Dict[str, dict]:
    """The toy segmentor (the probes' backbone and head) with softmax and with linear attention on
    a whole 2048x2048 image: seconds and peak memory above the model, one timed run each in a
    fresh process (mmseg_adala.benchmark, as tools/benchmark.py); the records by variant."""
    print(f'==> speed: the toy segmentor at {HIGHRES_SIDE}x{HIGHRES_SIDE}, softmax and linear attention', flush=True)
    settings = BenchmarkSettings(
        arch='dinov2_vits14', vit_cfg=Config.fromfile(osp.join(DEMO, '_base_', 'demo_vit.py')).demo_vit_cfg,
        sizes=[HIGHRES_SIDE], variants=['softmax', 'linear'], scopes=['segmentor'],
        segmentor_config=osp.join(DEMO, 'linear_probe.py'), warmup=0, repeats=1,
        command=f'tools/demo.py (the same as: python tools/benchmark.py --scope segmentor --segmentor-config '
                f'configs/demo/linear_probe.py --sizes {HIGHRES_SIDE} --variants softmax linear --warmup 0 '
                '--repeats 1 --vit-cfg \'{"embed_dim": 64, "depth": 6, "num_heads": 4}\')')
    report = run_benchmark(settings, progress=lambda line: print(f'    {line}', flush=True))
    write_report(report, osp.join(root, 'speed'))
    return {record['variant']: record for record in report['results']}


def write_outputs(root: str, results: List[dict], speed: Dict[str, dict]) -> None:
    """results.md (the tables) and ablation.png (bars and per-block attention errors)."""
    lines = ['| stage-3 backbone (frozen) + linear head | mIoU mean | spread (min-max) | '
             'final-feature cosine to teacher | mean attention error | paper (DINOv2-L, ADE20K) |',
             '|---|---:|---:|---:|---:|---:|']
    for r in results:
        paper = '' if r['paper'] is None else f'{r["paper"]:.2f}'
        lines.append(f'| {r["name"]} | {np.mean(r["mious"]):.2f} | {min(r["mious"]):.2f}-{max(r["mious"]):.2f} | '
                     f'{np.mean(r["cosines"]):.3f} | {np.mean(r["errors"]):.3f} | {paper} |')
    lines += ['', f'| toy segmentor, whole {HIGHRES_SIDE}x{HIGHRES_SIDE} image | time | backbone\'s peak memory above '
              'the model |', '|---|---:|---:|']
    for variant, record in speed.items():
        if record['status'] != 'ok':
            lines.append(f'| {variant} attention | {record["status"]} | |')
            continue
        peak = 'n/a' if record.get(PEAK) is None else f'{record[PEAK]:.0f} MB'
        lines.append(f'| {variant} attention ({record["tokens"]:,} tokens) | {record["seconds_per_batch"]:.1f} s '
                     f'| {peak} |')
    ratios = speed_ratios(speed)
    if ratios:
        lines.append(f'| softmax / linear | {ratios[0]:.2f}x | {ratios[1]:.2f}x |' if ratios[1] is not None
                     else f'| softmax / linear | {ratios[0]:.2f}x | n/a |')
    table = '\n'.join(lines)
    with open(osp.join(root, 'results.md'), 'w') as f:
        f.write(table + '\n')
    print('\n' + table, flush=True)
    plot_ablation(results, osp.join(root, 'ablation.png'))


def speed_ratios(speed: Dict[str, dict]) -> Optional[tuple]:
    """(softmax / linear time, softmax / linear backbone peak memory), None where not measured."""
    if any(speed.get(variant, {}).get('status') != 'ok' for variant in ('softmax', 'linear')):
        return None
    softmax, linear = speed['softmax'], speed['linear']
    memory = None if not (softmax.get(PEAK) and linear.get(PEAK)) else softmax[PEAK] / linear[PEAK]
    return softmax['seconds_per_batch'] / linear['seconds_per_batch'], memory


def plot_ablation(results: List[dict], path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, (bars, blocks) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw=dict(width_ratios=[3, 2]))
    means = [np.mean(r['mious']) for r in results]
    spread = np.array([[m - min(r['mious']), max(r['mious']) - m] for m, r in zip(means, results)]).T
    bars.barh(range(len(results)), means, xerr=spread, capsize=4, color='tab:blue')
    for index, mean in enumerate(means):
        bars.text(mean / 2, index, f'{mean:.1f}', va='center', ha='center', color='white')
    bars.set_yticks(range(len(results)), [r['name'] for r in results])
    bars.invert_yaxis()
    bars.set_xlabel('mIoU, frozen backbone + linear head (mean, min-max over seeds)')
    by_config = {r['config']: r for r in results}
    for config, label in (('probe_no_alignment', 'before stage 1 (teacher weights)'),
                          ('probe_stage1_only', 'after stage 1'), ('linear_probe', 'after stages 1+2'),
                          ('probe_lolcats', 'LoLCATs, after its stage 1')):
        errors = by_config[config]['block_errors']
        blocks.plot(range(len(errors)), errors, marker='o', label=label)
    blocks.set_xlabel('block')
    blocks.set_ylabel('relative attention error on the teacher\'s inputs')
    blocks.set_yscale('log')
    blocks.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def check_claims(results: List[dict], highres_miou: float, speed: Dict[str, dict],
                 baseline_errors: Dict[str, dict]) -> bool:
    """The paper's claims, read against the run's noise; prints each check and its numbers.

    The noise of a difference is the sum of the two rows' spreads over seeds (max - min) of the
    column compared: a strict "<" needs a margin above it, a "<=" fails only if it is broken by
    more than it. Rows from the teacher's weights (teacher, control, no alignment) vary only
    in their mIoU, whose head is trained per seed. `baseline_errors` holds, by baseline row, the
    mean attention error of its kernels on the teacher's weights (`unaligned`) and of its stage-1
    export per seed (`stage1`).
    """
    rows = {r['config']: r for r in results}

    def mean(config: str, column: str) -> float:
        return float(np.mean(rows[config][column]))

    def noise(column: str, *configs: str) -> float:
        return sum(max(rows[c][column]) - min(rows[c][column]) for c in configs)

    def lower(column: str, a: str, b: str) -> bool:
        """a's mean below b's by more than the noise."""
        return mean(b, column) - mean(a, column) > noise(column, a, b) + MARGIN

    def at_most(column: str, a: str, b: str) -> bool:
        """a's mean not above b's by more than the noise."""
        return mean(a, column) - mean(b, column) <= noise(column, a, b)

    def shown(column: str, *configs: str) -> str:
        digits = 2 if column == 'mious' else 3
        return ', '.join(f'{rows[c]["name"]} {mean(c, column):.{digits}f}' for c in configs)

    teacher, control, none = 'probe_softmax_teacher', 'probe_no_attention', 'probe_no_alignment'
    stage1, stage2_only, qkv, full = 'probe_stage1_only', 'probe_stage2_only', 'probe_stage2_qkv', 'linear_probe'
    others = [c for c in rows if c != control]
    checks = [
        # mIoU (the stage ablation)
        ('the task needs attention: teacher - no-attention control >= 15 mIoU',
         mean(teacher, 'mious') - mean(control, 'mious') >= 15, shown('mious', teacher, control)),
        ('no alignment < stage 2 only, by more than the noise', lower('mious', none, stage2_only),
         shown('mious', none, stage2_only)),
        ('stage 1 only <= stages 1+2, within the noise', at_most('mious', stage1, full), shown('mious', stage1, full)),
        ('QKV-only stage 2 <= full stage 2, within the noise', at_most('mious', qkv, full), shown('mious', qkv, full)),
        ('stage 2 only <= stages 1+2, within the noise', at_most('mious', stage2_only, full),
         shown('mious', stage2_only, full)),
        ('stages 1+2 <= teacher, within the noise', at_most('mious', full, teacher), shown('mious', full, teacher)),
        ('teacher - stages 1+2 <= (teacher - no alignment) / 3',
         mean(teacher, 'mious') - mean(full, 'mious') <= (mean(teacher, 'mious') - mean(none, 'mious')) / 3,
         shown('mious', teacher, full, none)),
        ('the baselines lie between the no-attention control and the teacher, within the noise',
         all(at_most('mious', control, c) and at_most('mious', c, teacher) for c in BASELINES),
         shown('mious', *BASELINES)),
        # final-feature cosine and attention error (what stages 2 and 1 minimise)
        ('the diagnostics compare like with like: the teacher against itself has cosine 1 and attention error 0',
         min(rows[teacher]['cosines']) > 1 - 1e-4 and max(rows[teacher]['errors']) < 1e-6,
         f'{mean(teacher, "cosines"):.6f}, {mean(teacher, "errors"):.2e}'),
        ('stage 1 lowers the mean attention error below no alignment\'s, by more than the noise',
         lower('errors', stage1, none), shown('errors', stage1, none)),
        ('stages 1+2 keep the attention error below no alignment\'s, by more than the noise',
         lower('errors', full, none), shown('errors', full, none)),
        ('stages 1+2 have a higher final cosine than no alignment, by more than the noise',
         lower('cosines', none, full), shown('cosines', none, full)),
        ('stage 2 alone raises the final cosine above no alignment\'s, by more than the noise',
         lower('cosines', none, stage2_only), shown('cosines', none, stage2_only)),
        ('the no-attention control has the lowest final cosine, by more than the noise',
         all(lower('cosines', control, c) for c in others), shown('cosines', control, *others)),
        ('each baseline\'s stage 1 lowers its own attention error (same kernels on the teacher\'s weights)',
         all(max(errors['stage1']) < errors['unaligned'] for errors in baseline_errors.values()),
         ', '.join(f'{BASELINES[c][0]} {errors["unaligned"]:.3f} -> {np.mean(errors["stage1"]):.3f}'
                   for c, errors in baseline_errors.items())),
        # whole-image inference and speed
        (f'ViT-AdaLA keeps the global context on a whole {HIGHRES_SIDE}x{HIGHRES_SIDE} image: mIoU within 10 of '
         'its 112 px score', highres_miou >= mean(full, 'mious') - 10, f'{highres_miou:.2f}'),
    ]
    ratios = speed_ratios(speed)
    checks += [
        (f'linear attention is at least 2x faster than softmax on the whole {HIGHRES_SIDE}x{HIGHRES_SIDE} image',
         ratios is not None and ratios[0] >= 2, 'not measured' if ratios is None else f'{ratios[0]:.2f}x'),
        ('and its backbone takes at most 1.2x softmax\'s peak memory (CPU SDPA is a flash kernel: neither holds '
         'N x N scores)',
         ratios is not None and ratios[1] is not None and 1 / ratios[1] <= 1.2,
         'not measured' if ratios is None or ratios[1] is None else f'linear / softmax {1 / ratios[1]:.2f}x'),
    ]
    print('\nWhat the paper claims, checked on this run:')
    for text, holds, numbers in checks:
        print(f'  [{"holds" if holds else "FAILS"}] {text} ({numbers})')
    return all(holds for _, holds, _ in checks)


if __name__ == '__main__':
    main()
