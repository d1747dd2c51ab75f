"""One training run per work_dir: two runs started into the same folder would write the same
`iter_*.pth` and `backbone_*.pth` names, each over the other's.

The lock is `work_dir/run.lock`, held with `flock` for the run's life: the kernel releases it
when the process ends, however it ends (kill -9 included), so a lock left by a killed run is
never mistaken for a live one. The file records who holds it (PID, host, start time,
command) for the message that refuses a second run.
"""
import datetime
import fcntl
import json
import os
import os.path as osp
import socket
import sys
from typing import Optional

LOCK_NAME = 'run.lock'
# Where launchers put the process's rank before torch.distributed is set up (torchrun, Slurm, Open MPI).
RANK_VARIABLES = ('RANK', 'SLURM_PROCID', 'OMPI_COMM_WORLD_RANK')


class WorkDirLockedError(RuntimeError):
    """Another live run holds the work_dir: the message names it (PID, host, start time)."""


def launcher_rank() -> int:
    """This process's rank as its launcher set it (0 without one)."""
    for name in RANK_VARIABLES:
        if os.environ.get(name, '').isdigit():
            return int(os.environ[name])
    return 0


def _describe(holder: dict) -> str:
    return (f"PID {holder.get('pid', '?')} on {holder.get('host', '?')}, started {holder.get('started', '?')}: "
            f"{holder.get('command', '?')}")


class WorkDirLock:
    """Held by one run of a work_dir at a time (`with WorkDirLock(work_dir): ...`); a second
    `acquire` raises `WorkDirLockedError` naming the first run.

    Args:
        work_dir: The run's folder (created).
        enabled: False for the processes of a multi-process run other than rank 0: the run
            takes one lock, by its first process.
    """

    def __init__(self, work_dir: str, enabled: bool = True) -> None:
        self.path = osp.join(work_dir, LOCK_NAME)
        self.enabled = enabled
        self._file = None
        self.taken_over: Optional[dict] = None  # the record of a finished or killed run whose lock this took

    def acquire(self) -> 'WorkDirLock':
        if not self.enabled:
            return self
        os.makedirs(osp.dirname(self.path), exist_ok=True)
        while True:
            file = open(self.path, 'a+')
            try:
                fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = self._read(file)
                file.close()
                raise WorkDirLockedError(
                    f'{osp.dirname(self.path)} is in use by another training run ({_describe(holder)}); a second '
                    f'run would overwrite its checkpoints. Wait for it to end, stop it, or give another --work-dir '
                    f'(the lock is {self.path})') from None
            # The previous holder may have removed the file between our open and our lock: lock the one in place.
            if osp.exists(self.path) and os.path.samestat(os.fstat(file.fileno()), os.stat(self.path)):
                break
            file.close()
        self.taken_over = self._read(file) or None
        record = dict(pid=os.getpid(), host=socket.gethostname(),
                      started=datetime.datetime.now().astimezone().isoformat(timespec='seconds'),
                      command=' '.join([osp.basename(sys.argv[0]), *sys.argv[1:]]))
        file.seek(0)
        file.truncate()
        json.dump(record, file)
        file.flush()
        self._file = file
        return self

    def release(self) -> None:
        if self._file is None:
            return
        os.remove(self.path)  # before unlocking: a run waiting on this file then retries on a new one
        self._file.close()
        self._file = None

    @staticmethod
    def _read(file) -> dict:
        file.seek(0)
        try:
            return json.loads(file.read() or '{}')
        except ValueError:  # written by something else, or cut short
            return {}

    def __enter__(self) -> 'WorkDirLock':
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
