"""Learning tasks on finite groups."""

from __future__ import annotations

from groupcomp.tasks.arithmetic import (
    ArithmeticTask,
    make_split,
    make_task,
    parse_expression,
    split_counts,
)
from groupcomp.tasks.sequence import SequenceTask

__all__ = [
    "ArithmeticTask",
    "SequenceTask",
    "make_split",
    "make_task",
    "parse_expression",
    "split_counts",
]
