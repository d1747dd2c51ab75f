"""mmseg_adala/benchmark/head_tiling.py, through tools/check_head_tiling.py: the tiled decode head
gives the untiled head's logits, which is what lets the benchmark's segmentor run at large sizes."""
import json
import os.path as osp
import sys

import pytest
from tiny import TINY_VIT

# Builds and runs a head at 238 px, untiled and tiled.
pytestmark = pytest.mark.slow

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_head_tiling_check_finds_the_tiles_exact(capsys):
    """tools/check_head_tiling.py: the untiled head is the reference; tiles of 64 px at 238 px
    cut the maps of every level, so a halo too narrow anywhere would show."""
    sys.path.insert(0, osp.join(REPO, 'tools'))
    try:
        from check_head_tiling import main
    finally:
        sys.path.pop(0)
    main(['--arch', 'dinov2_vits14', '--vit-cfg', json.dumps(TINY_VIT), '--size', '238', '--head-tile', '64'])
    result = json.loads(capsys.readouterr().out)
    assert result['logits_shape'] == [1, 150, 68, 68]
    assert result['max_relative_difference'] < 1e-4
    assert result['argmax_identical_fraction'] == 1.0

