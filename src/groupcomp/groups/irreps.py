"""Irreducible representations of finite groups (real orthogonal and complex unitary).

Closed forms are used for cyclic groups, direct products (Kronecker products of the factors'
complex irreps) and dihedral groups. Every other group goes through a generic numerical
decomposition of the regular representation computed from the Cayley table alone:

1. A random Hermitian *central* element ``A[x, y] = c(x⁻¹y)`` (``c`` a class function with
   ``c(z⁻¹) = conj c(z)``) acts as a scalar on each isotypic component of the regular
   representation; the eigenspaces of ``A`` are those components (dimension ``d²``) and give the
   irreducible characters ``χ(g) = tr(P λ(g)) / d``.
2. Inside a component, a random Hermitian element of the commutant of the left regular
   representation (right convolution ``A[x, y] = c(x⁻¹y)`` with a generic ``c``) has eigenspaces
   that are single copies of the irrep; restricting ``λ`` to one of them gives ``ρ``.
3. Real irreps: a complex irrep of Frobenius–Schur indicator 0 (type C) or −1 (type H) is realified
   (``[[Re ρ, −Im ρ], [Im ρ, Re ρ]]``, irreducible over ℝ of dimension ``2d``); one of indicator
   +1 (type R) gets a real form by step 2 run with real symmetric matrices on the real isotypic
   component.

Every result is verified (homomorphism, orthogonality, irreducibility, pairwise inequivalence,
Plancherel completeness) before it is returned; a failure raises :class:`IrrepError`. The
homomorphism is checked on a generating set (``ρ(a)ρ(s) = ρ(a·s)`` for every ``a`` and every
generator ``s`` implies it for all pairs, by induction on word length), so verification costs
``O(n log n · Σ D³)`` rather than ``O(n² Σ D³)``.

Resource limits (:func:`irreps_cost`, :func:`check_irreps_cost`): the matrices of all irreps take
``≈ 32 n²`` bytes (``n`` elements × ``Σ D² ≈ n`` entries, complex and real; ``≈ 64 n²`` with
work arrays), the generic
decomposition ``O(n³)`` time. Requests above :data:`MAX_IRREP_BYTES` or, for groups without a
closed form, above :data:`MAX_GENERIC_ORDER` are refused with :class:`ResourceLimitError` before
any work.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import sqrt
from typing import TYPE_CHECKING

import numpy as np

from groupcomp.errors import IrrepError, ResourceLimitError

if TYPE_CHECKING:
    from groupcomp.groups.core import FiniteGroup

_TOL = 1e-8
_MAX_ATTEMPTS = 8

#: largest order decomposed numerically (groups without a closed form: ``S<n>``, ``A<n>``,
#: ``Dic<n>``, catalogue groups, ...); the decomposition takes ``O(n³)`` time: measured ~0.7 s
#: at order 360 (A6), ~4 s at 720 (S6) on one core, so ~10 s at 1000 and ~3 min at 2520 (A7)
MAX_GENERIC_ORDER = 1000
#: largest memory the irreps of one group may take (estimated by :func:`irreps_cost`)
MAX_IRREP_BYTES = 2**30
#: largest order whose irreps fit in :data:`MAX_IRREP_BYTES` (closed forms; 4096)
MAX_IRREP_ORDER = int((MAX_IRREP_BYTES / 64) ** 0.5)


@dataclass(frozen=True, eq=False)
class Irrep:
    """One irreducible representation.

    Attributes:
        matrices: ``(n, D, D)``; float64 orthogonal for real irreps, complex128 unitary for
            complex ones. ``matrices[g]`` is the image of element ``g``.
        type: Frobenius–Schur type of the complex irrep(s) involved: ``"R"`` (real type),
            ``"C"`` (complex type; a real irrep of this type is ``ρ ⊕ ρ̄`` realised in dim ``2d``),
            ``"H"`` (quaternionic type; a real irrep is ``ρ ⊕ ρ`` realised in dim ``2d``).
        complex_dim: degree ``d`` of the complex irrep ``ρ``.
        label: stable human-readable label.
        is_real: ``True`` for a real orthogonal irrep, ``False`` for a complex unitary one.
    """

    matrices: np.ndarray
    type: str
    complex_dim: int
    label: str
    is_real: bool = True

    def __post_init__(self) -> None:
        self.matrices.setflags(write=False)

    @property
    def dim(self) -> int:
        """Dimension ``D`` of the matrices."""
        return int(self.matrices.shape[-1])

    @property
    def commutant_dim(self) -> int:
        """``e``: dimension of the commutant (1, 2, 4 for real irreps of type R, C, H; 1 for
        complex irreps)."""
        if not self.is_real:
            return 1
        return {"R": 1, "C": 2, "H": 4}[self.type]

    @property
    def frobenius_schur(self) -> int:
        """Frobenius–Schur indicator of the underlying complex irrep (+1, 0, −1)."""
        return {"R": 1, "C": 0, "H": -1}[self.type]

    @property
    def character(self) -> np.ndarray:
        """``(n,)`` traces of the matrices."""
        return np.trace(self.matrices, axis1=1, axis2=2)

    def plancherel_weight(self) -> float:
        """``D / (e n)``: weight of this irrep in the inverse transform and in Plancherel."""
        n = self.matrices.shape[0]
        return self.dim / (self.commutant_dim * n)

    def __repr__(self) -> str:
        kind = "real" if self.is_real else "complex"
        return f"Irrep({self.label!r}, {kind}, dim={self.dim}, type={self.type!r})"


# ---------------------------------------------------------------------------------------------
# public entry points (called, cached, by FiniteGroup.irreps / complex_irreps)


def _one_blas_thread():
    """Small dense linear algebra runs fastest on one BLAS thread (a multi-threaded OpenBLAS
    ``eigh`` of a 128×128 matrix was 40× slower on a loaded 2-core machine)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def compute_complex_irreps(G: FiniteGroup) -> list[Irrep]:
    """Unitary complex irreps of ``G``, one per isomorphism class, verified and sorted.

    Order: trivial first, then by degree, then real-type before complex- before quaternionic-type,
    then by a canonical key of the character values (stable for a given Cayley table).
    """
    check_irreps_cost(G)
    with _one_blas_thread():
        return _compute_complex_irreps(G)


