"""The :class:`FiniteGroup` abstraction: a validated Cayley table with cached derived data.

Conventions (docs/architecture.md, "Fixed conventions"): elements are the integers ``0..n-1``,
the identity is ``0``, ``table[a, b]`` is the index of ``a·b``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from groupcomp.errors import GroupError

if TYPE_CHECKING:
    from groupcomp.groups.irreps import Irrep


class FiniteGroup:
    """An immutable finite group given by its Cayley table.

    Args:
        table: ``(n, n)`` integer array, ``table[a, b]`` = index of ``a·b``; element ``0`` must be
            the identity.
        name: a human-readable name (e.g. ``"D3"``).
        labels: optional element labels (length ``n``), used only for display.
        validate: check the group axioms (closure, identity, inverses, associativity).
        structure: internal; set by constructors whose irreps have closed forms:
            ``("cyclic", n)``, ``("dihedral", n)`` or ``("product", (G1, G2, ...))``.

    Attributes:
        table: ``(n, n)`` int64, read-only.
        inverse: ``(n,)`` int64, ``inverse[a]`` = index of ``a⁻¹``.
        order: ``n``.
    """

    def __init__(
        self,
        table: np.ndarray | Sequence[Sequence[int]],
        name: str = "G",
        labels: Sequence[str] | None = None,
        *,
        validate: bool = True,
        structure: tuple | None = None,
    ) -> None:
        t = np.asarray(table)
        if validate:
            t = validate_table(t)
        t = np.ascontiguousarray(t, dtype=np.int64)
        t.setflags(write=False)
        self._table = t
        self._name = str(name)
        n = t.shape[0]
        if labels is not None:
            labels = [str(x) for x in labels]
            if len(labels) != n:
                raise GroupError(f"labels: expected {n} labels, got {len(labels)}")
        self._labels = tuple(labels) if labels is not None else None
        inv = np.empty(n, dtype=np.int64)
        rows, cols = np.nonzero(t == 0)
        inv[rows] = cols
        inv.setflags(write=False)
        self._inverse = inv
        self._structure = structure
        self._irreps: tuple[Irrep, ...] | None = None
        self._complex_irreps: tuple[Irrep, ...] | None = None

    # ------------------------------------------------------------------ basic data
    # Groups are shared (groupcomp.groups.parse caches them by spec): every attribute is
    # read-only and every exposed array has write=False.
    @property
    def name(self) -> str:
        """Human-readable name, e.g. ``"D3"`` (read-only)."""
        return self._name

    @property
    def structure(self) -> tuple | None:
        """How a constructor built the group (see the class docstring), or ``None``."""
        return self._structure

    @property
    def table(self) -> np.ndarray:
        """``(n, n)`` int64 Cayley table (read-only)."""
        return self._table

    @property
    def inverse(self) -> np.ndarray:
        """``(n,)`` int64 inverse map (read-only)."""
        return self._inverse

    @property
    def order(self) -> int:
        """Number of elements ``n``."""
        return int(self._table.shape[0])

    def __len__(self) -> int:
        return self.order

    @property
    def labels(self) -> tuple[str, ...]:
        """Element labels (defaults to ``"0".."n-1"``)."""
        if self._labels is None:
            return tuple(str(i) for i in range(self.order))
        return self._labels

    def mul(self, a: int | np.ndarray, b: int | np.ndarray) -> np.ndarray:
        """Vectorised product ``a·b`` (broadcasts)."""
        return self._table[a, b]

    def product_of(self, seq: np.ndarray) -> np.ndarray:
        """Ordered product ``g_1·g_2⋯g_k`` along the last axis. ``seq: (..., k)`` -> ``(...)``."""
        seq = np.asarray(seq)
        acc = seq[..., 0]
        for j in range(1, seq.shape[-1]):
            acc = self._table[acc, seq[..., j]]
        return acc

    def __repr__(self) -> str:
        return f"FiniteGroup(name={self.name!r}, order={self.order})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FiniteGroup) and np.array_equal(self._table, other._table)

    def __hash__(self) -> int:
        return hash((self.order, self._table.tobytes()))

    # ------------------------------------------------------------------ structure
    @property
    def cyclic_factors(self) -> tuple[int, ...] | None:
        """Orders ``(n1, n2, ...)`` when the group was built as ``C_n1 × C_n2 × ⋯`` (element index
        = ``np.ravel_multi_index``), else ``None``."""
        s = self.structure
        if s is None:
            return None
        if s[0] == "cyclic":
            return (int(s[1]),)
        if s[0] == "product":
            out: list[int] = []
            for f in s[1]:
                cf = f.cyclic_factors
                if cf is None:
                    return None
                out.extend(cf)
            return tuple(out)
        return None

    @cached_property
    def is_abelian(self) -> bool:
        """Whether ``a·b == b·a`` for all pairs."""
        return bool(np.array_equal(self._table, self._table.T))

    @cached_property
    def element_orders(self) -> np.ndarray:
        """``(n,)`` order of each element."""
        n = self.order
        orders = np.zeros(n, dtype=np.int64)
        power = np.arange(n)
        for k in range(1, n + 1):
            power_done = (power == 0) & (orders == 0)
            orders[power_done] = k
            if orders.all():
                break
            power = self._table[power, np.arange(n)]
        return _readonly(orders)

    @cached_property
    def conjugation(self) -> np.ndarray:
        """``(n, n)`` array ``conj[g, x] = g·x·g⁻¹``."""
        t = self._table
        return _readonly(t[t, self._inverse[:, None]])

    @cached_property
    def class_of(self) -> np.ndarray:
        """``(n,)`` conjugacy-class index of each element; classes numbered by smallest member,
        so the identity's class is ``0``."""
        rep = self.conjugation.min(axis=0)
        _, idx = np.unique(rep, return_inverse=True)
        return _readonly(idx.astype(np.int64))

    @cached_property
    def class_sizes(self) -> np.ndarray:
        """``(num_classes,)`` size of each conjugacy class."""
        return _readonly(np.bincount(self.class_of))

    @cached_property
    def class_representatives(self) -> np.ndarray:
        """``(num_classes,)`` smallest element of each class."""
        reps = np.full(self.class_sizes.shape[0], -1, dtype=np.int64)
        for g in range(self.order - 1, -1, -1):
            reps[self.class_of[g]] = g
        return _readonly(reps)

    @property
    def num_classes(self) -> int:
        """Number of conjugacy classes (= number of complex irreps)."""
        return int(self.class_sizes.shape[0])

    # ------------------------------------------------------------------ representations
    def irreps(self) -> tuple[Irrep, ...]:
        """Real orthogonal irreps, trivial first, then by real dimension, then by a stable label.

        Each :class:`~groupcomp.groups.irreps.Irrep` has ``matrices: (n, D, D)`` float64 and a
        Frobenius–Schur ``type`` in ``{"R", "C", "H"}``. Cached (the same tuple on every call;
        the matrices are read-only); verified on construction.
        """
        if self._irreps is None:
            from groupcomp.groups.irreps import compute_real_irreps

            self._irreps = tuple(compute_real_irreps(self))
        return self._irreps

    def complex_irreps(self) -> tuple[Irrep, ...]:
        """Unitary complex irreps, one per isomorphism class (``matrices: (n, d, d)``). Cached
        like :meth:`irreps`."""
        if self._complex_irreps is None:
            from groupcomp.groups.irreps import compute_complex_irreps

            self._complex_irreps = tuple(compute_complex_irreps(self))
        return self._complex_irreps

    def character_table(self) -> np.ndarray:
        """``(num_complex_irreps, n)`` complex128: characters of :meth:`complex_irreps`."""
        return np.stack([np.trace(r.matrices, axis1=1, axis2=2) for r in self.complex_irreps()])


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def validate_table(table: np.ndarray) -> np.ndarray:
    """Check the group axioms and return the table as int64.

    Raises :class:`GroupError` naming the first violation: not square, entries out of range
    (not closed), no identity at index 0, a missing inverse, or a non-associative triple.
    """
    t = np.asarray(table)
    if t.ndim != 2 or t.shape[0] != t.shape[1] or t.shape[0] == 0:
        raise GroupError(
            f"Cayley table must be a non-empty square (n, n) array, got shape {t.shape}"
        )
    if not np.issubdtype(t.dtype, np.integer):
        if np.issubdtype(t.dtype, np.floating) and np.all(np.mod(t, 1) == 0):
            t = t.astype(np.int64)
        else:
            raise GroupError(f"Cayley table must hold integers, got dtype {t.dtype}")
    t = t.astype(np.int64)
    n = t.shape[0]
    bad = np.argwhere((t < 0) | (t >= n))
    if bad.size:
        a, b = bad[0]
        raise GroupError(
            f"not closed: table[{a}, {b}] = {t[a, b]} is not an element index in 0..{n - 1}"
        )
    ar = np.arange(n)
    if not (np.array_equal(t[0], ar) and np.array_equal(t[:, 0], ar)):
        row = np.flatnonzero(t[0] != ar)
        col = np.flatnonzero(t[:, 0] != ar)
        where = f"0·{row[0]} = {t[0, row[0]]}" if row.size else f"{col[0]}·0 = {t[col[0], 0]}"
        raise GroupError(f"no identity: element 0 must be the identity, but {where}")
    for a in range(n):
        if not np.any(t[a] == 0):
            raise GroupError(f"missing inverse: no b with {a}·b = 0")
        b = int(np.flatnonzero(t[a] == 0)[0])
        if t[b, a] != 0:
            raise GroupError(f"missing inverse: {a}·{b} = 0 but {b}·{a} = {t[b, a]}")
    # Associativity: (a·b)·c == a·(b·c) for all triples, checked in row blocks to bound memory.
    block = max(1, 2_000_000 // (n * n))
    for a0 in range(0, n, block):
        a = ar[a0 : a0 + block]
        left = t[t[a][:, :, None], ar[None, None, :]]  # (a·b)·c  shape (blk, n, n)
        right = t[a[:, None, None], t[None, :, :]]  # a·(b·c)
        diff = np.argwhere(left != right)
        if diff.size:
            i, b, c = diff[0]
            ai = a[i]
            raise GroupError(
                f"non-associative triple (a, b, c) = ({ai}, {b}, {c}): "
                f"(a·b)·c = {left[i, b, c]} but a·(b·c) = {right[i, b, c]}"
            )
    # Latin-square property follows from the axioms above, but check it for a clear message.
    for axis, what in ((1, "row"), (0, "column")):
        s = np.sort(t, axis=axis)
        if not np.all(s == (ar[None, :] if axis == 1 else ar[:, None])):
            idx = int(
                np.flatnonzero(np.any(s != (ar[None, :] if axis == 1 else ar[:, None]), axis=axis))[
                    0
                ]
            )
            raise GroupError(f"not a group: {what} {idx} of the Cayley table repeats an element")
    return t
