"""Nothing lost, nothing silently wrong: kills and resumes, damaged files, misfit checkpoints, typos.

Each test replays a failure met with the tiny configs. Runs are a handful of iterations of
the tiny stage-3 model (dropout and drop path on, a checkpoint and a validation every 2
iterations); the tools run in-process (an interpreter start with mmseg costs ~10 s), except
the run that is killed: a real process, dying half way through writing a checkpoint.

Issue 13's numbered cases and the tests that replay them (here unless a file is named):
   1  tests/tools/test_infer.py: test_an_input_named_like_an_output_is_never_overwritten,
      test_outputs_of_an_earlier_run_are_skipped_as_inputs
   2  test_resume_without_last_checkpoint_continues_from_the_newest,
      test_resume_skips_damaged_checkpoints_and_says_why,
      test_resume_starts_a_new_run_only_in_a_work_dir_without_one,
      test_a_new_run_refuses_a_work_dir_with_checkpoints
   3  test_killed_while_writing_a_checkpoint_resumes_exactly, test_an_interrupted_write_leaves_the_previous_file,
      test_a_backbone_export_killed_mid_write_keeps_the_previous_one
   4  test_evaluation_refuses_a_checkpoint_that_does_not_fit, test_evaluation_of_a_fitting_checkpoint,
      test_load_segmentor_checkpoint_for_inference
   5  test_killed_while_writing_a_checkpoint_resumes_exactly, test_every_stage_writes_resumable_checkpoints,
      test_a_stage1_checkpoint_holds_the_random_state
   6  test_a_non_finite_pixel_is_an_error_that_says_where, test_the_non_finite_check_under_autocast_and_no_grad
   7  tests/datasets/test_image_folder.py: test_validation_never_replaces_an_unreadable_image,
      test_each_training_sample_carries_its_skips; tests/alignment/test_alignment_loops.py:
      test_skipped_images_are_totalled_and_validation_fails_on_an_unreadable_one
   8  tests/tools/test_infer.py: test_inputs_that_match_no_image_stop_the_run_before_any_work
   9  test_a_file_that_is_no_checkpoint_is_named_with_what_it_is, test_infer_stops_on_a_file_that_is_no_checkpoint
  10  test_an_image_too_small_for_the_model_names_its_size_and_the_minimum, test_infer_names_each_bad_image_and_why,
      test_evaluation_names_empty_test_images_before_any_work
  11  test_typos_fail_before_training_with_a_suggestion, test_cfg_option_without_a_value_is_a_usage_error,
      test_a_typo_on_the_command_line_stops_the_tool
  12  tests/tools/test_infer.py: test_an_unwritable_out_dir_stops_the_run_before_any_work
"""
import argparse
import importlib.util
import io
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from mmengine.logging import MMLogger
from mmseg.apis import init_model
from mmseg.structures import SegDataSample
from tiny import TINY_CONFIGS, TINY_VIT

from mmseg_adala.alignment import BackboneExportHook
from mmseg_adala.datasets.synthetic_ade20k import make_synthetic_ade20k
from mmseg_adala.engine import resume
from mmseg_adala.engine.atomic_file import atomic_write
from mmseg_adala.engine.checkpoint_fit import CheckpointMismatchError, load_segmentor_checkpoint
from mmseg_adala.engine.config_check import ConfigKeyError
from mmseg_adala.engine.resume import ResumeError, resume_checkpoint
from mmseg_adala.engine.run_config import load_run_config
from mmseg_adala.models import AdaLAViT

REPO = osp.abspath(osp.join(TINY_CONFIGS, '..', '..'))
STAGE1 = osp.join(TINY_CONFIGS, 'adala_stage1_tiny.py')
STAGE2 = osp.join(TINY_CONFIGS, 'adala_stage2_tiny.py')
STAGE3 = osp.join(TINY_CONFIGS, 'adala_upernet_synthetic_tiny.py')
SOFTMAX_STAGE3 = osp.join(TINY_CONFIGS, 'softmax_upernet_synthetic_tiny.py')
ITERS = 6


@pytest.fixture(scope='module')
def train_tool():
    """What tools/train.py and `python -m mmseg_adala.train` run."""
    return importlib.import_module('mmseg_adala.train')


@pytest.fixture(scope='module')
def test_tool():
    """What tools/test.py and `python -m mmseg_adala.test` run."""
    return importlib.import_module('mmseg_adala.test')


