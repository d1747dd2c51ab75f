"""The acceptance check of a GPU machine in one command, within a time budget (tools/gpu_check.sh).

A GPU is lent for minutes, on a bare machine: nothing can be written or debugged then, so the
check is one prepared command, and CI runs it on CPU at tiny sizes (the `tiny` profile) so that
it cannot rot. After the set-up (done by the shell entry, which records it in setup.json), in
order:

1. tests: ``pytest -m device --device cuda``: the op, backbone, segmentor, alignment and
   random-state tests on the GPU (CI runs them on the CPU);
2. backbone: DINOv2-L with softmax (SDPA), linear and no attention, bf16 and fp32, at 1024,
   2048 and 4096 px, timed and measured (torch.cuda.max_memory_allocated) by the benchmark
   harness, each measurement in a fresh process;
3. segmentor: the UperNet segmentor end to end (``predict``), bf16, at 1024 and 2048 px,
   softmax against linear (the paper, on an H100: 2.26x at 1024 px, 3.28 -> 1.38 GB);
4. stages: a few iterations of stages 1, 2 and 3 from the full-size configs on synthetic
   images, with their bf16 AmpOptimWrapper, through torchrun and ``--launcher pytorch``, each
   stage from the previous one's export, then a ``--resume`` of stage 3 (mmengine loads it
   with map_location='cuda').

Each step is recorded as done, skipped or failed, with its reason, in gpu_check.json and
gpu_check.md, rewritten after every step, so a run stopped from outside keeps what it finished.
A step still running at the budget is stopped and recorded as skipped with what it measured.
"""
import argparse
import json
import math
import os
import os.path as osp
import platform
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import xml.etree.ElementTree as ElementTree
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

import torch

from .harness import run_benchmark
from .report import markdown_table, scaling_rows
from .settings import BenchmarkSettings

# The checkout under check: the steps run its tests, tools and configs.
REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = osp.join(REPO, 'configs')
STEPS = ('tests', 'backbone', 'segmentor', 'stages')
# Kept back from every step for writing the report.
REPORT_RESERVE_S = 5.
# Where the tests marked `device` are (tests/conftest.py).
DEVICE_TEST_FOLDERS = ['tests/ops', 'tests/models', 'tests/engine', 'tests/alignment']
# What the paper reports for the UperNet segmentor at 1024 px (ViT-AdaLA, on an H100).
PAPER_SEGMENTOR = 'paper (DINOv2-L UperNet, 1024 px, H100): softmax/linear 2.26x, peak memory 3.28 GB -> 1.38 GB'


@dataclass
class Profile:
    """The sizes of one run of the check: `full` on a GPU, `tiny` on a CPU (CI).

    Attributes:
        test_args: pytest's arguments (the marked subset on the profile's device).
        arch, vit_cfg: the backbone of the benchmark steps (vit_cfg: timm overrides).
        stage_configs: stage name -> config of the stage runs.
        launcher: 'pytorch' runs the stages through torchrun (tools/dist_train.sh, one process).
        data_size, data_images: side and number of the synthetic training images.
    """
    name: str
    device: str
    test_args: List[str]
    arch: str
    vit_cfg: Optional[dict]
    backbone_sizes: List[int]
    segmentor_sizes: List[int]
    segmentor_config: str
    dtypes: List[str]
    segmentor_dtypes: List[str]
    warmup: int
    repeats: int
    measurement_budget_s: float
    stage_configs: Dict[str, str]
    stage_iters: int
    launcher: str
    workers: int
    data_size: int
    data_images: int


