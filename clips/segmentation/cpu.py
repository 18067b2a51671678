"""How many CPU threads a network may use right now (pure: reads /proc, no Django).

Workers start with one torch thread per process (run.sh: with --concurrency N
the cores are already shared out, and spinning OpenMP threads on busy cores
cost several times their worth). A single video on an otherwise idle machine
then leaves cores unused while Light-ASD runs, its costliest network; so a
model stage measures how many cores other processes leave free and takes those.
"""

from __future__ import annotations

import logging
import os
import time
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity, and a container's CPU quota
    (a container sees every core of its host in /proc while allowed a few of them)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    quota = cpu_quota()
    return max(1, min(cores, int(quota))) if quota else cores


def cpu_quota(root: str | Path = "/sys/fs/cgroup") -> float | None:
    """Cores' worth of CPU time the cgroup allows (None: no limit or unknown); cgroup v2
    (cpu.max: "200000 100000") or v1 (cpu/cpu.cfs_quota_us and cpu.cfs_period_us)."""
    root = Path(root)
    try:
        quota, _, period = (root / "cpu.max").read_text().strip().partition(" ")
    except OSError:
        try:
            quota = (root / "cpu" / "cpu.cfs_quota_us").read_text().strip()
            period = (root / "cpu" / "cpu.cfs_period_us").read_text().strip()
        except OSError:
            return None
    try:
        value, per = float(quota), float(period)
    except ValueError:  # "max": no limit
        return None
    return value / per if value > 0 and per > 0 else None


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


class CoreMeter:
    """Cores that other processes leave free, measured from its creation to the call of
    `free_cores` (the caller works meanwhile: its own CPU time counts as free). Made at a
    stage's start and read when its network is about to run, it costs no extra wait."""

    def __init__(self):
        self._start = _cpu_times()
        self._own = time.process_time()
        self._since = time.monotonic()

    def free_cores(self, min_s: float = 0.25) -> float | None:
        """None when unknown (not Linux). At least `min_s` seconds are measured: long
        enough that threads of the stage before, winding down, hardly count."""
        wait = min_s - (time.monotonic() - self._since)
        if wait > 0:
            time.sleep(wait)
        end = _cpu_times()
        if self._start is None or end is None or end[1] <= self._start[1]:
            return None
        elapsed = time.monotonic() - self._since
        idle = (end[0] - self._start[0]) / (end[1] - self._start[1]) * (os.cpu_count() or 1)
        return idle + (time.process_time() - self._own) / elapsed


def threads_for_model(wanted: int = 0, meter: CoreMeter | None = None) -> int:
    """`wanted` threads if > 0; else (auto) the cores free now (`meter` started
    earlier, else a fresh one), at least 1, at most the cores this process may run
    on. Another busy worker or ffmpeg keeps it at 1."""
    cores = usable_cores()
    if wanted > 0:
        return min(wanted, cores)
    free = (meter or CoreMeter()).free_cores()
    if free is None:
        return 1
    # rounded: a core at least half free is worth a thread (the measure itself reads ~0.3
    # below the truth on an idle machine: the kernel's own time, the process's other threads)
    threads = max(1, min(cores, int(free + 0.5)))
    log.info("%.1f of %d cores free: %d thread(s)", free, cores, threads)
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