def _compute_complex_irreps(G: FiniteGroup) -> list[Irrep]:
    s = G.structure
    if s is not None and s[0] == "cyclic":
        irreps = _cyclic_complex(int(s[1]))
    elif s is not None and s[0] == "dihedral":
        irreps = [
            Irrep(r.matrices.astype(np.complex128), "R", r.dim, r.label, is_real=False)
            for r in _dihedral_real(int(s[1]))
        ]
    elif s is not None and s[0] == "product":
        irreps = _product_complex(list(s[1]))
    else:
        irreps = _generic_complex(G)
    irreps = _sort(G, irreps)
    verify_irreps(G, irreps)
    return irreps


def compute_real_irreps(G: FiniteGroup) -> list[Irrep]:
    """Real orthogonal irreps of ``G`` (one per real isomorphism class), verified and sorted.

    A type-C real irrep realises a conjugate pair ``ρ ⊕ ρ̄`` (dim ``2d``), a type-H one ``ρ ⊕ ρ``
    (dim ``2d``). Order: trivial first, then by real dimension, then by a stable key.
    """
    check_irreps_cost(G)
    with _one_blas_thread():
        return _compute_real_irreps(G)


def _closed_form(G: FiniteGroup) -> bool:
    """Whether the irreps of ``G`` (and of all its factors) have closed forms."""
    s = G.structure
    if s is None:
        return False
    if s[0] in ("cyclic", "dihedral"):
        return True
    return s[0] == "product" and all(_closed_form(f) for f in s[1])


def _generic_orders(G: FiniteGroup) -> list[int]:
    """Orders of the groups that would go through the generic decomposition for ``G``."""
    s = G.structure
    if s is not None and s[0] in ("cyclic", "dihedral"):
        return []
    if s is not None and s[0] == "product":
        return [m for f in s[1] for m in _generic_orders(f)]
    return [G.order]


