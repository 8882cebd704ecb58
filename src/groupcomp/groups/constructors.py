"""Constructors for the finite groups used throughout groupcomp.

Every constructor returns a :class:`~groupcomp.groups.core.FiniteGroup` whose elements are the
integers ``0..n-1`` with the identity ``0`` and ``table[a, b] = a·b``. Element numberings:

* ``cyclic(n)``: element ``i`` is ``i mod n``.
* ``dihedral(n)`` (order ``2n``): element ``a + n·b`` is ``r^a s^b``,
  ``r^a s^b · r^c s^d = r^{a + (−1)^b c} s^{b+d}``.
* ``dicyclic(n)`` (order ``4n``): element ``k + 2n·b`` is ``a^k x^b``, with ``a^{2n} = 1``,
  ``x² = a^n``, ``x a x⁻¹ = a⁻¹``.
* ``product(G1, ..., Gm)``: element ``np.ravel_multi_index((i1, ..., im), (n1, ..., nm))``
  (first factor most significant).
* ``from_permutations``: permutations of ``0..m-1`` in one-line notation (``p[i]`` is the image of
  ``i``), composed right-to-left, ``(p·q)[i] = p[q[i]]`` (apply ``q`` first). Elements are
  numbered in lexicographic order of their one-line notation, so the identity is ``0`` and the
  numbering does not depend on the choice of generators. Labels are cycle notation.

Constructors build tables directly (correct by construction) and skip the ``O(n³)``
associativity check; :func:`from_table` validates. Groups larger than :data:`MAX_ORDER` elements
are refused with a :class:`~groupcomp.errors.GroupError`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from groupcomp.errors import GroupError
from groupcomp.groups.core import FiniteGroup

__all__ = [
    "MAX_ORDER",
    "alternating",
    "close_permutations",
    "cyclic",
    "dicyclic",
    "dihedral",
    "from_permutations",
    "from_table",
    "icosahedral",
    "octahedral",
    "product",
    "quaternion",
    "symmetric",
]

#: Largest group order any constructor will build (a Cayley table of ``n²`` int64 entries).
MAX_ORDER = 10_000


# ---------------------------------------------------------------------- helpers
def _check_int(arg: str, value: object, minimum: int, func: str) -> int:
    """Return ``value`` as an int ``>= minimum`` or raise a GroupError naming ``arg``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise GroupError(
            f"{func}: argument {arg} must be an integer >= {minimum}, got {value!r} "
            f"({type(value).__name__})"
        )
    if value < minimum:
        raise GroupError(f"{func}: argument {arg} must be an integer >= {minimum}, got {value}")
    return int(value)


def _check_order(order: int, what: str) -> None:
    if order > MAX_ORDER:
        raise GroupError(
            f"{what} would have order {order}, more than the supported maximum of {MAX_ORDER} "
            f"(the Cayley table alone would hold {order}² entries)"
        )


def _power_label(base: str, k: int) -> str:
    return "" if k == 0 else base if k == 1 else f"{base}{k}"


def _cycle_label(p: np.ndarray) -> str:
    """Cycle notation of a permutation in one-line form, e.g. ``(0 1 2)(3 4)``; identity ``e``."""
    seen = np.zeros(p.shape[0], dtype=bool)
    parts = []
    for start in range(p.shape[0]):
        if seen[start] or p[start] == start:
            seen[start] = True
            continue
        cyc = [start]
        seen[start] = True
        j = int(p[start])
        while j != start:
            cyc.append(j)
            seen[j] = True
            j = int(p[j])
        parts.append("(" + " ".join(map(str, cyc)) + ")")
    return "".join(parts) if parts else "e"


def _add_mod(x: np.ndarray, y: np.ndarray, n: int, out: np.ndarray | None = None) -> np.ndarray:
    """``out[i, j] = (x[i] + y[j]) mod n`` without extra ``(len(x), len(y))`` temporaries."""
    if out is None:
        out = np.empty((x.shape[0], y.shape[0]), dtype=np.int64)
    np.add(x[:, None], y[None, :], out=out)
    np.remainder(out, n, out=out)
    return out


