"""Learning tasks on finite groups."""

from __future__ import annotations

from groupcomp.tasks.sequence import SequenceTask

__all__ = ["SequenceTask"]
