"""CoGS (Y. Tian, arXiv 2410.01779; docs/theory.md §5): Theorem 1, the semi-ring, the
constructions, the factorisation of blocks and of trained runs, the order histogram."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from groupcomp.analysis import arith as arith_analysis
from groupcomp.analysis import cogs as A
from groupcomp.errors import ConfigError, ShapeError
from groupcomp.tasks.arithmetic import make_task
from groupcomp.theory import cogs as C
from groupcomp.training.objectives import arith_loss

GROUPS = {"Z7": (7,), "Z8": (8,), "Z2xZ4": (2, 4)}


def model_loss(net: C.CogsNet, spec: str) -> float:
    """The library's arith ``mse`` of ``net.to_model()`` on all d² pairs (forward pass)."""
    task = make_task(spec)
    model = net.to_model()
    x, y = task.tuples(), task.results().unsqueeze(0)
    with torch.no_grad():
        return float(arith_loss(model(x), y, "mse")[0])


def random_net(shape: tuple[int, ...], q: int, rng: np.random.Generator, *, mean_zero=False):
    d = math.prod(shape)
    W = [rng.normal(size=(q, d)) for _ in range(3)]
    if mean_zero:
        W[0] -= W[0].mean(axis=1, keepdims=True)
        W[1] -= W[1].mean(axis=1, keepdims=True)
    return C.CogsNet.from_weights(*W, shape), W


def complex_net(shape, q, rng) -> C.CogsNet:
    d = math.prod(shape)
    return C.CogsNet(rng.normal(size=(3, q, d)) + 1j * rng.normal(size=(3, q, d)), shape)


def n_self_conjugate(shape) -> int:
    return len(C.self_conjugate(shape))


# ------------------------------------------------------------------ groups and conversions
def test_cyclic_shape_and_characters() -> None:
    assert C.cyclic_shape("Z2xZ4") == (2, 4)
    assert C.cyclic_shape(23) == (23,)
    assert C.cyclic_shape(make_task("Z3xZ3").operand_group) == (3, 3)
    with pytest.raises(ConfigError, match="cyclic"):
        C.cyclic_shape("D3")
    assert list(C.frequency_pairs(7)) == [1, 2, 3]
    assert list(C.self_conjugate((8,))) == [4]
    # Z2xZ4: characters (i, j) with 2(i, j) = 0: (1,0), (0,2), (1,2) -> indices 4, 2, 6
    assert sorted(C.self_conjugate((2, 4))) == [2, 4, 6]


@pytest.mark.parametrize("spec", list(GROUPS))
def test_weights_round_trip_and_model(spec: str) -> None:
    shape = GROUPS[spec]
    net, W = random_net(shape, 5, np.random.default_rng(1))
    assert net.is_real()
    for w, back in zip(W, net.weights(), strict=True):
        np.testing.assert_allclose(back, w, atol=1e-12)
    again = C.CogsNet.from_model(net.to_model(), 0, shape)
    np.testing.assert_allclose(again.z, net.z, atol=1e-12)
    # z_a at k is (1/d) Σ_g W_a[g] conj χ_k(g), computed by brute force for one k
    d = math.prod(shape)
    k = d - 1
    kc = np.unravel_index(k, shape)
    chi = np.array(
        [
            np.exp(2j * np.pi * sum(ki * gi / n for ki, gi, n in zip(kc, g, shape, strict=True)))
            for g in zip(*np.unravel_index(np.arange(d), shape), strict=True)
        ]
    )
    np.testing.assert_allclose(net.za[:, k], W[0] @ np.conj(chi) / d, atol=1e-12)
    np.testing.assert_allclose(net.zc[:, k], 2 * W[2] @ chi, atol=1e-12)
    with pytest.raises(ShapeError, match="conjugate"):
        complex_net(shape, 2, np.random.default_rng(0)).weights()