PROFILES = {
    'full': Profile(
        name='full', device='cuda', test_args=['-m', 'device', '--device', 'cuda', '--continue-on-collection-errors',
                                               *DEVICE_TEST_FOLDERS],
        arch='dinov2_vitl14', vit_cfg=None, backbone_sizes=[1024, 2048, 4096], segmentor_sizes=[1024, 2048],
        segmentor_config=osp.join(CONFIGS, 'adala_dinov2_l_ade20k.py'), dtypes=['bfloat16', 'float32'],
        segmentor_dtypes=['bfloat16'],
        warmup=1, repeats=3, measurement_budget_s=5.,
        stage_configs=dict(stage1=osp.join(CONFIGS, 'adala_stage1_dinov2_l_coco.py'),
                           stage2=osp.join(CONFIGS, 'adala_stage2_dinov2_l_in22k.py'),
                           stage3=osp.join(CONFIGS, 'adala_dinov2_l_ade20k.py')),
        stage_iters=4, launcher='pytorch', workers=4, data_size=640, data_images=16),
    'tiny': Profile(
        name='tiny', device='cpu', test_args=['-m', 'device', '--device', 'cpu', 'tests/engine'],
        arch='dinov2_vits14', vit_cfg=dict(embed_dim=48, depth=2, num_heads=2), backbone_sizes=[56, 112],
        segmentor_sizes=[56], segmentor_config=osp.join(CONFIGS, 'tiny', 'adala_upernet_synthetic_tiny.py'),
        dtypes=['bfloat16', 'float32'], segmentor_dtypes=['bfloat16'], warmup=0, repeats=1, measurement_budget_s=5.,
        stage_configs=dict(stage1=osp.join(CONFIGS, 'tiny', 'adala_stage1_tiny.py'),
                           stage2=osp.join(CONFIGS, 'tiny', 'adala_stage2_tiny.py'),
                           stage3=osp.join(CONFIGS, 'tiny', 'adala_upernet_synthetic_tiny.py')),
        stage_iters=2, launcher='none', workers=0, data_size=128, data_images=8),
}


@dataclass
class Step:
    """One step's record: `status` done, skipped or failed, and why."""
    name: str
    status: str = 'skipped'
    reason: str = 'not reached'
    seconds: float = 0.
    details: dict = field(default_factory=dict)


class Budget:
    """The time left of the check, counted from when the shell entry started (set-up included)."""

    def __init__(self, budget_s: float, started_at: float) -> None:
        self.deadline = time.monotonic() + budget_s - (time.time() - started_at) - REPORT_RESERVE_S

    def left(self) -> float:
        return self.deadline - time.monotonic()


class CheckRun:
    """The steps of one check, the log of their commands and the report written after each."""

    def __init__(self, profile: Profile, out_dir: str, budget: Budget, command: str, work_root: str,
                 steps: Sequence[str]) -> None:
        self.profile, self.out_dir, self.budget, self.work_root = profile, out_dir, budget, work_root
        self.log_path = osp.join(out_dir, 'gpu_check.log')
        self.report = dict(command=command, profile=asdict(profile), environment=environment(profile.device),
                           steps_asked=list(steps), steps=[])

    def log(self, line: str) -> None:
        print(line, file=sys.stderr, flush=True)
        with open(self.log_path, 'a') as log:
            log.write(line + '\n')

    def run_command(self, command: List[str], env: Optional[dict] = None) -> subprocess.CompletedProcess:
        """`command` with its output in the log, killed (with its children) at the budget."""
        self.log(f'$ {shlex.join(command)}')
        timeout = max(self.budget.left(), 1.)
        with open(self.log_path, 'a') as log:
            process = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, text=True,
                                       env=dict(os.environ, PYTHONPATH=_pythonpath(), **(env or {})),
                                       start_new_session=True)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait()
                raise
        return subprocess.CompletedProcess(command, process.returncode)

    def record(self, step: Step) -> None:
        self.report['steps'].append(asdict(step))
        self.write()

    def write(self) -> None:
        with open(osp.join(self.out_dir, 'gpu_check.json'), 'w') as raw:
            json.dump(self.report, raw, indent=2)
        with open(osp.join(self.out_dir, 'gpu_check.md'), 'w') as markdown:
            markdown.write(markdown_report(self.report))


