"""mmseg_adala/benchmark/report.py: the ratios and markdown tables of the measurements, in the
layout of the README and the paper's efficiency table, with failed runs (OOM) shown as such."""
import pytest
from benchmark_records import benchmark_record

from mmseg_adala.benchmark import markdown_table, paper_table, scaling_rows


def test_ratios_and_markdown_table():
    variants = ['softmax', 'linear', 'no_attention']
    results = [  # out of order on purpose: rows are sorted by size
        benchmark_record('linear', 1022, 400., 150., tokens=5330),
        benchmark_record('softmax', 1022, None, None, status='OOM'),
        benchmark_record('no_attention', 1022, 320., 100., tokens=5330),
        benchmark_record('softmax', 518, 200., 300., tokens=1370),
        benchmark_record('linear', 518, 100., 50.25, tokens=1370),
        benchmark_record('no_attention', 518, 80., 40., tokens=1370),
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

