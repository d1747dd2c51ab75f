"""mmseg_adala/benchmark/measure.py: one measurement in a process. The CPU allocator keeps its heap
between timed runs (page faults would otherwise be timed), and a Mask2Former's training step is
measured like any segmentor's."""
import os.path as osp
import subprocess
import sys

import pytest
from tiny import TINY_VIT

from mmseg_adala.benchmark import BenchmarkSettings

# A measurement process each, one of them a Mask2Former training step.
pytestmark = pytest.mark.slow

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

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


M2F_CITYSCAPES = osp.join(REPO, 'configs', 'adala_dinov2_l_cityscapes_mask2former_1024.py')


def test_mask2former_training_step_is_measured():
    """A Mask2Former's training step is its loss on random labels, forward and backward."""
    from mmseg_adala.benchmark import run_measurement
    spec = dict(BenchmarkSettings().__dict__, scope='segmentor', size=56, variant='linear', mode='train',
                segmentor_config=M2F_CITYSCAPES, vit_cfg=dict(TINY_VIT, depth=4), warmup=0, repeats=1,
                batch_size=2)
    record = run_measurement(spec)
    assert record['status'] == 'ok', record.get('traceback')
    assert record['peak_mb'] > 0 and len(record['times_s']) == 1

