"""Files appear whole or not at all: a write interrupted half way (a kill, Ctrl-C, a full disk)
leaves the previous file under its name, never half of the new one, which a later load or
`--resume` would take for a good file."""
import os

import pytest

from mmseg_adala.engine.atomic_file import atomic_write


def test_an_interrupted_write_leaves_the_previous_file(tmp_path):
    path = tmp_path / 'backbone_final.pth'
    path.write_bytes(b'previous export')
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(path) as f:
            f.write(b'half of the new')
            raise KeyboardInterrupt
    assert path.read_bytes() == b'previous export'
    assert os.listdir(tmp_path) == ['backbone_final.pth']
