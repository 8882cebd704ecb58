"""Group Fourier analysis over the real orthogonal irreps of a finite group.

Conventions (docs/theory.md §2.1, "Real irreps"; all functions batched over leading dimensions and
accepting numpy arrays or torch tensors, returning the same kind):

* transform ``x̂[π] = Σ_g f(g) π(g)^T`` — ``(D, D)`` per real irrep π of real dimension ``D``;
* inverse ``f(g) = Σ_π (D / (e n)) tr(π(g) x̂[π])`` with ``e ∈ {1, 2, 4}`` the commutant
  dimension (types R, C, H);
* power ``P(π) = D ‖x̂[π]‖_F² / (e n)``, so ``Σ_π P(π) = ‖f‖²`` exactly for every group
  (for a type-C irrep this is the sum of the complex powers of ρ and ρ̄, for type H that of ρ).

With the task's translation ``x_g(h) = x(g·h)`` one has ``x̂_g[π] = x̂[π] π(g)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from groupcomp.errors import GroupcompError, ShapeError

if TYPE_CHECKING:
    from groupcomp.groups.core import FiniteGroup

__all__ = ["transform", "inverse", "power", "basis", "basis_irrep_index", "projector"]


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def _check_last(G: FiniteGroup, f: Any, name: str = "f") -> None:
    if f.shape[-1] != G.order:
        raise ShapeError(
            f"{name}: last dimension must be |G| = {G.order} for {G.name}, "
            f"got shape {tuple(f.shape)}"
        )


def _mats(G: FiniteGroup, like: Any) -> list[Any]:
    """Irrep matrices as numpy float64 or as torch tensors matching ``like``'s dtype/device."""
    mats = [r.matrices for r in G.irreps()]
    if _is_torch(like):
        import torch

        return [torch.tensor(m, dtype=like.dtype, device=like.device) for m in mats]
    return mats


def transform(G: FiniteGroup, f: Any) -> list[Any]:
    """Real Fourier coefficients. ``f: (..., n)`` → list over ``G.irreps()`` of ``(..., D, D)``.

    ``x̂[π]_{ab} = Σ_g f(g) π(g)_{ba}``.

    The delta at the identity has ``x̂[π] = π(e)^T = I`` on every irrep, and a translated
    signal ``x_g(h) = x(g·h)`` has ``x̂_g[π] = x̂[π] π(g)``:

    >>> import numpy as np
    >>> from groupcomp.groups import dihedral
    >>> G = dihedral(3)
    >>> [c.tolist() for c in transform(G, np.eye(6)[0])]
    [[[1.0]], [[1.0]], [[1.0, 0.0], [0.0, 1.0]]]
    >>> x = np.arange(6.0)
    >>> rot = G.irreps()[2]
    >>> bool(np.allclose(transform(G, x[G.table[4]])[2], transform(G, x)[2] @ rot.matrices[4]))
    True
    """
    _check_last(G, f)
    if _is_torch(f):
        import torch

        return [torch.einsum("...g,gba->...ab", f, m) for m in _mats(G, f)]
    f = np.asarray(f, dtype=np.float64)
    return [np.einsum("...g,gba->...ab", f, m) for m in _mats(G, f)]


def inverse(G: FiniteGroup, coefs: list[Any]) -> Any:
    """Inverse transform: list of ``(..., D, D)`` (in ``G.irreps()`` order) → ``(..., n)``.

    >>> import numpy as np
    >>> from groupcomp.groups import quaternion
    >>> G = quaternion()
    >>> x = np.array([3.0, -1.0, 0.5, 2.0, 0.0, 1.0, -2.0, 4.0])
    >>> bool(np.allclose(inverse(G, transform(G, x)), x))
    True
    """
    irreps = G.irreps()
    if len(coefs) != len(irreps):
        raise ShapeError(
            f"coefs: expected {len(irreps)} coefficient blocks for {G.name}, got {len(coefs)}"
        )
    out = None
    if _is_torch(coefs[0]):
        import torch

        mats = _mats(G, coefs[0])
        for r, m, c in zip(irreps, mats, coefs, strict=True):
            term = r.plancherel_weight() * torch.einsum("gab,...ba->...g", m, c)
            out = term if out is None else out + term
        return out
    for r, c in zip(irreps, coefs, strict=True):
        term = r.plancherel_weight() * np.einsum("gab,...ba->...g", r.matrices, np.asarray(c))
        out = term if out is None else out + term
    return out


