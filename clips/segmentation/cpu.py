"""How many CPU threads a network may use right now (pure: reads /proc, no Django).

Workers start with one torch thread per process (run.sh: with --concurrency N
the cores are already shared out, and spinning OpenMP threads on busy cores
cost several times their worth). A single video on an otherwise idle machine
then leaves cores unused while Light-ASD runs, its costliest network; so a
model stage asks how many cores sit idle at that moment and takes those.
"""

from __future__ import annotations

import logging
import os
import time
from contextlib import contextmanager

log = logging.getLogger(__name__)


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _cpu_times() -> tuple[int, int] | None:
    """(idle + iowait jiffies, all jiffies) of the whole machine, or None off Linux."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    if len(fields) < 5:
        return None
    return fields[3] + fields[4], sum(fields[:8])


def idle_cores(sample_s: float = 0.25) -> float | None:
    """Cores' worth of idle CPU over the next `sample_s` seconds (None when unknown)."""
    before = _cpu_times()
    if before is None:
        return None
    time.sleep(sample_s)
    after = _cpu_times()
    if after is None or after[1] <= before[1]:
        return None
    share = (after[0] - before[0]) / (after[1] - before[1])
    return share * (os.cpu_count() or 1)


def threads_for_model(wanted: int = 0) -> int:
    """`wanted` threads if > 0; else (auto) the cores idle now, at least 1, at most
    the cores this process may run on. Another busy worker or ffmpeg keeps it at 1."""
    cores = usable_cores()
    if wanted > 0:
        return min(wanted, cores)
    # a quarter second: long enough that threads of the stage before, winding down, do not count
    idle = idle_cores()
    if idle is None:
        return 1
    # +0.3: a core a little busy (the pipe feeding this stage) is still worth a thread
    threads = max(1, min(cores, int(idle + 0.3)))
    log.info("%.1f of %d cores idle: %d thread(s)", idle, cores, threads)
    return threads


@contextmanager
def torch_threads(count: int):
    """torch's intra-op threads set to `count` while the body runs, then put back."""
    import torch

    before = torch.get_num_threads()
    if count != before:
        torch.set_num_threads(count)
    try:
        yield count
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