# ------------------------------------------------------------------ Theorem 1
@pytest.mark.parametrize("spec", list(GROUPS))
def test_theorem1_equals_the_model_loss(spec: str) -> None:
    """ℓ = (d−1)/d + d⁻¹ Σ ℓ_k equals the library's loss (forward pass) on random weights."""
    rng = np.random.default_rng(7)
    for q in (1, 6):
        net, _ = random_net(GROUPS[spec], q, rng)
        dec = C.loss_decomposition(net)
        direct = model_loss(net, spec)
        assert dec.loss == pytest.approx(direct, rel=1e-12, abs=1e-10)
        assert C.direct_loss(net) == pytest.approx(direct, rel=1e-12)
        d = net.d
        assert (d - 1) / d + dec.per_frequency[1:].sum() / d == pytest.approx(direct, rel=1e-12)
        res = dec.residuals()
        assert sum(v**2 for v in res.values()) / d == pytest.approx(direct, rel=1e-12)
    # o = 0: ℓ = (d−1)/d
    zero = C.CogsNet(np.zeros((3, 2, net.d)), net.shape)
    assert C.loss_decomposition(zero).loss == pytest.approx((net.d - 1) / net.d)


@pytest.mark.parametrize("spec", list(GROUPS))
def test_theorem1_paper_form_for_mean_zero_inputs(spec: str) -> None:
    """With mean-zero input weights, ℓ_k = −2Re r_kkk + Σ_{k1,k2≠0}|r|² + ¼|Σ_p Σ_k' r_p,k',−k',k|²
    + ¼ Σ_{m≠0} Σ_p |Σ_k' r_p,k',m−k',k|², from the brute-force SP tensors."""
    shape = GROUPS[spec]
    net, _ = random_net(shape, 4, np.random.default_rng(3), mean_zero=True)
    d = net.d
    add, neg = C._characters(shape)
    r = C.sum_potentials(net)
    ra, rb = C.pair_potentials(net, "a"), C.pair_potentials(net, "b")
    # brute-force definitions
    j = np.arange(net.order)
    assert r[1, 2, 3] == pytest.approx(np.sum(net.za[j, 1] * net.zb[j, 2] * net.zc[j, 3]))
    assert ra[2, 1, 3] == pytest.approx(np.sum(net.za[j, 2] * net.za[j, 1] * net.zc[j, 3]))
    ell = np.zeros(d)
    for k in range(1, d):
        sums = {
            p: np.array([sum(rp[kp, add[m, neg[kp]], k] for kp in range(d)) for m in range(d)])
            for p, rp in (("a", ra), ("b", rb))
        }
        ell[k] = (
            -2 * r[k, k, k].real
            + (np.abs(r[1:, 1:, k]) ** 2).sum()
            + 0.25 * abs(sums["a"][0] + sums["b"][0]) ** 2
            + 0.25 * sum(abs(sums[p][m]) ** 2 for p in "ab" for m in range(1, d))
        )
    paper = (d - 1) / d + ell[1:].sum() / d
    assert paper == pytest.approx(model_loss(net, spec), rel=1e-12)
    np.testing.assert_allclose(C.loss_decomposition(net).per_frequency, ell, atol=1e-9)
    R = C.square_sums(net)
    m = 2
    assert R[1, m, 3] == pytest.approx(sum(rb[kp, add[m, neg[kp]], 3] for kp in range(d)))


