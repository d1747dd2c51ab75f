"""What every run's config gets from `load_run_config` and the tools' argument parsing: checkpoints
that a killed run can resume from exactly, and a `--cfg-options` key without a value refused as a
usage error (mmengine's DictAction fails with `not enough values to unpack`)."""
import pytest
from tiny_runs import STAGE1, STAGE2, STAGE3

from mmseg_adala.engine.run_config import load_run_config


@pytest.mark.parametrize('config', [STAGE1, STAGE2, STAGE3])
def test_every_stage_writes_resumable_checkpoints(config):
    """Atomic checkpoint writes (no half file under a good name) holding the random state."""
    cfg = load_run_config(config)
    assert cfg.default_hooks.checkpoint.backend_args == dict(backend='atomic_local')
    assert dict(type='RandomStateHook') in cfg.custom_hooks


@pytest.mark.parametrize('tool, args', [('train_tool', [STAGE3]), ('test_tool', [STAGE3, 'iter_6.pth'])])
def test_cfg_option_without_a_value_is_a_usage_error(tool, args, request, capsys):
    with pytest.raises(SystemExit) as usage:
        request.getfixturevalue(tool).parse_args([*args, '--cfg-options', 'randomness.seed=0', 'randomness.seed'])
    assert usage.value.code == 2
    assert "--cfg-options takes KEY=VALUE pairs; 'randomness.seed' has no value" in capsys.readouterr().err
