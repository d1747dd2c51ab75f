"""tools/gpu_check.sh, the GPU acceptance check, end to end on the CPU at tiny sizes, as CI runs it.

On a GPU the same script runs the `full` profile (mmseg_adala/benchmark/gpu_check.py); here it
must set nothing up (the environment imports already), run every step and write the report.
"""
import json
import math
import os
import os.path as osp
import shutil
import subprocess
import sys
import time

import pytest
from test_setup_env import UNSUPPORTED, _python

from mmseg_adala.benchmark import BenchmarkSettings, run_benchmark
from mmseg_adala.benchmark.gpu_check import junit_summary, main, markdown_report

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCRIPT = osp.join(REPO, 'tools', 'gpu_check.sh')


def gpu_check(out_dir, *args, python=sys.executable, script=SCRIPT, timeout=600):
    return subprocess.run([script, '--budget-s', '540', '--out', str(out_dir), *args], capture_output=True,
                          text=True, timeout=timeout, env=dict(os.environ, PYTHON=python))


@pytest.fixture(scope='module')
def tiny_check(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp('gpu_check')
    result = gpu_check(out_dir)
    return result, out_dir, json.loads((out_dir / 'gpu_check.json').read_text())


@pytest.mark.slow  # the tiny check runs every step: tests, benchmarks, training stages
def test_every_step_is_done(tiny_check):
    result, out_dir, report = tiny_check
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    steps = {step['name']: step for step in report['steps']}
    assert list(steps) == ['setup', 'tests', 'backbone', 'segmentor', 'stages']
    assert steps['setup']['status'] == 'skipped' and 'already set up' in steps['setup']['reason']
    for name in ('tests', 'backbone', 'segmentor', 'stages'):
        assert steps[name]['status'] == 'done', steps[name]
    assert report['profile']['name'] == 'tiny' and report['environment']['device'] == 'cpu'
    markdown = (out_dir / 'gpu_check.md').read_text()
    assert '**all steps done**' in markdown and markdown in result.stdout
    assert f'Command: `tools/gpu_check.sh --budget-s 540 --out {out_dir}`' in markdown


@pytest.mark.slow
def test_the_device_tests_ran(tiny_check):
    tests = {step['name']: step for step in tiny_check[2]['steps']}['tests']
    assert tests['details']['passed'] >= 1 and tests['details']['failed'] == tests['details']['errors'] == 0


@pytest.mark.slow
def test_benchmarks_measured_every_cell_in_every_dtype(tiny_check):
    steps = {step['name']: step for step in tiny_check[2]['steps']}
    for name, variants, sizes, dtypes in (('backbone', {'softmax', 'linear', 'no_attention'}, {56, 112},
                                           {'bfloat16', 'float32'}),
                                          ('segmentor', {'softmax', 'linear'}, {56}, {'bfloat16'})):
        reports = steps[name]['details']['reports']
        assert set(reports) == dtypes
        for dtype, report in reports.items():
            assert {(r['variant'], r['size']) for r in report['results']} == {(v, s) for v in variants for s in sizes}
            for record in report['results']:
                assert record['status'] == 'ok' and record['dtype'] == dtype and record['ms_per_image'] > 0, record
    assert '| size | tokens | softmax ms/img |' in (tiny_check[1] / 'gpu_check.md').read_text()


@pytest.mark.slow
def test_stages_chain_their_exports_and_resume(tiny_check):
    runs = {step['name']: step for step in tiny_check[2]['steps']}['stages']['details']
    assert list(runs) == ['stage1', 'stage2', 'stage3', 'stage3_resume']
    for name, run in runs.items():
        assert run['status'] == 'done', (name, run)
        assert all(math.isfinite(loss) for loss in run['losses'])
    assert runs['stage1']['iterations'] == runs['stage2']['iterations'] == runs['stage3']['iterations'] == [1, 2]
    assert runs['stage1']['init'] is None
    assert runs['stage2']['init'].endswith('stage1/backbone_final.pth')
    assert runs['stage3']['init'].endswith('stage2/backbone_final.pth')
    assert runs['stage3_resume']['resume'] and runs['stage3_resume']['iterations'] == [3]  # continued, not restarted


def test_a_spent_budget_skips_every_step_with_its_reason(tmp_path, capsys):
    """The budget counts from the shell entry's start: here it ran out before the first step."""
    assert main(['--out', str(tmp_path), '--budget-s', '60', '--started-at', str(time.time() - 61)]) == 0
    steps = json.loads((tmp_path / 'gpu_check.json').read_text())['steps']
    assert [step['name'] for step in steps] == ['tests', 'backbone', 'segmentor', 'stages']
    assert all(step['status'] == 'skipped' and 'time budget reached before it started' in step['reason']
               for step in steps)
    markdown = (tmp_path / 'gpu_check.md').read_text()
    assert '**incomplete: skipped tests, backbone, segmentor, stages**' in markdown
    assert markdown in capsys.readouterr().out


def test_a_failed_setup_is_reported_and_fails(tmp_path):
    """A checkout that is not set up, and a python that setup_env.sh refuses: the report says so."""
    python = next((p for p in map(_python, UNSUPPORTED) if p), None)
    if python is None:
        pytest.skip('no unsupported Python here')
    checkout = tmp_path / 'checkout'
    shutil.copytree(osp.join(REPO, 'tools'), checkout / 'tools')
    out_dir = tmp_path / 'out'
    result = gpu_check(out_dir, python=python, script=str(checkout / 'tools' / 'gpu_check.sh'))
    assert result.returncode == 1
    steps = json.loads((out_dir / 'gpu_check.json').read_text())['steps']
    assert steps[0]['name'] == 'setup' and steps[0]['status'] == 'failed'
    assert 'mmseg-adala supports Python 3.10-3.12' in steps[0]['reason']
    assert [step['status'] for step in steps[1:]] == ['skipped'] * 4
    assert '**FAILED: setup**' in (out_dir / 'gpu_check.md').read_text()
    assert (out_dir / 'setup.log').read_text()


def test_measurements_past_the_deadline_are_skipped_unstarted():
    settings = BenchmarkSettings(sizes=[56], variants=['linear'], vit_cfg=dict(embed_dim=48, depth=2, num_heads=2))
    started = time.monotonic()
    report = run_benchmark(settings, progress=lambda line: None, deadline=started - 1)
    assert [record['status'] for record in report['results']] == ['skipped']
    assert time.monotonic() - started < 5  # no measurement process was started


def test_junit_summary_counts_and_names_the_failures(tmp_path):
    path = tmp_path / 'junit.xml'
    path.write_text('<testsuites><testsuite tests="4" failures="1" errors="1" skipped="1" time="2.5">'
                    '<testcase classname="tests.ops.test_x" name="test_a[cuda]"><failure message="assert 1 == 2'
                    '&#10;more"/></testcase><testcase classname="tests.ops.test_x" name="test_b[cuda]">'
                    '<error message="boom"/></testcase><testcase classname="c" name="d"/>'
                    '<testcase classname="c" name="e"><skipped/></testcase></testsuite></testsuites>')
    assert junit_summary(str(path)) == dict(passed=1, failed=1, errors=1, skipped=1, seconds=2.5, failing=[
        'tests.ops.test_x::test_a[cuda]: assert 1 == 2', 'tests.ops.test_x::test_b[cuda]: boom'])


@pytest.mark.parametrize('stage', ['stage1', 'stage2', 'stage3'])
def test_the_full_profile_s_stage_runs_configure_what_they_say(stage, tmp_path):
    """What CI cannot run (a GPU's DINOv2-L with bf16 AMP) is at least configured as intended:
    the overrides exist in the full-size configs and set what the stage runs rely on."""
    from types import SimpleNamespace

    from mmseg_adala.benchmark.gpu_check import PROFILES, stage_options
    from mmseg_adala.engine.run_config import load_run_config
    from mmseg_adala.train import parse_args
    profile = PROFILES['full']
    export = str(tmp_path / 'backbone_final.pth')
    options = stage_options(stage, SimpleNamespace(profile=profile), str(tmp_path / 'data'), export, 4,
                            checkpoint=stage == 'stage3')
    args = parse_args([profile.stage_configs[stage], '--cfg-options', *options])  # as tools/train.py reads them
    cfg = load_run_config(args.config, cfg_options=args.cfg_options)
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper' and cfg.optim_wrapper.dtype == 'bfloat16'
    assert cfg.train_cfg.max_iters == cfg.train_cfg.val_interval == 4
    assert cfg.default_hooks.logger.interval == 1
    assert cfg.default_hooks.checkpoint.save_last is (stage == 'stage3')
    assert cfg.train_dataloader.dataset.data_root.startswith(str(tmp_path / 'data'))
    assert cfg.train_dataloader.num_workers == profile.workers
    student = dict(stage1=None, stage2=cfg.model.get('student'), stage3=cfg.model.get('backbone'))[stage]
    if student is not None:
        assert student.init_cfg.checkpoint == export
    if stage != 'stage3':
        assert cfg.model.teacher.init_cfg is None


def test_a_report_written_mid_run_says_what_is_unfinished():
    """The report is rewritten after each step: one read while a step runs, or after the check was
    stopped from outside, must not read as complete."""
    env = dict(device='cuda', gpu='NVIDIA H200', gpu_memory_gb=139.8, torch='2.11.0', cuda='13.0', mmcv='2.1.0',
               mmengine='0.10.7', mmseg='1.2.2', timm='1.0.31', python='3.12.3', cpu_count=16)
    report = dict(command='tools/gpu_check.sh --budget-s 540 --out out', profile=dict(name='full'), environment=env,
                  steps_asked=['tests', 'backbone'],
                  steps=[dict(name='tests', status='done', reason='9 passed, 0 skipped', seconds=20., details={})])
    assert '**incomplete: not finished: backbone**' in markdown_report(report)
    report['steps'].append(dict(name='backbone', status='done', reason='18 measurements', seconds=1., details={}))
    assert '**all steps done (not asked for: segmentor, stages)**' in markdown_report(report)
    assert '- profile full on NVIDIA H200, 139.8 GB; torch 2.11.0 (CUDA 13.0)' in markdown_report(report)
