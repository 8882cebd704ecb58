#!/usr/bin/env python3
"""Set-up entry points that need nothing but Python >= 3.11 (README "Set-up").

    python3 dev.py demo   # create .venv (pinned constraints.txt), train the D3 preset
    python3 dev.py test   # create .venv, run ruff (check + format --check) and the whole test suite

The virtual environment is reused while pyproject.toml and constraints.txt are unchanged.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".installed"


def _run(*cmd: str | Path) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    rc = subprocess.call([str(c) for c in cmd], cwd=ROOT)
    if rc != 0:
        sys.exit(rc)


def _fingerprint() -> str:
    h = hashlib.sha256()
    for name in ("pyproject.toml", "constraints.txt"):
        h.update((ROOT / name).read_bytes())
    return h.hexdigest()


def install() -> None:
    """Create ``.venv`` and install groupcomp (editable) with its test, sweep and docs extras,
    pinned."""
    if STAMP.exists() and STAMP.read_text() == _fingerprint():
        return
    if sys.version_info < (3, 11):  # noqa: UP036 (dev.py may be run by an older Python)
        sys.exit(f"groupcomp needs Python >= 3.11, this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        venv.create(VENV, with_pip=True)
    _run(
        BIN / "python",
        "-m",
        "pip",
        "install",
        "--quiet",
        "-c",
        "constraints.txt",
        "-e",
        ".[test,sweep,docs]",
    )
    STAMP.write_text(_fingerprint())


def demo() -> None:
    install()
    _run(BIN / "groupcomp", "train", "d3", "--out", "runs")


def test() -> None:
    install()
    _run(BIN / "ruff", "check", ".")
    _run(BIN / "ruff", "format", "--check", ".")  # also the code blocks of the Markdown docs
    # pytest exits 5 when it collected no test: that is a failure here too
    _run(BIN / "python", "-m", "pytest", "-n", "2", "--dist", "loadfile", *sys.argv[2:])


def main() -> None:
    cmds = {"install": install, "demo": demo, "test": test}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(f"usage: python3 dev.py {{{'|'.join(cmds)}}} [pytest args for test]")
    cmds[sys.argv[1]]()


if __name__ == "__main__":
    main()
