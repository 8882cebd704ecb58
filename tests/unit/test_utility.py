"""Brute-force AGF utility and its maximisation on the unit sphere (docs/theory.md §1.3, §2.2)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from groupcomp import fourier
from groupcomp.errors import ConfigError, ShapeError
from groupcomp.groups import cyclic, dihedral, quaternion
from groupcomp.templates import fourier_template
from groupcomp.theory import irrep_utilities, maximize_utility, utility


def _centred(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.standard_normal(n)
    return x - x.mean()


def _naive_utility(G, x, k, theta, residual=None, sigma=lambda z: z**2):
    """Loop over sequences with the task convention x_g(h) = x(g·h), target x_{g1⋯gk}."""
    n = G.order
    enc = np.array([[x[G.table[g, h]] for h in range(n)] for g in range(n)])
    total = 0.0
    for s, seq in enumerate(itertools.product(range(n), repeat=k)):
        z = sum(theta[j] @ enc[g] for j, g in enumerate(seq))
        prod = 0
        for g in seq:
            prod = G.table[prod, g]
        r = enc[prod] if residual is None else residual[s]
        total += sigma(z) * (theta[k] @ r)
    return total / n**k


def test_matches_naive_loop_on_nonabelian_group() -> None:
    G = dihedral(3)
    rng = np.random.default_rng(0)
    x = _centred(rng, G.order)
    theta = rng.standard_normal((3, G.order))
    ref = _naive_utility(G, x, 2, theta)
    assert utility(G, x, 2, theta) == pytest.approx(ref, rel=1e-12)
    # the slot order matters on a non-abelian group: swapping u_1, u_2 changes the value
    assert not np.isclose(utility(G, x, 2, theta[[1, 0, 2]]), ref, rtol=1e-6)


def test_k3_and_residual_match_naive_loop() -> None:
    G = dihedral(3)
    rng = np.random.default_rng(1)
    x = _centred(rng, G.order)
    theta = rng.standard_normal((4, G.order))
    ref = _naive_utility(G, x, 3, theta, sigma=lambda z: z**3)
    assert utility(G, x, 3, theta) == pytest.approx(ref, rel=1e-12)
    res = rng.standard_normal((G.order**3, G.order))
    ref_r = _naive_utility(G, x, 3, theta, residual=res, sigma=lambda z: z**3)
    assert utility(G, x, 3, theta, residual=res) == pytest.approx(ref_r, rel=1e-12)
    # the (n,)*k + (n,) residual layout is the same thing
    res4 = res.reshape((G.order,) * 3 + (G.order,))
    assert utility(G, x, 3, theta, residual=res4) == pytest.approx(ref_r, rel=1e-12)


def test_batched_and_homogeneous() -> None:
    G = cyclic(5)
    rng = np.random.default_rng(2)
    x = _centred(rng, 5)
    thetas = rng.standard_normal((2, 3, 3, 5))
    out = utility(G, x, 2, thetas)
    assert out.shape == (2, 3)
    assert out[1, 2] == pytest.approx(utility(G, x, 2, thetas[1, 2]), rel=1e-13)
    # degree k+1 = 3 in θ, degree k+1 in x (inputs and target)
    assert utility(G, x, 2, 2 * thetas[0, 0]) == pytest.approx(8 * out[0, 0], rel=1e-12)
    assert utility(G, 3 * x, 2, thetas[0, 0]) == pytest.approx(27 * out[0, 0], rel=1e-12)


@pytest.mark.parametrize("k", [2, 3])
def test_lower_order_terms_of_sigma_do_not_change_utility(k: int) -> None:
    """docs/theory.md §1.2/§2.2: with a mean-zero template only the multilinear part counts."""
    G = dihedral(3)
    rng = np.random.default_rng(3)
    x = _centred(rng, G.order)
    thetas = rng.standard_normal((5, k + 1, G.order))

    def sigma(z):
        return z**k + 3.0 * z ** (k - 1) - 2.0 * z + 1.5

    base = utility(G, x, k, thetas)
    assert np.allclose(utility(G, x, k, thetas, sigma=sigma), base, rtol=1e-10, atol=1e-12)
    # …which really relies on the zero mean: with a mean the extra terms contribute
    y = x + 0.7
    assert not np.allclose(utility(G, y, k, thetas, sigma=sigma), utility(G, y, k, thetas))


def test_maximiser_structure_rank_one_equal_split() -> None:
    """At the maximiser all blocks carry norm 1/√(k+1) and live in the winning irrep."""
    G = dihedral(3)
    k = 3
    x = _centred(np.random.default_rng(4), G.order)
    res = maximize_utility(G, x, k, restarts=16, seed=0)
    th = res.neuron
    assert np.linalg.norm(th) == pytest.approx(1.0, abs=1e-12)
    assert utility(G, x, k, th) == pytest.approx(res.value, rel=1e-10)
    assert np.allclose(np.linalg.norm(th, axis=1), 1 / math.sqrt(k + 1), atol=1e-5)
    best = int(np.argmax(irrep_utilities(G, x, k)))
    P = fourier.power(G, th)  # (k+1, num_irreps): all the norm in the best irrep
    assert np.allclose(P[:, best], 1 / (k + 1), atol=1e-8)


def test_every_local_maximum_is_an_irrep_utility() -> None:
    """Q8, k=3, powers chosen so that U*(H-type 4a) = U*(1-dim)/4: both basins are hit and
    every restart ends at one of the closed-form values."""
    G = quaternion()
    k = 3
    x = fourier_template(G, [0, 1, 1, 1, 4])
    u = irrep_utilities(G, x, k)
    assert u[4] / u[1] == pytest.approx(0.25, rel=1e-12)
    res = maximize_utility(G, x, k, restarts=48, seed=1)
    assert res.grad_norm.max() < 1e-6 * res.value
    for v in res.values:
        assert np.min(np.abs(u - v)) < 1e-7 * res.value
    found = {int(np.argmin(np.abs(u - v))) for v in res.values}
    assert 4 in found and found & {1, 2, 3}


def test_maximize_is_scale_covariant_and_seeded() -> None:
    G = cyclic(5)
    x = _centred(np.random.default_rng(5), 5)
    a = maximize_utility(G, x, 2, restarts=8, seed=3)
    b = maximize_utility(G, 10 * x, 2, restarts=8, seed=3)
    assert b.value == pytest.approx(1000 * a.value, rel=1e-9)
    assert np.array_equal(a.neuron, maximize_utility(G, x, 2, restarts=8, seed=3).neuron)


def test_maximize_with_residual_equal_to_target() -> None:
    G = cyclic(5)
    x = _centred(np.random.default_rng(6), 5)
    enc = x[G.table]
    prods = (np.arange(5)[:, None] + np.arange(5)[None, :]) % 5
    target = enc[prods.reshape(-1)]
    a = maximize_utility(G, x, 2, restarts=8, seed=0)
    b = maximize_utility(G, x, 2, restarts=8, seed=0, residual=target)
    assert b.value == pytest.approx(a.value, rel=1e-9)
    assert maximize_utility(G, np.zeros(5), 2, restarts=2).value == 0.0


def test_input_errors() -> None:
    G = cyclic(4)
    x = np.array([1.0, -1.0, 0.5, -0.5])
    with pytest.raises(ShapeError, match="neuron"):
        utility(G, x, 2, np.zeros((2, 4)))
    with pytest.raises(ShapeError, match="template"):
        utility(G, x[:3], 2, np.zeros((3, 4)))
    with pytest.raises(ShapeError, match="residual"):
        utility(G, x, 2, np.zeros((3, 4)), residual=np.zeros((4, 4)))
    with pytest.raises(ConfigError, match="k"):
        utility(G, x, 0, np.zeros((1, 4)))
    with pytest.raises(ConfigError, match="MAX_SEQUENCES"):
        utility(cyclic(200), np.zeros(200), 3, np.zeros((4, 200)))
