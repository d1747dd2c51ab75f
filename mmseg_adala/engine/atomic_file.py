"""Files that appear whole or not at all: checkpoints and backbone exports.

A process killed while writing `iter_4000.pth` in place leaves half a file under a good
name, and the next resume (or the next stage's `init_cfg`) trips over it. Writing to a
hidden name in the same folder, syncing it to disk and renaming it over the target makes
the write atomic: POSIX `rename` (`os.replace`) within a file system either happens or not.
"""
import os
import os.path as osp
from contextlib import contextmanager
from typing import Iterator, Union

from mmengine.fileio import LocalBackend, register_backend


def partial_path(path: str) -> str:
    """Where `path` is written before it is complete: hidden, beside it, one per target name."""
    folder, name = osp.split(osp.abspath(path))
    return osp.join(folder, f'.{name}.partial')


@contextmanager
def atomic_write(path: Union[str, os.PathLike], mode: str = 'wb') -> Iterator:
    """Open `path` for writing so that it only ever holds the previous or the complete new data.

    The data goes to `partial_path(path)`; when the block ends it is fsynced and renamed over
    `path`, and the folder is fsynced so the rename survives a crash too. On an exception the
    partial file is removed; after a kill it stays (hidden) and the next write replaces it.
    """
    path = os.fspath(path)
    partial = partial_path(path)
    os.makedirs(osp.dirname(partial), exist_ok=True)
    try:
        with open(partial, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, path)
    except BaseException:
        if osp.exists(partial):
            os.remove(partial)
        raise
    folder = os.open(osp.dirname(partial), os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


@register_backend('atomic_local')
class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend whose writes are atomic.

    Selected by name, `default_hooks.checkpoint.backend_args=dict(backend='atomic_local')`,
    it makes every file `CheckpointHook` saves (`iter_N.pth`, `best_*.pth`) atomic without
    copying any of mmengine's saving code; mmengine's own local backend is left as it is.
    """

    def put(self, obj: bytes, filepath) -> None:
        with atomic_write(filepath, 'wb') as f:
            f.write(obj)

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        with atomic_write(filepath, 'wb') as f:
            f.write(obj.encode(encoding))