def irreps_cost(G: FiniteGroup) -> tuple[int, float, bool]:
    """Estimated ``(bytes, seconds, closed_form)`` of computing the irreps of ``G`` (see
    :func:`cost_of`)."""
    generic = _generic_orders(G)
    nbytes, seconds = cost_of(G.order, generic)
    return nbytes, seconds, not generic


def cost_of(order: int, generic_orders: list[int]) -> tuple[int, float]:
    """Estimated ``(bytes, seconds)`` of the irreps of a group of ``order`` elements whose
    factors without a closed form have ``generic_orders``.

    Bytes: the complex and real matrices, ``n · Σ d² = n²`` complex and ``n · Σ D² ≤ 2n²``
    real entries (``32 n²`` bytes), plus Cayley-table-sized arrays and temporaries (measured
    peak ``≈ 64 n²`` in all, C4000: 1.0 GiB) and, for a generic decomposition of order ``m``,
    its dense ``m × m`` complex matrices (``~5 · 16 m²``). Seconds: ``~1e-8 m³`` per generic
    factor (one BLAS thread, measured on A6 / S6), negligible for closed forms."""
    n = int(order)
    nbytes = 64 * n * n + sum(80 * m * m for m in generic_orders)
    seconds = sum(1e-8 * float(m) ** 3 for m in generic_orders)
    return int(nbytes), float(seconds)


def check_cost(name: str, order: int, generic_orders: list[int]) -> None:
    """Raise :class:`ResourceLimitError` (with the numbers) when the irreps of the group
    ``name`` would take more than :data:`MAX_IRREP_BYTES` or need a generic decomposition of an
    order above :data:`MAX_GENERIC_ORDER`. Cheap: needs only the orders."""
    nbytes, seconds = cost_of(order, generic_orders)
    if generic_orders and max(generic_orders) > MAX_GENERIC_ORDER:
        m = max(generic_orders)
        raise ResourceLimitError(
            f"the irreps of {name} (order {order}) need a numerical decomposition of a group of "
            f"order {m} (no closed form), estimated {seconds / 60:.3g} min and "
            f"{nbytes / 2**30:.3g} GiB; the limit is order {MAX_GENERIC_ORDER}; use a smaller "
            f"group (cyclic and dihedral groups and their products have closed forms)"
        )
    if nbytes > MAX_IRREP_BYTES:
        raise ResourceLimitError(
            f"the irreps of {name} (order {order}) would take ~{nbytes / 2**30:.4g} GiB of "
            f"memory (~64 n² bytes); the limit is {MAX_IRREP_BYTES / 2**30:.4g} GiB (order "
            f"<= {MAX_IRREP_ORDER} for closed forms); use a smaller group"
        )


def check_irreps_cost(G: FiniteGroup) -> None:
    """:func:`check_cost` for the group ``G`` (its order and structure)."""
    check_cost(G.name, G.order, _generic_orders(G))


def _compute_real_irreps(G: FiniteGroup) -> list[Irrep]:
    s = G.structure
    if s is not None and s[0] == "dihedral":
        irreps = _dihedral_real(int(s[1]))
    else:
        irreps = _real_from_complex(G, G.complex_irreps())
    irreps = _sort(G, irreps)
    verify_irreps(G, irreps)
    return irreps


# ---------------------------------------------------------------------------------------------
# closed forms


def _cyclic_complex(n: int) -> list[Irrep]:
    g = np.arange(n)
    out = []
    for m in range(n):
        chi = np.exp(2j * np.pi * ((m * g) % n) / n)
        if m == 0:
            chi = np.ones(n, dtype=np.complex128)
        elif 2 * m == n:
            chi = ((-1.0) ** g).astype(np.complex128)
        t = "R" if (2 * m) % n == 0 else "C"
        out.append(Irrep(chi.reshape(n, 1, 1), t, 1, f"chi{m}", is_real=False))
    return out


