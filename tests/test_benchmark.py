import importlib.util
import itertools
import json
import os.path as osp
import subprocess
import sys

import pytest
import torch
from tiny import TINY_VIT

from mmseg_adala.benchmark import (DEFAULT_SEGMENTOR_CONFIG, BenchmarkSettings, build_backbone, build_segmentor,
                                   markdown_report, markdown_table, paper_table, pool_rounds, scaling_rows,
                                   segmentor_model_config)
from mmseg_adala.models import AdaLAAttention

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def test_no_attention_is_proj_of_v():
    no_attn = AdaLAAttention(48, num_heads=2, qkv_bias=True, attn_type='none')
    x = torch.randn(2, 10, 48)
    v = x @ no_attn.qkv.weight[96:].T + no_attn.qkv.bias[96:]  # qkv's output is [q | k | v]
    expected = v @ no_attn.proj.weight.T + no_attn.proj.bias
    torch.testing.assert_close(no_attn(x), expected)


def test_no_attention_backbone_is_linear_minus_the_kernel():
    linear = build_backbone('linear', vit_cfg=TINY_VIT).eval()
    no_attn = build_backbone('no_attention', vit_cfg=TINY_VIT).eval()
    assert all(block.attn.attn_type == 'none' for block in no_attn.vit.blocks)
    # Same parameters, names and shapes: only the attention kernel (parameter-free for ELU) is gone.
    assert {k: v.shape for k, v in no_attn.state_dict().items()} == {k: v.shape for k, v in linear.state_dict().items()}
    assert sum(p.numel() for p in no_attn.parameters()) == sum(p.numel() for p in linear.parameters())
    no_attn.load_state_dict(linear.state_dict())
    x = torch.randn(1, 3, 70, 56)
    with torch.no_grad():
        (out_linear,), (out_no_attn,) = linear(x), no_attn(x)
    assert out_no_attn.shape == out_linear.shape == (1, 48, 5, 4)
    assert not torch.allclose(out_no_attn, out_linear)  # the kernel really is gone


def _record(variant, size, ms, peak, status='ok', tokens=None):
    record = dict(scope='backbone', variant=variant, size=size, status=status, tokens=tokens)
    if status == 'ok':
        record.update(ms_per_image=ms, images_per_s=1000 / ms, peak_mb=peak)
    return record


def test_ratios_and_markdown_table():
    variants = ['softmax', 'linear', 'no_attention']
    results = [  # out of order on purpose: rows are sorted by size
        _record('linear', 1022, 400., 150., tokens=5330),
        _record('softmax', 1022, None, None, status='OOM'),
        _record('no_attention', 1022, 320., 100., tokens=5330),
        _record('softmax', 518, 200., 300., tokens=1370),
        _record('linear', 518, 100., 50.25, tokens=1370),
        _record('no_attention', 518, 80., 40., tokens=1370),
    ]
    rows = scaling_rows(results, variants)['backbone']
    assert [row['size'] for row in rows] == [518, 1022]
    assert rows[0]['ratios'] == {'softmax/linear': pytest.approx(2.0), 'linear/no_attention': pytest.approx(1.25)}
    assert rows[1]['ratios'] == {'softmax/linear': None, 'linear/no_attention': pytest.approx(1.25)}

    lines = markdown_table(rows, variants).splitlines()
    assert lines[0] == ('| size | tokens | softmax ms/img | softmax img/s | softmax peak MB | linear ms/img | '
                        'linear img/s | linear peak MB | no_attention ms/img | no_attention img/s | '
                        'no_attention peak MB | softmax/linear | linear/no_attention |')
    assert lines[1] == '|' + '---:|' * 13
    assert lines[2] == '| 518 | 1370 | 200.0 | 5 | 300.0 | 100.0 | 10 | 50.2 | 80.0 | 12.5 | 40.0 | 2.00x | 1.25x |'
    assert lines[3] == '| 1022 | 5330 | OOM | – | – | 400.0 | 2.5 | 150.0 | 320.0 | 3.12 | 100.0 | – | 1.25x |'

    # Without no_attention, its columns and its ratio go.
    two = scaling_rows([r for r in results if r['variant'] != 'no_attention'], variants[:2])['backbone']
    first_row = markdown_table(two, variants[:2]).splitlines()[2]
    assert first_row == '| 518 | 1370 | 200.0 | 5 | 300.0 | 100.0 | 10 | 50.2 | 2.00x |'


