"""Run folders: the only code that writes or reads run data on disk.

Layout (every run kind)::

    <out>/<name>/
        config.yaml            resolved config (with ``kind``)
        provenance.json        package versions, git commit, platform, time
        metrics.parquet        one row per (step, seed); flushed every few seconds while running
        summary.json           typed run summary (``kind``, ``schema_version``, status, ...)
        neurons.npz            sequence runs: per-neuron weight power per irrep at the probe
                               steps (``groupcomp.training.neurons``); flushed with the metrics
        checkpoints/step_<t>.pt  full training state at step t (log-spaced, step 0 included,
                                 plus every ``train.checkpoint_every`` steps)
        figures/*.png|pdf      drawn by ``groupcomp.viz`` (the API / CLI layer)

Safety rules: every write is atomic (temporary file in the same folder, then ``os.replace``) and
gets the user's normal permissions (umask); run-folder names are single path components; a new
run never reuses an existing folder; checkpoints hold only tensors, numbers, strings, lists and
dicts and are read with ``torch.load(weights_only=True)`` (a pickle that would run code is
refused); a lock file stops two processes from writing one folder; stray temporary files of an
interrupted write are removed when the folder is opened for writing.
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import math
import os
import platform
import socket
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from groupcomp.errors import RunFolderError

__all__ = [
    "CHECKPOINT_FORMAT",
    "NEURONS_FILE",
    "RunFolder",
    "atomic_write_bytes",
    "atomic_write_text",
    "jsonable",
    "provenance",
    "read_json",
    "safe_torch_load",
    "validate_run_name",
]

#: ``format`` field of every checkpoint this version writes
CHECKPOINT_FORMAT = "groupcomp-checkpoint-v2"
#: longest run-folder name
MAX_NAME = 120
#: the per-neuron weight spectra of a sequence run (:mod:`groupcomp.training.neurons`)
NEURONS_FILE = "neurons.npz"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, with mode ``0666 & ~umask``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def jsonable(x: Any) -> Any:
    """Plain-JSON copy of ``x``: mappings/sequences recursed, numpy scalars and arrays converted,
    non-finite floats → ``None`` (JSON has no NaN/inf)."""
    if isinstance(x, Mapping):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, np.generic):
        return jsonable(x.item())
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def read_json(path: Path) -> dict:
    """A JSON object from ``path``; :class:`RunFolderError` naming the file if it is missing,
    unreadable, not UTF-8 or not JSON."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise RunFolderError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunFolderError(f"{path}: unreadable or corrupt JSON ({exc})") from None
    if not isinstance(data, dict):
        raise RunFolderError(f"{path}: expected a JSON object")
    return data