# ---------------------------------------------------------------------- abelian / dihedral
def cyclic(n: int) -> FiniteGroup:
    """Cyclic group ``C_n`` of order ``n``: element ``i`` is ``i mod n``, ``i·j = (i+j) mod n``.

    >>> G = cyclic(4)
    >>> int(G.table[3, 2]), G.inverse.tolist()
    (1, [0, 3, 2, 1])
    """
    n = _check_int("n", n, 1, "cyclic")
    _check_order(n, f"cyclic({n})")
    table = _add_mod(np.arange(n), np.arange(n), n)
    return FiniteGroup(table, name=f"C{n}", validate=False, structure=("cyclic", n))


def dihedral(n: int) -> FiniteGroup:
    """Dihedral group ``D_n`` of order ``2n`` (symmetries of a regular n-gon; ``D3 ≅ S3``).

    Element ``a + n·b`` is ``r^a s^b`` (``a ∈ 0..n-1``, ``b ∈ {0, 1}``) and
    ``r^a s^b · r^c s^d = r^{a + (−1)^b c} s^{b+d}``. Labels ``e, r, r2, …, s, rs, r2s, …``.
    ``n = 1`` gives ``C2`` and ``n = 2`` the Klein four-group.

    >>> G = dihedral(3)
    >>> G.order, G.is_abelian, [r.label for r in G.irreps()]
    (6, False, ['trivial', 'sign', 'rot1'])
    >>> r, s = 1, 3  # r·s = r s (element 1 + 3·1 = 4), s·r = r^{-1} s (element 2 + 3 = 5)
    >>> int(G.table[r, s]), int(G.table[s, r])
    (4, 5)
    >>> G.character_table()[:, G.class_representatives].real.round().astype(int).tolist()
    [[1, 1, 1], [1, 1, -1], [2, -1, 0]]
    """
    n = _check_int("n", n, 1, "dihedral")
    _check_order(2 * n, f"dihedral({n})")
    ar = np.arange(n)
    # Blocks (b, d): r^a s^b · r^c s^d = r^{a ± c} s^{b+d}, "+" for b = 0 and "−" for b = 1.
    table = np.empty((2 * n, 2 * n), dtype=np.int64)
    _add_mod(ar, ar, n, out=table[:n, :n])
    np.add(table[:n, :n], n, out=table[:n, n:])
    _add_mod(ar, -ar, n, out=table[n:, n:])
    np.add(table[n:, n:], n, out=table[n:, :n])
    idx = np.arange(2 * n)
    a, b = idx % n, idx // n
    labels = [
        (_power_label("r", int(ai)) + ("s" if bi else "")) or "e"
        for ai, bi in zip(a, b, strict=True)
    ]
    return FiniteGroup(
        table, name=f"D{n}", labels=labels, validate=False, structure=("dihedral", n)
    )


def dicyclic(n: int) -> FiniteGroup:
    """Dicyclic group ``Dic_n`` of order ``4n``: ``⟨a, x | a^{2n} = 1, x² = a^n, x a x⁻¹ = a⁻¹⟩``.

    Element ``k + 2n·b`` is ``a^k x^b`` (``k ∈ 0..2n-1``, ``b ∈ {0, 1}``); labels
    ``e, a, a2, …, x, ax, a2x, …``. ``dicyclic(1) ≅ C4``, ``dicyclic(2) ≅ Q8``.
    """
    n = _check_int("n", n, 1, "dicyclic")
    _check_order(4 * n, f"dicyclic({n})")
    m = 2 * n
    ar = np.arange(m)
    # Blocks (b, d): a^k x^b · a^l x^d = a^{k + (−1)^b l + n·b·d} x^{b+d}
    # (using x a^l = a^{-l} x and x² = a^n).
    table = np.empty((2 * m, 2 * m), dtype=np.int64)
    _add_mod(ar, ar, m, out=table[:m, :m])
    np.add(table[:m, :m], m, out=table[:m, m:])
    _add_mod(ar, -ar, m, out=table[m:, :m])
    table[m:, :m] += m
    _add_mod(ar, n - ar, m, out=table[m:, m:])
    idx = np.arange(2 * m)
    k, b = idx % m, idx // m
    labels = [
        (_power_label("a", int(ki)) + ("x" if bi else "")) or "e"
        for ki, bi in zip(k, b, strict=True)
    ]
    return FiniteGroup(table, name=f"Dic{n}", labels=labels, validate=False)


