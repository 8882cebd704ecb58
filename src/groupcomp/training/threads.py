"""How many threads a run may use without losing to one thread on a busy machine.

Measured on the project's 2-core machine (docs/performance.md): the compiled kernel's split
step (``prange`` over two sample chunks, a fork / join every step) ran the octahedral preset
15–27× *slower* than one thread while other processes kept the cores busy (a preempted worker
stalls every step's join), and up to ~1.8× faster when the machine was idle. The loss is large
and the gain small, so the rule is conservative:

* below a size threshold (the caller's: work per step) one thread, always;
* above it, one thread per core that *other* processes leave free, rounded down after a
  margin of a quarter core (:func:`auto_threads`): on 2 cores, two threads only while the
  others use less than 0.25 of a core on average.

What "other processes use" is measured as (:class:`CpuMonitor`): the machine's busy CPU time
(``/proc/stat``, steal included) minus this process's own CPU time, over the interval since the
previous reading; before a first interval (or without ``/proc/stat``) the 1-minute load
average stands in (it lags, and counts this process's own recent work). The count of threads
that *execute* the compiled kernel's fixed chunks can change between stretches without
changing a number (the chunks, not the threads, fix the arithmetic).
"""

from __future__ import annotations

import math
import os
import time

__all__ = ["CpuMonitor", "auto_threads", "available_cores", "load_average"]

#: a thread more only for every whole core that others leave free after this margin
MARGIN = 0.25


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS reports it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def load_average() -> float | None:
    """The 1-minute load average (runnable processes), or ``None`` where the OS has none."""
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):
        return None


def auto_threads(cores: int, busy: float | None, at_most: int | None = None) -> int:
    """Threads for work that scales with threads when the machine is free: one per core left
    free by others, ``floor(cores − busy + MARGIN)``, clamped to ``1..min(cores, at_most)``.

    Args:
        cores: cores available to this process.
        busy: cores' worth of CPU the other processes use (``None``: unknown, taken as 0).
        at_most: an upper bound (e.g. the kernel's chunk count).

    >>> auto_threads(2, 0.1), auto_threads(2, 0.3), auto_threads(2, 2.0), auto_threads(16, 3.0)
    (2, 1, 1, 13)
    """
    cap = max(1, int(cores) if at_most is None else min(int(cores), int(at_most)))
    busy = 0.0 if busy is None or not math.isfinite(busy) else max(0.0, float(busy))
    return max(1, min(cap, math.floor(cores - busy + MARGIN)))


def _proc_stat_busy() -> float | None:
    """Seconds of CPU time all cores spent busy since boot (``/proc/stat``: user, nice,
    system, irq, softirq, steal), or ``None`` where it cannot be read."""
    try:
        with open("/proc/stat", "rb") as fh:
            fields = fh.readline().split()
    except OSError:
        return None
    if len(fields) < 9 or fields[0] != b"cpu":
        return None
    try:
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[1:9])
    except ValueError:
        return None
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    return (user + nice + system + irq + softirq + steal) / float(ticks)


class CpuMonitor:
    """The CPU that other processes use, in cores, over the interval since the previous
    reading (at least ``min_interval`` seconds; shorter intervals keep the previous value,
    /proc/stat counts in 10 ms ticks).

    ``others()`` is ``busy(machine) − cpu(this process)`` per second of wall time; before the
    first complete interval, or where ``/proc/stat`` cannot be read, the 1-minute load average.
    """

    def __init__(self, min_interval: float = 0.25) -> None:
        self.min_interval = float(min_interval)
        self._last = self._sample()
        self._value = load_average()

    @staticmethod
    def _sample() -> tuple[float, float, float] | None:
        busy = _proc_stat_busy()
        if busy is None:
            return None
        return time.monotonic(), busy, time.process_time()

    def others(self) -> float | None:
        """Cores' worth of CPU used by other processes recently (``None``: unknown)."""
        if self._last is None:
            return self._value
        now = self._sample()
        if now is None:
            return self._value
        dt = now[0] - self._last[0]
        if dt >= self.min_interval:
            machine = now[1] - self._last[1]
            own = now[2] - self._last[2]
            self._value = max(0.0, (machine - own) / dt)
            self._last = now
        return self._value
