"""A file that is no checkpoint is named, with what it is, by every loader (backbone init, inference,
`--resume`, evaluation), instead of torch's own errors (an EOFError with no message, `pop from empty
list`, `'Tensor' object has no attribute 'get'`, or advice to retry with `weights_only=False`).
Pickles that would run code stay refused, and no message suggests `weights_only=False`."""
import os.path as osp
import re
import sys

import pytest
from tiny import TINY_VIT
from tiny_runs import STAGE3, write_bad_checkpoint

from mmseg_adala.engine.checkpoint_fit import load_segmentor_checkpoint
from mmseg_adala.engine.resume import ResumeError, resume_checkpoint
from mmseg_adala.models import AdaLAViT

BAD_CHECKPOINTS = [  # kind, what the message says it is
    ('empty', r'is empty \(0 bytes\)'),
    ('random', r"is not a PyTorch checkpoint: it is binary data beginning b'"),
    ('text', r"is not a PyTorch checkpoint: it is a text file beginning 'abc'"),
    ('tensor', r'holds a single tensor of shape \(3,\) rather than a dict of weights'),
    ('pickled_object', r'holds a Python object \(argparse\.Namespace\) that only a loader executing the file\'s '
                       r'code could read: refused'),
]


@pytest.mark.parametrize('kind, problem', BAD_CHECKPOINTS)
def test_a_file_that_is_no_checkpoint_is_named_with_what_it_is(kind, problem, tmp_path, tiny_segmentor, test_tool,
                                                              synthetic_options):
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
        test_tool.main([STAGE3, str(path), '--work-dir', str(tmp_path / 'work'), '--cfg-options', *synthetic_options])
    assert re.match(f'{re.escape(osp.basename(sys.argv[0]))}: {said}a segmentor checkpoint', evaluation.value.code)
    for message in (str(backbone_init.value), str(inference.value), str(resuming.value), evaluation.value.code):
        assert 'weights_only' not in message
