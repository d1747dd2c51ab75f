"""mmseg_adala/benchmark/harness.py: the rounds of one measurement pool into one record, and a
failed round is not hidden behind the others."""
import pytest
from benchmark_records import benchmark_record

from mmseg_adala.benchmark import pool_rounds


def test_rounds_pool_their_timed_runs():
    first = dict(benchmark_record('linear', 518, 1., 40.), batch_size=2, times_s=[0.3, 0.1])
    second = dict(benchmark_record('linear', 518, 1., 50.), batch_size=2, times_s=[0.2])
    pooled = pool_rounds([first, second])
    assert pooled['times_s'] == [0.3, 0.1, 0.2]
    assert pooled['seconds_per_batch'] == pytest.approx(0.2)  # the median of the three runs
    assert pooled['ms_per_image'] == pytest.approx(100.) and pooled['images_per_s'] == pytest.approx(10.)
    assert pooled['peak_mb'] == 50.
    failed = benchmark_record('linear', 518, None, None, status='OOM')
    assert pool_rounds([first, failed]) is failed  # a round that failed is not hidden