def _pythonpath() -> str:
    """This checkout first, so that the subprocesses import the code under check."""
    return os.pathsep.join(p for p in (REPO, os.environ.get('PYTHONPATH')) if p)


def environment(device: str) -> dict:
    """Where the numbers come from: the machine, its GPU and the stack's versions."""
    import mmcv
    import mmengine
    import mmseg
    import timm
    env = dict(python=platform.python_version(), executable=sys.executable, platform=platform.platform(),
               cpu_count=os.cpu_count(), torch=torch.__version__, cuda=torch.version.cuda, mmcv=mmcv.__version__,
               mmengine=mmengine.__version__, mmseg=mmseg.__version__, timm=timm.__version__, device=device)
    if device == 'cuda':
        props = torch.cuda.get_device_properties(0)
        env.update(gpu=props.name, gpu_memory_gb=round(props.total_memory / 2 ** 30, 1),
                   capability=f'{props.major}.{props.minor}', cudnn=torch.backends.cudnn.version())
    try:
        env['commit'] = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=REPO, capture_output=True, text=True,
                                       timeout=10).stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        env['commit'] = None
    return env


def run_tests(run: CheckRun) -> Step:
    """Step 1: the tests marked `device` on the profile's device, counted from pytest's JUnit XML."""
    step = Step('tests')
    junit = osp.join(run.work_root, 'junit.xml')
    command = [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', f'--junitxml={junit}',
               *run.profile.test_args]
    try:
        result = run.run_command(command)
    except subprocess.TimeoutExpired:
        step.reason = 'stopped at the time budget (counts of the tests run so far are lost)'
        return step
    if not osp.isfile(junit):
        step.status, step.reason = 'failed', f'pytest exited with {result.returncode} and wrote no report (see the log)'
        return step
    step.details = junit_summary(junit)
    counts = step.details
    if result.returncode == 0:
        step.status, step.reason = 'done', f'{counts["passed"]} passed, {counts["skipped"]} skipped'
    else:
        step.status = 'failed'
        step.reason = (f'{counts["failed"]} failed, {counts["errors"]} errors, {counts["passed"]} passed '
                       f'(pytest exit code {result.returncode})')
    return step


def junit_summary(path: str) -> dict:
    """Counts and the failing tests (with the first line of their message) of a JUnit XML file."""
    suites = ElementTree.parse(path).getroot()
    suites = [suites] if suites.tag == 'testsuite' else list(suites)
    counts = {key: sum(int(suite.get(key, 0)) for suite in suites)
              for key in ('tests', 'failures', 'errors', 'skipped')}
    failures = []
    for case in (case for suite in suites for case in suite.iter('testcase')):
        for problem in list(case.findall('failure')) + list(case.findall('error')):
            message = (problem.get('message') or problem.text or '').strip().splitlines()
            failures.append(f'{case.get("classname")}::{case.get("name")}: {message[0][:300] if message else ""}')
    return dict(passed=counts['tests'] - counts['failures'] - counts['errors'] - counts['skipped'],
                failed=counts['failures'], errors=counts['errors'], skipped=counts['skipped'],
                seconds=sum(float(suite.get('time', 0)) for suite in suites), failing=failures)


