"""Tests of groupcomp.optim: per-neuron SGD, hybrid optimiser, Muon, factory, ensembles."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from groupcomp.errors import ConfigError
from groupcomp.models import QuadraticRNN, TreeNet, TwoLayerNet, per_model_mse
from groupcomp.optim import (
    OPTIMIZERS,
    HybridRNNOptimizer,
    Muon,
    PerNeuronSGD,
    make_optimizer,
    newton_schulz,
)

DT = torch.float64


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(*shape, seed=0):
    return torch.randn(*shape, generator=_gen(seed), dtype=DT)


def _params_with_grads(seed=0, S=2, H=3):
    """Two neuron params (S, H, 2, 4) and (S, H, 4) with fixed gradients."""
    a = nn.Parameter(_randn(S, H, 2, 4, seed=seed))
    b = nn.Parameter(_randn(S, H, 4, seed=seed + 1))
    a.grad = _randn(S, H, 2, 4, seed=seed + 2)
    b.grad = _randn(S, H, 4, seed=seed + 3)
    return a, b


# --------------------------------------------------------------------------- PerNeuronSGD
@pytest.mark.parametrize("degree", [3, 4, 2.5])
def test_per_neuron_step_matches_formula(degree):
    a, b = _params_with_grads()
    a0, b0 = a.detach().clone(), b.detach().clone()
    lr = 0.1
    PerNeuronSGD([a, b], lr=lr, degree=degree).step()
    for s in range(2):
        for i in range(3):
            theta = torch.cat([a0[s, i].reshape(-1), b0[s, i].reshape(-1)])
            grad = torch.cat([a.grad[s, i].reshape(-1), b.grad[s, i].reshape(-1)])
            new = theta - lr * theta.norm() ** (2 - degree) * grad
            got = torch.cat([a[s, i].reshape(-1), b[s, i].reshape(-1)]).detach()
            torch.testing.assert_close(got, new)


@pytest.mark.parametrize("degree", [2, None])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_per_neuron_degree_two_is_plain_sgd(degree, momentum):
    a, b = _params_with_grads()
    a2, b2 = nn.Parameter(a.detach().clone()), nn.Parameter(b.detach().clone())
    opt = PerNeuronSGD([a, b], lr=0.05, degree=degree, momentum=momentum)
    ref = torch.optim.SGD([a2, b2], lr=0.05, momentum=momentum)
    for t in range(3):
        for p, q, seed in ((a, a2, 10 + t), (b, b2, 20 + t)):
            p.grad = _randn(*p.shape, seed=seed)
            q.grad = p.grad.clone()
        opt.step()
        ref.step()
    torch.testing.assert_close(a, a2)
    torch.testing.assert_close(b, b2)


def test_per_neuron_vectorised_over_models_and_momentum_state():
    S = 3
    a, b = _params_with_grads(S=S)
    singles = [
        (nn.Parameter(a.detach()[s : s + 1].clone()), nn.Parameter(b.detach()[s : s + 1].clone()))
        for s in range(S)
    ]
    opt = PerNeuronSGD([a, b], lr=0.02, degree=4, momentum=0.5)
    opts = [PerNeuronSGD(list(pair), lr=0.02, degree=4, momentum=0.5) for pair in singles]
    for t in range(3):
        a.grad = _randn(*a.shape, seed=30 + t)
        b.grad = _randn(*b.shape, seed=40 + t)
        for s, (pa, pb) in enumerate(singles):
            pa.grad = a.grad[s : s + 1].clone()
            pb.grad = b.grad[s : s + 1].clone()
            opts[s].step()
        opt.step()
    for s, (pa, pb) in enumerate(singles):
        torch.testing.assert_close(a[s : s + 1], pa)
        torch.testing.assert_close(b[s : s + 1], pb)


def test_per_neuron_zero_norm_is_finite():
    a = nn.Parameter(torch.zeros(1, 2, 3, dtype=DT))
    a.grad = torch.zeros_like(a)
    a.grad[0, 1] = 1.0
    with torch.no_grad():
        a[0, 1] = 1.0
    PerNeuronSGD([a], lr=0.1, degree=4).step()
    assert torch.isfinite(a).all()
    assert torch.equal(a[0, 0], torch.zeros(3, dtype=DT))


def test_per_neuron_rejects_mismatched_neuron_axes():
    a = nn.Parameter(torch.zeros(2, 3, 4))
    b = nn.Parameter(torch.zeros(2, 5, 4))
    with pytest.raises(ValueError):
        PerNeuronSGD([a, b], lr=0.1, degree=3)


def test_per_neuron_state_dict_roundtrip():
    a, b = _params_with_grads()
    opt = PerNeuronSGD([a, b], lr=0.05, degree=3, momentum=0.9)
    opt.step()
    a2, b2 = nn.Parameter(a.detach().clone()), nn.Parameter(b.detach().clone())
    opt2 = PerNeuronSGD([a2, b2], lr=1.0, degree=3, momentum=0.9)
    opt2.load_state_dict(copy.deepcopy(opt.state_dict()))
    assert opt2.param_groups[0]["lr"] == 0.05
    for p, q in ((a, a2), (b, b2)):
        q.grad = p.grad.clone()
    opt.step()
    opt2.step()
    torch.testing.assert_close(a, a2)
    torch.testing.assert_close(b, b2)


# --------------------------------------------------------------------------- Hybrid
def test_hybrid_equals_per_neuron_plus_adam():
    a, b = _params_with_grads()
    m = nn.Parameter(_randn(2, 3, 3, seed=50))
    pa, pb, pm = (nn.Parameter(p.detach().clone()) for p in (a, b, m))
    hyb = HybridRNNOptimizer([a, b], [m], lr=0.03, degree=3, adam_lr=0.01, betas=(0.8, 0.99))
    pn = PerNeuronSGD([pa, pb], lr=0.03, degree=3)
    adam = torch.optim.Adam([pm], lr=0.01, betas=(0.8, 0.99))
    for t in range(4):
        for p, q, seed in ((a, pa, 60 + t), (b, pb, 70 + t), (m, pm, 80 + t)):
            p.grad = _randn(*p.shape, seed=seed)
            q.grad = p.grad.clone()
        hyb.step()
        pn.step()
        adam.step()
    for p, q in ((a, pa), (b, pb), (m, pm)):
        torch.testing.assert_close(p, q)
    assert [g["kind"] for g in hyb.param_groups] == ["per_neuron", "adam"]
    sd = copy.deepcopy(hyb.state_dict())
    hyb2 = HybridRNNOptimizer([pa, pb], [pm], lr=0.03, degree=3, adam_lr=0.01)
    hyb2.load_state_dict(sd)
    assert hyb2.state[pm]["step"] == 4


# --------------------------------------------------------------------------- Muon
@pytest.mark.parametrize("shape", [(3, 8, 5), (2, 5, 8), (4, 6, 6)])
def test_newton_schulz_singular_values(shape):
    g = _randn(*shape, seed=1)
    o = newton_schulz(g, steps=5)
    sv = torch.linalg.svdvals(o)
    assert sv.min() > 0.5 and sv.max() < 1.5
    # unlike g itself: it really changed the spectrum
    assert torch.linalg.svdvals(g).max() > 1.5
    # batched equals per slice
    for s in range(shape[0]):
        torch.testing.assert_close(o[s], newton_schulz(g[s], steps=5))


def test_muon_update_is_orthogonalised_per_model():
    p = nn.Parameter(_randn(3, 6, 2, 5, seed=2))  # (S, H, k, n): each [s] is a 6 x 10 matrix
    p0 = p.detach().clone()
    p.grad = _randn(*p.shape, seed=3)
    lr = 0.1
    Muon([p], lr=lr, momentum=0.0).step()
    update = ((p0 - p.detach()) / lr).reshape(3, 6, 10)  # scale max(1, 6/10)^0.5 = 1
    sv = torch.linalg.svdvals(update)
    assert sv.min() > 0.5 and sv.max() < 1.5
    # and it is aligned with the gradient: <update, grad> > 0 for every model
    assert (update * p.grad.reshape(3, 6, 10)).sum(dim=(1, 2)).min() > 0


def test_muon_vector_fallback_is_sgd_nesterov():
    v = nn.Parameter(_randn(2, 7, seed=4))  # per-model vectors: no orthogonalisation
    w = nn.Parameter(v.detach().clone())
    opt = Muon([v], lr=0.05, momentum=0.9, nesterov=True)
    ref = torch.optim.SGD([w], lr=0.05, momentum=0.9, nesterov=True)
    for t in range(3):
        v.grad = _randn(2, 7, seed=90 + t)
        w.grad = v.grad.clone()
        opt.step()
        ref.step()
    torch.testing.assert_close(v, w)


def test_muon_decreases_least_squares_loss():
    S, H, m, N = 2, 6, 4, 50
    x = _randn(N, m, seed=5)
    target = _randn(S, H, m, seed=6)
    y = torch.einsum("shm,nm->snh", target, x)
    w = nn.Parameter(torch.zeros(S, H, m, dtype=DT))
    opt = Muon([w], lr=0.02)

    def loss_fn():
        return (torch.einsum("shm,nm->snh", w, x) - y).pow(2).mean(dim=(1, 2))

    first = loss_fn().detach()
    for _ in range(150):
        opt.zero_grad()
        loss_fn().sum().backward()
        opt.step()
    last = loss_fn().detach()
    assert (last < 0.05 * first).all(), (first, last)


# --------------------------------------------------------------------------- factory
def _models(S=2):
    enc = _randn(5, 5, seed=7)
    kw = dict(num_models=S, init_scale=0.5, dtype=DT)
    return {
        "two": TwoLayerNet(enc, 3, 6, generator=_gen(1), **kw),
        "rnn": QuadraticRNN(enc, 3, 6, generator=_gen(2), **kw),
        "tree": TreeNet(enc, 3, 6, generator=_gen(3), **kw),
    }


def test_make_optimizer_auto_choices():
    models = _models()
    assert type(make_optimizer("auto", models["two"], 0.1)) is PerNeuronSGD
    assert type(make_optimizer("auto", models["tree"], 0.1)) is PerNeuronSGD
    hyb = make_optimizer("auto", models["rnn"], 0.1, adam_lr=0.002)
    assert type(hyb) is HybridRNNOptimizer
    assert hyb.param_groups[1]["lr"] == 0.002
    assert hyb.param_groups[1]["params"][0] is models["rnn"].W_mix
    pn = make_optimizer("per_neuron_sgd", models["two"], 0.1)
    assert pn.param_groups[0]["degree"] == models["two"].degree == 4
    assert type(make_optimizer("muon", models["two"], 0.1)) is Muon
    assert make_optimizer("muon", models["two"], 0.1).param_groups[0]["momentum"] == 0.95


def test_make_optimizer_rejects_unknown_names():
    with pytest.raises(ConfigError) as info:
        make_optimizer("lbfgs", _models()["two"], 0.1)
    msg = str(info.value)
    assert msg.startswith("resolve_optimizer_name: name must be one of") and "lbfgs" in msg
    for name in OPTIMIZERS:
        assert name in msg
    with pytest.raises(ConfigError, match="^make_optimizer: weight_decay must be 0"):
        make_optimizer("per_neuron_sgd", _models()["two"], 0.1, weight_decay=0.1)
    with pytest.raises(ConfigError, match="^make_optimizer: lr must be a number > 0"):
        make_optimizer("sgd", _models()["two"], -1.0)
    with pytest.raises(ConfigError, match=r"^make_optimizer: momentum must be in \[0, 1\)"):
        make_optimizer("sgd", _models()["two"], 0.1, momentum=1.0)


@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("kind", ["two", "rnn", "tree"])
def test_ensemble_independence(name, kind):
    """Training S models batched == training each alone (loss = Σ_s mean loss of model s)."""
    S, B, steps = 3, 16, 3
    model = _models(S)[kind]
    n, k = model.n, model.k
    seq = torch.randint(0, n, (S, B, k), generator=_gen(11))
    target = model.encoding[seq[..., 0]]  # any fixed per-model target
    singles = [model.select(s) for s in range(S)]
    lr = 0.05

    def train(m, seq_m, target_m):
        opt = make_optimizer(name, m, lr, momentum=0.5 if name == "sgd" else None)
        for _ in range(steps):
            opt.zero_grad()
            per_model_mse(m(seq_m), target_m).sum().backward()
            opt.step()

    train(model, seq, target)
    for s, single in enumerate(singles):
        train(single, seq[s : s + 1], target[s : s + 1])
        for p_batch, p_single in zip(model.parameters(), single.parameters(), strict=True):
            torch.testing.assert_close(p_batch[s : s + 1], p_single, rtol=1e-9, atol=1e-12)
    # it actually trained
    fresh = _models(S)[kind]
    assert not torch.allclose(model.neuron_params()[0], fresh.neuron_params()[0])


def test_step_rule_reads_the_update_as_typed_values() -> None:
    """The compiled engine's only view of an optimiser: lr, degree, momentum, eps per group."""
    from groupcomp.optim import StepRule, step_rule

    w = torch.nn.Parameter(torch.zeros(1, 3, 2))
    (rule,) = step_rule(PerNeuronSGD([w], lr=0.25, degree=3, momentum=0.5, eps=1e-9))
    assert rule == StepRule("per_neuron", (w,), 0.25, 3.0, 0.5, 0.0, 1e-9)
    (rule,) = step_rule(PerNeuronSGD([w], lr=0.1, degree=None))
    assert rule.degree == 2.0  # no rescaling = plain SGD's exponent
    (rule,) = step_rule(torch.optim.SGD([w], lr=0.5, momentum=0.9, weight_decay=0.01))
    assert (rule.kind, rule.lr, rule.degree, rule.momentum, rule.weight_decay) == (
        "sgd",
        0.5,
        2.0,
        0.9,
        0.01,
    )
    assert "Adam" in step_rule(torch.optim.Adam([w], lr=1e-3))