def _dihedral_real(n: int) -> list[Irrep]:
    """Real irreps of the dihedral group of order 2n, element ``a + n·b`` = ``r^a s^b``."""
    a = np.tile(np.arange(n), 2)
    b = np.repeat([0, 1], n)
    N = 2 * n
    out = [Irrep(np.ones((N, 1, 1)), "R", 1, "trivial")]
    out.append(Irrep(((-1.0) ** b).reshape(N, 1, 1), "R", 1, "sign"))
    if n % 2 == 0:
        out.append(Irrep(((-1.0) ** a).reshape(N, 1, 1), "R", 1, "sign_r"))
        out.append(Irrep(((-1.0) ** (a + b)).reshape(N, 1, 1), "R", 1, "sign_rs"))
    for j in range(1, (n - 1) // 2 + 1):
        th = 2 * np.pi * j * a / n
        c, s_ = np.cos(th), np.sin(th)
        rot = np.stack([np.stack([c, -s_], -1), np.stack([s_, c], -1)], -2)  # (N, 2, 2)
        refl = np.where(b[:, None, None] == 1, np.diag([1.0, -1.0])[None], np.eye(2)[None])
        out.append(Irrep(rot @ refl, "R", 2, f"rot{j}"))
    return out


def _product_complex(factors: list[FiniteGroup]) -> list[Irrep]:
    combos: list[Irrep] = [Irrep(np.ones((1, 1, 1), dtype=np.complex128), "R", 1, "", False)]
    for f in factors:
        new = []
        for r1 in combos:
            for r2 in f.complex_irreps():
                m = np.einsum("aij,bkl->abikjl", r1.matrices, r2.matrices)
                n1, d1 = r1.matrices.shape[0], r1.dim
                n2, d2 = r2.matrices.shape[0], r2.dim
                m = m.reshape(n1 * n2, d1 * d2, d1 * d2)
                label = f"{r1.label}x{r2.label}" if r1.label else r2.label
                new.append(Irrep(m, "R", d1 * d2, label, is_real=False))
        combos = new
    # The Frobenius–Schur type of a tensor product is not simply a function of the factors' types
    # (C⊗C̄ may be real); compute it from the character.
    return [
        Irrep(
            r.matrices, _fs_type_from_matrices(r.matrices, factors), r.complex_dim, r.label, False
        )
        for r in combos
    ]


def _fs_type_from_matrices(mats: np.ndarray, factors: list[FiniteGroup]) -> str:
    # element g² for a product group: componentwise squares, ravel_multi_index
    shapes = [f.order for f in factors]
    idx = np.unravel_index(np.arange(mats.shape[0]), shapes)
    sq = np.ravel_multi_index(
        tuple(f.table[i, i] for f, i in zip(factors, idx, strict=True)), shapes
    )
    chi = np.trace(mats, axis1=1, axis2=2)
    return _fs_type(chi, sq)


def _fs_type(chi: np.ndarray, squares: np.ndarray) -> str:
    nu = float(np.real(chi[squares].mean()))
    r = round(nu)
    if abs(nu - r) > 1e-6 or r not in (-1, 0, 1):
        raise IrrepError(f"Frobenius–Schur indicator {nu} is not in {{-1, 0, 1}}")
    return {1: "R", 0: "C", -1: "H"}[r]


# ---------------------------------------------------------------------------------------------
# generic numerical decomposition


def _conv_matrix(G: FiniteGroup, c: np.ndarray) -> np.ndarray:
    """``A[x, y] = c(x⁻¹·y)``: commutes with every left translation ``λ(g)``."""
    return c[G.table[G.inverse[:, None], np.arange(G.order)[None, :]]]


def _restrict(G: FiniteGroup, V: np.ndarray) -> np.ndarray:
    """``ρ(g) = V^† λ(g) V`` for an orthonormal basis ``V: (n, d)`` of an invariant subspace.

    ``(λ(g) V)[x] = V[g⁻¹·x]``. Returns ``(n, d, d)``.
    """
    rows = G.table[G.inverse[:, None], np.arange(G.order)[None, :]]  # rows[g, x] = g⁻¹x
    return np.einsum("xi,gxj->gij", V.conj(), V[rows], optimize=True)


def _isotypic_components(G: FiniteGroup, rng: np.random.Generator) -> list[np.ndarray]:
    """Orthonormal bases ``(n, d²)`` of the complex isotypic components of the regular rep."""
    n = G.order
    cls = G.class_of
    k = G.num_classes
    inv_cls = cls[G.inverse[G.class_representatives]]
    for _ in range(_MAX_ATTEMPTS):
        c0 = rng.standard_normal(k) + 1j * rng.standard_normal(k)
        c_cls = c0 + np.conj(c0[inv_cls])
        A = _conv_matrix(G, c_cls[cls])
        w, V = np.linalg.eigh(A)
        scale = max(1.0, float(np.abs(w).max()))
        gaps = np.diff(w)
        if k > 1:
            cut = np.sort(np.argsort(gaps)[-(k - 1) :])
        else:
            cut = np.array([], dtype=int)
        bounds = np.concatenate([[0], cut + 1, [n]])
        ok = True
        comps = []
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            size = hi - lo
            d = round(sqrt(size))
            spread = w[hi - 1] - w[lo]
            if d * d != size or spread > 1e-7 * scale:
                ok = False
                break
            comps.append(V[:, lo:hi])
        if ok and (k == 1 or gaps[cut].min() > 1e-5 * scale):
            return comps
    raise IrrepError(f"could not separate the isotypic components of {G.name}")


def _split_component(
    G: FiniteGroup, Q: np.ndarray, dim: int, rng: np.random.Generator, real: bool
) -> np.ndarray:
    """One irreducible invariant subspace (orthonormal ``(n, dim)``) inside the component ``Q``."""
    n = G.order
    if Q.shape[1] == dim:
        return Q
    for _ in range(_MAX_ATTEMPTS):
        if real:
            c = rng.standard_normal(n)
            c = c + c[G.inverse]
        else:
            c = rng.standard_normal(n) + 1j * rng.standard_normal(n)
            c = c + np.conj(c[G.inverse])
        A = _conv_matrix(G, c)
        B = Q.conj().T @ A @ Q
        B = (B + B.conj().T) / 2
        w, E = np.linalg.eigh(B)
        scale = max(1.0, float(np.abs(w).max()))
        if w[dim] - w[dim - 1] > 1e-6 * scale and w[dim - 1] - w[0] < 1e-7 * scale:
            return Q @ E[:, :dim]
    raise IrrepError(f"could not split an isotypic component of {G.name}")


def _generic_complex(G: FiniteGroup) -> list[Irrep]:
    n = G.order
    rng = np.random.default_rng(20241125)
    squares = G.table[np.arange(n), np.arange(n)]
    out = []
    for Q in _isotypic_components(G, rng):
        d = round(sqrt(Q.shape[1]))
        if d == 1:
            mats = _restrict(G, Q)  # 1×1: the character itself (phase-free)
        else:
            V = _split_component(G, Q, d, rng, real=False)
            mats = _restrict(G, V)
        chi = np.trace(mats, axis1=1, axis2=2)
        out.append(Irrep(mats, _fs_type(chi, squares), d, "", is_real=False))
    return out


def _real_label(label: str, trivial: bool) -> str:
    """Real label from a complex one: ``chi3`` → ``freq3``, ``chi1xchi0`` → ``freq(1,0)``;
    generic labels (``2a``) are dropped so that real irreps are relabelled by real dimension."""
    import re

    if trivial:
        return "trivial"
    nums = re.fullmatch(r"chi(\d+)((?:xchi\d+)*)", label)
    if nums:
        ms = re.findall(r"\d+", label)
        return f"freq{ms[0]}" if len(ms) == 1 else f"freq({','.join(ms)})"
    if re.fullmatch(r"\d+[a-z]+", label):
        return ""
    return label


def _real_from_complex(G: FiniteGroup, cirreps: list[Irrep]) -> list[Irrep]:
    """Real irreps from the complex ones: type C pairs and type H are realified, type R get a
    real form."""
    n = G.order
    rng = np.random.default_rng(20241126)
    out: list[Irrep] = []
    used: set[int] = set()
    chis = [r.character for r in cirreps]
    w = np.random.default_rng(20241127).standard_normal(n)
    proj = np.stack(chis) @ w
    ptol = 1e-6 * max(1.0, float(np.abs(proj).max()))
    for i, r in enumerate(cirreps):
        if i in used:
            continue
        used.add(i)
        d = r.complex_dim
        if r.type == "R":
            if d == 1:
                mats = np.real(r.matrices).copy()
            else:
                chi = np.real(chis[i])
                # real isotypic projector P = (d/n) Σ_g χ(g) λ(g):  P[x, y] = (d/n) χ(x·y⁻¹)
                P = (d / n) * chi[G.table[:, G.inverse]]
                Z = rng.standard_normal((n, d * d))
                Q, _ = np.linalg.qr(P @ Z)
                V = _split_component(G, Q, d, rng, real=True)
                mats = np.real(_restrict(G, V))
            trivial = bool(np.allclose(chis[i], 1.0))
            out.append(Irrep(mats, "R", d, _real_label(r.label, trivial), is_real=True))
        else:
            if r.type == "C":
                # its conjugate is another complex irrep: mark it used. Candidates are found by
                # a real random projection (conj(χ)·w = conj(χ·w)), then confirmed exactly.
                conj = np.conj(chis[i])
                near = np.flatnonzero(np.abs(proj - np.conj(proj[i])) <= ptol)
                for j in near:
                    j = int(j)
                    if j > i and j not in used and np.allclose(chis[j], conj, atol=1e-8):
                        used.add(j)
                        break
                else:
                    raise IrrepError(f"no conjugate found for complex irrep {r.label} of {G.name}")
            M = r.matrices
            re, im = np.real(M), np.imag(M)
            mats = np.concatenate(
                [np.concatenate([re, -im], axis=2), np.concatenate([im, re], axis=2)], axis=1
            )
            out.append(Irrep(mats, r.type, d, _real_label(r.label, False), is_real=True))
    return out


# ---------------------------------------------------------------------------------------------
# ordering, labels, verification


def _sort(G: FiniteGroup, irreps: list[Irrep]) -> list[Irrep]:
    """Trivial first, then by dimension, then type (R, C, H), then a canonical key."""
    reps = G.class_representatives
    type_rank = {"R": 0, "C": 1, "H": 2}

    def key(r: Irrep) -> tuple:
        trivial = bool(np.allclose(r.character, r.dim))
        canon: tuple = ()
        if not r.label:  # closed-form labels are unique: the canonical key only breaks ties
            chi = r.character[reps]
            canon = tuple(
                v
                for z in chi
                for v in (-round(float(z.real), 6) + 0.0, -round(float(z.imag), 6) + 0.0)
            )
        return (not trivial, r.dim, type_rank[r.type], _label_key(r.label), canon)

    out = sorted(irreps, key=key)
    # generic irreps get labels "<dim><letter>" by position within their dimension
    counts: dict[int, int] = {}
    labelled = []
    for r in out:
        if r.label:
            labelled.append(r)
            continue
        if not labelled:  # the trivial irrep is always first
            labelled.append(Irrep(r.matrices, r.type, r.complex_dim, "trivial", r.is_real))
            continue
        i = counts.get(r.dim, 0)
        counts[r.dim] = i + 1
        labelled.append(
            Irrep(r.matrices, r.type, r.complex_dim, f"{r.dim}{_letters(i)}", r.is_real)
        )
    return labelled


def _label_key(label: str) -> tuple:
    """Natural sort key for labels like ``chi10`` / ``rot2`` / ``chi1xchi3`` (empty for generic)."""
    import re

    parts = re.split(r"(\d+)", label)
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts if p)


