"""Build ``src/groupcomp/data/small_groups.json.gz``: every group of order <= 128 of GAP's
SmallGroups library as a few permutation generators plus GAP-computed metadata.

Development-only. It needs GAP, which it drives through the PyPI package ``passagemath-gap``
(libgap with the SmallGrp data). Install that into a scratch virtual environment, never into the
project's own::

    python -m venv /tmp/gapvenv
    /tmp/gapvenv/bin/pip install passagemath-gap
    /tmp/gapvenv/bin/python scripts/build_small_groups.py            # ~20 min on 2 cores

For each ``SmallGroup(n, i)`` GAP computes a faithful permutation representation
(``IsomorphismPermGroup`` followed by ``SmallerDegreePermutationRepresentation``), maps a
``MinimalGeneratingSet`` of the group into it, relabels the moved points ``0..d-1`` and checks
with ``IdGroup`` that the generated permutation group is ``SmallGroup(n, i)`` again. The metadata
(``StructureDescription``, abelian / nilpotent / solvable, exponent, centre order, conjugacy class
sizes, character degrees and Frobenius–Schur indicators) comes from GAP's character table of the
group. GAP's random source is reset per group (seed ``1000·n + i``), so each group's entry does not
depend on how the work was split between processes.

The runtime side is :mod:`groupcomp.groups.catalogue`; the format is described in
``docs/small_groups.md``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "src" / "groupcomp" / "data" / "small_groups.json.gz"
FORMAT = "groupcomp-small-groups/1"

# One GAP function (libgap evaluates a single statement): everything about SmallGroup(n, i).
GAP_EXPORT = r"""
function(n, i)
  local G, name, T, degs, inds, H, hom, Q, mp, gens, perms, id_ok;
  Reset(GlobalMersenneTwister, 1000 * n + i);
  Reset(GlobalRandomSource, 1000 * n + i);
  # Metadata first, on a fresh group: StructureDescription of a group that already carries a
  # permutation representation can recurse very deeply (e.g. SmallGroup(108,15)).
  G := SmallGroup(n, i);
  name := StructureDescription(G);
  T := CharacterTable(G);
  degs := List(Irr(T), chi -> chi[1]);
  inds := Indicator(T, 2);
  # Permutation generators, computed on a second copy of the group.
  H := SmallGroup(n, i);
  hom := IsomorphismPermGroup(H);
  hom := hom * SmallerDegreePermutationRepresentation(Image(hom));
  Q := Image(hom);
  gens := List(MinimalGeneratingSet(H), g -> Image(hom, g));
  mp := MovedPoints(Q);
  if Length(mp) = 0 then
    perms := [[0]];
  else
    perms := List(gens, g -> List(mp, x -> Position(mp, x ^ g) - 1));
  fi;
  if n = 1 then
    id_ok := true;
  else
    id_ok := IdGroup(Group(gens)) = [n, i];
  fi;
  return [name, IsAbelian(G), IsNilpotentGroup(G), IsSolvableGroup(G),
          Exponent(G), Size(Centre(G)), SizesConjugacyClasses(T), degs, inds, perms, id_ok];
