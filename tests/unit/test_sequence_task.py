"""SequenceTask: the translation convention on non-abelian groups, enumeration, sampling, splits."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from groupcomp import fourier
from groupcomp.errors import ConfigError
from groupcomp.groups import alternating, cyclic, dihedral, quaternion, symmetric
from groupcomp.tasks import SequenceTask
from groupcomp.templates import gaussian_template

NON_ABELIAN = {"D3": lambda: dihedral(3), "S4": lambda: symmetric(4), "Q8": quaternion}


def _task(G, k: int, seed: int = 0) -> SequenceTask:
    # a generic (non class function) template, so convention mistakes are visible
    return SequenceTask(G, gaussian_template(G, np.random.default_rng(seed)), k)


def _loop_product(G, seq) -> int:
    acc = 0  # identity
    for g in seq:
        acc = int(G.table[acc, int(g)])
    return acc


@pytest.mark.parametrize("name", list(NON_ABELIAN))
def test_targets_follow_cayley_table_convention(name):
    G = NON_ABELIAN[name]()
    assert not G.is_abelian
    task = _task(G, k=3)
    x = task.template
    seq = task.sample(64, torch.Generator().manual_seed(1))
    tgt = task.targets(seq, dtype=torch.float64).numpy()
    inputs = task.dense(seq, dtype=torch.float64).numpy()
    assert tgt.shape == (64, G.order) and inputs.shape == (64, 3, G.order)
    for b in range(seq.shape[0]):
        prod = _loop_product(G, seq[b].tolist())
        assert int(task.products(seq[b : b + 1])[0]) == prod
        for h in range(G.order):
            assert tgt[b, h] == x[G.table[prod, h]]  # x_{g1 g2 g3}(h) = x(g1 g2 g3 · h)
            for j in range(3):
                assert inputs[b, j, h] == x[G.table[int(seq[b, j]), h]]


@pytest.mark.parametrize("name", list(NON_ABELIAN))
def test_encoding_fourier_identity(name):
    """x̂_g[π] = x̂[π] π(g) for every row of the encoding, and the target has x̂ π(g1)⋯π(gk)."""
    G = NON_ABELIAN[name]()
    task = _task(G, k=3, seed=2)
    enc = task.encoding
    np.testing.assert_array_equal(enc, task.template[G.table])
    enc_hat = fourier.transform(G, enc)  # list of (n, D, D)
    x_hat = fourier.transform(G, task.template)
    for r, eh, xh in zip(G.irreps(), enc_hat, x_hat, strict=True):
        np.testing.assert_allclose(eh, xh[None] @ r.matrices, atol=1e-10)
    seq = task.sample(16, torch.Generator().manual_seed(3))
    tgt_hat = fourier.transform(G, task.targets(seq, dtype=torch.float64).numpy())
    s = seq.numpy()
    for r, th, xh in zip(G.irreps(), tgt_hat, x_hat, strict=True):
        m = r.matrices
        np.testing.assert_allclose(th, xh[None] @ m[s[:, 0]] @ m[s[:, 1]] @ m[s[:, 2]], atol=1e-9)


def test_exhaustive_order_and_size():
    G = dihedral(3)
    task = _task(G, k=3)
    assert task.num_sequences == 216 and task.n == 6 and task.k == 3 and task.G is G
    seq = task.exhaustive()
    assert seq.dtype == torch.long and seq.shape == (216, 3)
    assert seq.tolist() == [list(t) for t in itertools.product(range(6), repeat=3)]
    prods = task.products(seq).tolist()
    assert prods == [_loop_product(G, s) for s in seq.tolist()]
    # every product is hit equally often (n^{k-1} times)
    assert np.all(np.bincount(prods, minlength=6) == 36)


def test_prefix_products():
    G = symmetric(4)
    task = _task(G, k=4)
    seq = task.sample(50, torch.Generator().manual_seed(0))
    pre = task.prefix_products(seq)
    assert pre.shape == (50, 3)
    for b in range(50):
        s = seq[b].tolist()
        assert pre[b].tolist() == [_loop_product(G, s[: t + 1]) for t in range(1, 4)]
    assert torch.equal(pre[:, -1], task.products(seq))


def test_batched_leading_dims():
    task = _task(dihedral(4), k=3)
    seq = task.sample(24, torch.Generator().manual_seed(0)).reshape(2, 12, 3)
    assert task.products(seq).shape == (2, 12)
    assert task.targets(seq).shape == (2, 12, 8)
    assert task.dense(seq).shape == (2, 12, 3, 8)
    assert torch.equal(task.products(seq).reshape(-1), task.products(seq.reshape(-1, 3)))


def test_exhaustive_limit_suggests_sampling():
    task = _task(symmetric(4), k=5)  # 24^5 ≈ 8e6 > 2e6
    with pytest.raises(ConfigError, match=r"^SequenceTask: .*max_exhaustive.*sample\(\)"):
        task.exhaustive()
    with pytest.raises(ConfigError, match=r"sample\(\)"):
        task.split(0.1, torch.Generator().manual_seed(0))
    small = SequenceTask(cyclic(3), np.zeros(3), k=3, max_exhaustive=26)
    with pytest.raises(ConfigError, match="max_exhaustive"):
        small.exhaustive()


def test_sample_shape_range_reproducible():
    task = _task(alternating(5), k=6)  # 60^6 ≈ 4.7e10 sequences: sampling must not enumerate
    a = task.sample(1000, torch.Generator().manual_seed(7))
    b = task.sample(1000, torch.Generator().manual_seed(7))
    c = task.sample(1000, torch.Generator().manual_seed(8))
    assert a.shape == (1000, 6) and a.dtype == torch.long
    assert int(a.min()) >= 0 and int(a.max()) == 59
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert task.targets(a).shape == (1000, 60)


def test_split_disjoint_and_covering():
    task = _task(dihedral(3), k=3)
    train, val = task.split(0.25, torch.Generator().manual_seed(0))
    assert train.shape == (162, 3) and val.shape == (54, 3)
    code = lambda s: set((s[:, 0] * 36 + s[:, 1] * 6 + s[:, 2]).tolist())  # noqa: E731
    assert code(train).isdisjoint(code(val))
    assert code(train) | code(val) == set(range(216))
    train2, val2 = task.split(0.25, torch.Generator().manual_seed(0))
    assert torch.equal(train, train2) and torch.equal(val, val2)
    _, val3 = task.split(0.25, torch.Generator().manual_seed(1))
    assert not torch.equal(val, val3)
    full, empty = task.split(0.0, torch.Generator().manual_seed(0))
    assert full.shape == (216, 3) and empty.shape == (0, 3)
    with pytest.raises(ConfigError, match=r"^SequenceTask\.split: val_fraction must be in \[0, 1"):
        task.split(1.0)


def test_minibatches_cover_each_row_once():
    seq = _task(cyclic(5), k=3).exhaustive()
    batches = list(SequenceTask.minibatches(seq, 32, torch.Generator().manual_seed(0)))
    assert [b.shape[0] for b in batches] == [32, 32, 32, 29]
    allrows = torch.cat(batches)
    assert sorted(map(tuple, allrows.tolist())) == sorted(map(tuple, seq.tolist()))
    assert not torch.equal(allrows, seq)  # shuffled
    dropped = list(SequenceTask.minibatches(seq, 32, torch.Generator(), drop_last=True))
    assert [b.shape[0] for b in dropped] == [32, 32, 32]
    with pytest.raises(ConfigError, match=r"^SequenceTask\.minibatches: batch_size must be"):
        next(SequenceTask.minibatches(seq, 0))


def test_encoding_torch_and_initial_loss():
    G = quaternion()
    task = _task(G, k=2)
    e = task.encoding_torch(torch.float64)
    assert e.dtype == torch.float64 and e.shape == (8, 8)
    np.testing.assert_array_equal(e.numpy(), task.encoding)
    assert task.encoding_torch().dtype == torch.float32
    loss = float(task.targets(task.exhaustive(), torch.float64).pow(2).mean())
    np.testing.assert_allclose(loss, task.initial_loss, rtol=1e-12)
    np.testing.assert_allclose(task.initial_loss, np.mean(task.template**2), rtol=1e-12)


def test_validation_errors():
    G = dihedral(3)
    with pytest.raises(ConfigError, match=r"^SequenceTask: k must be an integer >= 2 .*got 1$"):
        SequenceTask(G, np.zeros(6), k=1)
    with pytest.raises(ConfigError, match=r"^SequenceTask: k must be an integer >= 2"):
        SequenceTask(G, np.zeros(6), k=2.5)
    with pytest.raises(ConfigError, match="template"):
        SequenceTask(G, np.zeros(5), k=2)
    task = SequenceTask(G, np.zeros(6), k=2)
    with pytest.raises(ValueError, match=r"\(\.\.\., 2\)"):
        task.products(torch.zeros(4, 3, dtype=torch.long))
