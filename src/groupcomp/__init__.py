"""groupcomp: how neural networks learn to compose elements of finite groups.

The curated API (imported lazily, so ``import groupcomp`` is cheap)::

    groupcomp.load_config(preset, overrides)   # a validated config (train / arith presets)
    groupcomp.train(cfg_or_preset, out=...)    # train any run kind, write its run folder
    groupcomp.resume(run_dir)                  # continue an interrupted run
    groupcomp.load_run(run_dir)                # config, group, task, metrics, summary, models
    groupcomp.plot(run_dir)                    # redraw a run's figures
    groupcomp.multirun(preset, overrides)      # a Hydra sweep, one run folder per job
    groupcomp.collect(dirs)                    # one results table (DataFrame) of many runs
    groupcomp.cogs(run_dirs)                   # CoGS factorisation of arith runs (tables, figures)
    groupcomp.figure("p1-fig1")                # a paper figure: trains what is missing, draws it

Subpackages, lowest layer first (docs/architecture.md): ``groups``, ``fourier``, ``templates``,
``tasks``, ``models``, ``optim``, ``theory`` → ``training`` → ``config`` → ``runs`` →
``analysis`` → ``viz`` → ``api`` / ``cli``.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.2.0"

__all__ = [
    "__version__",
    "cogs",
    "collect",
    "figure",
    "load_config",
    "load_run",
    "multirun",
    "plot",
    "resume",
    "train",
]

_LAZY = {
    "cogs": "groupcomp.api",
    "collect": "groupcomp.api",
    "figure": "groupcomp.api",
    "multirun": "groupcomp.api",
    "load_config": "groupcomp.config",
    "load_run": "groupcomp.runs",
    "plot": "groupcomp.api",
    "resume": "groupcomp.api",
    "train": "groupcomp.api",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'groupcomp' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