def _letters(i: int) -> str:
    s = ""
    i += 1
    while i > 0:
        i, rem = divmod(i - 1, 26)
        s = chr(ord("a") + rem) + s
    return s


def verify_irreps(G: FiniteGroup, irreps: list[Irrep], tol: float = _TOL) -> None:
    """Raise :class:`IrrepError` unless ``irreps`` is a complete set of pairwise inequivalent
    irreducible orthogonal (real) / unitary (complex) representations of ``G``."""
    n = G.order
    if not irreps:
        raise IrrepError(f"{G.name}: no irreps")
    real = irreps[0].is_real
    gens = generating_set(G)
    total = 0.0
    chis = []
    for r in irreps:
        M = r.matrices
        if M.shape[0] != n or M.shape[1] != M.shape[2]:
            raise IrrepError(f"{G.name}, irrep {r.label}: matrices have shape {M.shape}")
        D = r.dim
        eye = np.eye(D)
        if np.abs(M[0] - eye).max() > tol:
            raise IrrepError(f"{G.name}, irrep {r.label}: identity is not mapped to I")
        gram = np.einsum("gji,gjk->gik", M.conj(), M)
        if np.abs(gram - eye).max() > tol:
            raise IrrepError(f"{G.name}, irrep {r.label}: matrices are not orthogonal/unitary")
        # homomorphism: ρ(a)ρ(s) = ρ(a·s) for every a and every generator s (module docstring)
        for s_ in gens:
            err = np.abs(M @ M[s_] - M[G.table[:, s_]]).max()
            if err > tol:
                raise IrrepError(f"{G.name}, irrep {r.label}: not a homomorphism (error {err:.2e})")
        chi = r.character
        e = r.commutant_dim
        norm = float(np.real(np.vdot(chi, chi))) / n
        expected = e if real else 1
        if abs(norm - expected) > 1e-6:
            raise IrrepError(
                f"{G.name}, irrep {r.label}: ⟨χ,χ⟩ = {norm:.6f}, expected {expected} (reducible?)"
            )
        chis.append(chi)
        total += D * D / (e if real else 1)
    _check_inequivalent(G, np.stack(chis))
    if abs(total - n) > 1e-6:
        raise IrrepError(f"{G.name}: Plancherel check failed, Σ D²/e = {total} ≠ |G| = {n}")


