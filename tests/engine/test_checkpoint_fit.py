"""A checkpoint that does not fit the config's model or optimizer is refused with the keys and the
likely cause, before any work: by evaluation and inference (which would otherwise score random
weights) and by `--resume CKPT` (which would otherwise print pages of key warnings, then fail in
torch with `loaded state dict has a different number of parameter groups`)."""
import os
import os.path as osp
import re
import sys

import pytest
import torch
from mmseg.apis import init_model
from tiny import TINY_CONFIGS, synthetic_data_options
from tiny_runs import ITERS

from mmseg_adala import train as train_tool
from mmseg_adala.datasets.synthetic_ade20k import make_synthetic_ade20k
from mmseg_adala.engine.checkpoint_fit import CheckpointMismatchError, load_segmentor_checkpoint
from mmseg_adala.engine.run_config import load_run_config

STAGE1 = osp.join(TINY_CONFIGS, 'adala_stage1_tiny.py')
STAGE3 = osp.join(TINY_CONFIGS, 'adala_upernet_synthetic_tiny.py')
ONE_ITERATION = ['train_dataloader.batch_size=2', 'train_cfg.max_iters=1', 'train_cfg.val_interval=1',
                 'default_hooks.checkpoint.interval=1']


@pytest.fixture(scope='module')
def data_options(tmp_path_factory):
    data = str(tmp_path_factory.mktemp('synthetic'))
    make_synthetic_ade20k(data, num_train=4, num_val=1, image_size=128, num_classes=3)
    return synthetic_data_options(data)


def refused_resume(config, checkpoint, work_dir, options):
    with pytest.raises(SystemExit) as refused:
        train_tool.main([config, '--work-dir', str(work_dir), '--resume', checkpoint, '--cfg-options', *options])
    return str(refused.value.code)


@pytest.mark.slow
def test_resuming_another_stages_checkpoint_is_refused_with_the_cause(tmp_path, data_options, teacher_checkpoint,
                                                                      image_folders):
    train, val = image_folders
    stage1 = tmp_path / 'stage1'
    train_tool.main([STAGE1, '--work-dir', str(stage1), '--cfg-options',
                     f'model.teacher.init_cfg.checkpoint={teacher_checkpoint}', f'train_dataloader.dataset.data_root={train}',
                     f'val_dataloader.dataset.data_root={val}', *ONE_ITERATION[1:]])
    checkpoint = str(stage1 / 'iter_1.pth')
    message = refused_resume(STAGE3, checkpoint, tmp_path / 'work', [*data_options, *ONE_ITERATION])
    assert message.startswith(f'{osp.basename(sys.argv[0])}: {checkpoint} does not fit the config\'s '
                              'AdaLAEncoderDecoder:')
    assert re.search(r'missing \(left at random initialisation\): \d+ keys .*'
                     r'Likely cause: it is a stage-1/2 training checkpoint', message, flags=re.S), message
    assert not [name for name in os.listdir(tmp_path / 'work') if name.endswith('.pth')]


@pytest.mark.slow
def test_resuming_with_other_optimizer_groups_is_refused(tmp_path, data_options):
    """Same model, other optimizer constructor: one parameter group, against layer decay's many."""
    plain = tmp_path / 'plain'
    train_tool.main([STAGE3, '--work-dir', str(plain), '--cfg-options', *data_options, *ONE_ITERATION,
                     'optim_wrapper.constructor=DefaultOptimWrapperConstructor', 'optim_wrapper.paramwise_cfg=None'])
    checkpoint = str(plain / 'iter_1.pth')
    message = refused_resume(STAGE3, checkpoint, tmp_path / 'work', [*data_options, *ONE_ITERATION])
    assert re.search(rf"{re.escape(checkpoint)} does not fit the config's optimizer: the checkpoint holds 1 "
                     r"parameter groups \((\d+) parameters: \1 per group\), the config's optimizer has (\d+) parameter "
                     r"groups \(\1 parameters: ", message), message
    assert f'--cfg-options load_from={checkpoint}, without --resume' in message


# Evaluation refuses a checkpoint that does not fit, naming the keys and the likely cause.

@pytest.mark.parametrize('checkpoint, message', [
    ('stage1_checkpoint', r'missing \(left at random initialisation\): \d+ keys \(.*backbone\.\*.*'
                          r'unexpected \(not in the model\): \d+ keys \(.*student_attns\.\*.*'
                          r'Likely cause: it is a stage-1/2 training checkpoint'),
    ('backbone_export', r'missing.*unexpected.*blocks\.\*.*stage-1/2 backbone export.*model\.backbone\.init_cfg'),
    ('vit_state_dict', r'missing.*unexpected.*mask_token.*a ViT\'s weights'),
    ('softmax_under_linear', r"another attention than the config's \(attn_type='softmax' in the checkpoint's "
                             r"config, 'linear' in this one\)"),
])
def test_evaluation_refuses_a_checkpoint_that_does_not_fit(checkpoint, message, tmp_path, test_tool,
                                                           synthetic_options, stage1_run, teacher_checkpoint,
                                                           softmax_checkpoint):
    path = dict(stage1_checkpoint=osp.join(stage1_run, 'iter_2.pth'),
                backbone_export=osp.join(stage1_run, 'backbone_iter_2.pth'),
                vit_state_dict=teacher_checkpoint, softmax_under_linear=softmax_checkpoint)[checkpoint]
    with pytest.raises(SystemExit) as refused:
        test_tool.main([STAGE3, path, '--work-dir', str(tmp_path), '--cfg-options', *synthetic_options])
    assert refused.value.code.startswith(f'{osp.basename(sys.argv[0])}: {path}')
    assert re.search(message, refused.value.code, flags=re.S), refused.value.code


def test_load_segmentor_checkpoint_for_inference(straight_run, stage1_run, synthetic_options):
    """The loader tools/infer.py can share: refuses a backbone export, loads a fitting checkpoint whole."""
    cfg = load_run_config(STAGE3, cfg_options={'model.backbone.init_cfg': None})
    model = init_model(cfg, None, device='cpu')
    with pytest.raises(CheckpointMismatchError, match='backbone export'):
        load_segmentor_checkpoint(model, osp.join(stage1_run, 'backbone_iter_2.pth'), cfg.model)
    path = osp.join(straight_run, f'iter_{ITERS}.pth')
    checkpoint = load_segmentor_checkpoint(model, path, cfg.model)
    assert checkpoint['meta']['dataset_meta']['classes'] == ('wall', 'building', 'sky')
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, checkpoint['state_dict'][key], atol=0, rtol=0, msg=key)