def test_rounds_pool_their_timed_runs():
    first = dict(_record('linear', 518, 1., 40.), batch_size=2, times_s=[0.3, 0.1])
    second = dict(_record('linear', 518, 1., 50.), batch_size=2, times_s=[0.2])
    pooled = pool_rounds([first, second])
    assert pooled['times_s'] == [0.3, 0.1, 0.2]
    assert pooled['seconds_per_batch'] == pytest.approx(0.2)  # the median of the three runs
    assert pooled['ms_per_image'] == pytest.approx(100.) and pooled['images_per_s'] == pytest.approx(10.)
    assert pooled['peak_mb'] == 50.
    failed = _record('linear', 518, None, None, status='OOM')
    assert pool_rounds([first, failed]) is failed  # a round that failed is not hidden


# Minor page faults of allocating, filling and freeing a 16 MB and a 64 MB tensor, once warm.
_PAGE_FAULTS = """
import resource, torch
from mmseg_adala.benchmark import steady_cpu_allocator
assert steady_cpu_allocator()
def faults(numel):
    for _ in range(10):
        torch.empty(numel).fill_(1)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(3):
        torch.empty(numel).fill_(1)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(faults(2 ** 22), faults(2 ** 24))
"""


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='glibc mallopt')
def test_steady_allocator_reuses_the_heap_and_maps_large_blocks():
    result = subprocess.run([sys.executable, '-c', _PAGE_FAULTS], cwd=REPO, capture_output=True, text=True,
                            timeout=120, check=True)
    faults_16mb, faults_64mb = map(int, result.stdout.split()[-2:])
    assert faults_16mb < 40  # from the kept heap: no page faults in again
    assert faults_64mb >= 3 * 2 ** 26 // 4096  # above 32 MB: mmapped afresh, every page every time


@pytest.mark.parametrize('settings, message', [
    (dict(arch='dinov2_vitx14'), 'unknown arch'),
    (dict(sizes=[13, 518]), 'at least one patch'),
    (dict(variants=['softmax', 'flash']), 'unknown variant'),
    (dict(rounds=0), 'rounds must be >= 1'),
    (dict(scopes=['segmentor'], mode='train'), 'batch-size >= 2'),
    pytest.param(dict(device='cuda'), 'no CUDA GPU',
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason='needs a machine without a GPU')),
])
def test_invalid_settings_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        BenchmarkSettings(**settings).validate()


@pytest.mark.parametrize('arch, vit_cfg, out_indices, width', [
    ('dinov2_vits14', None, (2, 5, 8, 11), 384),
    ('dinov2_vits14', TINY_VIT, (1,), 48),  # 2 blocks for 4 outputs: the last one, repeated by the neck
])
def test_segmentor_config_fits_the_arch(arch, vit_cfg, out_indices, width):
    model = segmentor_model_config(DEFAULT_SEGMENTOR_CONFIG, 'linear', arch, vit_cfg)
    assert model.backbone.arch == arch and model.backbone.attn_type == 'linear'
    assert model.backbone.init_cfg is None
    assert tuple(model.backbone.out_indices) == out_indices
    assert model.neck.in_channels == [width] * len(out_indices)
    assert model.test_cfg.mode == 'whole'