def _basis_cached(G: FiniteGroup) -> tuple[np.ndarray, np.ndarray]:
    cached = getattr(G, "_fourier_basis", None)
    if cached is None:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):  # small SVDs: one thread is fastest
            cached = _build_basis(G)
        G._fourier_basis = cached  # cache on the (immutable) group object
    return cached


def _build_basis(G: FiniteGroup) -> tuple[np.ndarray, np.ndarray]:
    n = G.order
    cols = []
    idx = []
    for i, r in enumerate(G.irreps()):
        D, e = r.dim, r.commutant_dim
        F = r.matrices.reshape(n, D * D)  # entry functions g ↦ π(g)_{ab}
        rank = D * D // e
        U, s, _ = np.linalg.svd(F, full_matrices=False)
        if s.size > rank and s[rank] > 1e-8 * s[0]:
            raise GroupcompError(f"{G.name}: irrep {r.label} spans more than D²/e functions")
        B = U[:, :rank]
        # deterministic sign: make the largest-magnitude entry of each column positive
        j = np.argmax(np.abs(B), axis=0)
        B = B * np.sign(B[j, np.arange(rank)])
        cols.append(B)
        idx.extend([i] * rank)
    Bm = np.concatenate(cols, axis=1)
    if Bm.shape != (n, n):
        raise GroupcompError(f"{G.name}: Fourier basis has shape {Bm.shape}, expected {(n, n)}")
    Bm.setflags(write=False)
    ii = np.asarray(idx, dtype=np.int64)
    ii.setflags(write=False)
    return Bm, ii


def basis(G: FiniteGroup) -> np.ndarray:
    """Real orthonormal Fourier basis, ``(n, n)`` float64; columns grouped by irrep (in
    ``G.irreps()`` order, ``D²/e`` columns each; see :func:`basis_irrep_index`).

    ``f @ basis(G)`` gives coordinates whose squares summed per irrep are the powers.
    """
    return _basis_cached(G)[0]


def basis_irrep_index(G: FiniteGroup) -> np.ndarray:
    """``(n,)`` irrep index (into ``G.irreps()``) of each column of :func:`basis`."""
    return _basis_cached(G)[1]


def power(G: FiniteGroup, f: Any) -> Any:
    """Power spectrum ``P(π) = D‖x̂[π]‖_F²/(e n)``. ``f: (..., n)`` → ``(..., num_irreps)``.

    Computed as squared projections on the orthonormal basis, which equals the definition and
    sums to ``‖f‖²`` exactly (up to rounding): Parseval, for every group.

    >>> import numpy as np
    >>> from groupcomp.groups import dihedral, symmetric
    >>> G = dihedral(3)
    >>> delta = np.eye(6)[0] - 1 / 6  # centred delta: P(π) = D²/(e n) on non-trivial π
    >>> power(G, delta).round(6).tolist()
    [0.0, 0.166667, 0.666667]
    >>> x = np.random.default_rng(0).normal(size=24)
    >>> bool(np.isclose(power(symmetric(4), x).sum(), (x**2).sum()))
    True
    """
    _check_last(G, f)
    B, idx = _basis_cached(G)
    m = len(G.irreps())
    if _is_torch(f):
        import torch

        Bt = torch.tensor(B, dtype=f.dtype, device=f.device)
        c2 = (f @ Bt) ** 2
        out = torch.zeros((*f.shape[:-1], m), dtype=f.dtype, device=f.device)
        return out.index_add_(-1, torch.tensor(idx, device=f.device), c2)
    f = np.asarray(f, dtype=np.float64)
    c2 = (f @ B) ** 2
    out = np.zeros((*f.shape[:-1], m))
    for i in range(m):
        out[..., i] = c2[..., idx == i].sum(-1)
    return out


def projector(G: FiniteGroup, i: int) -> np.ndarray:
    """``(n, n)`` orthogonal projector onto the isotypic component of irrep ``i``."""
    B, idx = _basis_cached(G)
    Bi = B[:, idx == i]
    return Bi @ Bi.T
