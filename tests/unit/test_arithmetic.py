"""Group-arithmetic tasks, expression parser, splits, ArithNet (ridge, Muon), config, analysis."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
import torch

from groupcomp.analysis.arith import (
    first_epoch_reaching,
    grokking_epochs,
    order_histogram,
    solution_orders,
    sum_potentials,
)
from groupcomp.config import load_config, to_yaml
from groupcomp.config.arith import ArithConfig
from groupcomp.errors import ConfigError
from groupcomp.groups import parse
from groupcomp.models import ArithNet
from groupcomp.models.arith import ridge_solve
from groupcomp.optim import Muon, make_optimizer, newton_schulz
from groupcomp.tasks.arithmetic import (
    ArithmeticTask,
    centred_onehot,
    critical_count,
    make_split,
    make_task,
    parse_expression,
    split_counts,
)
from groupcomp.training import arith_loss

# ------------------------------------------------------------------------------------ tasks


@pytest.mark.parametrize("spec", ["Z23", "Z2xZ3xZ4", "S4", "D4"])
def test_compose_targets_equal_cayley_table(spec: str) -> None:
    G = parse(spec)
    task = make_task(spec)
    assert task.kind == "compose" and task.M == G.order and task.num_tuples == G.order**2
    tup = task.tuples().numpy()
    # lexicographic order, last operand fastest
    assert tup[1].tolist() == [0, 1] and tup[G.order].tolist() == [1, 0]
    res = task.results().numpy()
    assert np.array_equal(res, G.table[tup[:, 0], tup[:, 1]])
    # targets() on an arbitrary (shuffled, batched) set of tuples
    idx = torch.randperm(task.num_tuples, generator=torch.Generator().manual_seed(0))[:50]
    t = task.tuples()[idx].view(5, 10, 2)
    assert torch.equal(task.targets(t), torch.from_numpy(res)[idx].view(5, 10))


def test_cyclic_compose_is_modular_addition_and_noncommutative_order() -> None:
    task = make_task("Z23")
    tup = task.tuples().numpy()
    assert np.array_equal(task.results().numpy(), (tup[:, 0] + tup[:, 1]) % 23)
    # non-abelian: the product is ordered (a_1 leftmost) and k = 3 works
    G = parse("D3")
    t3 = make_task("D3", num_operands=3)
    tup = t3.tuples().numpy()
    expect = G.table[G.table[tup[:, 0], tup[:, 1]], tup[:, 2]]
    assert np.array_equal(t3.results().numpy(), expect)
    assert not np.array_equal(
        make_task("D3").results().numpy(), G.table.T[tuple(make_task("D3").tuples().numpy().T)]
    )


def test_modular_multiplication() -> None:
    task = make_task("Z23", op="mul")
    assert task.M == 22 and task.operand_group is not None and task.operand_group.order == 22
    tup = task.tuples().numpy()
    assert np.array_equal(task.results().numpy(), ((tup[:, 0] + 1) * (tup[:, 1] + 1)) % 23 - 1)
    assert task.operand_group.is_abelian
    # the operand group's table is the task (symbol 0 = residue 1 = identity)
    assert np.array_equal(task.operand_group.table[tup[:, 0], tup[:, 1]], task.results().numpy())
    allres = make_task("Z7", op="mul_all", num_operands=3)
    tup = allres.tuples().numpy()
    assert allres.M == 7 and allres.operand_group is None
    assert np.array_equal(allres.results().numpy(), np.prod(tup, axis=1) % 7)
    with pytest.raises(ConfigError, match=r"^make_task: op='mul' needs group = Z<p> with p a prim"):
        make_task("Z24", op="mul")
    with pytest.raises(ConfigError, match=r"^make_task: op='mul' needs group = a cyclic group"):
        make_task("S4", op="mul")
    with pytest.raises(ConfigError, match=r"^ArithmeticTask\.mul: p must be a prime .*got 24"):
        ArithmeticTask.mul(24)
    with pytest.raises(ConfigError, match=r"^resolve_op: op must be one of auto, .*got 'div'"):
        make_task("Z5", op="div")


# ------------------------------------------------------------------------------- expressions


@pytest.mark.parametrize("M", [23, 10])
def test_expression_x2_xy_y2_matches_direct_evaluation(M: int) -> None:
    task = make_task(f"Z{M}", expression="x^2+xy+y^2")
    assert task.kind == "expr" and task.M == M
    direct = np.array([(x * x + x * y + y * y) % M for x in range(M) for y in range(M)])
    assert np.array_equal(task.results().numpy(), direct)
    assert parse_expression("x^2+xy+y^2").canonical() == "((x^2+(x*y))+y^2)"


@pytest.mark.parametrize(
    ("text", "fn"),
    [
        ("2+3*4", lambda x, y: 14),
        ("-x^2", lambda x, y: -(x**2)),
        ("x^2^2", lambda x, y: x**4),  # right-associative
        ("2x + 3y", lambda x, y: 2 * x + 3 * y),
        ("(x+y)^3", lambda x, y: (x + y) ** 3),
        ("x**2 - -y", lambda x, y: x**2 + y),
        ("x y (x - y)", lambda x, y: x * y * (x - y)),
        ("x^(1+2) * y^0", lambda x, y: x**3),
        ("x - y - 1", lambda x, y: (x - y) - 1),
        ("x^100", lambda x, y: pow(x, 100, 1_000_003)),
    ],
)
def test_expression_precedence(text: str, fn) -> None:
    e = parse_expression(text)
    for M in (7, 23):
        for x, y in itertools.product(range(M), repeat=2):
            assert int(e.evaluate([x, y], M)) == fn(x, y) % M if "100" not in text else True
    if "100" in text:
        M = 23
        vals = e.evaluate(np.arange(M)[:, None].repeat(2, 1), M)
        assert vals.tolist() == [pow(x, 100, M) for x in range(M)]


@pytest.mark.parametrize(
    ("text", "pos", "what"),
    [
        ("x^^2", 2, "expected an exponent"),
        ("import os", 0, "unknown name 'import'"),
        ("x+", 2, "end of expression"),
        ("(x+y", 4, "expected ')'"),
        ("x)", 1, "unexpected ')'"),
        ("x^y", 2, "constant"),
        ("x^-1", 2, "negative exponent"),
        ("", 0, "empty expression"),
        ("3 $ 4", 2, "unexpected character '$'"),
        ("__import__('os')", 0, "unknown name"),
    ],
)
def test_expression_errors_name_key_expression_and_position(text: str, pos: int, what: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_expression(text)
    msg = str(err.value)
    assert msg.startswith("expression:")
    assert repr(text) in msg and f"position {pos}" in msg and what in msg
    with pytest.raises(ConfigError, match="^task.expression:"):  # the caller may name the key
        parse_expression(text, key="task.expression")


def test_expression_variables_vs_operands() -> None:
    with pytest.raises(
        ConfigError, match=r"^ArithmeticTask\.expr: expression 'x\+y\+z' uses variable 'z'"
    ):
        make_task("Z5", expression="x+y+z", num_operands=2)
    t = make_task("Z5", expression="x+y+z", num_operands=3)
    tup = t.tuples().numpy()
    assert np.array_equal(t.results().numpy(), tup.sum(1) % 5)
    with pytest.raises(ConfigError, match="^make_task: expression is only used with op='expr'"):
        make_task("Z5", op="compose", expression="x+y")
    with pytest.raises(ConfigError, match="^make_task: expression is required"):
        make_task("Z5", op="expr")
    with pytest.raises(ConfigError, match="^make_task: op='expr' needs group = a cyclic group"):
        make_task("S3", expression="x+y")


# ------------------------------------------------------------------------------------ splits


@pytest.mark.parametrize(
    ("M", "n_train", "pct"),
    [(23, 198, 37.5), (71, 832, 16.5), (113, 1468, 11.5), (127, 1691, 10.5)],
)
def test_critical_split_sizes_match_theory(M: int, n_train: int, pct: float) -> None:
    assert critical_count(M) == pytest.approx(2.7482 * M * math.log(M))
    task = ArithmeticTask.compose(parse(f"Z{M}"))
    c = split_counts(task, "critical")
    assert c.n_train == n_train and c.n_test == M * M - n_train
    assert 100 * c.critical_count / (M * M) == pytest.approx(pct, abs=0.05)
    half = split_counts(task, "critical", offset=0.5)
    assert half.n_train == round(0.5 * c.critical_count)


def test_split_nonabelian_correction_and_fraction() -> None:
    task = make_task("S4")  # complex irrep degrees 1, 1, 2, 3, 3 -> d_max/2 = 1.5
    c = split_counts(task, "critical")
    assert c.correction == 1.5
    assert c.n_train == round(2.7482 * 24 * math.log(24) * 1.5)
    assert split_counts(task, "critical", correction=False).correction == 1.0
    assert split_counts(make_task("Z2xZ3xZ4"), "critical").correction == 1.0
    f = split_counts(make_task("Z23"), "fraction", train_fraction=0.3)
    assert (f.n_train, f.n_test) == (round(0.3 * 529), 529 - round(0.3 * 529))


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        (dict(mode="fraction", train_fraction=0.0), "train_fraction must be in"),
        (dict(mode="fraction", train_fraction=1.0), "train_fraction must be in"),
        (dict(mode="fraction", train_fraction=1e-5), "train_fraction = "),
        (dict(mode="critical", offset=10.0), "offset = "),
        (dict(mode="critical", offset=-1.0), "offset must be"),
        (dict(mode="critical", c=0.0), "c must be"),
        (dict(mode="half"), "mode must be one of fraction, critical"),
    ],
)
def test_split_errors_name_the_parameter(kwargs: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=f"^split_counts: {key}"):
        split_counts(make_task("Z7"), **kwargs)


def test_make_split_is_a_seeded_partition() -> None:
    task = make_task("Z11")
    counts = split_counts(task, "fraction", train_fraction=0.4)
    sp = make_split(task, counts, [0, 1, 0])
    assert sp.train.shape == (3, counts.n_train, 2) and sp.test.shape == (3, counts.n_test, 2)
    for s in range(3):
        allidx = torch.cat([sp.train_idx[s], sp.test_idx[s]]).sort().values
        assert torch.equal(allidx, torch.arange(121))
        assert torch.equal(sp.train_y[s], task.targets(sp.train[s]))
    assert torch.equal(sp.train_idx[0], sp.train_idx[2])
    assert not torch.equal(sp.train_idx[0], sp.train_idx[1])


# -------------------------------------------------------------------------------- losses


def test_mse_targets_are_centred_and_loss_projects() -> None:
    M = 23
    y = torch.arange(M)
    t = centred_onehot(y, M, torch.float64)
    P = torch.eye(M, dtype=torch.float64) - torch.ones(M, M, dtype=torch.float64) / M
    assert torch.allclose(t.sum(-1), torch.zeros(M, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(t, torch.eye(M, dtype=torch.float64) @ P)
    zero = torch.zeros(1, M, M, dtype=torch.float64)
    assert float(arith_loss(zero, y[None], "mse")) == pytest.approx((M - 1) / M)
    o = torch.randn(2, M, M, dtype=torch.float64)
    shifted = o + torch.randn(2, M, 1, dtype=torch.float64)  # constant per output vector
    assert torch.allclose(
        arith_loss(o, y.expand(2, M), "mse"), arith_loss(shifted, y.expand(2, M), "mse")
    )
    # explicit: ‖P o − P e_y‖²
    direct = ((o @ P - t) ** 2).sum(-1).mean(-1)
    assert torch.allclose(arith_loss(o, y.expand(2, M), "mse"), direct)
    ce = arith_loss(o, y.expand(2, M), "ce")
    assert torch.allclose(ce[0], torch.nn.functional.cross_entropy(o[0], y))


# --------------------------------------------------------------------------------- model


def test_arithnet_onehot_matches_cogs_formula_and_dense() -> None:
    M, H = 7, 16
    net = ArithNet(M, 2, H, 3, activation="sqr", generator=torch.Generator().manual_seed(1))
    tup = make_task("Z7").tuples()
    out = net(tup)
    assert out.shape == (3, 49, M)
    Wa, Wb, Wc = net.W_in[:, :, 0], net.W_in[:, :, 1], net.W_out
    z = Wa[:, :, tup[:, 0]] + Wb[:, :, tup[:, 1]]  # (S, H, B)
    expect = torch.einsum("shb,shm->sbm", z**2, Wc)
    assert torch.allclose(out, expect, atol=1e-5)
    dense = torch.nn.functional.one_hot(tup, M).float()
    assert torch.allclose(net.forward_dense(dense), out, atol=1e-5)
    per_model = tup.expand(3, 49, 2)
    assert torch.allclose(net(per_model), out)
    assert net.degree == 3
    assert [p.shape for p in net.neuron_params()] == [(3, H, 2, M), (3, H, M)]
    assert net.other_params() == []


def test_arithnet_learned_embedding_layers_and_activations() -> None:
    for act in ("relu", "silu", "relu2", "sqr"):
        net = ArithNet(5, 3, 8, 2, activation=act, embedding="learned", embed_dim=4, layers=3)
        out = net(torch.tensor([[0, 1, 2], [4, 4, 4]]))
        assert out.shape == (2, 2, 5) and torch.isfinite(out).all()
        assert net.degree is None
        shapes = [tuple(p.shape) for p in net.other_params()]
        assert shapes == [(2, 5, 4), (2, 8, 8), (2, 8, 8)]
        dense = torch.nn.functional.one_hot(torch.tensor([[0, 1, 2], [4, 4, 4]]), 5).float()
        assert torch.allclose(net.forward_dense(dense), out, atol=1e-5)
    with pytest.raises(ConfigError, match="^ArithNet: activation must be one of .*'cube'"):
        ArithNet(5, 2, 8, activation="cube")
    with pytest.raises(ConfigError, match="^ArithNet: embed_dim must equal M = 5"):
        ArithNet(5, 2, 8, embedding="onehot", embed_dim=3)
    with pytest.raises(ConfigError, match="^ArithNet: embedding must be one of .*'random'"):
        ArithNet(5, 2, 8, embedding="random")
    with pytest.raises(ConfigError, match="^ArithNet: layers must be an integer >= 1"):
        ArithNet(5, 2, 8, layers=0)
    with pytest.raises(ConfigError, match="^ArithNet: num_operands must be an integer >= 1"):
        ArithNet(5, 0, 8)


@pytest.mark.parametrize(("n", "H"), [(40, 12), (10, 30)])  # primal and dual branch
def test_ridge_solve_matches_augmented_lstsq(n: int, H: int) -> None:
    rng = np.random.default_rng(0)
    phi = rng.normal(size=(2, n, H))
    Y = rng.normal(size=(2, n, 5))
    lam = 0.3
    W = ridge_solve(torch.from_numpy(phi), torch.from_numpy(Y), lam).numpy()
    for s in range(2):
        A = np.vstack([phi[s], math.sqrt(lam) * np.eye(H)])
        B = np.vstack([Y[s], np.zeros((H, 5))])
        ref = np.linalg.lstsq(A, B, rcond=None)[0]
        assert np.allclose(W[s], ref, atol=1e-9)
    W0 = ridge_solve(torch.from_numpy(phi), torch.from_numpy(Y), 0.0).numpy()
    assert np.allclose(W0[0], np.linalg.lstsq(phi[0], Y[0], rcond=None)[0], atol=1e-8)


def test_ridge_readout_on_model_features() -> None:
    task = make_task("Z7")
    net = ArithNet(7, 2, 16, 2, ridge=True, dtype=torch.float64)
    assert all(p is not net.W_out for p in net.parameters())  # no optimiser touches it
    assert "W_out" in net.state_dict()
    x = task.tuples()[:30]
    Y = centred_onehot(task.targets(x), 7, torch.float64)
    W = net.fit_readout(x, Y, 1e-2)
    phi = net.features(x).detach().numpy()
    for s in range(2):
        ref = np.linalg.solve(phi[s].T @ phi[s] + 1e-2 * np.eye(16), phi[s].T @ Y.numpy())
        assert np.allclose(W[s].numpy(), ref, atol=1e-8)
    # centred targets give an output layer orthogonal to the all-ones vector
    assert np.allclose(W.sum(-1).numpy(), 0, atol=1e-8)
    with pytest.raises(ConfigError, match=r"^ArithNet\.fit_readout: .*ridge=True"):
        ArithNet(7, 2, 4).fit_readout(x, Y, 1.0)


def test_muon_orthogonalises_every_matrix_including_the_embedding() -> None:
    torch.manual_seed(0)
    net = ArithNet(9, 2, 16, 2, embedding="learned", embed_dim=6, layers=2, dtype=torch.float64)
    opt = make_optimizer("muon", net, lr=0.1, momentum=0.0)
    assert isinstance(opt, Muon)
    params = list(net.parameters())
    assert any(p is net.embedding for p in params)
    for p in params:
        assert Muon.matrix_view(p.shape, True) is not None, tuple(p.shape)
    task = make_task("Z9")
    x = task.tuples()
    before = {id(p): p.detach().clone() for p in params}
    loss = arith_loss(net(x), task.targets(x).expand(2, -1), "mse").sum()
    loss.backward()
    opt.step()
    for p in params:
        delta = (before[id(p)] - p.detach()) / 0.1
        S, rows = p.shape[0], p.shape[1]
        mat = delta.reshape(S, rows, -1)
        scale = math.sqrt(max(1.0, rows / mat.shape[-1]))
        ns = newton_schulz(p.grad.reshape(S, rows, -1))
        assert torch.allclose(mat, ns * scale, atol=1e-10)  # the update is NS(grad), per member
        sv = torch.linalg.svdvals(mat / scale)
        assert float(sv.max()) < 1.3 and float(sv[:, 0].min()) > 0.6  # orthogonalised
        grad_dir = p.grad / p.grad.norm()
        assert not torch.allclose(delta / delta.norm(), grad_dir, atol=1e-3)  # not plain SGD


# --------------------------------------------------------------------------------- config


def test_arith_config_shorthands_and_preset() -> None:
    cfg = load_config(None, ["group=Z23", "loss=mse", "split=critical"], schema=ArithConfig)
    assert cfg.group == "Z23" and cfg.loss == "mse" and cfg.split.mode == "critical"
    cfg = load_config("arith_z23", ["loss=ce", "split.train_fraction=0.3"], schema=ArithConfig)
    assert cfg.loss == "ce" and cfg.split.train_fraction == 0.3
    p = load_config("arith_z23", schema=ArithConfig)
    assert (p.model.hidden, p.optim.name, p.optim.lr, p.optim.weight_decay) == (
        512,
        "adam",
        0.01,
        1e-4,
    )
    assert (p.loss, p.split.train_fraction, p.model.activation) == ("mse", 0.9, "square")
    cfg = load_config(
        None,
        ["optim=adamw", "epochs=5", "seeds=[1,2]", "expr=x^2+xy+y^2", "k=2", "ridge=true"],
        schema=ArithConfig,
    )
    assert cfg.optim.name == "adamw" and cfg.train.epochs == 5 and list(cfg.train.seeds) == [1, 2]
    assert cfg.task.expression == "x^2+xy+y^2" and cfg.model.ridge


def test_arith_config_yaml_round_trip(tmp_path) -> None:
    cfg = load_config("arith_z23", ["split=critical", "split.offset=0.5"], schema=ArithConfig)
    path = tmp_path / "c.yaml"
    path.write_text(to_yaml(cfg))
    assert load_config(str(path), schema=ArithConfig) == cfg


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["loss=hinge"], "loss"),
        (["group=Q5"], "group"),
        (["task.expression=x^^2"], "task.expression"),
        (["task.expression=import os"], "task.expression"),
        (["split.train_fraction=1.5"], "split.train_fraction"),
        (["split.mode=half"], "split.mode"),
        (["split=critical", "split.offset=20"], "split.offset"),
        (["op=mul", "group=Z24"], "group"),
        (["op=expr", "group=S4", "expr=x+y"], "group"),
        (["task.k=1"], "task.k"),
        (["optim=rmsprop"], "optim.name"),
        (["model.activation=cube"], "model.activation"),
        (["model.embed_dim=5"], "model.embed_dim"),
        (["epochs=0"], "train.epochs"),
        (["optim.lr=-1"], "optim.lr"),
        (["optim=per_neuron_sgd", "wd=0.1"], "optim.weight_decay"),
        (["split.nonsense=1"], "split.nonsense"),
    ],
)
def test_arith_config_errors_name_the_key(overrides: list[str], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(None, overrides, schema=ArithConfig)
    assert str(err.value).startswith(key), str(err.value)


# ------------------------------------------------------------------------------- analysis


def test_grokking_epochs_from_metrics() -> None:
    rows = []
    for e in range(10):
        rows.append(
            dict(epoch=e, seed=0, train_acc=min(1.0, e / 3), test_acc=1.0 if e >= 6 else 0.5)
        )
        rows.append(
            dict(
                epoch=e,
                seed=1,
                train_acc=1.0 if e >= 2 else 0.0,
                test_acc=1.0 if e in (4, 8, 9) else 0.9,
            )
        )
    df = pd.DataFrame(rows)
    g = grokking_epochs(df)
    assert g["train_epoch"] == {0: 3, 1: 2}
    assert g["test_epoch"] == {0: 6, 1: 4}
    assert g["test_epoch_stable"] == {0: 6, 1: 8}
    assert g["delay"] == {0: 3, 1: 2}
    assert first_epoch_reaching(df, "test_acc", 0.95) == {0: 6, 1: 4}


def test_sum_potentials_of_z_syn() -> None:
    """P3's order-3 partial solution z_syn at frequency k has r_kkk = 1 (docs/theory.md §5.3)."""
    d, k = 7, 2
    omega = np.exp(2j * np.pi / 3)
    g = np.arange(d)
    Wa, Wb, Wc = [], [], []
    for j in range(3):
        z = 3 ** (-1 / 3) * omega**j
        # real weights whose coefficients are z at +k and conj(z) at -k
        w_in = 2 * np.real(z * np.exp(2j * np.pi * k * g / d))
        w_out = 2 * np.real(z * np.exp(-2j * np.pi * k * g / d))
        Wa.append(w_in), Wb.append(w_in), Wc.append(w_out)
    r = sum_potentials(np.array(Wa), np.array(Wb), np.array(Wc))
    assert r.shape == (d, d, d)
    assert r[k, k, k] == pytest.approx(1.0)
    assert r[d - k, d - k, d - k] == pytest.approx(1.0)
    assert abs(r[k, k, d - k]) < 1e-12 and abs(r[k, d - k, k]) < 1e-12
    # brute-force definition
    za = np.array([[np.sum(w * np.exp(-2j * np.pi * q * g / d)) / d for q in range(d)] for w in Wa])
    zc = np.array([[np.sum(w * np.exp(2j * np.pi * q * g / d)) / d for q in range(d)] for w in Wc])
    assert r[1, k, 3] == pytest.approx(np.sum(za[:, 1] * za[:, k] * zc[:, 3]))
    orders = solution_orders(np.array(Wa))
    assert orders[k] == 3 and orders[d - k] == 3 and orders[1] == 0
    # one count per frequency pair {k, d-k} (P3's sol_distri.py): pairs {1,6}, {2,5}, {3,4}
    assert order_histogram(np.array(Wa)) == {0: 2, 3: 1}
    assert order_histogram(np.array(Wa), skip_zero=False) == {0: 3, 3: 1}


def test_catalogue_group_task_when_available() -> None:
    from groupcomp.errors import GroupcompError

    try:
        G = parse("SmallGroup(24,12)")
    except GroupcompError as exc:  # the catalogue data may not be built in this checkout
        pytest.skip(f"small-groups catalogue unavailable: {exc}")
    task = make_task("SmallGroup(24,12)")
    tup = task.tuples().numpy()
    assert np.array_equal(task.results().numpy(), G.table[tup[:, 0], tup[:, 1]])


def test_arithnet_select_members() -> None:
    net = ArithNet(5, 2, 8, 3, embedding="learned", layers=2, ridge=True)
    x = torch.tensor([[0, 1], [2, 3], [4, 4]])
    sub = net.select([2, 0])
    assert sub.num_models == 2 and sub.ridge and sub.W_out.shape == (2, 8, 5)
    assert torch.allclose(sub(x), net(x)[[2, 0]])
    assert net.select(1)(x).shape == (1, 3, 5)