def test_segmentor_is_built_for_one_process():
    """The config's SyncBN layers are BatchNorm, as mmengine's Runner makes them without a launcher."""
    segmentor = build_segmentor(DEFAULT_SEGMENTOR_CONFIG, 'linear', 'dinov2_vits14', TINY_VIT)
    norms = [m for m in segmentor.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert norms and not any(isinstance(m, torch.nn.SyncBatchNorm) for m in norms)


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


def test_segmentor_keeps_the_configs_head_tile_unless_told():
    assert segmentor_model_config(DEFAULT_SEGMENTOR_CONFIG, 'linear', 'dinov2_vits14').test_cfg == dict(
        mode='whole', head_tile=512)
    untiled = segmentor_model_config(DEFAULT_SEGMENTOR_CONFIG, 'linear', 'dinov2_vits14', head_tile=0)
    assert untiled.test_cfg == dict(mode='whole', head_tile=None)


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


def test_head_tiling_check_finds_the_tiles_exact(capsys):
    """tools/check_head_tiling.py: the untiled head is the reference; tiles of 64 px at 238 px
    cut the maps of every level, so a halo too narrow anywhere would show."""
    sys.path.insert(0, osp.join(REPO, 'tools'))
    try:
        from check_head_tiling import main
    finally:
        sys.path.pop(0)
    main(['--arch', 'dinov2_vits14', '--vit-cfg', json.dumps(TINY_VIT), '--size', '238', '--head-tile', '64'])
    result = json.loads(capsys.readouterr().out)
    assert result['logits_shape'] == [1, 150, 68, 68]
    assert result['max_relative_difference'] < 1e-4
    assert result['argmax_identical_fraction'] == 1.0


M2F_CITYSCAPES = osp.join(REPO, 'configs', 'adala_dinov2_l_cityscapes_mask2former_1024.py')


def test_mask2former_config_fits_the_arch():
    """Feature2Pyramid keeps the ViT's width, and Mask2Former's head reads it; it takes 4 blocks."""
    model = segmentor_model_config(M2F_CITYSCAPES, 'softmax', 'dinov2_vits14')
    assert tuple(model.backbone.out_indices) == (2, 5, 8, 11) and model.backbone.attn_type == 'softmax'
    assert model.neck.embed_dim == 384 and model.decode_head.in_channels == [384] * 4
    assert model.test_cfg == dict(mode='whole', head_tile=512)
    with pytest.raises(ValueError, match='Feature2Pyramid takes 4 blocks, the ViT has 2'):
        segmentor_model_config(M2F_CITYSCAPES, 'linear', 'dinov2_vits14', TINY_VIT)


def test_mask2former_training_step_is_measured():
    """A Mask2Former's training step is its loss on random labels, forward and backward."""
    from mmseg_adala.benchmark import run_measurement
    spec = dict(BenchmarkSettings().__dict__, scope='segmentor', size=56, variant='linear', mode='train',
                segmentor_config=M2F_CITYSCAPES, vit_cfg=dict(TINY_VIT, depth=4), warmup=0, repeats=1,
                batch_size=2)
    record = run_measurement(spec)
    assert record['status'] == 'ok', record.get('traceback')
    assert record['peak_mb'] > 0 and len(record['times_s']) == 1


def test_paper_table_sets_softmax_and_linear_side_by_side():
    def record(variant, size, images_per_s, peak_mb):
        return dict(scope='segmentor', variant=variant, size=size, status='ok', tokens=None,
                    ms_per_image=1000 / images_per_s, images_per_s=images_per_s, peak_mb=peak_mb)
    results = [record('softmax', 256, 2.0, 100.), record('linear', 256, 1.0, 80.),
               record('softmax', 1024, 0.5, 4000.), record('linear', 1024, 2.0, 1000.),
               dict(scope='segmentor', variant='softmax', size=512, status='OOM', tokens=None),
               record('linear', 512, 4.0, 300.)]
    table = paper_table(scaling_rows(results, ['softmax', 'linear'])['segmentor']).splitlines()
    assert table[0] == '| | 256² | 512² | 1024² |'
    rows = {cells[0]: cells[1:] for cells in ([c.strip() for c in line.strip('|').split('|')] for line in table[2:])}
    assert rows['softmax img/s'] == ['2', '–', '0.5']
    assert rows['speed-up, linear / softmax'] == ['0.50x', '–', '4.00x']
    assert rows['paper speed-up'] == ['0.78x', '1.14x', '2.26x']
    assert rows['memory, linear / softmax'] == ['0.80x', '–', '0.25x']
    assert rows['paper memory'] == ['', '', '0.42x (1.38 / 3.28 GB)']


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