def run_benchmarks(run: CheckRun, scope: str, sizes: Sequence[int], variants: Sequence[str],
                   dtypes: Sequence[str]) -> Step:
    """Steps 2 and 3: the benchmark harness, one dtype after the other."""
    profile = run.profile
    step = Step(scope)
    reports = {}
    for dtype in dtypes:
        if run.budget.left() <= 0:
            break
        settings = BenchmarkSettings(
            arch=profile.arch, sizes=list(sizes), variants=list(variants), scopes=[scope], device=profile.device,
            dtype=dtype, warmup=profile.warmup, repeats=profile.repeats, vit_cfg=profile.vit_cfg,
            segmentor_config=profile.segmentor_config, time_budget_s=profile.measurement_budget_s,
            command=run.report['command'])
        reports[dtype] = run_benchmark(settings, progress=run.log, deadline=run.budget.deadline)
    step.details = dict(reports=reports)
    results = [record for report in reports.values() for record in report['results']]
    broken = [r for r in results if r['status'] == 'error']  # out of memory is a result (the table says OOM)
    cut = [r for r in results if r['status'] in ('skipped', 'timeout')] or len(reports) < len(dtypes)
    done = [r for r in results if r['status'] == 'ok']
    if broken:
        step.status = 'failed'
        step.reason = '; '.join(f'{r["variant"]} {r["size"]} px {r["dtype"]}: {r["status"]}: {r.get("error", "")}'
                                for r in broken)
    elif cut:
        missing = [dtype for dtype in dtypes if dtype not in reports]
        step.reason = (f'time budget reached: {len(done)} measurements made, {len(results) - len(done)} not'
                       + (f', {" and ".join(missing)} not started' if missing else ''))
    else:
        oom = [f'{r["variant"]} {r["size"]} px {r["dtype"]}' for r in results if r['status'] == 'OOM']
        step.status, step.reason = 'done', f'{len(done)} measurements' + (f'; out of memory: {", ".join(oom)}'
                                                                          if oom else '')
    return step


def make_data(run: CheckRun) -> str:
    """Synthetic ADE20K-layout images and labels; stages 1 and 2 read its image folders."""
    from ..datasets.synthetic_ade20k import make_synthetic_ade20k
    root = osp.join(run.work_root, 'data')
    profile = run.profile
    make_synthetic_ade20k(root, num_train=profile.data_images, num_val=2, image_size=profile.data_size,
                          num_classes=3)
    return root


def stage_options(stage: str, run: CheckRun, data: str, export: Optional[str], iters: int,
                  checkpoint: bool) -> List[str]:
    """The --cfg-options that turn a stage config into `iters` iterations on the synthetic data,
    validated at the end, starting from `export` (none: random weights), with a checkpoint at
    the last iteration if `checkpoint`."""
    images = osp.join(data, 'images')
    options = ['randomness.seed=0', f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
               'default_hooks.logger.interval=1',
               f'default_hooks.checkpoint.interval={iters if checkpoint else iters + 1}',
               f'default_hooks.checkpoint.save_last={checkpoint}',
               f'train_dataloader.num_workers={run.profile.workers}',
               f'val_dataloader.num_workers={run.profile.workers}']
    if run.profile.workers == 0:
        options += ['train_dataloader.persistent_workers=False', 'val_dataloader.persistent_workers=False']
    init = f'init_cfg.checkpoint={export}' if export else 'init_cfg=None'
    if stage == 'stage1':
        return options + ['model.teacher.init_cfg=None', f'train_dataloader.dataset.data_root={images}/training',
                          f'val_dataloader.dataset.data_root={images}/validation']
    if stage == 'stage2':
        return options + ['model.teacher.init_cfg=None', f'model.student.{init}',
                          f'train_dataloader.dataset.data_root={images}/training',
                          f'val_dataloader.dataset.data_root={images}/training']
    return options + [f'model.backbone.{init}'] + [
        f'{split}_dataloader.dataset.data_root={data}' for split in ('train', 'val', 'test')]


def train_command(run: CheckRun, config: str, work_dir: str, options: List[str], resume: bool = False) -> List[str]:
    if run.profile.launcher == 'pytorch':
        command = [osp.join(REPO, 'tools', 'dist_train.sh'), config, '1']
    else:
        command = [sys.executable, osp.join(REPO, 'tools', 'train.py'), config]
    return command + ['--work-dir', work_dir] + (['--resume'] if resume else []) + ['--cfg-options', *options]


