"""mmseg_adala/benchmark/harness.py: the rounds of one measurement pool into one record, and a
failed round is not hidden behind the others."""
import pytest

from mmseg_adala.benchmark import pool_rounds

def _record(variant, size, ms, peak, status='ok', tokens=None):
    record = dict(scope='backbone', variant=variant, size=size, status=status, tokens=tokens)
    if status == 'ok':
        record.update(ms_per_image=ms, images_per_s=1000 / ms, peak_mb=peak)
    return record



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

