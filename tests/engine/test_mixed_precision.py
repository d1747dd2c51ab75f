"""tools/train.py's precision flags, and a mixed-precision config refused at once on a machine
without CUDA, with the fix named (mmengine's own assertion comes only once the full-scale model is
built, and names no fix)."""
import glob
import os.path as osp
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.runner import Runner
from tiny import TINY_CONFIGS

from mmseg_adala import train as train_tool
from mmseg_adala.engine import mixed_precision
from mmseg_adala.engine.config_files import CONFIG_ROOT
from mmseg_adala.engine.mixed_precision import PrecisionError, require_amp_device, set_precision
from mmseg_adala.engine.run_config import load_run_config

STAGE3 = osp.join(TINY_CONFIGS, 'adala_upernet_synthetic_tiny.py')  # a plain OptimWrapper
FULL_SCALE = 'adala_dinov2_l_ade20k.py'  # AmpOptimWrapper(dtype='bfloat16')


def wrapper(config, **flags):
    cfg = load_run_config(config)
    set_precision(cfg, **flags)
    return cfg.optim_wrapper


@pytest.mark.slow
def test_amp_is_bfloat16_unless_asked_otherwise():
    """`--amp` means bfloat16: AmpOptimWrapper without a dtype would be float16 on CUDA."""
    amp = wrapper(STAGE3, amp=True)
    assert (amp.type, amp.loss_scale, amp.dtype) == ('AmpOptimWrapper', 'dynamic', 'bfloat16')
    assert amp.optimizer == wrapper(STAGE3).optimizer
    assert wrapper(STAGE3, amp=True, amp_dtype='float16').dtype == 'float16'
    assert wrapper(STAGE3, amp_dtype='float16').type == 'AmpOptimWrapper'  # --amp-dtype implies --amp
    assert wrapper(FULL_SCALE, amp_dtype='float16').dtype == 'float16'
    assert wrapper(FULL_SCALE, amp=True).dtype == 'bfloat16'  # the config's own


def test_no_amp_trains_the_same_optimizer_in_float32():
    amp, plain = wrapper(FULL_SCALE), wrapper(FULL_SCALE, no_amp=True)
    assert plain == dict({k: v for k, v in amp.items() if k not in ('dtype', 'loss_scale')}, type='OptimWrapper')
    built = build_optim_wrapper(torch.nn.Linear(2, 2), dict(type=plain.type, optimizer=plain.optimizer,
                                                            clip_grad=plain.get('clip_grad')))
    assert type(built).__name__ == 'OptimWrapper'
    assert wrapper(STAGE3, no_amp=True) == wrapper(STAGE3)


def test_amp_without_a_gpu_is_refused_at_once_naming_the_fix(tmp_path, monkeypatch):
    for name in ('is_cuda_available', 'is_npu_available', 'is_mlu_available', 'is_musa_available'):
        monkeypatch.setattr(mixed_precision, name, lambda: False)
    monkeypatch.setattr(Runner, 'from_cfg', lambda cfg: pytest.fail('the model was built'))
    with pytest.raises(PrecisionError, match=r"AmpOptimWrapper \(mixed precision, dtype='bfloat16'\).*add --no-amp"):
        require_amp_device(load_run_config(FULL_SCALE))
    require_amp_device(load_run_config(STAGE3))  # a plain wrapper needs nothing
    with pytest.raises(SystemExit) as refused:
        train_tool.main([FULL_SCALE, '--work-dir', str(tmp_path)])
    assert str(refused.value.code).startswith(f'{osp.basename(sys.argv[0])}: this config trains with '
                                              'AmpOptimWrapper')
    with pytest.raises(SystemExit) as usage:
        train_tool.parse_args([FULL_SCALE, '--no-amp', '--amp'])
    assert usage.value.code == 2



@pytest.mark.slow
def test_which_configs_need_a_gpu_to_train():
    """The README's sentence, for the configs outside tests/test_configs.py's PAPER_CONFIGS (which checks its own):
    every config but the tiny and demo ones trains in bfloat16 mixed precision."""
    others = [path for folder in ('ablation', 'l2vit', 'lolcats')
              for path in sorted(glob.glob(osp.join(CONFIG_ROOT, folder, '*.py')))]
    assert len(others) >= 10
    for path in others:
        wrapper = Config.fromfile(path).optim_wrapper
        assert (wrapper.type, wrapper.dtype) == ('AmpOptimWrapper', 'bfloat16'), path
