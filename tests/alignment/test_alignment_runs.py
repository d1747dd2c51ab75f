"""Stages 1 and 2 run from their configs as `tools/train.py` runs them: export, resume, launch."""
import os
import os.path as osp
import subprocess
import sys

import cv2
import pytest
import torch
from mmengine.runner import Runner
from tiny import TINY_CONFIGS

from mmseg_adala.engine.run_config import load_run_config
from mmseg_adala.models import AdaLAViT

# Stage runs through the tools and launchers, several in subprocesses.
pytestmark = pytest.mark.slow

STAGE1 = osp.join(TINY_CONFIGS, 'adala_stage1_tiny.py')
STAGE2 = osp.join(TINY_CONFIGS, 'adala_stage2_tiny.py')
REPO = osp.abspath(osp.join(TINY_CONFIGS, '..', '..'))
HELPERS = osp.join(REPO, 'tests', 'helpers')  # rank_weights_hook, for the launched processes


def _options(teacher_checkpoint, image_folders, **extra):
    train, val = image_folders
    return {'model.teacher.init_cfg.checkpoint': teacher_checkpoint,
            'train_dataloader.dataset.data_root': train, 'val_dataloader.dataset.data_root': val,
            'randomness': dict(seed=0), **extra}


def _run(config, work_dir, options, resume=False):
    cfg = load_run_config(config, work_dir=str(work_dir), cfg_options=options)
    cfg.resume = resume
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


def test_stage1_export_feeds_stage2_and_the_backbone(tmp_path, teacher_checkpoint, image_folders):
    options = _options(teacher_checkpoint, image_folders)
    _run(STAGE1, tmp_path / 'stage1', options)
    assert {'backbone_iter_30.pth', 'backbone_iter_60.pth', 'backbone_final.pth', 'iter_60.pth'} <= set(
        os.listdir(tmp_path / 'stage1'))
    stage1_export = str(tmp_path / 'stage1' / 'backbone_final.pth')

    cfg = load_run_config(STAGE2, work_dir=str(tmp_path / 'stage2'),
                          cfg_options=dict(options, **{'model.student.init_cfg.checkpoint': stage1_export}))
    runner = Runner.from_cfg(cfg)
    runner.model.init_weights()  # what train() does first: the student starts as stage 1 ended
    stage1_weights = torch.load(stage1_export)['state_dict']
    for key, value in runner.model.student.vit.state_dict().items():
        torch.testing.assert_close(value, stage1_weights[key], atol=0, rtol=0, msg=key)
    runner.train()

    backbone = AdaLAViT(arch='dinov2_vits14', vit_cfg=dict(embed_dim=48, depth=2, num_heads=2), img_size=112,
                        init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 'stage2' / 'backbone_final.pth')))
    backbone.init_weights()  # strict: no key errors
    torch.testing.assert_close(backbone.vit.blocks[1].attn.qkv.weight, runner.model.student.vit.blocks[1].attn.qkv.weight)


def test_resume_continues_exactly(tmp_path, teacher_checkpoint, image_folders):
    options = _options(teacher_checkpoint, image_folders)
    straight = _run(STAGE1, tmp_path / 'straight', options).model.state_dict()

    interrupted = dict(options, **{'train_cfg.max_iters': 30})
    _run(STAGE1, tmp_path / 'resumed', interrupted)
    resumed = _run(STAGE1, tmp_path / 'resumed', options, resume=True)
    assert resumed.iter == 60
    for key, value in straight.items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value, atol=0, rtol=0, msg=key)


def test_corrupt_image_is_skipped_and_counted(tmp_path, teacher_checkpoint, image_folders):
    train = tmp_path / 'train'
    train.mkdir()
    for name in sorted(os.listdir(image_folders[0]))[:4]:
        cv2.imwrite(str(train / name), cv2.imread(osp.join(image_folders[0], name)))
    (train / 'broken.jpg').write_bytes(b'not an image at all')
    options = _options(teacher_checkpoint, (str(train), image_folders[1]), **{'train_cfg.max_iters': 10})
    runner = _run(STAGE1, tmp_path / 'work', options)
    assert runner.iter == 10
    assert runner.train_dataloader.dataset.num_skipped > 0


def test_two_processes_end_with_the_same_weights(tmp_path, teacher_checkpoint, image_folders):
    """torchrun + mmengine's pytorch launcher, 2 CPU processes over gloo."""
    train, val = image_folders
    env = dict(os.environ, PYTHON=sys.executable, PORT='29671',
               PYTHONPATH=os.pathsep.join([HELPERS, os.environ.get('PYTHONPATH', '')]))
    config = tmp_path / 'stage1_rank_weights.py'  # the tiny stage 1, plus a hook saving each rank's weights
    config.write_text(f"_base_ = [{STAGE1!r}]\n"
                      "custom_imports = dict(imports=['mmseg_adala', 'rank_weights_hook'])\n"
                      "custom_hooks = [dict(type='BackboneExportHook'), dict(type='RankWeightsHook')]\n")
    command = [osp.join(REPO, 'tools', 'dist_train.sh'), str(config), '2', '--work-dir', str(tmp_path),
               '--cfg-options', f'model.teacher.init_cfg.checkpoint={teacher_checkpoint}',
               f'train_dataloader.dataset.data_root={train}', f'val_dataloader.dataset.data_root={val}',
               'train_cfg.max_iters=6', 'train_cfg.val_interval=6', 'default_hooks.checkpoint.interval=6']
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    rank0 = torch.load(tmp_path / 'rank0_weights.pth')
    rank1 = torch.load(tmp_path / 'rank1_weights.pth')
    initial = torch.load(teacher_checkpoint)
    assert not torch.equal(rank0['student_attns.0.qkv.weight'], initial['blocks.0.attn.qkv.weight'])
    for key, value in rank0.items():
        torch.testing.assert_close(rank1[key], value, atol=0, rtol=0, msg=key)