def logged_iterations(work_dir: str) -> List[dict]:
    """The training iterations (loss, time, memory) that mmengine logged in the work_dir's last run."""
    runs = sorted(root for root, _, files in os.walk(work_dir) if 'scalars.json' in files)
    if not runs:
        return []
    with open(osp.join(runs[-1], 'scalars.json')) as scalars:
        return [entry for entry in map(json.loads, filter(str.strip, scalars)) if 'loss' in entry]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def run_stage(run: CheckRun, config: str, work_dir: str, options: List[str], first_iter: int, iters: int,
              resume: bool = False) -> dict:
    """One training run; its record says whether it ran iterations `first_iter`..`iters` with finite losses."""
    start = time.monotonic()
    record = dict(config=osp.relpath(config, REPO), launcher=run.profile.launcher, resume=resume, options=options)
    try:
        result = run.run_command(train_command(run, config, work_dir, options, resume),
                                 env=dict(PYTHON=sys.executable, PORT=str(_free_port())))
    except subprocess.TimeoutExpired:
        return dict(record, status='skipped', reason='stopped at the time budget', seconds=time.monotonic() - start)
    iterations = logged_iterations(work_dir)
    losses = [entry['loss'] for entry in iterations]
    times = sorted(entry['time'] for entry in iterations[1:] if 'time' in entry)  # the first one warms up
    memory = [entry['memory'] for entry in iterations if 'memory' in entry]
    record.update(seconds=time.monotonic() - start, iterations=[entry.get('iter') for entry in iterations],
                  losses=losses, seconds_per_iter=times[len(times) // 2] if times else None,
                  memory_mb=max(memory) if memory else None)
    if result.returncode != 0:
        return dict(record, status='failed', reason=f'exit code {result.returncode} (see the log)')
    if not all(math.isfinite(loss) for loss in losses):
        return dict(record, status='failed', reason=f'losses not finite: {losses}')
    if record['iterations'] != list(range(first_iter, iters + 1)):
        return dict(record, status='failed',
                    reason=f'logged iterations {record["iterations"]}, not {first_iter}..{iters}')
    return dict(record, status='done', reason=f'iterations {first_iter}..{iters}, final loss {losses[-1]:.4g}')


def run_stages(run: CheckRun) -> Step:
    """Step 4: stages 1, 2 and 3, each from the previous one's export, then stage 3 resumed."""
    step = Step('stages')
    data = make_data(run)
    iters = run.profile.stage_iters
    export, runs = None, {}
    for stage, config in run.profile.stage_configs.items():
        if run.budget.left() <= 0:
            runs[stage] = dict(status='skipped', reason='time budget reached before it started')
            continue
        work_dir = osp.join(run.work_root, stage)
        # Stage 3 keeps its last checkpoint for the resume below; the others need their export only.
        options = stage_options(stage, run, data, export, iters, checkpoint=stage == 'stage3')
        runs[stage] = dict(run_stage(run, config, work_dir, options, 1, iters), init=export)
        run.log(f'{stage}: {runs[stage]["status"]}: {runs[stage]["reason"]}')
        final = osp.join(work_dir, 'backbone_final.pth')
        export = final if osp.isfile(final) else None
    if runs['stage3']['status'] != 'done':
        runs['stage3_resume'] = dict(status='skipped', reason='stage 3 did not finish')
    elif run.budget.left() <= 0:
        runs['stage3_resume'] = dict(status='skipped', reason='time budget reached before it started')
    else:  # one more iteration, from stage 3's last checkpoint in its work_dir
        options = stage_options('stage3', run, data, runs['stage3']['init'], iters + 1, checkpoint=False)
        runs['stage3_resume'] = run_stage(run, run.profile.stage_configs['stage3'], osp.join(run.work_root, 'stage3'),
                                          options, iters + 1, iters + 1, resume=True)
        run.log(f'stage3_resume: {runs["stage3_resume"]["status"]}: {runs["stage3_resume"]["reason"]}')
    step.details = runs
    failed = [name for name, r in runs.items() if r['status'] == 'failed']
    skipped = [name for name, r in runs.items() if r['status'] == 'skipped']
    if failed:
        step.status, step.reason = 'failed', 'failed: ' + ', '.join(failed)
    elif skipped:
        step.reason = 'not run to the end: ' + ', '.join(f'{name} ({runs[name]["reason"]})' for name in skipped)
    else:
        step.status, step.reason = 'done', 'stages 1, 2, 3 and the resume of stage 3'
    return step


def run_check(profile: Profile, out_dir: str, budget: Budget, command: str, setup: Optional[dict] = None,
              steps: Sequence[str] = STEPS) -> dict:
    """Run the steps in order while the budget lasts; the report is in `out_dir` after each."""
    os.makedirs(out_dir, exist_ok=True)
    work_root = tempfile.mkdtemp(prefix='gpu_check_')
    run = CheckRun(profile, out_dir, budget, command, work_root, steps)
    if setup is not None:
        run.record(Step(**setup))
    actions: Dict[str, Callable[[], Step]] = dict(
        tests=lambda: run_tests(run),
        backbone=lambda: run_benchmarks(run, 'backbone', profile.backbone_sizes,
                                        ['softmax', 'linear', 'no_attention'], profile.dtypes),
        segmentor=lambda: run_benchmarks(run, 'segmentor', profile.segmentor_sizes, ['softmax', 'linear'],
                                         profile.segmentor_dtypes),
        stages=lambda: run_stages(run))
    try:
        for name in steps:
            left = budget.left()
            if left <= 0:
                run.record(Step(name, reason=f'time budget reached before it started ({-left:.0f} s over)'))
                continue
            run.log(f'== {name} ({left:.0f} s left)')
            start = time.monotonic()
            try:
                step = actions[name]()
            except Exception as error:  # noqa: BLE001  (one broken step must not lose the others)
                step = Step(name, status='failed', reason=f'{type(error).__name__}: {error}')
                run.log(f'{name} raised:\n{traceback.format_exc()}')
            step.seconds = time.monotonic() - start
            run.record(step)
    finally:
        shutil.rmtree(work_root, ignore_errors=True)
    return run.report


def markdown_report(report: dict) -> str:
    """gpu_check.md: the verdict, the environment, each step's status and its tables."""
    steps = report['steps']
    failed = [s['name'] for s in steps if s['status'] == 'failed']
    # A set-up skipped was not needed; a step skipped was not run to the end.
    skipped = [s['name'] for s in steps if s['status'] == 'skipped' and s['name'] != 'setup']
    recorded = [s['name'] for s in steps]
    unfinished = [name for name in report['steps_asked'] if name not in recorded]  # running, or stopped from outside
    left_out = [name for name in STEPS if name not in report['steps_asked']]
    verdict = ('FAILED: ' + ', '.join(failed) if failed
               else f'incomplete: skipped {", ".join(skipped)}' if skipped
               else f'incomplete: not finished: {", ".join(unfinished)}' if unfinished
               else 'all steps done' + (f' (not asked for: {", ".join(left_out)})' if left_out else ''))
    env = report['environment']
    lines = ['# GPU check', '', f'Command: `{report["command"]}`', '', f'**{verdict}**', '',
             f'- profile {report["profile"]["name"]} on {env.get("gpu", env["device"])}'
             f'{", " + str(env["gpu_memory_gb"]) + " GB" if "gpu_memory_gb" in env else ""}; '
             f'torch {env["torch"]} (CUDA {env["cuda"]}), mmcv {env["mmcv"]}, mmengine {env["mmengine"]}, '
             f'mmseg {env["mmseg"]}, timm {env["timm"]}, Python {env["python"]}, {env["cpu_count"]} CPUs, '
             f'commit {env.get("commit")}', '',
             '| step | status | seconds | reason |', '|---|---|---:|---|']
    lines += [f'| {s["name"]} | {s["status"]} | {s["seconds"]:.0f} | {s["reason"]} |' for s in steps]
    for s in steps:
        lines += ['', f'## {s["name"]}: {s["status"]}', '', s['reason']]
        lines += _step_details(s)
    return '\n'.join(lines) + '\n'


def _step_details(step: dict) -> List[str]:
    details = step['details']
    if step['name'] == 'tests' and details.get('failing'):
        return [''] + [f'- {line}' for line in details['failing']]
    if step['name'] in ('backbone', 'segmentor'):
        lines = []
        for dtype, report in details.get('reports', {}).items():
            variants = report['settings']['variants']
            for rows in scaling_rows(report['results'], variants).values():
                lines += ['', f'### {dtype}', '', markdown_table(rows, variants)]
                if step['name'] == 'segmentor':
                    lines += ['', 'peak in all (the model, its input and the peak above them), MB: ' + ', '.join(
                        f'{v} {row["size"]} px {_peak_in_all(row["variants"].get(v))}'
                        for row in rows for v in variants)]
        lines += ['', 'peak MB: above the built model and its input (torch.cuda.max_memory_allocated on a GPU, '
                      'peak RSS on a CPU); synchronised timing, median of the timed runs after the warm-up.']
        if step['name'] == 'segmentor':
            lines += ['', PAPER_SEGMENTOR + '.']
        return lines
    if step['name'] == 'stages':
        lines = ['', '| run | status | iterations | losses | s/iter | peak MB | reason |',
                 '|---|---|---:|---|---:|---:|---|']
        for name, r in details.items():
            losses = ', '.join(f'{loss:.4g}' for loss in r.get('losses', []))
            lines.append(f'| {name} | {r["status"]} | {len(r.get("losses", []))} | {losses} | '
                         f'{_format(r.get("seconds_per_iter"), ".3f")} | {_format(r.get("memory_mb"), ".0f")} | '
                         f'{r["reason"]} |')
        return lines
    return []


def _peak_in_all(record: Optional[dict]) -> str:
    if not record or record.get('status') != 'ok' or record.get('peak_mb') is None:
        return '–'
    return f'{record["baseline_mb"] + record["peak_mb"]:.0f}'


def _format(value, spec: str) -> str:
    return '–' if value is None else format(value, spec)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', required=True, help='folder for gpu_check.json, gpu_check.md and gpu_check.log')
    parser.add_argument('--budget-s', type=float, default=540., help='time for everything, the set-up included')
    parser.add_argument('--started-at', type=float, default=None,
                        help='epoch seconds when the set-up started (default: now)')
    parser.add_argument('--profile', choices=['auto', *PROFILES], default='auto',
                        help='full: paper sizes on a GPU; tiny: tiny widths and images on a CPU; auto: full with a GPU')
    parser.add_argument('--steps', nargs='+', choices=STEPS, default=list(STEPS))
    parser.add_argument('--setup-record', default=None, help='the JSON record of the set-up (from tools/gpu_check.sh)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    name = args.profile if args.profile != 'auto' else 'full' if torch.cuda.is_available() else 'tiny'
    profile = PROFILES[name]
    if profile.device == 'cuda' and not torch.cuda.is_available():
        sys.exit(f'gpu_check: profile {name} needs a GPU, and torch {torch.__version__} '
                 f'(CUDA {torch.version.cuda}) sees none; --profile tiny runs on the CPU')
    setup = None
    if args.setup_record:
        with open(args.setup_record) as record:
            setup = json.load(record)
    budget = Budget(args.budget_s, args.started_at or time.time())
    command = os.environ.get('GPU_CHECK_COMMAND') or shlex.join(['python', '-m', __name__, *(argv or sys.argv[1:])])
    report = run_check(profile, args.out, budget, command, setup, args.steps)
    print(markdown_report(report))
    return 1 if any(step['status'] == 'failed' for step in report['steps']) else 0


if __name__ == '__main__':
    sys.exit(main())
