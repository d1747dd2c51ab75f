"""Test-only hook: the process dies half way through writing a file, as under `kill -9`."""
import builtins
import os
import os.path as osp

from mmengine.hooks import Hook
from mmseg.registry import HOOKS


class DyingFile:
    """A file whose first write stores half the data, then ends the process with no cleanup."""

    def __init__(self, file) -> None:
        self.file = file

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.file.close()

    def write(self, data) -> None:
        self.file.write(data[:len(data) // 2])
        self.file.flush()
        os._exit(137)

    def __getattr__(self, name):
        return getattr(self.file, name)


@HOOKS.register_module()
class KillDuringWriteHook(Hook):
    """From `before_train` on, a file opened for writing whose name contains `name` is a `DyingFile`.

    The name is matched inside the file name so that a temporary name for the same target
    (such as `.iter_4.pth.partial`) dies the same way as `iter_4.pth` itself.
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def before_train(self, runner) -> None:
        real_open, name = builtins.open, self.name

        def open_or_die(file, mode='r', *args, **kwargs):
            opened = real_open(file, mode, *args, **kwargs)
            target = isinstance(file, (str, os.PathLike)) and name in osp.basename(os.fspath(file))
            return DyingFile(opened) if target and 'w' in mode else opened

        builtins.open = open_or_die