def generating_set(G: FiniteGroup) -> list[int]:
    """A generating set of ``G`` (at most ``log₂ n`` elements): greedily add the first element
    outside the subgroup generated so far; each addition at least doubles that subgroup."""
    n = G.order
    inside = np.zeros(n, dtype=bool)
    inside[0] = True
    gens: list[int] = []
    while not inside.all():
        g = int(np.flatnonzero(~inside)[0])
        gens.append(g)
        # closure of the subgroup under right multiplication by the generators
        frontier = np.flatnonzero(inside)
        while frontier.size:
            new = np.unique(G.table[frontier[:, None], np.asarray(gens)[None, :]].ravel())
            new = new[~inside[new]]
            inside[new] = True
            frontier = new
    return gens


def _check_inequivalent(G: FiniteGroup, C: np.ndarray) -> None:
    """Raise :class:`IrrepError` if two rows of ``C`` (characters of irreducible
    representations, ``(m, n)``) are equal, i.e. two irreps are equivalent.

    Equal characters have equal random projections ``χ·w``; distinct irreducible ones are
    orthogonal (``‖χ_i − χ_j‖² ≥ 2n``), so their projections differ by a Gaussian of that
    variance. Pairs with close projections (found by sorting, ``O(m log m)``) are compared
    exactly, so the test is exact while costing ``O(m n)`` instead of the ``O(m² n)`` Gram
    matrix."""
    n = G.order
    w = np.random.default_rng(20241128).standard_normal(n)
    p = C @ w
    tol = 1e-6 * np.sqrt(n) * max(1.0, float(np.abs(C[:, 0]).max()))
    order = np.argsort(p.real, kind="stable")
    pr = p.real[order]
    for a in range(len(order)):
        b = a + 1
        while b < len(order) and pr[b] - pr[a] <= tol:
            i, j = int(order[a]), int(order[b])
            if abs(p[i] - p[j]) <= tol:
                inner = abs(np.vdot(C[i], C[j])) / n
                if inner > 1e-6:
                    raise IrrepError(
                        f"{G.name}: two irreps are equivalent (characters not orthogonal)"
                    )
            b += 1
