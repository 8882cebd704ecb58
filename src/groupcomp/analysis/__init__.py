"""Analysis of trained runs: observed staircase, learned spectra."""

from __future__ import annotations

from groupcomp.analysis.staircase import observed_staircase

__all__ = ["observed_staircase"]
