"""Fourier transform, inverse, power and basis: Parseval, round trips, translation rule."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from groupcomp import fourier
from groupcomp.groups import FiniteGroup, cyclic, dicyclic, dihedral, product, quaternion, symmetric

from conftest import REFERENCE

IDS = [f"{d['gap_id'][0]}_{d['gap_id'][1]}" for d in REFERENCE]


def _check_all(G: FiniteGroup, f: np.ndarray) -> None:
    c = fourier.transform(G, f)
    assert np.allclose(fourier.inverse(G, c), f, atol=1e-10)
    P = fourier.power(G, f)
    P_def = np.stack(
        [
            r.dim * (ci**2).sum((-1, -2)) / (r.commutant_dim * G.order)
            for r, ci in zip(G.irreps(), c, strict=True)
        ],
        -1,
    )
    assert np.allclose(P, P_def, atol=1e-9)
    assert np.allclose(P.sum(-1), (f**2).sum(-1), rtol=1e-12, atol=1e-9)
    B = fourier.basis(G)
    assert np.allclose(B.T @ B, np.eye(G.order), atol=1e-10)


@pytest.mark.parametrize("d", REFERENCE, ids=IDS)
def test_parseval_and_round_trip_reference(d: dict) -> None:
    G = FiniteGroup(np.array(d["table"]), name=d["name"])
    f = np.random.default_rng(1).standard_normal((4, G.order))
    _check_all(G, f)


def test_translation_rule() -> None:
    """With x_g(h) = x(g·h): x̂_g[π] = x̂[π] π(g) (docs/theory.md §2.1)."""
    for G in (dihedral(4), symmetric(4), quaternion(), cyclic(6)):
        x = np.random.default_rng(2).standard_normal(G.order)
        xg = x[G.table]  # row g = x_g
        cg = fourier.transform(G, xg)
        c = fourier.transform(G, x)
        for r, ci, cgi in zip(G.irreps(), c, cg, strict=True):
            assert np.allclose(cgi, ci[None] @ r.matrices, atol=1e-10)


def test_torch_matches_numpy() -> None:
    G = symmetric(4)
    f = np.random.default_rng(3).standard_normal((2, 3, G.order))
    ft = torch.tensor(f)
    assert np.allclose(fourier.power(G, ft).numpy(), fourier.power(G, f))
    for a, b in zip(fourier.transform(G, ft), fourier.transform(G, f), strict=True):
        assert np.allclose(a.numpy(), b)
    back = fourier.inverse(G, fourier.transform(G, ft))
    assert torch.allclose(back, ft)


def test_delta_power_closed_form() -> None:
    """Power of a delta function: P(π) = D²/(e n) (each irrep's share of the regular rep)."""
    for G in (quaternion(), cyclic(5), dicyclic(3), symmetric(3)):
        delta = np.zeros(G.order)
        delta[0] = 1.0
        expected = [r.dim**2 / (r.commutant_dim * G.order) for r in G.irreps()]
        assert np.allclose(fourier.power(G, delta), expected)


def test_cyclic_power_matches_dft() -> None:
    """For C_n the real power of frequency pair m equals (|f̂(m)|² + |f̂(−m)|²)/n."""
    n = 10
    G = cyclic(n)
    f = np.random.default_rng(4).standard_normal(n)
    F = np.fft.fft(f)
    P = fourier.power(G, f)
    assert P[0] == pytest.approx(abs(F[0]) ** 2 / n)
    assert P[1] == pytest.approx(abs(F[5]) ** 2 / n)  # Nyquist (1-dim, real)
    for i, m in enumerate(range(1, 5)):
        assert P[2 + i] == pytest.approx(2 * abs(F[m]) ** 2 / n)


def test_bad_shape_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="last dimension must be"):
        fourier.power(dihedral(3), np.zeros(5))


_SMALL = st.sampled_from(
    [cyclic(2), cyclic(3), cyclic(4), dihedral(3), quaternion(), cyclic(5), dihedral(4)]
)


@settings(max_examples=25, deadline=None)
@given(factors=st.lists(_SMALL, min_size=1, max_size=2), seed=st.integers(0, 2**31 - 1))
def test_random_products_parseval_convolution(factors: list[FiniteGroup], seed: int) -> None:
    G = product(*factors) if len(factors) > 1 else factors[0]
    rng = np.random.default_rng(seed)
    f, h = rng.standard_normal((2, G.order))
    _check_all(G, f)
    # convolution theorem: (f*h)(g) = Σ_a f(a) h(a⁻¹g)  ->  (f*h)^ = ĥ f̂ in this convention
    conv = np.array(
        [sum(f[a] * h[G.table[G.inverse[a], g]] for a in range(G.order)) for g in range(G.order)]
    )
    cf, ch, cc = (fourier.transform(G, v) for v in (f, h, conv))
    for a, b, c in zip(cf, ch, cc, strict=True):
        assert np.allclose(c, b @ a, atol=1e-8)