def quaternion() -> FiniteGroup:
    """Quaternion group ``Q8 = {±1, ±i, ±j, ±k}`` (same table as ``dicyclic(2)`` with ``a = i``,
    ``x = j``). Element order ``1, i, -1, -i, j, k, -j, -k``.

    Its 2-dimensional complex irrep is quaternionic (type ``H``): as a real irrep it has
    dimension 4.

    >>> Q = quaternion()
    >>> Q.labels[int(Q.table[1, 4])], Q.labels[int(Q.table[4, 1])]  # i·j = k, j·i = -k
    ('k', '-k')
    >>> [(r.dim, r.type) for r in Q.complex_irreps()][-1], [(r.dim, r.type) for r in Q.irreps()][-1]
    ((2, 'H'), (4, 'H'))
    """
    g = dicyclic(2)
    labels = ["1", "i", "-1", "-i", "j", "k", "-j", "-k"]
    return FiniteGroup(g.table, name="Q8", labels=labels, validate=False)


def product(*groups: FiniteGroup) -> FiniteGroup:
    """Direct product ``G1 × ⋯ × Gm``.

    Element index ``np.ravel_multi_index((i1, ..., im), (n1, ..., nm))`` (first factor most
    significant); ``(g1, …, gm)·(h1, …, hm) = (g1·h1, …, gm·hm)``. Name ``"G1xG2x…"``, labels
    ``"(l1,l2,…)"``. A single factor is returned unchanged.

    >>> P = product(cyclic(2), cyclic(3))
    >>> P.name, P.order, P.is_abelian, P.labels[4]
    ('C2xC3', 6, True, '(1,1)')
    >>> P.labels[int(P.table[4, 4])]  # (1,1)·(1,1) = (0,2)
    '(0,2)'
    """
    if not groups:
        raise GroupError("product: needs at least one group, got none")
    for i, g in enumerate(groups):
        if not isinstance(g, FiniteGroup):
            raise GroupError(f"product: argument {i} must be a FiniteGroup, got {type(g).__name__}")
    if len(groups) == 1:
        return groups[0]
    order = math.prod(g.order for g in groups)
    _check_order(order, "product " + "x".join(g.name for g in groups))
    table = groups[0].table
    labels = [[lab] for lab in groups[0].labels]
    for g in groups[1:]:
        n1, n2 = table.shape[0], g.order
        # T[(i1,i2),(j1,j2)] = T1[i1,j1]·n2 + T2[i2,j2], rows/cols raveled with i1 most significant
        table = (table[:, None, :, None] * n2 + g.table[None, :, None, :]).reshape(n1 * n2, n1 * n2)
        labels = [lab + [m] for lab in labels for m in g.labels]
    return FiniteGroup(
        table,
        name="x".join(g.name for g in groups),
        labels=["(" + ",".join(lab) + ")" for lab in labels],
        validate=False,
        structure=("product", tuple(groups)),
    )


# ---------------------------------------------------------------------- permutation groups
def _as_permutations(generators: Sequence[Sequence[int]] | np.ndarray) -> np.ndarray:
    """Validate generators; return a ``(k, m)`` int64 array of permutations of ``0..m-1``."""
    try:
        gens = [np.asarray(g) for g in generators]
    except TypeError as exc:
        raise GroupError(
            "from_permutations: generators must be a sequence of permutations (one-line "
            "notation, e.g. [[1, 0, 2], [1, 2, 0]])"
        ) from exc
    if not gens:
        raise GroupError("from_permutations: generators must hold at least one permutation")
    m = None
    for i, g in enumerate(gens):
        if g.ndim != 1 or g.shape[0] == 0:
            raise GroupError(
                f"from_permutations: generator {i} must be a non-empty 1-D sequence of images, "
                f"got shape {g.shape}"
            )
        if m is None:
            m = g.shape[0]
        if g.shape[0] != m:
            raise GroupError(
                f"from_permutations: all generators must act on the same points; generator "
                f"{i} has length {g.shape[0]}, generator 0 has length {m}"
            )
        if not np.issubdtype(g.dtype, np.integer) or not np.array_equal(np.sort(g), np.arange(m)):
            raise GroupError(
                f"from_permutations: generator {i} = {g.tolist()} is not a permutation of "
                f"0..{m - 1} (each of 0..{m - 1} must appear exactly once)"
            )
    return np.stack(gens).astype(np.int64)


