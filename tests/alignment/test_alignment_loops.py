"""The alignment loop's running total of skipped images, and validation that never substitutes."""
import os.path as osp

import pytest
from mmengine.runner import Runner
from tiny import TINY_CONFIGS, make_image_folder

from mmseg_adala.engine.run_config import load_run_config


@pytest.mark.slow
def test_skipped_images_are_totalled_and_validation_fails_on_an_unreadable_one(tmp_path, teacher_checkpoint):
    train = make_image_folder(tmp_path / 'train', 6)
    val = make_image_folder(tmp_path / 'val', 2, seed=1)
    for name in ('broken1.jpg', 'broken2.jpg'):
        (tmp_path / 'train' / name).write_bytes(b'not an image')
    (tmp_path / 'val' / 'broken.jpg').write_bytes(b'not an image either')
    cfg = load_run_config(osp.join(TINY_CONFIGS, 'adala_stage1_tiny.py'), work_dir=str(tmp_path / 'work'), cfg_options={
        'model.teacher.init_cfg.checkpoint': teacher_checkpoint, 'randomness': dict(seed=0),
        'train_dataloader.dataset.data_root': train, 'val_dataloader.dataset.data_root': val,
        'train_cfg.max_iters': 6, 'train_cfg.val_interval': 6, 'default_hooks.logger.interval': 1})
    runner = Runner.from_cfg(cfg)
    with pytest.raises(RuntimeError, match='validation does not replace images') as info:
        runner.train()
    assert str(tmp_path / 'val' / 'broken.jpg') in str(info.value)
    assert runner.iter == 6

    skipped = runner.train_dataloader.dataset.num_skipped  # num_workers=0: all loading happened here
    assert skipped > 0
    assert runner.message_hub.get_scalar('train/skipped_images').current() == skipped
    log = open(osp.join(runner.log_dir, f'{runner.timestamp}.log')).read()
    assert f'skipped_images: {skipped:.4f}' in log