@pytest.fixture(scope='module')
def infer_tool():
    spec = importlib.util.spec_from_file_location('infer_tool', osp.join(REPO, 'tools', 'infer.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def data_options(tmp_path_factory):
    data = str(tmp_path_factory.mktemp('synthetic'))
    make_synthetic_ade20k(data, num_train=8, num_val=2, image_size=128, num_classes=3)
    return [f'{split}_dataloader.dataset.data_root={data}' for split in ('train', 'val', 'test')] + [
        'model.backbone.init_cfg=None']


@pytest.fixture(scope='module')
def stage3_options(data_options):
    """A 6-iteration stage 3 with dropout (the heads' 0.1) and drop path, checkpoint + validation every 2."""
    return [*data_options, 'model.backbone.drop_path_rate=0.1', 'randomness.seed=0',
            'train_dataloader.batch_size=2', f'train_cfg.max_iters={ITERS}', 'train_cfg.val_interval=2',
            'default_hooks.checkpoint.interval=2', 'default_hooks.logger.interval=1']


@pytest.fixture(scope='module')
def straight_run(tmp_path_factory, train_tool, stage3_options):
    """The uninterrupted run: its work_dir, with iter_2/4/6.pth."""
    work_dir = str(tmp_path_factory.mktemp('straight'))
    train_tool.main([STAGE3, '--work-dir', work_dir, '--cfg-options', *stage3_options])
    return work_dir


@pytest.fixture(scope='module')
def stage1_run(tmp_path_factory, train_tool, teacher_checkpoint, image_folders):
    """Two iterations of stage 1: its work_dir, with iter_2.pth and backbone_iter_2.pth."""
    work_dir = str(tmp_path_factory.mktemp('stage1'))
    train, val = image_folders
    train_tool.main([STAGE1, '--work-dir', work_dir, '--cfg-options',
                     f'model.teacher.init_cfg.checkpoint={teacher_checkpoint}',
                     f'train_dataloader.dataset.data_root={train}', f'val_dataloader.dataset.data_root={val}',
                     'train_cfg.max_iters=2', 'train_cfg.val_interval=2', 'default_hooks.checkpoint.interval=2'])
    return work_dir


def flat_tensors(tree, prefix=''):
    """Every tensor in nested dicts and lists, by its path."""
    if isinstance(tree, torch.Tensor):
        return {prefix: tree}
    items = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, (list, tuple)) else []
    return {k: v for key, value in items for k, v in flat_tensors(value, f'{prefix}.{key}').items()}


def assert_same_tensors(checkpoint, reference):
    """Every weight, buffer, optimizer state and the torch generator of two checkpoints, bit for bit."""
    got, want = ({key: value for key, value in flat_tensors(torch.load(path)).items()
                  if key.startswith(('.state_dict.', '.optimizer.', '.random_state.'))} for path in (checkpoint, reference))
    assert got.keys() == want.keys()
    for key, value in want.items():
        torch.testing.assert_close(got[key], value, atol=0, rtol=0, msg=key)
    return len(want)


def file_identity(path):
    stat = os.stat(path)
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


def copy_checkpoints(run_dir, work_dir, iters):
    for i in iters:
        shutil.copy2(osp.join(run_dir, f'iter_{i}.pth'), work_dir)


def truncate(path):
    with open(path, 'r+b') as f:
        f.truncate(os.path.getsize(path) // 2)


# Issues 2, 3 and 5: killed while writing a checkpoint, resumed: the same run, tensor for tensor.

def test_killed_while_writing_a_checkpoint_resumes_exactly(tmp_path, train_tool, stage3_options, straight_run):
    """Stage 3 with dropout dies half way through iter_4.pth (after validating at 2); `--resume` continues
    from iter_2.pth and ends with the uninterrupted run's weights and optimizer state."""
    config = tmp_path / 'stage3_killed_at_iter_4.py'
    config.write_text(f"_base_ = [{STAGE3!r}]\n"
                      "custom_imports = dict(imports=['mmseg_adala', 'kill_during_write_hook'], "
                      "allow_failed_imports=False)\n"
                      "custom_hooks = [dict(type='KillDuringWriteHook', name='iter_4.pth')]\n")
    work_dir = tmp_path / 'work'
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([osp.join(REPO, 'tests', 'helpers'), os.environ.get('PYTHONPATH', '')]))
    killed = subprocess.run([sys.executable, osp.join(REPO, 'tools', 'train.py'), str(config), '--work-dir',
                             str(work_dir), '--cfg-options', *stage3_options],
                            env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == 137, killed.stderr[-3000:]
    assert not (work_dir / 'iter_4.pth').exists(), 'half a checkpoint under a good name'
    kept = file_identity(work_dir / 'iter_2.pth')

    train_tool.main([STAGE3, '--work-dir', str(work_dir), '--resume', '--cfg-options', *stage3_options])
    assert file_identity(work_dir / 'iter_2.pth') == kept, 'the run started over instead of resuming'
    assert torch.load(work_dir / 'iter_2.pth')['random_state'].keys() >= {'torch', 'numpy', 'python'}
    assert assert_same_tensors(work_dir / f'iter_{ITERS}.pth', osp.join(straight_run, f'iter_{ITERS}.pth')) > 100


# Issue 2: which checkpoint `--resume` continues from, and never starting over on top of a run.

def test_resume_without_last_checkpoint_continues_from_the_newest(tmp_path, train_tool, stage3_options,
                                                                   straight_run):
    """mmengine reads `last_checkpoint`; without it, it trained from iteration 0 over iter_2/4.pth."""
    copy_checkpoints(straight_run, tmp_path, (2, 4))
    kept = file_identity(tmp_path / 'iter_4.pth')
    train_tool.main([STAGE3, '--work-dir', str(tmp_path), '--resume', '--cfg-options', *stage3_options])
    assert file_identity(tmp_path / 'iter_4.pth') == kept
    assert_same_tensors(tmp_path / f'iter_{ITERS}.pth', osp.join(straight_run, f'iter_{ITERS}.pth'))


def test_resume_skips_damaged_checkpoints_and_says_why(tmp_path, straight_run, monkeypatch):
    logged = []
    monkeypatch.setattr(resume, 'print_log', lambda message, **kwargs: logged.append(message))
    copy_checkpoints(straight_run, tmp_path, (2, 4, 6))
    (tmp_path / 'last_checkpoint').write_text('')  # mmengine: "FileNotFoundError:  can not be found."
    assert resume_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_6.pth')

    truncate(tmp_path / 'iter_6.pth')
    assert resume_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_4.pth')
    assert any('skipped iter_6.pth' in line and 'does not load' in line for line in logged), logged

    with pytest.raises(ResumeError, match=r'cannot resume from .*iter_6\.pth: it does not load'):
        resume_checkpoint(str(tmp_path), requested=str(tmp_path / 'iter_6.pth'))
    truncate(tmp_path / 'iter_4.pth')
    truncate(tmp_path / 'iter_2.pth')
    with pytest.raises(ResumeError, match=r'none loads: iter_6\.pth: .*; iter_4\.pth: .*; iter_2\.pth: '):
        resume_checkpoint(str(tmp_path))


def test_resume_starts_a_new_run_only_in_a_work_dir_without_one(tmp_path, stage1_run):
    assert resume_checkpoint(str(tmp_path)) is None
    shutil.copy2(osp.join(stage1_run, 'backbone_final.pth'), tmp_path)
    with pytest.raises(ResumeError, match='holds backbone_final.pth but no checkpoint to resume'):
        resume_checkpoint(str(tmp_path))


def test_a_new_run_refuses_a_work_dir_with_checkpoints(tmp_path, train_tool, stage3_options, straight_run):
    copy_checkpoints(straight_run, tmp_path, (2,))
    before = (tmp_path / 'iter_2.pth').read_bytes()
    with pytest.raises(SystemExit) as refused:
        train_tool.main([STAGE3, '--work-dir', str(tmp_path), '--cfg-options', *stage3_options])
    assert 'iter_2.pth' in str(refused.value.code) and '--resume' in str(refused.value.code)
    assert '--work-dir' in str(refused.value.code)
    assert (tmp_path / 'iter_2.pth').read_bytes() == before
    assert os.listdir(tmp_path) == ['iter_2.pth']


# Issue 3: files appear whole or not at all.

def test_an_interrupted_write_leaves_the_previous_file(tmp_path):
    path = tmp_path / 'backbone_final.pth'
    path.write_bytes(b'previous export')
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(path) as f:
            f.write(b'half of the new')
            raise KeyboardInterrupt
    assert path.read_bytes() == b'previous export'
    assert os.listdir(tmp_path) == ['backbone_final.pth']


def exporting_runner(work_dir, weight):
    """What BackboneExportHook uses of a runner, with a model whose export is `weight`."""
    model = SimpleNamespace(export_backbone=lambda: {'state_dict': {'w': weight}})
    return SimpleNamespace(model=model, work_dir=str(work_dir), logger=MMLogger.get_current_instance())


def test_a_backbone_export_killed_mid_write_keeps_the_previous_one(tmp_path, monkeypatch):
    BackboneExportHook().after_train(exporting_runner(tmp_path, torch.arange(10000.)))

    def save_half_and_die(obj, f):
        buffer = io.BytesIO()
        torch.serialization.save(obj, buffer)
        half = buffer.getvalue()[:buffer.tell() // 2]
        if isinstance(f, (str, os.PathLike)):
            with open(f, 'wb') as file:
                file.write(half)
        else:
            f.write(half)
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, 'save', save_half_and_die)
    with pytest.raises(KeyboardInterrupt):
        BackboneExportHook().after_train(exporting_runner(tmp_path, torch.zeros(10000)))
    monkeypatch.undo()
    torch.testing.assert_close(torch.load(tmp_path / 'backbone_final.pth')['state_dict']['w'], torch.arange(10000.))


# Issue 4: evaluation refuses a checkpoint that does not fit, naming the keys and the likely cause.

@pytest.fixture(scope='module')
def softmax_checkpoint(tmp_path_factory, train_tool, stage3_options):
    work_dir = str(tmp_path_factory.mktemp('softmax'))
    train_tool.main([SOFTMAX_STAGE3, '--work-dir', work_dir, '--cfg-options', *stage3_options,
                     'train_cfg.max_iters=1', 'default_hooks.checkpoint.interval=1'])
    return osp.join(work_dir, 'iter_1.pth')


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
                                                           data_options, stage1_run, teacher_checkpoint,
                                                           softmax_checkpoint):
    path = dict(stage1_checkpoint=osp.join(stage1_run, 'iter_2.pth'),
                backbone_export=osp.join(stage1_run, 'backbone_iter_2.pth'),
                vit_state_dict=teacher_checkpoint, softmax_under_linear=softmax_checkpoint)[checkpoint]
    with pytest.raises(SystemExit) as refused:
        test_tool.main([STAGE3, path, '--work-dir', str(tmp_path), '--cfg-options', *data_options])
    assert refused.value.code.startswith(f'{osp.basename(sys.argv[0])}: {path}')
    assert re.search(message, refused.value.code, flags=re.S), refused.value.code


def test_evaluation_of_a_fitting_checkpoint(tmp_path, test_tool, data_options, straight_run, softmax_checkpoint):
    metrics = test_tool.main([STAGE3, osp.join(straight_run, f'iter_{ITERS}.pth'), '--work-dir', str(tmp_path),
                              '--cfg-options', *data_options])
    assert 0 <= metrics['mIoU'] <= 100
    metrics = test_tool.main([SOFTMAX_STAGE3, softmax_checkpoint, '--work-dir', str(tmp_path),
                              '--cfg-options', *data_options])
    assert 0 <= metrics['mIoU'] <= 100


def test_load_segmentor_checkpoint_for_inference(straight_run, stage1_run, data_options):
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


# Issue 5, every stage: checkpoints are written atomically and hold the random state.

@pytest.mark.parametrize('config', [STAGE1, STAGE2, STAGE3])
def test_every_stage_writes_resumable_checkpoints(config):
    cfg = load_run_config(config)
    assert cfg.default_hooks.checkpoint.backend_args == dict(backend='atomic_local')
    assert dict(type='RandomStateHook') in cfg.custom_hooks


def test_a_stage1_checkpoint_holds_the_random_state(stage1_run):
    state = torch.load(osp.join(stage1_run, 'iter_2.pth'))['random_state']
    assert state['torch'].dtype == torch.uint8 and state['numpy'][0] == 'MT19937' and state['python'][0] == 3


# Issue 6: a NaN or inf pixel is an error that says where, not a prediction of class 0 everywhere.

@pytest.fixture(scope='module')
def tiny_segmentor():
    """The tiny stage-3 segmentor (UperNet behind MultiLevelNeck), random weights, in eval mode."""
    return init_model(load_run_config(STAGE3, cfg_options={'model.backbone.init_cfg': None}), None, device='cpu')


def predict(segmentor, images):
    """The segmentor's predictions for float (N, 3, H, W) images, as tools/infer.py asks for them."""
    shape = tuple(images.shape[-2:])
    samples = [SegDataSample(metainfo=dict(img_shape=shape, ori_shape=shape)) for _ in images]
    with torch.no_grad():
        return segmentor.test_step(dict(inputs=list(images), data_samples=samples))


@pytest.mark.parametrize('value, counts', [(float('nan'), '1 NaN and 0 inf'), (float('inf'), '0 NaN and 1 inf')])
def test_a_non_finite_pixel_is_an_error_that_says_where(value, counts, tiny_segmentor):
    """Before: every logit NaN, every pixel class 0, no warning."""
    images = torch.rand(2, 3, 32, 48) * 255
    images[1, 0, 5, 7] = value
    with pytest.raises(ValueError, match=re.escape(f'input of shape (2, 3, 32, 48) holds {counts} values (in images '
                                                   '[1] of the batch)') + '.*Check the image files'):
        predict(tiny_segmentor, images)
    assert all(sample.pred_sem_seg.data.shape == (1, 32, 48) for sample in predict(tiny_segmentor, images[:1]))


def test_the_non_finite_check_under_autocast_and_no_grad():
    backbone = AdaLAViT(arch='dinov2_vits14', vit_cfg=TINY_VIT).eval()
    images = torch.randn(2, 3, 28, 28)
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        assert torch.isfinite(backbone(images)[0]).all()
        images[0, 2, 3, 4] = -float('inf')
        for dtype in (torch.float32, torch.bfloat16):
            with pytest.raises(ValueError, match=r'0 NaN and 1 inf values \(in images \[0\] of the batch\)'):
                backbone(images.to(dtype))


# Issue 9: a file that is no checkpoint is named, with what it is, by every loader; pickles that would run
# code stay refused, and no message suggests `weights_only=False`.

BAD_CHECKPOINTS = [  # kind, what the message says it is (torch's own error before)
    ('empty', r'is empty \(0 bytes\)'),  # EOFError with no message
    ('random', r"is not a PyTorch checkpoint: it is binary data beginning b'"),  # retry with weights_only=False
    ('text', r"is not a PyTorch checkpoint: it is a text file beginning 'abc'"),  # IndexError: pop from empty list
    ('tensor', r'holds a single tensor of shape \(3,\) rather than a dict of weights'),  # 'Tensor' has no 'get'
    ('pickled_object', r'holds a Python object \(argparse\.Namespace\) that only a loader executing the file\'s '
                       r'code could read: refused'),  # retry with weights_only=False
]


def write_bad_checkpoint(path, kind):
    if kind == 'tensor':
        torch.save(torch.zeros(3), path)
    elif kind == 'pickled_object':
        torch.save(dict(state_dict={}, args=argparse.Namespace(lr=0.1)), path)
    else:
        random = np.random.default_rng(0).integers(0, 256, 1000, dtype=np.uint8).tobytes()
        path.write_bytes(dict(empty=b'', random=random, text=b'abc')[kind])


@pytest.mark.parametrize('kind, problem', BAD_CHECKPOINTS)
def test_a_file_that_is_no_checkpoint_is_named_with_what_it_is(kind, problem, tmp_path, tiny_segmentor, test_tool,
                                                              data_options):
    path = tmp_path / f'{kind}.pth'
    write_bad_checkpoint(path, kind)
    said = f'checkpoint {re.escape(str(path))} {problem}.*; expected '
    backbone = AdaLAViT(arch='dinov2_vits14', vit_cfg=TINY_VIT, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    with pytest.raises(ValueError, match=said + r'official DINOv2 release .*\(arch \'dinov2_vits14\'\)') as backbone_init:
        backbone.init_weights()
    with pytest.raises(ValueError, match=said + 'a segmentor checkpoint') as inference:
        load_segmentor_checkpoint(tiny_segmentor, str(path))
    with pytest.raises(ResumeError, match=f'cannot resume from {re.escape(str(path))}: it {problem}') as resuming:
        resume_checkpoint(str(tmp_path), requested=str(path))
    with pytest.raises(SystemExit) as evaluation:
        test_tool.main([STAGE3, str(path), '--work-dir', str(tmp_path / 'work'), '--cfg-options', *data_options])
    assert re.match(f'{re.escape(osp.basename(sys.argv[0]))}: {said}a segmentor checkpoint', evaluation.value.code)
    for message in (str(backbone_init.value), str(inference.value), str(resuming.value), evaluation.value.code):
        assert 'weights_only' not in message


def test_infer_stops_on_a_file_that_is_no_checkpoint(tmp_path, infer_tool):
    path = tmp_path / 'text.pth'
    write_bad_checkpoint(path, 'text')
    image = tmp_path / 'image.png'
    cv2.imwrite(str(image), np.zeros((30, 40, 3), np.uint8))
    with pytest.raises(SystemExit, match=f"error: checkpoint {re.escape(str(path))} is not a PyTorch checkpoint"):
        infer_tool.main([STAGE3, str(path), str(image), '--out-dir', str(tmp_path / 'out'), '--device', 'cpu'])


# Issue 10: an image that cannot be read, or is too small for the model, is named with the reason.

def test_an_image_too_small_for_the_model_names_its_size_and_the_minimum(tiny_segmentor):
    """Before: `Input and output sizes should be greater than 0` from MultiLevelNeck's 0.5 scale."""
    with pytest.raises(ValueError, match=r'input of 14x40 px .* too small for this model: it needs at least 15 px '
                                         r'per side \(2 patches of 14 px'):
        predict(tiny_segmentor, torch.rand(1, 3, 14, 40) * 255)
    assert predict(tiny_segmentor, torch.rand(1, 3, 15, 40) * 255)[0].pred_sem_seg.data.shape == (1, 15, 40)


def test_infer_names_each_bad_image_and_why(tmp_path, capsys, infer_tool):
    """Before: an OpenCV assertion about its buffer, 'failed to load image', and the neck's sizes."""
    images, out = tmp_path / 'images', tmp_path / 'out'
    images.mkdir()
    (images / 'empty.png').write_bytes(b'')
    (images / 'junk.png').write_bytes(b'not an image')
    cv2.imwrite(str(images / 'small.png'), np.zeros((10, 40, 3), np.uint8))
    cv2.imwrite(str(images / 'good.png'), np.zeros((30, 40, 3), np.uint8))
    assert infer_tool.main([STAGE3, 'none', str(images), '--out-dir', str(out), '--scale', 'native',
                                    '--device', 'cpu', '--cfg-options', 'model.backbone.init_cfg=None']) == 1
    failures = capsys.readouterr().err
    images = images.resolve()
    assert f'failed: {images / "empty.png"}: UnreadableImageError: the file is empty (0 bytes)' in failures
    assert f'failed: {images / "junk.png"}: UnreadableImageError: OpenCV cannot decode it' in failures
    assert re.search(f'failed: {re.escape(str(images / "small.png"))}: InputTooSmallError: .*10x40 px.* at least '
                     '15 px per side', failures)
    assert (out / 'good_labels.png').exists()


def test_evaluation_names_empty_test_images_before_any_work(tmp_path, test_tool, tiny_segmentor):
    """Before: an OpenCV assertion about its buffer, naming no file, part way through the test set."""
    data = tmp_path / 'data'
    make_synthetic_ade20k(str(data), num_train=1, num_val=3, image_size=64, num_classes=3)
    empty = data / 'images' / 'validation' / 'ADE_val_00000002.jpg'
    empty.write_bytes(b'')
    checkpoint = tmp_path / 'segmentor.pth'
    torch.save(dict(state_dict=tiny_segmentor.state_dict()), checkpoint)
    options = [f'{split}_dataloader.dataset.data_root={data}' for split in ('train', 'val', 'test')]
    with pytest.raises(SystemExit) as refused:
        test_tool.main([STAGE3, str(checkpoint), '--work-dir', str(tmp_path / 'work'), '--cfg-options', *options,
                        'model.backbone.init_cfg=None'])
    assert refused.value.code.startswith(f'{osp.basename(sys.argv[0])}: empty test image files (0 bytes), 1 in all: {empty}.')


# Issue 11: typos fail before training, with the intended key.

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


@pytest.mark.parametrize('tool, args', [('train_tool', [STAGE3]), ('test_tool', [STAGE3, 'iter_6.pth'])])
def test_cfg_option_without_a_value_is_a_usage_error(tool, args, request, capsys):
    """mmengine's DictAction: `not enough values to unpack`."""
    with pytest.raises(SystemExit) as usage:
        request.getfixturevalue(tool).parse_args([*args, '--cfg-options', 'randomness.seed=0', 'randomness.seed'])
    assert usage.value.code == 2
    assert "--cfg-options takes KEY=VALUE pairs; 'randomness.seed' has no value" in capsys.readouterr().err


def test_a_typo_on_the_command_line_stops_the_tool(tmp_path, train_tool, stage3_options):
    with pytest.raises(SystemExit) as refused:
        train_tool.main([STAGE3, '--work-dir', str(tmp_path), '--cfg-options', *stage3_options, 'randomnes.seed=1'])
    assert "did you mean 'randomness'" in str(refused.value.code)
    assert os.listdir(tmp_path) == []
