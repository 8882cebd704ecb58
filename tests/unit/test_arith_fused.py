"""The fused arithmetic step (``ArithNet.loss_and_grad``, ``ArithObjective``'s fast path) is the
autograd reference path, to rounding (float64): per-row losses, gradients, whole runs."""

from __future__ import annotations

import pytest
import torch

from groupcomp.config import load_config
from groupcomp.config.arith import ArithConfig
from groupcomp.errors import ConfigError
from groupcomp.models import ArithNet
from groupcomp.optim import make_optimizer
from groupcomp.runs import build
from groupcomp.training import Schedule, fit
from groupcomp.training.objectives import arith_loss

F64 = torch.float64


def _tuples(M: int, k: int, S: int, B: int, per_model: bool, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    shape = (S, B, k) if per_model else (B, k)
    x = torch.randint(0, M, shape, generator=g)
    y = torch.randint(0, M, shape[:-1], generator=g)
    return x, y


def _autograd(model: ArithNet, x, y, loss: str, n: int):
    """Per-row losses of every row, and the gradients of Σ_s mean_{b<n} loss (autograd)."""
    model.zero_grad(set_to_none=True)
    out = model(x)  # (S, B, M)
    S, B, M = out.shape
    yy = y.expand(S, B)
    rows = arith_loss(out.reshape(S * B, 1, M), yy.reshape(S * B, 1), loss).view(S, B)
    arith_loss(out[:, :n], yy[:, :n], loss).sum().backward()
    grads = {k: p.grad.clone() for k, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    return rows.detach(), out.detach().argmax(-1) == yy, grads


@pytest.mark.parametrize(
    ("activation", "loss", "k", "S", "per_model", "ridge"),
    [
        ("sqr", "mse", 2, 1, False, False),
        ("sqr", "ce", 2, 3, True, False),
        ("sqr", "mse", 3, 2, True, False),
        ("sqr", "mse", 1, 2, False, False),
        ("relu", "mse", 2, 2, True, False),
        ("tanh", "ce", 2, 1, False, False),
        ("power", "mse", 3, 2, True, False),
        ("linear", "ce", 2, 1, True, False),
        ("sqr", "mse", 2, 2, True, True),
    ],
)
@pytest.mark.parametrize(("M", "chunked"), [(7, False), (16, False), (7, True)])
def test_fused_loss_and_grad_equals_autograd(
    activation, loss, k, S, per_model, ridge, M, chunked
) -> None:
    """M = 16 has no padded output columns, M = 7 has; ``grad_rows`` < B leaves the last
    rows out of the gradient (the test split) while their losses are still returned;
    ``chunked``: rows in chunks of 64 (a chunk boundary inside the training rows, one that
    straddles the train / test boundary, a short last chunk)."""
    model = ArithNet(M, k, 24, S, activation=activation, ridge=ridge, dtype=F64)
    model.check_indices = False
    B, n = (150, 100) if chunked else (40, 29)
    if chunked:
        model._CHUNK_ELEMENTS = 1  # the minimum: 64 rows per chunk
    x, y = _tuples(M, k, S, B, per_model)
    rows, correct, grads = _autograd(model, x, y, loss, n)
    losses, fused_correct = model.loss_and_grad(x, y, loss, grad_rows=n)
    torch.testing.assert_close(losses, rows, rtol=1e-10, atol=1e-12)
    assert torch.equal(fused_correct, correct)
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, grads[name], rtol=1e-10, atol=1e-12)
        # torch's fused CPU Adam reads a gradient as flat memory in the parameter's layout
        assert p.grad.is_contiguous() and p.grad.shape == p.shape
    if ridge:
        assert model.W_out.grad is None  # a buffer: no gradient
    # called again with the same tensors (cached indices) and with default grad_rows = B
    losses2, _ = model.loss_and_grad(x, y, loss, grad_rows=n)
    assert torch.equal(losses2, losses)
    _, _, grads_all = _autograd(model, x, y, loss, B)
    model.loss_and_grad(x, y, loss)
    torch.testing.assert_close(model.W_in.grad, grads_all["W_in"], rtol=1e-10, atol=1e-12)


def test_fused_index_cache_follows_in_place_changes() -> None:
    model = ArithNet(5, 2, 8, 1, dtype=F64)
    x, y = _tuples(5, 2, 1, 12, False)
    model.loss_and_grad(x, y, "mse")
    x[0] = (x[0] + 1) % 5  # same tensor object, new contents
    rows, _, grads = _autograd(model, x, y, "mse", 12)
    losses, _ = model.loss_and_grad(x, y, "mse")
    torch.testing.assert_close(losses, rows, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(model.W_in.grad, grads["W_in"], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "kwargs", [{"embedding": "learned"}, {"layers": 2}, {"activation": "gelu"}]
)
def test_fused_path_not_offered_where_it_does_not_apply(kwargs) -> None:
    model = ArithNet(5, 2, 8, 1, **kwargs)
    assert not model.supports_fused_grad
    x, y = _tuples(5, 2, 1, 6, False)
    with pytest.raises(ConfigError, match="loss_and_grad"):
        model.loss_and_grad(x, y, "mse")


def _fit(overrides: list[str], fused: bool, steps: int):
    cfg = load_config(
        "arith_z23",
        ["group=Z7", "model.hidden=16", "train.dtype=float64", "train.progress=false", *overrides],
        schema=ArithConfig,
    )
    b = build(cfg)
    b.objective.use_fused = fused
    st = fit(b.model, b.objective, b.optimizer, b.data, Schedule(steps=steps), settings=b.settings)
    return b, st


@pytest.mark.parametrize(
    "overrides",
    [
        [],  # Adam with L2 weight decay 1e-4, projected MSE
        ["optim.name=adamw", "optim.weight_decay=0.05"],
        ["loss=ce", "optim.weight_decay=1e-2"],
        ["train.seeds=[0,1,2]"],
        ["train.batch_size=10", "train.seeds=[0,1]"],  # mini-batches: whole split per epoch
        ["model.ridge=true"],
        ["task.k=3", "group=Z4", "model.activation=power"],
    ],
)
def test_fused_training_equals_autograd_training(overrides) -> None:
    b1, s1 = _fit(overrides, True, 40)
    b2, s2 = _fit(overrides, False, 40)
    assert b1.objective.fused(b1.model) and not b2.objective.fused(b2.model)
    for p1, p2 in zip(b1.model.parameters(), b2.model.parameters(), strict=True):
        torch.testing.assert_close(p1, p2, rtol=1e-10, atol=1e-12)
    for key in s1.records:
        torch.testing.assert_close(s1.records[key], s2.records[key], rtol=1e-10, atol=1e-12,
                                   equal_nan=True)  # fmt: skip
        assert torch.equal(s1.records[key].isnan(), s2.records[key].isnan())
    for key in ("train_acc", "test_acc"):  # accuracies are exact fractions in both paths
        torch.testing.assert_close(s1.records[key], s2.records[key], rtol=0, atol=0,
                                   equal_nan=True)  # fmt: skip


def test_fused_seed_in_a_batch_equals_the_seed_alone() -> None:
    batch, sb = _fit(["train.seeds=[3,5]", "optim.name=adamw", "optim.weight_decay=0.1"], True, 30)
    alone, sa = _fit(["train.seeds=[5]", "optim.name=adamw", "optim.weight_decay=0.1"], True, 30)
    torch.testing.assert_close(batch.model.W_in[1:], alone.model.W_in, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(batch.model.W_out[1:], alone.model.W_out, rtol=1e-10, atol=1e-12)
    for key in sb.records:
        torch.testing.assert_close(sb.records[key][:, 1:], sa.records[key], rtol=1e-10,
                                   atol=1e-12, equal_nan=True)  # fmt: skip


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_factory_adam_is_fused_and_equals_the_default_implementation(name: str) -> None:
    """The factory takes torch's fused Adam / AdamW kernel (where torch has it); it follows
    the default (for-loop) implementation to rounding, weight decay included."""
    model = ArithNet(7, 2, 16, 2, dtype=F64)
    ref = ArithNet(7, 2, 16, 2, dtype=F64)
    ref.load_state_dict(model.state_dict())
    opt = make_optimizer(name, model, lr=0.01, weight_decay=0.05, betas=(0.9, 0.99))
    cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
    ref_opt = cls(list(ref.parameters()), lr=0.01, betas=(0.9, 0.99), weight_decay=0.05)
    if not opt.defaults.get("fused"):
        pytest.skip("this torch has no fused CPU Adam")
    g = torch.Generator().manual_seed(0)
    for _ in range(50):
        for p, q in zip(model.parameters(), ref.parameters(), strict=True):
            p.grad = torch.randn(p.shape, generator=g, dtype=F64)
            q.grad = p.grad.clone()
        opt.step()
        ref_opt.step()
    for p, q in zip(model.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("exhaustive", [True, False])
def test_two_layer_fused_gradients_are_contiguous(exhaustive: bool) -> None:
    """The sequence models' fused gradients can also meet the fused Adam kernel."""
    from groupcomp.models import TwoLayerNet

    enc = torch.randn(5, 5, generator=torch.Generator().manual_seed(0), dtype=F64)
    model = TwoLayerNet(enc, 2, 8, 3, dtype=F64)
    seq = torch.cartesian_prod(torch.arange(5), torch.arange(5))
    if not exhaustive:
        seq = seq[torch.randperm(25, generator=torch.Generator().manual_seed(1))[:17]]
    model.loss_and_grad(seq, torch.randn(len(seq), 5, dtype=F64), exhaustive=exhaustive)
    for p in model.parameters():
        assert p.grad.is_contiguous() and p.grad.shape == p.shape