# ------------------------------------------------------------------ the semi-ring
@pytest.mark.parametrize("shape", [(7,), (2, 4)])
def test_sum_potentials_are_ring_homomorphisms(shape) -> None:
    rng = np.random.default_rng(11)
    z1, z2, z3 = complex_net(shape, 3, rng), complex_net(shape, 2, rng), complex_net(shape, 2, rng)
    for sp in (C.sum_potentials, lambda n: C.pair_potentials(n, "a")):
        r1, r2, r3 = sp(z1), sp(z2), sp(z3)
        np.testing.assert_allclose(sp(z1 + z2), r1 + r2, atol=1e-10)
        np.testing.assert_allclose(sp(z1 * z2), r1 * r2, atol=1e-10)
        np.testing.assert_allclose(sp((z1 + z2) * z3), r1 * r3 + r2 * r3, atol=1e-10)
        np.testing.assert_allclose(sp(z1 * C.one(shape)), r1, atol=1e-12)
    np.testing.assert_allclose(
        C.pair_potentials(z1 * z2, "b"),
        C.pair_potentials(z1, "b") * C.pair_potentials(z2, "b"),
        atol=1e-10,
    )
    assert (z1 * z2).order == 6 and (z1 + z2).order == 5
    # a product of real networks is a real network, whose loss the model agrees with
    a, _ = random_net(shape, 2, rng)
    b, _ = random_net(shape, 3, rng)
    assert (a * b).is_real()
    spec = "x".join(f"Z{n}" for n in shape)
    assert C.loss_decomposition(a * b).loss == pytest.approx(model_loss(a * b, spec), rel=1e-10)
    with pytest.raises(ShapeError, match="groups differ"):
        z1 + complex_net((8,), 1, rng)


# ------------------------------------------------------------------ constructions
CONSTRUCTION_GROUPS = ["Z5", "Z7", "Z8", "Z11", "Z12", "Z2xZ4", "Z3xZ3"]


@pytest.mark.parametrize("spec", CONSTRUCTION_GROUPS)
def test_global_constructions_have_zero_loss(spec: str) -> None:
    shape = C.cyclic_shape(spec)
    d, R = math.prod(shape), n_self_conjugate(shape)
    for make, order in (
        (C.z_f6, 3 * (d - 1) - R),
        (C.z_f46, 2 * d),
        (C.z_memorisation, d * d),
    ):
        net = make(shape)
        assert net.order == order, make.__name__
        assert net.is_real()
        assert model_loss(net, spec) < 1e-20, make.__name__
        assert C.loss_decomposition(net).loss < 1e-20
        assert max(C.constraint_residuals(net).values()) < 1e-10
    if R == 0:
        assert C.z_f6(shape).order == 3 * (d - 1)


@pytest.mark.parametrize("spec", CONSTRUCTION_GROUPS)
def test_z_syn_alone_leaves_only_r_star(spec: str) -> None:
    """z_syn on every frequency pair: loss (d−1)/(2d) for odd d (P3); each pair leaves
    E_* = 1/2 at k and at −k, a self-conjugate character without nodes costs 1."""
    shape = C.cyclic_shape(spec)
    d, R = math.prod(shape), n_self_conjugate(shape)
    net = C.z_syn_all(shape)
    expected = (d - 1 - R) / (2 * d) + R / d
    assert model_loss(net, spec) == pytest.approx(expected, rel=1e-12)
    res = C.constraint_residuals(net)
    assert res["R_c"] < 1e-12 and res["R_n"] < 1e-12
    assert res["R_*"] ** 2 == pytest.approx((d - 1 - R) / 2)
    if d % 2:
        assert model_loss(net, spec) == pytest.approx((d - 1) / (2 * d))


@pytest.mark.parametrize("spec", list(GROUPS))
def test_rstar_term_is_theorem1_r_star_and_differentiable(spec: str) -> None:
    """The torch R_* term (what `loss_remove=[R_star]` subtracts) equals Theorem 1's
    (1/d) Σ_k E_*(k) member by member, and its gradient is the finite-difference one."""
    shape = GROUPS[spec]
    d = math.prod(shape)
    rng = np.random.default_rng(3)
    W_in = torch.tensor(rng.normal(size=(2, 4, 2, d)), requires_grad=True)
    W_out = torch.tensor(rng.normal(size=(2, 4, d)), requires_grad=True)
    term = C.rstar_term(W_in, W_out, shape)
    for s in range(2):
        net = C.CogsNet.from_weights(
            W_in[s, :, 0].detach().numpy(), W_in[s, :, 1].detach().numpy(),
            W_out[s].detach().numpy(), shape,
        )  # fmt: skip
        ref = C.loss_decomposition(net).r_star.sum() / d
        assert float(term[s].detach()) == pytest.approx(ref, rel=1e-12)
    # z_syn on every pair: R_* is all that is left of the loss (plus 1/d per self-conjugate
    # character, which has no node), so the term is the loss
    net = C.z_syn_all(shape)
    W_a, W_b, W_o = (torch.tensor(w)[None] for w in net.weights())
    t = C.rstar_term(torch.stack([W_a, W_b], 2), W_o, shape)
    R = n_self_conjugate(shape)
    assert float(t[0]) == pytest.approx(model_loss(net, spec) - R / d, rel=1e-10)
    assert torch.autograd.gradcheck(
        lambda a, b: C.rstar_term(a, b, shape), (W_in[:1, :2], W_out[:1, :2]), eps=1e-6
    )


