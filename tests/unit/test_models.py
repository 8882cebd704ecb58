"""Tests of groupcomp.models: lookups vs dense paths, homogeneity, exact constructions."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from groupcomp.errors import ConfigError
from groupcomp.models import (
    ACTIVATIONS,
    QuadraticRNN,
    TreeNet,
    TwoLayerNet,
    get_activation,
    per_model_mse,
)

DT = torch.float64


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _enc(n: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, n, generator=_gen(seed), dtype=DT)


def _seqs(n: int, k: int, shape: tuple[int, ...], seed: int = 1) -> torch.Tensor:
    return torch.randint(0, n, (*shape, k), generator=_gen(seed))


def _s3_table() -> torch.Tensor:
    """Cayley table of S3 (permutations of 3 points, identity first), (p·q)(i) = p(q(i))."""
    perms = list(itertools.permutations(range(3)))
    index = {p: i for i, p in enumerate(perms)}
    table = [[index[tuple(p[q[i]] for i in range(3))] for q in perms] for p in perms]
    return torch.tensor(table)


def _compose(table: torch.Tensor, seq: torch.Tensor) -> torch.Tensor:
    out = seq[..., 0]
    for j in range(1, seq.shape[-1]):
        out = table[out, seq[..., j]]
    return out


def _build(kind: str, n: int, k: int, hidden: int, s: int, seed: int = 0, **kw):
    enc = _enc(n, seed)
    cls = {"two": TwoLayerNet, "rnn": QuadraticRNN, "tree": TreeNet}[kind]
    return cls(enc, k, hidden, s, 0.7, generator=_gen(seed + 10), dtype=DT, **kw)


MODEL_CASES = [
    ("two", {"activation": a}) for a in ("power", "square", "relu", "relu2", "tanh", "gelu")
] + [
    ("rnn", {"transition": "quadratic"}),
    ("rnn", {"transition": "multiplicative"}),
    ("tree", {"activation": "square"}),
    ("tree", {"activation": "relu"}),
    ("tree", {"activation": "silu"}),
]


# --------------------------------------------------------------------------- lookups vs dense
@pytest.mark.parametrize(("kind", "kw"), MODEL_CASES)
@pytest.mark.parametrize("k", [2, 3, 5])
def test_forward_matches_dense_shared_and_per_model(kind, kw, k):
    n, hidden, S, B = 5, 7, 3, 11
    model = _build(kind, n, k, hidden, S, **kw)
    seq = _seqs(n, k, (B,))
    out = model(seq)
    assert out.shape == (S, B, n)
    dense = model.forward_dense(model.encoding[seq])
    torch.testing.assert_close(out, dense, rtol=1e-10, atol=1e-12)
    seq_s = _seqs(n, k, (S, B), seed=2)
    out_s = model(seq_s)
    assert out_s.shape == (S, B, n)
    torch.testing.assert_close(
        out_s, model.forward_dense(model.encoding[seq_s]), rtol=1e-10, atol=1e-12
    )
    # per-model batch: model s on its own batch equals the shared-batch output of that batch
    for s in range(S):
        torch.testing.assert_close(out_s[s], model(seq_s[s])[s], rtol=1e-10, atol=1e-12)
    # models differ from each other (independent init slices)
    assert not torch.allclose(out[0], out[1])


@pytest.mark.parametrize("transition", ["quadratic", "multiplicative"])
def test_rnn_forward_steps(transition):
    n, k, S, B = 4, 5, 2, 6
    model = _build("rnn", n, k, 6, S, transition=transition)
    seq = _seqs(n, k, (S, B))
    steps = model.forward_steps(seq)
    assert steps.shape == (S, B, k - 1, n)
    torch.testing.assert_close(steps[:, :, -1], model(seq))
    torch.testing.assert_close(steps, model.forward_steps_dense(model.encoding[seq]))
    # step t only depends on the first t+1 elements: a shorter RNN with the same weights agrees
    short = QuadraticRNN(model.encoding, 3, 6, S, transition=transition, dtype=DT)
    short.load_state_dict(model.state_dict())
    torch.testing.assert_close(short(seq[..., :3]), steps[:, :, 1])


def test_shape_errors():
    model = _build("two", 4, 3, 5, 2)
    with pytest.raises(ValueError):
        model(torch.zeros(5, 2, dtype=torch.long))  # wrong k
    with pytest.raises(ValueError):
        model(torch.zeros(3, 5, 3, dtype=torch.long))  # wrong S
    with pytest.raises(TypeError):
        model(torch.zeros(5, 3))  # float indices
    with pytest.raises(ValueError, match="outside"):
        model(torch.full((5, 3), 4))  # index n
    with pytest.raises(ValueError, match="outside"):
        model(torch.full((5, 3), -1))
    with pytest.raises(ValueError):
        model.forward_dense(torch.zeros(5, 3, 3, dtype=DT))  # wrong n


def test_config_errors():
    enc = _enc(4)
    with pytest.raises(ConfigError, match="^activation: must be one of power, .*'softplus'"):
        TwoLayerNet(enc, 2, 3, activation="softplus")
    with pytest.raises(ConfigError, match="^QuadraticRNN: k must be an integer >= 2, got 1"):
        QuadraticRNN(enc, 1, 3)
    with pytest.raises(ConfigError, match="^TreeNet: k must be an integer >= 2, got 1"):
        TreeNet(enc, 1, 3)
    with pytest.raises(ConfigError, match="^TwoLayerNet: hidden must be an integer >= 1, got 0"):
        TwoLayerNet(enc, 2, 0)
    with pytest.raises(ConfigError, match="^TwoLayerNet: num_models must be an integer >= 1"):
        TwoLayerNet(enc, 2, 3, num_models=0)
    with pytest.raises(ConfigError, match="^TwoLayerNet: init_scale must be a number >= 0"):
        TwoLayerNet(enc, 2, 3, init_scale=-1.0)
    with pytest.raises(ConfigError, match="^QuadraticRNN: transition must be one of .*'cubic'"):
        QuadraticRNN(enc, 2, 3, transition="cubic")
    with pytest.raises(ConfigError, match="^QuadraticRNN: mix_init_scale must be a number >= 0"):
        QuadraticRNN(enc, 2, 3, mix_init_scale=-1.0)
    expected = {"power", "square", "relu", "relu2", "linear", "tanh", "gelu", "silu"}
    assert set(ACTIVATIONS) == expected


# --------------------------------------------------------------------------- attributes / init
def test_degrees_and_attributes():
    enc = _enc(4)
    expect = {"power": 4, "square": 3, "relu": 2, "relu2": 3, "linear": 2}
    for act, deg in expect.items():
        assert TwoLayerNet(enc, 3, 2, activation=act).degree == deg
    for act in ("tanh", "gelu", "silu"):
        assert TwoLayerNet(enc, 3, 2, activation=act).degree is None
    assert QuadraticRNN(enc, 4, 2).degree == 3
    assert TreeNet(enc, 4, 2).degree == 3
    m = TwoLayerNet(enc, 3, 5, 2)
    assert (m.n, m.k, m.hidden, m.num_models) == (4, 3, 5, 2)
    assert [tuple(p.shape) for p in m.neuron_params()] == [(2, 5, 3, 4), (2, 5, 4)]
    assert m.other_params() == []
    r = QuadraticRNN(enc, 3, 5, 2)
    assert [tuple(p.shape) for p in r.neuron_params()] == [(2, 5, 4)] * 3
    assert [tuple(p.shape) for p in r.other_params()] == [(2, 5, 5)]
    t = TreeNet(enc, 3, 5, 2)
    assert [tuple(p.shape) for p in t.neuron_params()] == [(2, 5, 4)] * 3
    # neuron + other params cover all parameters exactly once
    for model in (m, r, t):
        ids = [id(p) for p in model.neuron_params() + model.other_params()]
        assert sorted(ids) == sorted(id(p) for p in model.parameters())
        assert "num_models=2" in repr(model)


@pytest.mark.parametrize("cls", [TwoLayerNet, QuadraticRNN, TreeNet])
def test_init_norm_and_generator(cls):
    enc = _enc(6)
    scale = 0.3
    state = torch.get_rng_state()
    m1 = cls(enc, 3, 1000, 2, scale, generator=_gen(5), dtype=DT)
    assert torch.equal(torch.get_rng_state(), state), "init must not touch the global RNG"
    m2 = cls(enc, 3, 1000, 2, scale, generator=_gen(5), dtype=DT)
    for p, q in zip(m1.parameters(), m2.parameters(), strict=True):
        assert torch.equal(p, q)
    mean_sq = m1.neuron_norms().pow(2).mean().item()
    assert mean_sq == pytest.approx(2 * scale**2, rel=0.03)


def test_select_and_per_model_mse():
    model = _build("rnn", 4, 3, 5, 3)
    seq = _seqs(4, 3, (8,))
    sub = model.select([2, 0])
    assert sub.num_models == 2
    torch.testing.assert_close(sub(seq), model(seq)[[2, 0]])
    target = model.encoding[seq[:, 0]]
    losses = per_model_mse(model(seq), target)
    for s in range(3):
        ref = torch.nn.MSELoss()(model(seq)[s], target)
        torch.testing.assert_close(losses[s], ref)


# --------------------------------------------------------------------------- homogeneity
def _scaled_neuron(model, s: int, i: int, c: float):
    new = model.select(list(range(model.num_models)))
    with torch.no_grad():
        for p in new.neuron_params():
            p[s, i] *= c
    return new


@pytest.mark.parametrize(
    ("kind", "kw", "k"),
    [("two", {"activation": a}, 3) for a in ("power", "square", "relu", "relu2", "linear")]
    + [
        ("two", {"activation": "power"}, 2),
        ("rnn", {"transition": "quadratic"}, 2),
        ("rnn", {"transition": "multiplicative"}, 2),
        ("tree", {"activation": "square"}, 2),
        ("tree", {"activation": "relu"}, 2),
    ],
)
def test_homogeneity_of_one_neuron(kind, kw, k):
    n, S = 5, 2
    model = _build(kind, n, k, 6, S, **kw)
    seq = _seqs(n, k, (20,))
    s, i, c = 1, 3, 1.7
    base = model(seq)
    zero = _scaled_neuron(model, s, i, 0.0)(seq)
    scaled = _scaled_neuron(model, s, i, c)(seq)
    contribution = base - zero
    assert contribution[s].abs().max() > 1e-3
    torch.testing.assert_close(scaled - zero, c**model.degree * contribution)
    # other models are untouched
    torch.testing.assert_close(scaled[0], base[0])


# --------------------------------------------------------------------------- exact constructions
@pytest.mark.parametrize("k", [2, 3])
def test_two_layer_polarisation_identity(k):
    """k! Π z_j = 2^{-(k-1)} Σ_{ε, ε_1=+1} (Π ε)(Σ ε_j z_j)^k, 2^{k-1} neurons (docs/theory.md
    §3.2)."""
    n = 4
    enc = _enc(n, seed=3)
    g = _gen(4)
    u = torch.randn(k, n, generator=g, dtype=DT)
    w = torch.randn(n, generator=g, dtype=DT)
    signs = [(1, *e) for e in itertools.product((1, -1), repeat=k - 1)]
    model = TwoLayerNet(enc, k, len(signs), 1, activation="power", dtype=DT)
    with torch.no_grad():
        for i, eps in enumerate(signs):
            e = torch.tensor(eps, dtype=DT)
            model.W_in[0, i] = e[:, None] * u
            model.W_out[0, i] = 2.0 ** (-(k - 1)) * e.prod() * w / math.factorial(k)
    seq = torch.tensor(list(itertools.product(range(n), repeat=k)))
    z = torch.einsum("bjm,jm->bj", enc[seq], u)  # z_j = <u_j, x_{g_j}>
    expected = z.prod(dim=1)[:, None] * w[None, :]
    torch.testing.assert_close(model(seq)[0], expected, rtol=1e-10, atol=1e-12)


def _random_block(n: int, hidden: int, seed: int = 7):
    g = _gen(seed)
    return tuple(torch.randn(1, hidden, n, generator=g, dtype=DT) * 0.6 for _ in range(3))


def _block(a, b, c, u, v, act):
    """Explicit b(u, v) = Cᵀ σ(A u + B v) for a single model; u, v: (B, n)."""
    return act(u @ a[0].T + v @ b[0].T) @ c[0]


@pytest.mark.parametrize("transition", ["quadratic", "multiplicative"])
def test_rnn_reproduces_sequential_block(transition):
    """W_in=A, W_drive=B, W_mix=A Cᵀ, W_out=C: ŷ_t = b(ŷ_{t-1}, x_{t+1}) (docs/theory.md §3.2)."""
    n, k, hidden = 5, 5, 6
    a, b, c = _random_block(n, hidden)
    enc = _enc(n)
    rnn = QuadraticRNN(enc, k, hidden, 1, transition=transition, dtype=DT)
    with torch.no_grad():
        rnn.W_in.copy_(a)
        rnn.W_drive.copy_(b)
        rnn.W_out.copy_(c)
        rnn.W_mix.copy_(a @ c.mT)
    if transition == "quadratic":

        def blk(u, v):
            return _block(a, b, c, u, v, lambda z: z * z)
    else:

        def blk(u, v):
            return ((u @ a[0].T) * (v @ b[0].T)) @ c[0]

    seq = _seqs(n, k, (13,))
    x = enc[seq]
    y = x[:, 0]
    expected = []
    for t in range(1, k):
        y = blk(y, x[:, t])
        expected.append(y)
    torch.testing.assert_close(rnn.forward_steps(seq)[0], torch.stack(expected, dim=1))


def test_rnn_k2_equals_two_layer_square():
    n, hidden = 5, 6
    rnn = _build("rnn", n, 2, hidden, 2)
    two = TwoLayerNet(rnn.encoding, 2, hidden, 2, activation="square", dtype=DT)
    with torch.no_grad():
        two.W_in.copy_(torch.stack([rnn.W_in, rnn.W_drive], dim=2))
        two.W_out.copy_(rnn.W_out)
    seq = _seqs(n, 2, (9,))
    torch.testing.assert_close(two(seq), rnn(seq))


def test_tree_depth():
    enc = _enc(3)
    for k in range(2, 18):
        assert TreeNet(enc, k, 2).depth == math.ceil(math.log2(k))


def test_tree_padding_with_identity():
    n, hidden = 5, 6
    model = _build("tree", n, 3, hidden, 1)
    a, b, c = model.A.detach(), model.B.detach(), model.C.detach()

    def blk(u, v):
        return _block(a, b, c, u, v, lambda z: z * z)

    enc = model.encoding
    seq = _seqs(n, 3, (10,))
    x1, x2, x3 = enc[seq[:, 0]], enc[seq[:, 1]], enc[seq[:, 2]]
    xe = enc[0].expand_as(x1)
    torch.testing.assert_close(model(seq)[0], blk(blk(x1, x2), blk(x3, xe)))

    model5 = TreeNet(enc, 5, hidden, 1, dtype=DT)
    model5.load_state_dict(model.state_dict())
    seq5 = _seqs(n, 5, (10,))
    x = [enc[seq5[:, j]] for j in range(5)]
    expected = blk(blk(blk(x[0], x[1]), blk(x[2], x[3])), blk(blk(x[4], xe), xe))
    torch.testing.assert_close(model5(seq5)[0], expected)
    assert model5.depth == 3


def _exact_one_hot_block(table: torch.Tensor):
    """An exact binary block for one-hot encoding: x_{ab} = Cᵀ (A x_a + B x_b)², width 2 n².

    With x = e_identity, enc[g] = x_g is a permutation of the standard basis, so
    <enc[a], x_g> = δ_{ag}; the ± pair (enc[a], ±enc[b]) with outputs ±enc[ab]/4 gives
    δ_{ag} δ_{bh} enc[ab] by polarisation.
    """
    n = table.shape[0]
    x = torch.zeros(n, dtype=DT)
    x[0] = 1.0
    enc = x[table]
    rows_a, rows_b, rows_c = [], [], []
    for a in range(n):
        for b in range(n):
            for sgn in (1.0, -1.0):
                rows_a.append(enc[a])
                rows_b.append(sgn * enc[b])
                rows_c.append(sgn * enc[table[a, b]] / 4)
    return enc, torch.stack(rows_a)[None], torch.stack(rows_b)[None], torch.stack(rows_c)[None]


@pytest.mark.parametrize("k", [2, 3, 4])
def test_exact_composition_on_s3(k):
    """Associativity: one exact block makes the RNN and the tree exact for every k (S3)."""
    table = _s3_table()
    enc, a, b, c = _exact_one_hot_block(table)
    n, hidden = enc.shape[0], a.shape[1]
    seq = torch.tensor(list(itertools.product(range(n), repeat=k)))
    target = enc[_compose(table, seq)]
    rnn = QuadraticRNN(enc, k, hidden, 1, dtype=DT)
    tree = TreeNet(enc, k, hidden, 1, dtype=DT)
    with torch.no_grad():
        rnn.W_in.copy_(a)
        rnn.W_drive.copy_(b)
        rnn.W_out.copy_(c)
        rnn.W_mix.copy_(a @ c.mT)
        tree.A.copy_(a)
        tree.B.copy_(b)
        tree.C.copy_(c)
    torch.testing.assert_close(rnn(seq)[0], target, rtol=0, atol=1e-12)
    torch.testing.assert_close(tree(seq)[0], target, rtol=0, atol=1e-12)
    # the translation convention: non-abelian, so the order matters
    if k == 2:
        swapped = enc[_compose(table, seq.flip(-1))]
        assert not torch.allclose(rnn(seq)[0], swapped)


def test_activation_lookup():
    z = torch.linspace(-2, 2, 9, dtype=DT)
    assert torch.equal(get_activation("power", 3)(z), z**3)
    assert torch.equal(get_activation("relu2")(z), torch.relu(z) ** 2)
    assert get_activation("power", 3).degree == 3
    with pytest.raises(ConfigError):
        get_activation("power", 0)


# ---------------------------------------------------------------- fused analytic gradients
@pytest.mark.parametrize("activation", ["power", "square", "relu", "relu2", "linear", "tanh"])
@pytest.mark.parametrize("k", [1, 2, 3, 4])
@pytest.mark.parametrize("layout", ["shared", "per_model", "exhaustive"])
def test_fused_loss_and_grad_equals_autograd(activation: str, k: int, layout: str) -> None:
    import itertools

    from groupcomp.models import per_model_mse

    gen = torch.Generator().manual_seed(k)
    n, H, S, B = 4, 6, 3, 9
    enc = torch.randn(n, n, generator=gen, dtype=torch.float64)
    m = TwoLayerNet(enc, k, H, S, 0.7, activation=activation, generator=gen, dtype=torch.float64)
    if layout == "exhaustive":
        seq = torch.tensor(list(itertools.product(range(n), repeat=k)))
    elif layout == "shared":
        seq = torch.randint(0, n, (B, k), generator=gen)
    else:
        seq = torch.randint(0, n, (S, B, k), generator=gen)
    tgt = torch.randn(*seq.shape[:-1], n, generator=gen, dtype=torch.float64)
    loss = per_model_mse(m(seq), tgt)
    loss.sum().backward()
    expected = [p.grad.clone() for p in (m.W_in, m.W_out)]
    m.zero_grad(set_to_none=True)
    fused = m.loss_and_grad(seq, tgt, exhaustive=layout == "exhaustive")
    assert torch.allclose(fused, loss.detach(), rtol=1e-12, atol=1e-14)
    for got, exp in zip((m.W_in.grad, m.W_out.grad), expected, strict=True):
        assert torch.allclose(got, exp, rtol=1e-10, atol=1e-13)
