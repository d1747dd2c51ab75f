"""tools/benchmark.py, the benchmark's command line: every measurement written (JSON, markdown, plot),
the segmentor split at its backbone, and `--paper-table` defaulting to the paper's model."""
import importlib.util
import itertools
import json
import os.path as osp
import subprocess
import sys

import pytest
import torch
from tiny import TINY_VIT

from mmseg_adala.benchmark import markdown_report

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.mark.slow  # the tool in a subprocess, each measurement in its own
def test_cli_writes_all_measurements(tmp_path):
    out_dir = tmp_path / 'bench'
    command = [sys.executable, osp.join(REPO, 'tools', 'benchmark.py'), '--vit-cfg', json.dumps(TINY_VIT),
               '--sizes', '56', '112', '--repeats', '1', '--rounds', '2', '--warmup', '0', '--out-dir', str(out_dir)]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr

    report = json.loads((out_dir / 'benchmark.json').read_text())
    measured = {(r['variant'], r['size']): r for r in report['results']}
    assert set(measured) == set(itertools.product(['softmax', 'linear', 'no_attention'], [56, 112]))
    for (variant, size), record in measured.items():
        assert record['status'] == 'ok', record
        assert record['tokens'] == (size // 14) ** 2 + 1
        assert len(record['times_s']) == 2 and record['ms_per_image'] > 0  # a timed run from each round
        assert record['peak_mb'] > 0
    assert report['environment']['threads'] >= 1 and report['environment']['torch'] == torch.__version__

    markdown = (out_dir / 'benchmark.md').read_text()
    assert f'`python {osp.join(REPO, "tools", "benchmark.py")} --vit-cfg' in markdown
    table_header = '| size | tokens | softmax ms/img |'
    assert table_header in markdown and table_header in result.stdout
    assert (out_dir / 'benchmark.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


@pytest.mark.slow  # the tool in a subprocess, each measurement in its own
def test_cli_splits_the_segmentor_at_its_backbone(tmp_path):
    out_dir = tmp_path / 'bench'
    command = [sys.executable, osp.join(REPO, 'tools', 'benchmark.py'), '--vit-cfg', json.dumps(TINY_VIT),
               '--scope', 'segmentor', '--variants', 'linear', '--sizes', '56', '112', '--head-tile', '28',
               '--repeats', '1', '--warmup', '0', '--out-dir', str(out_dir)]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    for record in json.loads((out_dir / 'benchmark.json').read_text())['results']:
        assert record['status'] == 'ok', record
        assert record['head_tile'] == 28
        # One timed run: its two parts add up to it (less the hooks' own microseconds).
        assert record['backbone_ms_per_image'] + record['head_ms_per_image'] == pytest.approx(
            record['ms_per_image'], rel=0.05)
        assert record['backbone_ms_per_image'] > 0 and record['head_ms_per_image'] > 0
        assert record['peak_mb'] == max(record['backbone_peak_mb'], record['head_peak_mb']) > 0
    assert '| size | variant | backbone ms/img | head ms/img |' in (out_dir / 'benchmark.md').read_text()


def test_paper_table_command_defaults_to_the_papers_model(tmp_path):
    spec = importlib.util.spec_from_file_location('benchmark_tool', osp.join(REPO, 'tools', 'benchmark.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    settings = tool.settings_from_args(tool.parse_args(['--paper-table']))
    assert (settings.arch, list(settings.sizes), list(settings.variants), list(settings.scopes)) == (
        'dinov2_vitl14', [256, 512, 1024], ['softmax', 'linear'], ['segmentor'])
    assert osp.basename(settings.segmentor_config) == 'adala_dinov2_l_cityscapes_mask2former_1024.py'
    settings.validate()
    plain = tool.settings_from_args(tool.parse_args(['--sizes', '518']))
    assert (plain.arch, list(plain.sizes), plain.scopes, plain.paper_table) == ('dinov2_vits14', [518], ['backbone'],
                                                                                False)
    with pytest.raises(ValueError, match='compares softmax and linear'):
        tool.settings_from_args(tool.parse_args(['--paper-table', '--variants', 'linear'])).validate()
    report = dict(command='c', settings=dict(settings.__dict__), environment={}, results=[])
    assert "## The paper's efficiency table (segmentor: adala_dinov2_l_cityscapes_mask2former_1024.py)" in \
        markdown_report(report)