end
"""


def _runs(values: list) -> list[list]:
    """Run-length encode an already sorted list: ``[[value..., count], ...]``."""
    out: list[list] = []
    for v in values:
        key = list(v) if isinstance(v, tuple) else [v]
        if out and out[-1][:-1] == key:
            out[-1][-1] += 1
        else:
            out.append([*key, 1])
    return out


def _export_one(export, n: int, i: int) -> dict:
    try:
        res = export(n, i).sage()
    except Exception as exc:
        raise RuntimeError(f"GAP failed on SmallGroup({n},{i}): {exc}") from exc
    (name, abelian, nilpotent, solvable, exponent, centre, sizes, degs, inds, perms, ok) = res
    if not ok:
        raise RuntimeError(f"IdGroup check failed for SmallGroup({n},{i})")
    irr = sorted(zip((int(d) for d in degs), (int(x) for x in inds), strict=True))
    return {
        "id": [n, i],
        "name": str(name),
        "abelian": bool(abelian),
        "nilpotent": bool(nilpotent),
        "solvable": bool(solvable),
        "exponent": int(exponent),
        "center_order": int(centre),
        # sorted class sizes, run-length encoded: [[size, count], ...]
        "class_sizes": _runs(sorted(int(s) for s in sizes)),
        # sorted (degree, Frobenius–Schur indicator), run-length encoded: [[deg, ind, count], ...]
        "irreps": _runs(irr),
        # permutation generators in one-line notation on 0..d-1
        "gens": [[int(x) for x in p] for p in perms],
    }


def _worker(k: int, m: int, max_order: int, out: Path) -> None:
    import sage.all__sagemath_gap  # noqa: F401  (initialises libgap)
    from sage.libs.gap.libgap import libgap

    export = libgap.eval(GAP_EXPORT)
    todo = [
        (n, i) for n in range(1, max_order + 1) for i in range(1, int(libgap.NrSmallGroups(n)) + 1)
    ]
    done = set()
    if out.exists():  # resume: keep the groups already exported to this part file
        done = {tuple(json.loads(line)["id"]) for line in open(out) if line.endswith("\n")}
        kept = [line for line in open(out) if line.endswith("\n")]
        out.write_text("".join(kept))
    with open(out, "a") as fh:
        for j, (n, i) in enumerate(todo):
            if j % m != k or (n, i) in done:
                continue
            fh.write(json.dumps(_export_one(export, n, i), separators=(",", ":")) + "\n")
            fh.flush()


def _versions() -> dict:
    import sage.all__sagemath_gap  # noqa: F401
    from sage.libs.gap.libgap import libgap

    return {
        "gap": str(libgap.eval("GAPInfo.Version")),
        "smallgrp": str(libgap.eval('PackageInfo("smallgrp")[1].Version')),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output .json.gz")
    ap.add_argument("--max-order", type=int, default=128, help="largest order (default 128)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="GAP processes")
    ap.add_argument(
        "--work-dir",
        type=Path,
        help="keep the per-process part files here and resume from them (default: a temp dir)",
    )
    ap.add_argument("--worker", help=argparse.SUPPRESS)  # "k/m:path", internal
    args = ap.parse_args(argv)

    if args.worker:
        km, path = args.worker.split(":", 1)
        k, m = (int(x) for x in km.split("/"))
        _worker(k, m, args.max_order, Path(path))
        return 0

    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work_dir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        parts = [work / f"part{k}of{args.jobs}.jsonl" for k in range(args.jobs)]
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--max-order",
                    str(args.max_order),
                    "--worker",
                    f"{k}/{args.jobs}:{parts[k]}",
                ]
            )
            for k in range(args.jobs)
        ]
        while any(p.poll() is None for p in procs):
            time.sleep(10)
            if any(p.returncode for p in procs):  # one failed: stop the others
                for p in procs:
                    if p.poll() is None:
                        p.terminate()
            done = sum(sum(1 for _ in open(p)) for p in parts if p.exists())
            print(f"[{time.time() - t0:7.0f} s] {done} groups exported", flush=True)
        if any(p.returncode for p in procs):
            print("a GAP worker failed", file=sys.stderr)
            return 1
        groups = [json.loads(line) for p in parts for line in open(p)]
    groups.sort(key=lambda g: tuple(g["id"]))
    counts: dict[str, int] = {}
    for g in groups:
        counts[str(g["id"][0])] = counts.get(str(g["id"][0]), 0) + 1
    data = {
        "format": FORMAT,
        "source": "GAP SmallGroups library via passagemath-gap",
        **_versions(),
        "max_order": args.max_order,
        "counts": counts,
        "groups": groups,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    raw = json.dumps(data, separators=(",", ":")).encode()
    # mtime=0: byte-identical output for identical data.
    with (
        open(args.out, "wb") as fh,
        gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=0, compresslevel=9) as gz,
    ):
        gz.write(raw)
    print(
        f"wrote {len(groups)} groups to {args.out} ({args.out.stat().st_size} bytes, "
        f"{len(raw)} uncompressed) in {time.time() - t0:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
