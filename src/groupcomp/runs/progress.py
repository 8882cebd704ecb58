"""Progress of long work (training, sweeps, scaling searches, AGF simulations): one helper.

:class:`Progress` has three modes, chosen once when it is made:

* ``"bar"`` — stderr is a terminal: a tqdm bar with the count, the rate (``step/s``), the ETA
  and a postfix such as ``loss 5.01``;
* ``"lines"`` — stderr is not a terminal (a log file, a pipe, a batch job): one status line at
  most every :data:`LINE_INTERVAL_S` seconds, e.g.
  ``groupcomp: train step 12000/120000  loss 5.01  2400 steps/s  ETA 45 s``; work shorter than
  the interval prints nothing;
* ``"off"`` — ``enabled=False`` (``--quiet``, ``train.progress=false``): nothing at all.

It is duck-compatible with the bar :func:`groupcomp.training.fit` drives (``update(n)``,
``set_postfix_str(text)``), and it is a context manager (``close()`` on exit). The clock and the
stream are parameters, so the status lines are tested with a fake clock.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable
from typing import IO, Any

__all__ = ["LINE_INTERVAL_S", "Progress", "format_duration"]

#: seconds between two status lines when stderr is not a terminal
LINE_INTERVAL_S = 10.0


def format_duration(seconds: float) -> str:
    """``"45 s"``, ``"3 min 20 s"``, ``"2 h 05 min"`` (``"?"`` when unknown).

    >>> format_duration(44.6), format_duration(200), format_duration(7500)
    ('45 s', '3 min 20 s', '2 h 05 min')
    """
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def _terminal_columns(stream: IO[str]) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return 0


def _rate_text(rate: float, unit: str) -> str:
    if not math.isfinite(rate) or rate <= 0:
        return f"- {unit}s/s"
    if rate >= 10:
        return f"{rate:.0f} {unit}s/s"
    if rate >= 0.1:
        return f"{rate:.2g} {unit}s/s"
    return f"{1.0 / rate:.3g} s/{unit}"


class Progress:
    """Progress of ``total`` units of work (``None``: unknown, then no ETA).

    Args:
        total: the number of units (steps, jobs, runs) when done.
        desc: a short name shown first (``"train"``, ``"sweep"``).
        unit: the unit's name, singular (``"step"``, ``"job"``).
        initial: units already done (a resumed run).
        enabled: ``False`` silences it completely (``--quiet``).
        stream: where to write (default: ``sys.stderr`` at construction).
        tty: force the mode (``True``: bar, ``False``: status lines); default
            ``stream.isatty()``.
        interval: seconds between two status lines (``"lines"`` mode).
        clock: a monotonic clock in seconds (tests pass a fake one).
    """

    def __init__(
        self,
        total: float | None,
        *,
        desc: str = "",
        unit: str = "step",
        initial: float = 0,
        enabled: bool = True,
        stream: IO[str] | None = None,
        tty: bool | None = None,
        interval: float = LINE_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = None if total is None else float(total)
        self.desc = desc
        self.unit = unit
        self.n = float(initial)
        self.postfix = ""
        self.interval = float(interval)
        self._clock = clock
        self._stream = sys.stderr if stream is None else stream
        self._bar: Any = None
        self.lines_written = 0
        if not enabled:
            self.mode = "off"
            return
        if tty is None:
            isatty = getattr(self._stream, "isatty", None)
            tty = bool(isatty()) if callable(isatty) else False
        self.mode = "bar" if tty else "lines"
        now = clock()
        self._last_t, self._last_n = now, self.n  # the previous status line (or the start)
        if self.mode == "bar":
            from tqdm import tqdm

            sized = _terminal_columns(self._stream) > 0  # a pseudo-terminal may report 0
            self._bar = tqdm(
                total=None if total is None else int(total),
                initial=int(initial),
                desc=desc or None,
                unit=unit,
                file=self._stream,
                dynamic_ncols=sized,
                ncols=None if sized else 100,
                leave=False,
            )

    # -- the tqdm-like interface ----------------------------------------------------------

    def update(self, n: float = 1) -> None:
        """``n`` more units are done (fractions add up: the bar moves by whole units)."""
        if self.mode == "off":
            return
        self.n += n
        if self._bar is not None:
            whole = int(self.n) - int(self._bar.n)
            if whole:
                self._bar.update(whole)
        else:
            self._maybe_line()

    def advance_to(self, done: float, loss: float | None = None) -> None:
        """``done`` units are done in all (never moves back); with ``loss``, show it."""
        if loss is not None:
            self.set_loss(loss)
        if done > self.n:
            self.update(done - self.n)

    def set_postfix_str(self, text: str, refresh: bool = False) -> None:
        """What to show after the count (e.g. ``"loss 5.01"``)."""
        self.postfix = str(text)
        if self._bar is not None:
            self._bar.set_postfix_str(self.postfix, refresh=refresh)

    def set_loss(self, loss: float) -> None:
        """Shorthand for ``set_postfix_str(f"loss {loss:.4g}")``."""
        self.set_postfix_str(f"loss {float(loss):.4g}")

    def write(self, line: str, file: IO[str] | None = None) -> None:
        """Print ``line`` (to ``file``, default stdout) without breaking the bar."""
        out = sys.stdout if file is None else file
        if self._bar is not None:
            from tqdm import tqdm

            tqdm.write(line, file=out)
        else:
            print(line, file=out, flush=True)

    def close(self) -> None:
        """Remove the bar (nothing is printed in the other modes)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- status lines ---------------------------------------------------------------------

    def status_line(self, now: float | None = None) -> str:
        """The status line at time ``now``: count, postfix, rate since the previous line, ETA."""
        now = self._clock() if now is None else now
        dt = now - self._last_t
        rate = (self.n - self._last_n) / dt if dt > 0 else math.nan
        count = f"{self.unit} {self.n:.0f}" + ("" if self.total is None else f"/{self.total:.0f}")
        parts = [f"{self.desc} {count}" if self.desc else count]
        if self.postfix:
            parts.append(self.postfix)
        parts.append(_rate_text(rate, self.unit))
        if self.total is not None:
            eta = (self.total - self.n) / rate if rate > 0 else math.inf
            parts.append(f"ETA {format_duration(max(eta, 0.0))}")
        return "groupcomp: " + "  ".join(parts)

    def _maybe_line(self) -> None:
        now = self._clock()
        if now - self._last_t < self.interval:
            return
        print(self.status_line(now), file=self._stream, flush=True)
        self.lines_written += 1
        self._last_t, self._last_n = now, self.n
