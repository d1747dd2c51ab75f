"""Typos and `--cfg-options` values of the wrong type fail before training, with the key named and,
for a typo, the intended key: otherwise a misspelt key is silently ignored, and
`optim_wrapper.optimizer.lr=abc` fails only at the first scheduler step with `TypeError: can't
multiply sequence by non-int of type 'float'`."""
import os
import os.path as osp
import re

import pytest
from tiny import TINY_CONFIGS
from tiny_runs import STAGE1

from mmseg_adala import train as train_tool
from mmseg_adala.engine.config_check import ConfigKeyError, ConfigValueError
from mmseg_adala.engine.run_config import load_run_config

STAGE3 = osp.join(TINY_CONFIGS, 'adala_upernet_synthetic_tiny.py')


@pytest.mark.parametrize('key, value, holds', [
    ('optim_wrapper.optimizer.lr', 'abc', 'a number there (0.002)'),
    ('train_cfg.max_iters', 'ten', 'a number there (300)'),
    ('crop_size', 'big', 'a tuple there ((112, 112))'),
    ('train_dataloader.persistent_workers', 'no', 'a boolean there (False)'),
    ('param_scheduler.0.start_factor', '1/10', 'a number there (0.1)'),
    ('model.backbone', 'vit', 'a dict of settings there'),
])
def test_text_where_the_config_holds_another_type_is_refused(key, value, holds):
    with pytest.raises(ConfigValueError, match=re.escape(f'--cfg-options {key}={value}: the config holds {holds}')):
        load_run_config(STAGE3, cfg_options={key: value})


def test_values_of_the_right_type_pass():
    cfg = load_run_config(STAGE3, cfg_options={
        'optim_wrapper.optimizer.lr': 1e-3, 'train_cfg.max_iters': 2, 'model.backbone.init_cfg': None,
        'train_dataloader.dataset.data_root': 'elsewhere', 'load_from': 'iter_2.pth', 'crop_size': [96, 96]})
    assert cfg.optim_wrapper.optimizer.lr == 1e-3 and cfg.model.backbone.init_cfg is None
    assert cfg.train_dataloader.dataset.data_root == 'elsewhere' and cfg.load_from == 'iter_2.pth'


def test_the_train_tool_stops_before_any_work(tmp_path):
    with pytest.raises(SystemExit) as refused:
        train_tool.main([STAGE3, '--work-dir', str(tmp_path), '--cfg-options', 'optim_wrapper.optimizer.lr=abc'])
    assert 'optim_wrapper.optimizer.lr=abc: the config holds a number' in str(refused.value.code)
    assert os.listdir(tmp_path) == []


def test_typos_fail_before_training_with_a_suggestion():
    with pytest.raises(ConfigKeyError, match=r"--cfg-options randomnes.seed: .*'randomnes'.*did you mean 'randomness'"):
        load_run_config(STAGE3, cfg_options={'randomnes.seed': 0})
    with pytest.raises(ConfigKeyError, match=r"default_hooks.checkpoint: CheckpointHook has no argument "
                                             r"'intervall' \(did you mean 'interval'\?\)"):
        load_run_config(STAGE3, cfg_options={'default_hooks.checkpoint.intervall': 1})
    with pytest.raises(ConfigKeyError, match=r"custom_hooks\[0\]: BackboneExportHook has no argument 'interval'"):
        load_run_config(STAGE1, cfg_options={'custom_hooks': [dict(type='BackboneExportHook', interval=2)]})
    # What the config or the Runner reads passes.
    load_run_config(STAGE3, cfg_options={'randomness.seed': 0, 'default_hooks.checkpoint.interval': 1,
                                         'crop_size': (112, 112), 'find_unused_parameters': True})
