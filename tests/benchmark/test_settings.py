"""mmseg_adala/benchmark/settings.py: settings that cannot be measured are refused before any run."""
import pytest
import torch

from mmseg_adala.benchmark import BenchmarkSettings


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

