"""Every measurement of a run in a fresh process, round after round, pooled into one record each.

The processes fork from a server that has only imported the libraries, so no allocator cache
or high-water mark carries over from one variant to the next, and an out-of-memory crash loses
one measurement, not the benchmark. Rounds interleave the whole list of measurements, so a
slow spell of a shared machine hits every variant alike instead of one.
"""
import multiprocessing
import signal
import time
from dataclasses import asdict
from typing import Callable, List, Optional

from .measure import run_measurement, timing_fields
from .settings import BenchmarkSettings, measurement_specs


def pool_rounds(records: List[dict]) -> dict:
    """One record from the same measurement's records of several rounds.

    The timed runs of all rounds are pooled into one median; the peak memory is the largest.
    A failure in any round makes the cell that failure.
    """
    failed = [record for record in records if record['status'] != 'ok']
    if failed or len(records) == 1:
        return (failed or records)[0]
    pooled = dict(records[0])
    pooled.update(timing_fields([t for record in records for t in record['times_s']], pooled['batch_size']))
    peaks = [record['peak_mb'] for record in records if record['peak_mb'] is not None]
    pooled['peak_mb'] = max(peaks) if peaks else None
    return pooled


def _measurement_process(spec: dict, connection) -> None:
    connection.send(run_measurement(spec))
    connection.close()


def run_isolated(spec: dict, timeout_s: float, context) -> dict:
    """:func:`run_measurement` in a fresh child process; a crash or a hang becomes a failed record."""
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_measurement_process, args=(spec, sender), daemon=True)
    process.start()
    sender.close()  # ours: the child's end must be its only one, or a crash never reads as EOF
    record = None
    if receiver.poll(timeout_s):
        try:
            record = receiver.recv()
        except EOFError:  # the child died before reporting
            pass
    else:
        process.kill()
        record = dict(spec, status='timeout', error=f'killed after {timeout_s:.0f} s')
    process.join()
    if record is None:
        killed = process.exitcode == -signal.SIGKILL  # on CPU, usually the kernel's OOM killer
        record = dict(spec, status='OOM' if killed else 'error',
                      error=f'measurement process exited with code {process.exitcode}')
    return record


def run_benchmark(settings: BenchmarkSettings, progress: Callable[[str], None] = print,
                  deadline: Optional[float] = None) -> dict:
    """Measure every (scope, size, variant), each in a fresh process, round after round.

    Returns the raw report, a record per (scope, size, variant) pooled over the rounds.

    The processes fork from a server that has imported this module (torch, timm, MMSeg) but
    run nothing, so each starts clean in a fraction of a second instead of re-importing.
    With a `deadline` (a `time.monotonic()` value), a measurement still running then is killed
    ('timeout') and those not started are recorded as 'skipped'.
    """
    settings.validate()
    context = multiprocessing.get_context('forkserver')
    context.set_forkserver_preload([__name__])
    specs = measurement_specs(settings)
    rounds: List[List[dict]] = [[] for _ in specs]
    env = None
    for round_index in range(settings.rounds):
        for spec, records in zip(specs, rounds):
            left = float('inf') if deadline is None else deadline - time.monotonic()
            if left <= 0:
                records.append(dict(spec, status='skipped', error='time budget reached before it started'))
                continue
            progress(f'[{spec["scope"]}] {spec["variant"]} {spec["size"]}px'
                     f'{f" (round {round_index + 1}/{settings.rounds})" if settings.rounds > 1 else ""} ...')
            record = run_isolated(spec, min(settings.timeout_s, left), context)
            env = env or record.pop('environment', None)
            record.pop('environment', None)
            records.append(record)
            progress(f'    {_cell_summary(record)}')
    return dict(command=settings.command, settings=asdict(settings), environment=env or {},
                results=[pool_rounds(records) for records in rounds])


def _cell_summary(record: dict) -> str:
    if record['status'] != 'ok':
        return f'{record["status"]}: {record.get("error", "")}'
    peak = 'n/a' if record['peak_mb'] is None else f'{record["peak_mb"]:.1f} MB'
    return (f'{record["ms_per_image"]:.1f} ms/img, {record["images_per_s"]:.3g} img/s, peak {peak} '
            f'({len(record["times_s"])} timed runs)')
