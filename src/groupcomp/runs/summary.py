"""The typed run summary, written as ``summary.json`` by every run kind.

Common fields say what ran and how it ended; kind-specific sections hold the rest: ``theory``,
``observed``, ``drops`` and ``agf`` for sequence runs, ``arith`` for arithmetic runs.
``schema_version`` changes when a field changes meaning; :meth:`RunSummary.from_dict` refuses
other versions with a message.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from groupcomp.errors import RunFolderError

__all__ = ["FINISHED", "SCHEMA_VERSION", "STATUSES", "RunSummary"]

#: version of the ``summary.json`` layout written by this package
SCHEMA_VERSION = 2

Status = Literal["running", "completed", "unstable", "interrupted", "diverged"]
#: allowed values of ``status``: ``unstable`` = the run finished but its loss spiked or
#: oscillated (``stability`` says where and how much; docs/theory.md §2.6)
STATUSES: tuple[str, ...] = ("running", "completed", "unstable", "interrupted", "diverged")
#: statuses of a run that ended on its own (not resumable)
FINISHED: tuple[str, ...] = ("completed", "unstable", "diverged")


@dataclass
class RunSummary(Mapping):
    """What a run did (also readable as a read-only mapping: ``summary["final_loss"]``).

    Attributes:
        kind: ``"sequence"`` or ``"arith"``. status: one of :data:`STATUSES`.
        steps_done / steps_requested: optimiser updates. stopped_early: an early-stopping rule
            (e.g. ``train.stop_after_grok``) ended a completed run before ``steps_requested``.
        initial_loss / final_loss: mean over seeds of the training loss at step 0 and of the
            final model (``loss_units`` says which loss).
        stability: per seed, the spikes of the per-step training loss
            (:func:`groupcomp.runs.observe.loss_stability`) and whether the run ends mid-drop.
        warnings: what was checked before the run started and found doubtful (one line each).
    """

    kind: str
    status: str
    preset: str
    group: str
    group_order: int | None
    seeds: list[int]
    steps_done: int
    steps_requested: int
    initial_loss: float | None
    final_loss: float | None
    final_loss_per_seed: list[float | None]
    loss_units: str
    wall_time_s: float
    steps_per_s: float | None
    engine: str
    provenance: dict[str, Any]
    stopped_early: bool = False
    stability: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    run_dir: str | None = None
    k: int | None = None
    model: Any = None
    theory: dict[str, Any] | None = None
    observed: dict[str, Any] | None = None
    drops: list[dict[str, Any]] | None = None
    agf: dict[str, Any] | None = None
    arith: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status: {self.status!r} is not one of {', '.join(STATUSES)}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (``None`` sections omitted, ``provenance`` merged in)."""
        from groupcomp.runs.folder import jsonable

        d = asdict(self)
        prov = d.pop("provenance")
        extra = d.pop("extra")
        out = {k: v for k, v in d.items() if v is not None or k in ("error", "run_dir")}
        return jsonable({**out, **extra, **prov})

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "summary.json") -> RunSummary:
        version = d.get("schema_version")
        if version != SCHEMA_VERSION:
            raise RunFolderError(
                f"{where}: summary schema version {version!r} (this groupcomp reads version "
                f"{SCHEMA_VERSION}; the run was written by another groupcomp version — re-run it)"
            )
        names = {f.name for f in fields(cls)}
        prov_keys = ("groupcomp", "git_commit", "torch", "numpy", "python", "platform", "created")
        kw = {k: v for k, v in d.items() if k in names and k not in ("provenance", "extra")}
        kw["provenance"] = {k: d[k] for k in prov_keys if k in d}
        kw["extra"] = {k: v for k, v in d.items() if k not in names and k not in prov_keys}
        try:
            return cls(**kw)
        except (TypeError, ValueError) as exc:
            raise RunFolderError(f"{where}: not a valid run summary ({exc})") from None

    # Mapping interface over the JSON form (one key at a time: no full ``to_dict`` per lookup)
    def _present(self, key: str) -> bool:
        if key in _FIELDS:
            return getattr(self, key) is not None or key in ("error", "run_dir")
        return key in self.extra or key in self.provenance

    def __getitem__(self, key: str) -> Any:
        from groupcomp.runs.folder import jsonable

        if key in _HIDDEN or not self._present(key):
            raise KeyError(key)
        if key in _FIELDS:
            return jsonable(getattr(self, key))
        return jsonable(self.provenance[key] if key in self.provenance else self.extra[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())


_FIELDS = frozenset(f.name for f in fields(RunSummary))
#: fields merged into the JSON form rather than kept as keys of their own
_HIDDEN = frozenset({"provenance", "extra"})
