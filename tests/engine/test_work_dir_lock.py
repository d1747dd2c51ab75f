"""WorkDirLock: one run per work_dir; a second is refused and told which run holds it; a lock left
by a killed run is taken over. The holder that dies is a real process (kill -9), since a lock
that outlives its process is the case to get right."""
import json
import os
import os.path as osp
import re
import signal
import socket
import subprocess
import sys

import pytest

from mmseg_adala.engine import work_dir_lock
from mmseg_adala.engine.work_dir_lock import WorkDirLock, WorkDirLockedError, launcher_rank

# A process that takes the lock and holds it until killed; it loads the module by its path (stdlib only), so
# it starts in a fraction of a second rather than importing mmseg.
HOLDER = ('import importlib.util, sys, time\n'
          'spec = importlib.util.spec_from_file_location("lock", sys.argv[1])\n'
          'module = importlib.util.module_from_spec(spec)\n'
          'spec.loader.exec_module(module)\n'
          'lock = module.WorkDirLock(sys.argv[2]).acquire()\n'
          'print("held", flush=True)\n'
          'time.sleep(120)\n')


@pytest.fixture
def holder(tmp_path):
    """A live process holding the lock of tmp_path / 'work'."""
    process = subprocess.Popen([sys.executable, '-c', HOLDER, work_dir_lock.__file__, str(tmp_path / 'work')],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == 'held'
    yield process
    process.kill()
    process.wait()


def test_a_second_run_is_refused_and_named(tmp_path):
    with WorkDirLock(str(tmp_path)) as first:
        record = json.loads(open(first.path).read())
        assert record['pid'] == os.getpid() and record['host'] == socket.gethostname()
        with pytest.raises(WorkDirLockedError, match=re.escape(f"in use by another training run (PID {os.getpid()} "
                                                               f"on {socket.gethostname()}, started {record['started']}")):
            WorkDirLock(str(tmp_path)).acquire()
    assert not osp.exists(first.path), 'the lock outlived its run'
    with WorkDirLock(str(tmp_path)) as second:  # released: the next run takes it
        assert second.taken_over is None


def test_a_lock_held_by_another_process_and_then_left_by_its_kill(tmp_path, holder):
    work = str(tmp_path / 'work')
    with pytest.raises(WorkDirLockedError, match=f'PID {holder.pid} on '):
        WorkDirLock(work).acquire()
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert json.loads(open(osp.join(work, 'run.lock')).read())['pid'] == holder.pid  # the dead run's record stays
    with WorkDirLock(work) as lock:
        assert lock.taken_over['pid'] == holder.pid
        assert json.loads(open(lock.path).read())['pid'] == os.getpid()


def test_only_the_first_process_of_a_run_takes_the_lock(tmp_path, monkeypatch):
    for name in work_dir_lock.RANK_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert launcher_rank() == 0
    monkeypatch.setenv('RANK', '3')  # torchrun
    assert launcher_rank() == 3
    with WorkDirLock(str(tmp_path)):
        with WorkDirLock(str(tmp_path), enabled=launcher_rank() == 0) as other_rank:
            assert other_rank.taken_over is None  # not refused, and took nothing