def _block_sums(net: C.CogsNet, k: int) -> dict[str, complex]:
    m = C.block_monomials(net.z[:, :, k]).sum(axis=0)
    return dict(zip(C.MONOMIALS, m, strict=True))


def test_partial_solutions_kill_what_the_paper_says() -> None:
    k = 2
    syn, nu, nui, xi = C.z_syn(7, k), C.z_nu(7, k, 0.7 + 0.4j), C.z_nu(7, k), C.z_xi(7, k)
    small = lambda s, names: all(abs(s[n]) < 1e-12 for n in names)  # noqa: E731
    s = _block_sums(syn, k)
    assert s["T"] == pytest.approx(1) and small(s, ["C1", "C2", "C3", "S2", "S4", "Na", "Nb"])
    assert abs(s["S1"]) > 0.1 and abs(s["S3"]) > 0.1
    assert small(_block_sums(nu, k), ["S1", "S3"])
    assert small(_block_sums(nui, k), ["C1", "C2", "S1", "S2", "S3", "S4"])
    assert small(_block_sums(xi, k), ["C3"])
    # products: order 6 kills everything (a global solution on its pair), order 4 all but R_n
    six = syn * nu
    assert small(_block_sums(six, k), C.MONOMIALS[1:])
    four = _block_sums(nui * xi, k)
    assert small(four, C.MONOMIALS[1:8]) and abs(four["Na"] + four["Nb"]) > 0.1
    # the SPs multiply: r_kkk(syn * nu) = r_kkk(syn) r_kkk(nu)
    assert _block_sums(six, k)["T"] == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="self-conjugate"):
        C.z_syn(8, 4)
    with pytest.raises(ConfigError, match="k: must be"):
        C.z_nu(7, 0)