def _closure(
    gens: np.ndarray, max_order: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Breadth-first closure of ``gens`` under left multiplication.

    Returns ``(perms, left, parent, via, bfs)``, indices in lexicographic element order:
    ``perms: (N, m)``, ``left: (k, N)`` with ``perms[left[g, i]] = gens[g]·perms[i]``, a BFS
    tree ``parent, via: (N,)`` with ``perms[i] = gens[via[i]]·perms[parent[i]]``
    (``parent[0] = via[0] = -1``) and ``bfs: (N,)`` the elements in discovery order (parents
    before children).
    """
    k, m = gens.shape
    ident = np.arange(m, dtype=np.int64)
    found = [ident]
    index = {ident.tobytes(): 0}
    parent, via = [-1], [-1]
    left: list[list[int]] = [[] for _ in range(k)]
    frontier = np.array([0])
    while frontier.size:
        base = np.stack([found[i] for i in frontier])  # (F, m)
        new = []
        for g in range(k):
            prods = gens[g][base]  # (g·p)[i] = g[p[i]]
            for f, row in zip(frontier, prods, strict=True):
                key = row.tobytes()
                j = index.get(key)
                if j is None:
                    j = len(found)
                    if j >= max_order:
                        raise GroupError(
                            f"from_permutations: the generated group has more than {max_order} "
                            "elements (the supported maximum)"
                        )
                    index[key] = j
                    found.append(row)
                    parent.append(int(f))
                    via.append(g)
                    new.append(j)
                left[g].append(j)
        # `left[g]` was filled in frontier order, which is discovery order, so it is indexed
        # by element id.
        frontier = np.array(new, dtype=np.int64)
    perms = np.stack(found)
    order = np.lexsort(perms.T[::-1])  # lexicographic, first point most significant
    rank = np.empty_like(order)
    rank[order] = np.arange(order.shape[0])
    left_arr = rank[np.asarray(left, dtype=np.int64)][:, order]
    parent_arr = np.asarray(parent, dtype=np.int64)
    parent_arr = np.where(parent_arr >= 0, rank[np.maximum(parent_arr, 0)], -1)[order]
    via_arr = np.asarray(via, dtype=np.int64)[order]
    return perms[order], left_arr, parent_arr, via_arr, rank


def close_permutations(generators: Sequence[Sequence[int]] | np.ndarray) -> np.ndarray:
    """All elements of the permutation group generated by ``generators``: ``(N, m)`` int64, row
    ``i`` is element ``i`` of :func:`from_permutations` (lexicographic order, identity first)."""
    return _closure(_as_permutations(generators), MAX_ORDER)[0]


def from_permutations(
    generators: Sequence[Sequence[int]] | np.ndarray, name: str = "G"
) -> FiniteGroup:
    """Permutation group generated by ``generators`` (each a permutation of ``0..m-1`` in
    one-line notation, ``p[i]`` = image of ``i``).

    Composition is right-to-left, ``(p·q)[i] = p[q[i]]``. Elements are numbered in lexicographic
    order of their one-line notation (identity first); labels are cycle notation such as
    ``"(0 1 2)(3 4)"`` (identity ``"e"``). :func:`close_permutations` returns the permutations
    themselves in the same order.
    """
    gens = _as_permutations(generators)
    perms, left, parent, via, bfs = _closure(gens, MAX_ORDER)
    n = perms.shape[0]
    # Row i of the table is x ↦ perms[i]·x = gens[via[i]]·(perms[parent[i]]·x): fill the rows
    # in BFS order, each a single gather through a left-multiplication map.
    # int16 suffices (n <= MAX_ORDER) and keeps the n gathers cache-friendly.
    left16 = left.astype(np.int16)
    table = np.empty((n, n), dtype=np.int16)
    table[0] = np.arange(n)
    for i in bfs[1:].tolist():
        table[i] = left16[via[i]][table[parent[i]]]
    labels = [_cycle_label(p) for p in perms]
    return FiniteGroup(table, name=name, labels=labels, validate=False)


def symmetric(n: int) -> FiniteGroup:
    """Symmetric group ``S_n`` (order ``n!``) on ``0..n-1``, generated by ``(0 1)`` and
    ``(0 1 … n-1)``; numbering and composition as :func:`from_permutations`. ``n <= 7``.

    >>> G = symmetric(4)
    >>> G.order, G.class_sizes.tolist()
    (24, [1, 6, 8, 3, 6])
    >>> sorted(r.dim for r in G.complex_irreps())  # Σ dim² = 24
    [1, 1, 2, 3, 3]
    """
    n = _check_int("n", n, 1, "symmetric")
    _check_order(math.factorial(n), f"symmetric({n})")
    transposition = np.arange(n)
    transposition[: min(n, 2)] = transposition[: min(n, 2)][::-1]  # (0 1); identity if n = 1
    cycle = np.roll(np.arange(n), -1)  # i ↦ i+1 mod n
    return from_permutations([transposition, cycle], name=f"S{n}")


def alternating(n: int) -> FiniteGroup:
    """Alternating group ``A_n`` (order ``n!/2`` for ``n >= 2``; ``A1`` is trivial) on
    ``0..n-1``, generated by the 3-cycles ``(0 1 i)``; numbering as :func:`from_permutations`.

    >>> G = alternating(5)
    >>> G.order, G.num_classes, sorted(r.dim for r in G.complex_irreps())
    (60, 5, [1, 3, 3, 4, 5])
    """
    n = _check_int("n", n, 1, "alternating")
    _check_order(max(1, math.factorial(n) // 2), f"alternating({n})")
    gens = []
    for i in range(2, n):
        p = np.arange(n)
        p[[0, 1, i]] = [1, i, 0]
        gens.append(p)
    if not gens:
        gens = [np.arange(n)]
    return from_permutations(gens, name=f"A{n}")


def _rotations_to_permutations(mats: Sequence[np.ndarray], points: np.ndarray) -> np.ndarray:
    """Permutation of ``points: (P, 3)`` induced by each rotation matrix (``p ↦ M p``)."""
    perms = []
    for mat in mats:
        moved = points @ np.asarray(mat, dtype=np.float64).T
        dist = np.linalg.norm(moved[:, None, :] - points[None, :, :], axis=-1)
        perm = dist.argmin(axis=1)
        if not np.allclose(dist[np.arange(len(points)), perm], 0.0, atol=1e-9):
            raise GroupError("rotation does not preserve the point set (internal error)")
        perms.append(perm)
    return np.stack(perms)


def octahedral() -> FiniteGroup:
    """Rotation group ``O`` of the cube / octahedron (order 24, ``≅ S4``).

    Built from the quarter turns about the z and x axes acting on the six face centres
    ``+x, −x, +y, −y, +z, −z`` (points ``0..5``); labels are cycle notation on those points.
    """
    faces = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], float)
    rz = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]])
    return from_permutations(_rotations_to_permutations([rz, rx], faces), name="O")


def icosahedral() -> FiniteGroup:
    """Rotation group ``I`` of the icosahedron (order 60, ``≅ A5``).

    Acts on the 12 vertices ``(0, ±1, ±φ)`` and their cyclic coordinate shifts (points
    ``0..11``), generated by a 1/5 turn about the vertex axis ``(0, 1, φ)`` and the 1/3 turn
    ``(x, y, z) ↦ (z, x, y)``; labels are cycle notation on the vertices.
    """
    phi = (1 + 5**0.5) / 2
    base = [(0, s1, s2 * phi) for s1 in (1, -1) for s2 in (1, -1)]
    verts = np.array([v[-k:] + v[:-k] if k else v for k in range(3) for v in base], float)
    axis = np.array([0.0, 1.0, phi]) / np.hypot(1.0, phi)
    theta = 2 * np.pi / 5
    cross = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    r5 = (
        np.cos(theta) * np.eye(3)
        + np.sin(theta) * cross
        + (1 - np.cos(theta)) * np.outer(axis, axis)
    )
    r3 = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0]], float)
    return from_permutations(_rotations_to_permutations([r5, r3], verts), name="I")


# ---------------------------------------------------------------------- tables
def from_table(
    table: np.ndarray | Sequence[Sequence[int]],
    name: str = "G",
    labels: Sequence[str] | None = None,
) -> FiniteGroup:
    """Group from a Cayley table ``(n, n)`` (``table[a, b] = a·b``, identity ``0``), fully
    validated (closure, identity, inverses, associativity); raises GroupError naming the first
    violation.

    >>> G = from_table([[0, 1, 2], [1, 2, 0], [2, 0, 1]], name="Z3")
    >>> G.order, G.is_abelian, G.inverse.tolist()
    (3, True, [0, 2, 1])
    """
    t = np.asarray(table)
    if t.ndim == 2 and t.shape[0] == t.shape[1]:
        _check_order(int(t.shape[0]), "from_table")
    return FiniteGroup(t, name=name, labels=labels, validate=True)
