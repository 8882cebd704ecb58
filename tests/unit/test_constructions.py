"""Tests of groupcomp.theory.constructions: exact two-layer, RNN and tree nets.

The constructions are those of docs/theory.md §3.2.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from groupcomp import fourier
from groupcomp.errors import ConfigError
from groupcomp.groups import (
    cyclic,
    dicyclic,
    dihedral,
    from_permutations,
    octahedral,
    product,
    quaternion,
)
from groupcomp.models import QuadraticRNN, TreeNet, TwoLayerNet
from groupcomp.tasks.sequence import SequenceTask
from groupcomp.templates import fourier_template, gaussian_template
from groupcomp.theory import (
    exact_sizes,
    irrep_terms,
    rank_one_terms,
    rnn_exact,
    tree_exact,
    two_layer_exact,
    two_layer_width,
)

TOL = 1e-10  # acceptance threshold on the mean-MSE (float64)
MAX_EXHAUSTIVE = 20_000  # beyond this many sequences, check on sampled sequences instead
NUM_SAMPLED = 4_000


def _c7c3():
    """C7 ⋊ C3 = SmallGroup(21, 1): (0 1 2 3 4 5 6) and (1 2 4)(3 6 5), i.e. i ↦ 2i mod 7."""
    return from_permutations([[1, 2, 3, 4, 5, 6, 0], [0, 2, 4, 6, 1, 3, 5]], name="C7:C3")


GROUPS = {
    "C5": lambda: cyclic(5),
    "C6": lambda: cyclic(6),
    "C4xC2": lambda: product(cyclic(4), cyclic(2)),
    "D3": lambda: dihedral(3),
    "D4": lambda: dihedral(4),
    "S4": octahedral,
    "Q8": quaternion,
    "Dic3": lambda: dicyclic(3),
    "C7:C3": _c7c3,
}
_CACHE: dict[str, object] = {}


def _group(name: str):
    if name not in _CACHE:
        _CACHE[name] = GROUPS[name]()
    return _CACHE[name]


def _gauss(G, seed: int = 0) -> np.ndarray:
    return gaussian_template(G, np.random.default_rng(seed))


def _powers(G) -> np.ndarray:
    """Distinct positive powers on every non-trivial irrep (x̂[π] = c_π I, a class function)."""
    m = len(G.irreps())
    return fourier_template(G, [0.0] + [1.0 + 0.5 * i for i in range(1, m)])


def _loss(model, G, x: np.ndarray, k: int, seed: int = 0, num_sampled: int = NUM_SAMPLED) -> float:
    """Mean-MSE on all ``n^k`` sequences, or on ``num_sampled`` random ones if there are more
    than ``MAX_EXHAUSTIVE``."""
    task = SequenceTask(G, x, k, max_exhaustive=MAX_EXHAUSTIVE)
    if task.num_sequences <= MAX_EXHAUSTIVE:
        seq = task.exhaustive()
    else:
        seq = task.sample(num_sampled, torch.Generator().manual_seed(seed))
    with torch.no_grad():
        pred = model(seq)
    assert pred.dtype == torch.float64 and pred.shape == (1, seq.shape[0], G.order)
    return float(((pred[0] - task.targets(seq, torch.float64)) ** 2).mean())


# --------------------------------------------------------------------------- building blocks
@pytest.mark.parametrize("N", [2, 3, 4, 5, 7])
def test_real_part_rotation_identity(N):
    """Re(z_0⋯z_{N−1}) = (2^{N−1}/N) Σ_t (−1)^t Π_j Re(e^{−iπt/N} z_j): real rank ≤ N."""
    rng = np.random.default_rng(N)
    z = rng.standard_normal((50, N)) + 1j * rng.standard_normal((50, N))
    lhs = np.real(np.prod(z, axis=1))
    rot = np.exp(-1j * np.pi * np.arange(N) / N)
    terms = np.prod(np.real(z[:, None, :] * rot[None, :, None]), axis=2)  # (50, N)
    rhs = 2.0 ** (N - 1) / N * (terms * (-1.0) ** np.arange(N)).sum(axis=1)
    np.testing.assert_allclose(rhs, lhs, rtol=0, atol=1e-12 * np.abs(lhs).max())


@pytest.mark.parametrize("name", ["D3", "Q8", "Dic3", "C7:C3"])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_rank_one_terms_reproduce_target(name, k):
    G = _group(name)
    x = _gauss(G, 3)
    U, W = rank_one_terms(G, x, k)
    enc = x[np.asarray(G.table, dtype=np.int64)]
    rng = np.random.default_rng(0)
    seq = rng.integers(0, G.order, size=(200, k))
    feats = np.einsum("tjm,bjm->btj", U, enc[seq])  # (B, T, k)
    pred = np.prod(feats, axis=2) @ W
    prod = seq[:, 0]
    for j in range(1, k):
        prod = G.table[prod, seq[:, j]]
    np.testing.assert_allclose(pred, enc[prod], rtol=0, atol=1e-10 * np.abs(x).max())
    # balanced terms: the k input vectors and the output vector have equal norms
    norms = np.concatenate([np.linalg.norm(U, axis=-1), np.linalg.norm(W, axis=-1)[:, None]], 1)
    np.testing.assert_allclose(norms, norms[:, :1].repeat(k + 1, axis=1), rtol=1e-12)


# --------------------------------------------------------------------------- two-layer
@pytest.mark.parametrize("name", list(GROUPS))
@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("kind", ["gaussian", "powers"])
def test_two_layer_exact(name, k, kind):
    G = _group(name)
    x = _gauss(G) if kind == "gaussian" else _powers(G)
    model = two_layer_exact(G, x, k)
    assert isinstance(model, TwoLayerNet)
    assert model.num_models == 1 and model.k == k and model.W_in.dtype == torch.float64
    assert model.activation.name == "power" and model.activation.power == k
    assert model.hidden == two_layer_width(G, x, k)
    assert _loss(model, G, x, k) <= TOL


@pytest.mark.parametrize(("name", "width"), [("D3", 264), ("C5", 80), ("C6", 88), ("D4", 280)])
def test_two_layer_exact_k4(name, width):
    G = _group(name)
    x = _gauss(G, 1)
    model = two_layer_exact(G, x, 4)
    assert model.hidden == width == two_layer_width(G, x, 4)
    assert _loss(model, G, x, 4) <= TOL


@pytest.mark.slow
def test_two_layer_exact_k4_quaternionic():
    G = _group("Q8")
    x = _gauss(G, 2)
    model = two_layer_exact(G, x, 4)
    assert model.hidden == 8 * (3 + 5 * 2**5) == 1304
    assert _loss(model, G, x, 4) <= TOL


def test_two_layer_dense_matches_lookup():
    G = _group("Dic3")
    x = _gauss(G, 4)
    model = two_layer_exact(G, x, 3)
    task = SequenceTask(G, x, 3)
    seq = task.sample(300, torch.Generator().manual_seed(0))
    with torch.no_grad():
        dense = model.forward_dense(task.dense(seq, torch.float64))
    torch.testing.assert_close(dense[0], task.targets(seq, torch.float64), rtol=0, atol=1e-10)


def test_two_layer_k1_is_linear_identity_map():
    G = _group("D3")
    x = _gauss(G)
    model = two_layer_exact(G, x, 1)
    assert model.hidden == two_layer_width(G, x, 1) == 1 + 4
    seq = torch.arange(G.order)[:, None]
    with torch.no_grad():
        out = model(seq)[0]
    torch.testing.assert_close(out, torch.tensor(x[G.table]), rtol=0, atol=1e-12)


# --------------------------------------------------------------------------- widths
@pytest.mark.parametrize(
    ("name", "widths"),
    [
        ("D3", {2: 18, 3: 68, 4: 264}),  # docs/theory.md §3.2 path construction: 2^{k-1}(2^{k+1}+1)
        ("C5", {2: 12, 3: 32, 4: 80}),  # 2 frequency pairs × 2^{k-1}(k+1)
        ("Q8", {2: 54, 3: 268, 4: 1304}),  # 2^{k-1}(3 + (k+1) 2^{k+1})
        ("S4", {2: 126, 3: 716}),  # 2^{k-1}(1 + 2^{k+1} + 2·3^{k+1})
        ("C7:C3", {2: 168, 3: 1312}),  # 2^{k-1}(k+1)(1 + 3^{k+1})
    ],
)
def test_width_formula_values(name, widths):
    G = _group(name)
    x = _gauss(G, 5)
    for k, w in widths.items():
        assert two_layer_width(G, x, k) == w
        assert two_layer_width(G, x, k) == 2 ** (k - 1) * sum(t.terms for t in irrep_terms(G, x, k))


def test_zero_coefficients_need_no_neurons():
    G = _group("C6")  # irreps: trivial, freq3 (R), freq1 (C), freq2 (C)
    x = fourier_template(G, [0.0, 2.0, 0.0, 3.0])
    info = irrep_terms(G, x, 3)
    assert [t.zero for t in info] == [True, False, True, False]
    assert two_layer_width(G, x, 3) == 4 * (1 + 4)
    for k in (2, 3):
        assert _loss(two_layer_exact(G, x, k), G, x, k) <= TOL


def test_nonzero_mean_uses_the_trivial_irrep():
    G = _group("D3")
    x = gaussian_template(G, np.random.default_rng(7), centred=False) + 0.7
    assert not irrep_terms(G, x, 2)[0].zero
    for k, w in ((2, 18 + 2), (3, 68 + 4)):
        model = two_layer_exact(G, x, k)
        assert model.hidden == w
        assert _loss(model, G, x, k) <= TOL
    assert _loss(rnn_exact(G, x, 5), G, x, 5) <= TOL
    assert _loss(tree_exact(G, x, 5), G, x, 5) <= TOL


# --------------------------------------------------------------------------- RNN and tree
@pytest.mark.parametrize("name", list(GROUPS))
@pytest.mark.parametrize("kind", ["gaussian", "powers"])
def test_rnn_and_tree_exact(name, kind):
    G = _group(name)
    x = _gauss(G, 11) if kind == "gaussian" else _powers(G)
    h2 = two_layer_width(G, x, 2)
    for k in (2, 3, 5, 8):
        rnn = rnn_exact(G, x, k)
        tree = tree_exact(G, x, k)
        assert isinstance(rnn, QuadraticRNN) and isinstance(tree, TreeNet)
        assert rnn.hidden == tree.hidden == h2
        assert tree.depth == math.ceil(math.log2(k))
        assert rnn.W_mix.dtype == tree.A.dtype == torch.float64
        assert _loss(rnn, G, x, k, seed=k) <= TOL
        assert _loss(tree, G, x, k, seed=k) <= TOL


@pytest.mark.parametrize("name", ["D3", "Q8", "C7:C3"])
def test_rnn_and_tree_exact_k8_on_20k_sequences(name):
    G = _group(name)
    x = _gauss(G, 17)
    for model in (rnn_exact(G, x, 8), tree_exact(G, x, 8)):
        assert _loss(model, G, x, 8, seed=1, num_sampled=20_000) <= TOL


def test_rnn_every_step_is_exact():
    G = _group("Dic3")
    x = _gauss(G, 12)
    k = 8
    rnn = rnn_exact(G, x, k)
    task = SequenceTask(G, x, k)
    seq = task.sample(5000, torch.Generator().manual_seed(0))
    with torch.no_grad():
        steps = rnn.forward_steps(seq)[0]  # (B, k-1, n)
    target = task.encoding_torch(torch.float64)[task.prefix_products(seq)]
    assert float(((steps - target) ** 2).mean()) <= TOL


def test_rnn_and_tree_share_the_binary_block():
    G = _group("D3")
    x = _gauss(G, 13)
    two = two_layer_exact(G, x, 2)
    rnn = rnn_exact(G, x, 4)
    tree = tree_exact(G, x, 4)
    torch.testing.assert_close(rnn.W_in, two.W_in[:, :, 0])
    torch.testing.assert_close(rnn.W_drive, two.W_in[:, :, 1])
    torch.testing.assert_close(rnn.W_out, two.W_out)
    torch.testing.assert_close(rnn.W_mix[0], two.W_in[0, :, 0] @ two.W_out[0].T)
    torch.testing.assert_close(tree.A, rnn.W_in)
    torch.testing.assert_close(tree.B, rnn.W_drive)
    torch.testing.assert_close(tree.C, rnn.W_out)


# --------------------------------------------------------------------------- sizes
def test_exact_sizes_match_built_models():
    G = _group("D3")
    x = _gauss(G, 14)
    for k in (2, 3, 4, 5, 8):
        s = exact_sizes(G, x, k)
        assert s["n"] == 6 and s["k"] == k
        assert s["two_layer_width"] == 2 ** (k - 1) * (2 ** (k + 1) + 1)
        assert s["rnn_width"] == s["tree_width"] == 18
        assert s["rnn_steps"] == k - 1
        assert s["tree_depth"] == math.ceil(math.log2(k))
        assert s["two_layer_depth"] == 1
        rnn, tree = rnn_exact(G, x, k), tree_exact(G, x, k)
        assert s["rnn_params"] == sum(p.numel() for p in rnn.parameters())
        assert s["tree_params"] == sum(p.numel() for p in tree.parameters())
        assert s["tree_parallel_width"] == math.ceil(k / 2) * 18
        if k <= 4:
            two = two_layer_exact(G, x, k)
            assert s["two_layer_params"] == sum(p.numel() for p in two.parameters())
    assert exact_sizes(G, x, 3)["tree_block_evals"] == 3  # b(b(g1, g2), b(g3, e))
    assert exact_sizes(G, x, 8)["tree_block_evals"] == 7
    assert exact_sizes(G, x, 5)["tree_block_evals"] == 3 + 2 + 1


# --------------------------------------------------------------------------- errors
def _singular_template(G, index: int, diag: list[float]) -> np.ndarray:
    coefs = [np.zeros((r.dim, r.dim)) for r in G.irreps()]
    for i, r in enumerate(G.irreps()):
        if i:
            coefs[i] = np.eye(r.dim)
    coefs[index] = np.diag(diag)
    return fourier.inverse(G, coefs)


@pytest.mark.parametrize(
    ("name", "index", "diag"), [("D3", 2, [1.0, 0.0]), ("S4", 3, [2.0, 1.0, 0.0])]
)
def test_singular_nonzero_coefficient_raises(name, index, diag):
    G = _group(name)
    x = _singular_template(G, index, diag)
    label = G.irreps()[index].label
    for fn in (two_layer_width, two_layer_exact, rnn_exact, tree_exact, exact_sizes):
        with pytest.raises(ConfigError, match=f"irrep '{label}'.*singular"):
            fn(G, x, 2)


def test_singular_complex_type_coefficient_raises():
    G = _group("C7:C3")
    i6 = next(i for i, r in enumerate(G.irreps()) if r.dim == 6)
    x = _gauss(G, 21)
    coefs = fourier.transform(G, x)
    # project x̂ onto a singular element of the (complex-type) coefficient algebra: kill one
    # complex direction by multiplying with a rank-deficient element of span{π(g)^T}
    u, s, vt = np.linalg.svd(coefs[i6])
    keep = np.diag([1.0, 1.0, 1.0, 1.0, 0.0, 0.0])
    blocks = [np.zeros_like(c) for c in coefs]
    blocks[i6] = u @ keep @ vt
    cand = fourier.transform(G, fourier.inverse(G, blocks))
    bad = cand[i6]
    sv = np.linalg.svd(bad, compute_uv=False)
    assert (
        sv[-1] < 1e-8 * sv[0]
    )  # the projection stayed singular (C-type: pairs of singular values)
    coefs[i6] = bad
    with pytest.raises(ConfigError, match="singular"):
        two_layer_exact(G, fourier.inverse(G, coefs), 2)


def test_bad_arguments():
    G = _group("D3")
    x = _gauss(G)
    with pytest.raises(ConfigError, match="^two_layer_exact: k must be an integer >= 1, got 0"):
        two_layer_exact(G, x, 0)
    with pytest.raises(ConfigError, match="^rnn_exact: k must be an integer >= 2, got 1"):
        rnn_exact(G, x, 1)
    with pytest.raises(ConfigError, match="^tree_exact: k must be an integer >= 2, got 1"):
        tree_exact(G, x, 1)
    with pytest.raises(ConfigError, match="^two_layer_width: k must be an integer >= 1"):
        two_layer_width(G, x, 0)
    with pytest.raises(ConfigError, match="template"):
        two_layer_exact(G, x[:-1], 2)
    with pytest.raises(ConfigError, match="zero"):
        two_layer_exact(G, np.zeros(G.order), 2)
    with pytest.raises(ConfigError, match="NaN"):
        two_layer_exact(G, np.full(G.order, np.nan), 2)