# ------------------------------------------------------------------ factorisation
def _scramble(cols: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Permute nodes, flip (a, b) signs and rescale nodes by real t: (ta, tb, c/t²)."""
    q = cols.shape[1]
    t = rng.uniform(0.5, 2.0, q) * rng.choice([-1, 1], q)
    out = cols * np.stack([t, t, t**-2])
    return out[:, rng.permutation(q)]


@pytest.mark.parametrize("shape", [(7,), (23,), (2, 4)])
def test_constructions_factorise_as_their_own_type(shape) -> None:
    f6 = A.factorize(C.z_f6(shape), threshold=1e-3)
    assert all(b.kind == "order-6" and b.factors == "z_nu*z_syn" for b in f6.pairs)
    assert max(b.residual for b in f6.pairs) < 1e-10
    f46 = A.factorize(C.z_f46(shape), threshold=1e-3)
    kinds = [b.kind for b in f46.pairs]
    assert kinds.count("order-6") == 1 and kinds.count("order-4") == len(kinds) - 1
    assert all(b.factors in ("z_nu*z_syn", "z_nu*z_xi") for b in f46.pairs)
    assert f46.loss < 1e-20 and max(b.residual for b in f46.pairs) < 1e-10
    syn = A.factorize(C.z_syn_all(shape), threshold=1e-3)
    assert all(b.kind == "order-3" and b.factors == "z_syn" for b in syn.pairs)


def test_factorisation_is_invariant_under_node_symmetries() -> None:
    rng = np.random.default_rng(5)
    w = np.exp(2j * np.pi / 3) ** np.arange(3)
    a = np.exp(1j * rng.uniform(0, 2 * np.pi, 3)) * w
    syn_ab = np.stack([a, 1 / (a * w), w])  # z_syn with free phases α, β on the a row
    cases = {
        "z_nu*z_syn": C._kr(C._nu_cols(np.exp(0.3j)), C._syn_cols()),
        "z_nu*z_xi": C._kr(C._nu_cols(1j), C._xi_cols(0.8 * np.exp(2.0j))),
        "z_nu=i*z_syn_ab": C._kr(C._nu_cols(1j), syn_ab),
    }
    for factors, cols in cases.items():
        for _ in range(3):
            out = A.factorize_block(_scramble(cols, rng))
            assert out["factors"] == factors
            assert out["residual"] < 1e-10
    # a generic 4- or 6-node block does not factorise
    for q in (4, 6):
        cols = rng.normal(size=(3, q)) + 1j * rng.normal(size=(3, q))
        out = A.factorize_block(cols)
        assert out["kind"] == "indecomposable" and out["residual"] > A.RESIDUAL_TOL
    # the residual grows with a perturbation, ~ linearly
    cols = cases["z_nu*z_syn"]
    noise = rng.normal(size=cols.shape) + 1j * rng.normal(size=cols.shape)
    r1 = A.factorize_block(cols + 1e-4 * noise)["residual"]
    r2 = A.factorize_block(cols + 1e-3 * noise)["residual"]
    assert 1e-6 < r1 < r2 < 1e-1 and r2 / r1 == pytest.approx(10, rel=0.3)
    with pytest.raises(ConfigError, match="tol"):
        A.factorize_block(cols, tol=0)


# ------------------------------------------------------------------ order histogram
def test_order_histogram_counts_each_frequency_pair_once() -> None:
    """Hand-made Z7 network: 3 nodes on frequency 1, 2 on frequency 2 (one of them also
    carries frequency 3), none on 3 alone: orders {1: 3, 2: 2, 3: 1} -> {3: 1, 2: 1, 1: 1}."""
    d = 7
    z = np.zeros((3, 5, d), dtype=complex)
    z[:, 0:3, [1, 6]] = 0.3  # real coefficients: the same at k and -k
    z[:, 3:5, [2, 5]] = 0.3
    z[:, 4, [3, 4]] = 0.2
    net = C.CogsNet(z, (d,))
    assert net.is_real()
    assert A.solution_orders(net) == {1: 3, 2: 2, 3: 1}
    assert A.order_histogram(net) == {1: 1, 2: 1, 3: 1}
    assert A.order_histogram([net, net]) == {1: 2, 2: 2, 3: 2}
    W_a = net.weights()[0]
    assert arith_analysis.order_histogram(W_a) == {1: 1, 2: 1, 3: 1}
    assert A.order_histogram(net, threshold=0.25) == {0: 1, 2: 1, 3: 1}
    # Z8: the self-conjugate frequency 4 counts once too
    f6 = C.z_f6(8)
    assert A.order_histogram(f6, threshold=1e-3) == {2: 1, 6: 3}
    with pytest.raises(ConfigError, match="threshold"):
        A.order_histogram(net, threshold=-1)


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        (["loss_remove=[R_n]"], "allowed entries: R_star"),
        (["loss_remove=[R_star]", "loss=ce"], "loss: must be mse"),
        (["loss_remove=[R_star]", "group=S3"], "product of cyclic groups"),
        (["loss_remove=[R_star]", "model.activation=relu"], "model.activation: must be square"),
        (["loss_remove=[R_star]", "train.batch_size=8"], "train.batch_size"),
    ],
)
def test_loss_remove_is_refused_outside_theorem1(overrides, needle: str) -> None:
    from groupcomp.config import ArithConfig, load_config

    with pytest.raises(ConfigError) as exc:
        load_config("cogs_z7", overrides, schema=ArithConfig)
    assert needle in str(exc.value)
