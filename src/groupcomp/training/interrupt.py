"""Ctrl-C as a request: the training loop stops at the next step boundary, never mid-update.

Inside :func:`deferred_interrupt` a SIGINT (and SIGTERM) only sets a flag; the loop polls
:func:`interrupt_requested` between steps, so an interrupted run always has a consistent model,
optimiser and data state to checkpoint. Outside the main thread (where Python cannot install
signal handlers) it does nothing, and a ``KeyboardInterrupt`` keeps its usual meaning.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["deferred_interrupt", "interrupt_requested", "request_interrupt"]

_flag = threading.Event()
_depth = 0


def interrupt_requested() -> bool:
    """Whether an interrupt arrived since the outermost :func:`deferred_interrupt` began."""
    return _flag.is_set()


def request_interrupt() -> None:
    """Ask the running loop to stop at the next step boundary (what Ctrl-C does)."""
    _flag.set()


def _handler(signum, frame) -> None:  # noqa: ARG001 - signal handler signature
    if not _flag.is_set():
        print(
            "\ngroupcomp: interrupt received, stopping after the current step "
            "(the run folder keeps a checkpoint; continue with --resume)",
            file=sys.stderr,
            flush=True,
        )
    _flag.set()


@contextmanager
def deferred_interrupt() -> Iterator[None]:
    """Turn SIGINT / SIGTERM into :func:`request_interrupt` for the duration of the block."""
    global _depth
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _depth += 1
    old = {}
    if _depth == 1:
        _flag.clear()
        for sig in (signal.SIGINT, signal.SIGTERM):
            old[sig] = signal.signal(sig, _handler)
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0:
            for sig, h in old.items():
                signal.signal(sig, h)
            _flag.clear()  # a request ends with the block that received it