def safe_torch_load(path: Path) -> Any:
    """``torch.load(path, weights_only=True)``: tensors, numbers, strings, lists and dicts only.
    A file that needs arbitrary unpickling (e.g. one that would run code) is refused with
    :class:`RunFolderError`; so is a truncated or corrupt file."""
    try:
        return torch.load(Path(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise RunFolderError(f"{path}: checkpoint not found") from None
    except Exception as exc:  # UnpicklingError, zip errors, EOF, RuntimeError from torch
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RunFolderError(
            f"{path}: not a loadable groupcomp checkpoint (refused or corrupt: {first[:200]})"
        ) from None


def validate_run_name(name: str) -> str:
    """A run-folder name must be one path component: letters, digits and ``._+=,@-``, not
    ``.``/``..``, no leading ``.``, at most :data:`MAX_NAME` characters
    (:func:`groupcomp.config.loader.name_problem`)."""
    from groupcomp.config.loader import name_problem

    problem = name_problem(name, MAX_NAME)
    if problem is not None:
        raise RunFolderError(f"--name: {problem}")
    return name


def _git_commit() -> str:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        if out.returncode != 0:
            return "unknown"
        commit = out.stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        return commit + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


_COMMIT: str | None = None


def provenance() -> dict[str, str]:
    """Package versions and git commit, written next to every result."""
    global _COMMIT
    from groupcomp import __version__

    if _COMMIT is None:
        _COMMIT = _git_commit()
    return {
        "groupcomp": __version__,
        "git_commit": _COMMIT,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "created": _dt.datetime.now().isoformat(timespec="seconds"),
    }


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunFolder:
    """One run's folder (see the module docstring for the layout)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._locked = False

    # -- creating and opening -------------------------------------------------------------------
    @classmethod
    def create(cls, parent: str | Path, name: str, *, exact: bool = False) -> RunFolder:
        """A fresh folder ``parent/<name>-<timestamp>`` (or ``parent/name`` when ``exact``).
        Never reuses an existing folder: a clash gets ``-2``, ``-3``… or, when ``exact``, an
        error."""
        validate_run_name(name)
        parent = cls.check_parent(parent)
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            msg = f"--out: {parent} is not a folder (a file is in the way)"
            raise RunFolderError(msg) from None
        except OSError as exc:
            raise RunFolderError(f"--out: cannot create {parent} ({exc.strerror})") from None
        if exact:
            d = parent / name
            try:
                d.mkdir()
            except FileExistsError:
                raise RunFolderError(
                    f"run folder {d} already exists; choose another --name, or continue it "
                    f"with --resume {d}"
                ) from None
            return cls(d)
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        base = f"{name}-{stamp}"[:MAX_NAME]
        d, i = parent / base, 1
        while True:
            try:
                d.mkdir()
                return cls(d)
            except FileExistsError:
                i += 1
                d = parent / f"{base}-{i}"

    @staticmethod
    def check_parent(parent: str | Path) -> Path:
        """Raise :class:`RunFolderError` when ``parent`` (``--out``) cannot hold run folders: it,
        or a folder above it, is a file. Creates nothing."""
        parent = Path(parent)
        if parent.exists() and not parent.is_dir():
            raise RunFolderError(f"--out: {parent} exists and is not a folder")
        for above in parent.absolute().parents:
            if above.exists():
                if not above.is_dir():
                    raise RunFolderError(f"--out: {parent} is not a folder (a file is in the way)")
                break
        return parent

    @classmethod
    def open(cls, path: str | Path) -> RunFolder:
        """An existing run folder (it must hold ``config.yaml``)."""
        p = Path(path)
        if not p.is_dir():
            raise RunFolderError(f"{p} is not a folder")
        if not (p / "config.yaml").is_file():
            raise RunFolderError(f"{p} is not a run folder (no config.yaml)")
        return cls(p)

    # -- locking --------------------------------------------------------------------------------
    @property
    def lock_path(self) -> Path:
        return self.path / ".lock"

    def lock(self) -> None:
        """Take the folder's write lock; refuse if a live process holds it (a lock left by a
        dead process is taken over)."""
        me = f"{os.getpid()} {socket.gethostname()}"
        for _ in range(2):
            try:
                fd = os.open(self.lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
            except FileExistsError:
                try:
                    pid_s, _, host = self.lock_path.read_text().partition(" ")
                    pid = int(pid_s)
                except (OSError, ValueError):
                    pid, host = -1, ""
                same_host = host.strip() in ("", socket.gethostname())
                if pid > 0 and (not same_host or _pid_alive(pid)):
                    raise RunFolderError(
                        f"{self.path} is in use by process {pid}"
                        + ("" if same_host else f" on {host.strip()}")
                        + " (another run or --resume is writing it); wait for it to finish"
                    ) from None
                self.lock_path.unlink(missing_ok=True)  # stale: its process is gone
                continue
            with os.fdopen(fd, "w") as fh:
                fh.write(me)
            self._locked = True
            return
        raise RunFolderError(f"{self.path}: could not take the lock file {self.lock_path}")

    def unlock(self) -> None:
        if self._locked:
            self.lock_path.unlink(missing_ok=True)
            self._locked = False

    def clean_stray_temporaries(self) -> list[Path]:
        """Remove ``.*.tmp`` files left by writes that a killed process did not finish."""
        removed = []
        for d in (self.path, self.path / "checkpoints", self.path / "figures"):
            if d.is_dir():
                for p in d.glob(".*.tmp"):
                    p.unlink(missing_ok=True)
                    removed.append(p)
        return removed

    # -- writing --------------------------------------------------------------------------------
    def write_text(self, rel: str, text: str) -> Path:
        atomic_write_text(self.path / rel, text)
        return self.path / rel

    def write_json(self, rel: str, obj: Any) -> Path:
        return self.write_text(rel, json.dumps(jsonable(obj), indent=2))

    def write_metrics(self, frame) -> Path:
        atomic_write_bytes(self.path / "metrics.parquet", frame.to_parquet(index=False))
        return self.path / "metrics.parquet"

    def write_arrays(self, rel: str, arrays: Mapping[str, Any]) -> Path:
        """Write numeric numpy arrays to ``rel`` (an uncompressed ``.npz``; no pickles)."""
        buf = io.BytesIO()
        np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})
        atomic_write_bytes(self.path / rel, buf.getvalue())
        return self.path / rel

    def checkpoint_path(self, step: int) -> Path:
        return self.path / "checkpoints" / f"step_{int(step):09d}.pt"

    def save_checkpoint(self, step: int, payload: dict[str, Any]) -> Path:
        """Write ``checkpoints/step_<step>.pt`` (``payload`` gets ``format`` and ``step``)."""
        buf = io.BytesIO()
        torch.save({"format": CHECKPOINT_FORMAT, "step": int(step), **payload}, buf)
        path = self.checkpoint_path(step)
        atomic_write_bytes(path, buf.getvalue())
        return path

    # -- reading --------------------------------------------------------------------------------
    def checkpoint_steps(self) -> list[int]:
        """Steps with a checkpoint file, ascending."""
        out = []
        d = self.path / "checkpoints"
        if d.is_dir():
            for p in d.glob("step_*.pt"):
                try:
                    out.append(int(p.stem[len("step_") :]))
                except ValueError:
                    continue
        return sorted(out)

    def load_checkpoint(self, step: int) -> dict[str, Any]:
        """The checkpoint of ``step``, read safely (:func:`safe_torch_load`)."""
        path = self.checkpoint_path(step)
        obj = safe_torch_load(path)
        if not isinstance(obj, dict) or obj.get("format") != CHECKPOINT_FORMAT:
            raise RunFolderError(
                f"{path}: not a {CHECKPOINT_FORMAT} checkpoint (written by another groupcomp "
                f"version?)"
            )
        return obj

    def latest_checkpoint(self) -> tuple[dict[str, Any], list[str]]:
        """The newest checkpoint that loads, and a note per newer one that did not."""
        problems: list[str] = []
        for step in reversed(self.checkpoint_steps()):
            try:
                return self.load_checkpoint(step), problems
            except RunFolderError as exc:
                problems.append(str(exc))
        legacy = (
            [p.name for p in (self.path / "checkpoints").glob("*.pt")]
            if (self.path / "checkpoints").is_dir()
            else []
        )
        why = "; ".join(problems) if problems else "no checkpoints/step_*.pt"
        if legacy and not problems:
            why += f" (found {', '.join(sorted(legacy))}: written by groupcomp < 0.2)"
        raise RunFolderError(f"{self.path}: no usable checkpoint ({why})")

    def read_config_text(self) -> str:
        from groupcomp.config import read_config_file

        return read_config_file(self.path / "config.yaml", "config.yaml")

    def read_summary(self) -> dict[str, Any]:
        return read_json(self.path / "summary.json")

    def read_arrays(self, rel: str) -> dict[str, np.ndarray] | None:
        """The arrays of :meth:`write_arrays` (``None`` if the file does not exist); object
        arrays are refused (``allow_pickle=False``)."""
        path = self.path / rel
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except Exception as exc:  # zip / format / pickle errors of every kind
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RunFolderError(f"{path}: unreadable or corrupt ({first[:200]})") from None

    def read_metrics(self):
        import pandas as pd

        path = self.path / "metrics.parquet"
        if not path.is_file():
            raise RunFolderError(f"{path}: file not found")
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow errors of every kind
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RunFolderError(f"{path}: unreadable or corrupt ({first[:200]})") from None
        missing = [c for c in ("step", "seed", "loss") if c not in frame.columns]
        if missing:
            raise RunFolderError(
                f"{path}: not a groupcomp metrics table (no column {', '.join(missing)})"
            )
        return frame
