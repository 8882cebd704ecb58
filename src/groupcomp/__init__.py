"""groupcomp: how neural networks learn to compose elements of finite groups.

Subpackages: ``groups`` (finite groups and irreps), ``fourier`` (group Fourier analysis),
``templates``, ``tasks``, ``models``, ``optim``, ``training``, ``theory``, ``analysis``, ``viz``,
``config``. See ``docs/architecture.md``.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
