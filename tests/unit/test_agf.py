"""AGF simulation (docs/theory.md §4; P2 = Kunin et al., arXiv 2506.06489): time conversion, the
notebook case of docs/theory.md §4.3, the D3 worked example, and invariants against the closed-form
staircase."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from groupcomp.errors import ConfigError, ShapeError
from groupcomp.groups import cyclic, dihedral
from groupcomp.models.two_layer import TwoLayerNet
from groupcomp.optim import PerNeuronSGD
from groupcomp.tasks.sequence import SequenceTask
from groupcomp.templates import fourier_template
from groupcomp.theory import (
    AGFResult,
    irrep_utilities,
    predict_staircase,
    simulate,
    utility,
)
from groupcomp.theory.agf import MAX_SEQUENCES, _Problem, step_time

# --------------------------------------------------------------------------- the C_p case
P = 20
AMPS = {1: 10.0, 3: 5.0, 5: 2.5}  # |x̂[±ξ]|
TAU = [7.636, 61.09, 488.7]  # docs/theory.md §0 / §4.3
LEVELS_CP = [0.65625, 0.15625, 0.03125, 0.0]


def _cp_template() -> np.ndarray:
    """x(g) = Σ_ξ (2A_ξ/p) cos(2πξg/p), so that x̂[±ξ] = Σ_g x(g) e^{∓2πiξg/p} = A_ξ."""
    g = np.arange(P)
    return sum(2 * a / P * np.cos(2 * np.pi * xi * g / P) for xi, a in AMPS.items())


def _cp_aligned_init(per_freq: int, init_scale: float, rng: np.random.Generator):
    """``per_freq`` neurons per frequency, each exactly at a maximiser of that frequency's
    utility (u, v, w ∝ cos(ωh + φ_u), cos(ωh + φ_v), cos(ωh + φ_u + φ_v), equal norms, random
    phases), with norm θ_0 = √2·init_scale: the assumptions behind τ_ξ = (1/θ_0 − 1)/(3U*_ξ)."""
    g = np.arange(P)
    theta0 = math.sqrt(2) * init_scale
    W_in, W_out = [], []
    for xi in AMPS:
        om = 2 * np.pi * xi * g / P
        for _ in range(per_freq):
            pu, pv = rng.uniform(0, 2 * np.pi, 2)
            th = np.stack([np.cos(om + pu), np.cos(om + pv), np.cos(om + pu + pv)])
            th *= theta0 / np.linalg.norm(th)
            W_in.append(th[:2])
            W_out.append(th[2])
    return np.array(W_in), np.array(W_out)


def test_cp_template_has_the_notebook_spectrum() -> None:
    x = _cp_template()
    xhat = np.fft.fft(x)  # Σ_g x(g) e^{-2πiξg/p}
    assert np.abs(xhat[[1, 3, 5]]) == pytest.approx([10, 5, 2.5], abs=1e-12)
    assert np.abs(np.delete(xhat, [1, 3, 5, 15, 17, 19])).max() < 1e-12
    s = predict_staircase(cyclic(P), x, 2)
    assert s.plateaus_mse == pytest.approx(LEVELS_CP, abs=1e-12)
    theta0 = math.sqrt(2) * 0.01
    taus = [(1 / theta0 - 1) / (3 * u) for u in s.step_utilities]
    assert taus == pytest.approx(TAU, rel=1e-3)


def test_cp_notebook_case_aligned_init_reproduces_closed_form() -> None:
    """docs/theory.md §4.3: p = 20, k = 2, init 0.01, plain GD (lr 0.01, momentum 0.9), hidden 18 =
    6 per frequency, started at the utility maximisers with norm θ_0 = √2·0.01 (the setting in
    which the closed form τ is exact). Each cohort of 6 activates at τ_ξ and fits its frequency
    exactly: levels 0.65625 → 0.15625 → 0.03125 → 0."""
    G = cyclic(P)
    x = _cp_template()
    W_in, W_out = _cp_aligned_init(6, 0.01, np.random.default_rng(0))
    theta = np.concatenate([W_in, W_out[:, None]], axis=1) / (math.sqrt(2) * 0.01)
    u_star = sorted(irrep_utilities(G, x, 2), reverse=True)[:3]
    assert utility(G, x, 2, theta[[0, 6, 12]]) == pytest.approx(u_star, rel=1e-12)

    r = simulate(
        G,
        x,
        2,
        init_params=(W_in, W_out),
        lr=0.01,
        momentum=0.9,
        optimizer="gd",
        costmin_steps=1000,
        costmin_tol=1e-11,
    )
    assert r.step_time == pytest.approx(0.01)
    assert r.jump_times == pytest.approx(TAU, rel=1e-3)
    assert r.jump_steps == pytest.approx([t / 0.01 for t in TAU], rel=1e-3)
    assert [sorted(j) for j in r.jump_neurons] == [
        list(range(0, 6)),
        list(range(6, 12)),
        list(range(12, 18)),
    ]
    assert r.learned_irreps == [["freq1"], ["freq3"], ["freq5"]]
    assert r.levels_mse == pytest.approx(LEVELS_CP, abs=1e-6)
    assert r.drop_irreps == [["freq1"], ["freq3"], ["freq5"]]
    assert r.drop_levels_mse == pytest.approx(LEVELS_CP, abs=1e-6)
    assert r.stop_reason == "converged"


@pytest.mark.xfail(
    reason="known AGF limitation (open issue 'Honest theory and stable runs'): from this random "
    "init the simulator stops with all_active at level 0.0047 instead of 0 on this machine",
    strict=False,
)
def test_cp_notebook_case_random_init() -> None:
    """The same case from the network's random initialisation (seed 0), exact dormant
    dynamics: order freq1 → freq3 → freq5 and the plateau levels of docs/theory.md §0. The drops
    come 2–3× later than τ (the neurons first have to align, which the closed form ignores; real GD
    from this initialisation drops at the same time as AGF: see the slow test below)."""
    G = cyclic(P)
    r = simulate(
        G, _cp_template(), 2, hidden=18, init_scale=0.01, seed=0, lr=0.01, momentum=0.9,
        optimizer="gd",
    )  # fmt: skip
    assert r.drop_irreps == [["freq1"], ["freq3"], ["freq5"]]
    assert r.drop_levels_mse == pytest.approx(LEVELS_CP, abs=2e-3)
    assert np.all(np.diff(r.levels_mse) <= 1e-9)
    assert 1.5 * TAU[0] < r.drop_times[0] < 4 * TAU[0]
    assert r.drop_times[1] > TAU[1] and r.drop_times[2] > TAU[2]


def test_fast_alignment_mode_activates_at_threshold_over_utility() -> None:
    """With ``utilmax_lr`` (the P2 notebook's fixed direction speed) the directions align
    almost at once and the first jump is at c_i/(3U*) of the neuron with the largest initial
    norm, (1/‖θ_i(0)‖ − 1)/(3U*): within ~20 % of τ_1 = 7.636 only because ‖θ_i(0)‖ > √2·0.01."""
    G = cyclic(P)
    x = _cp_template()
    r = simulate(
        G, x, 2, hidden=18, init_scale=0.01, seed=0, lr=0.01, momentum=0.9, optimizer="gd",
        utilmax_lr=0.1, max_rounds=1,
    )  # fmt: skip
    (i,) = r.jump_neurons[0]
    assert i == int(np.argmin(r.thresholds))
    u1 = irrep_utilities(G, x, 2).max()
    assert r.jump_times[0] == pytest.approx(r.thresholds[i] / (3 * u1), rel=0.01)
    assert r.jump_times[0] == pytest.approx(TAU[0], rel=0.25)
    assert r.stop_reason == "max_rounds"


@pytest.mark.slow
def test_cp_first_jump_matches_gd_training() -> None:
    """AGF against the real thing: plain SGD (lr 0.01, momentum 0.9, full batch, float64) of a
    TwoLayerNet with the same initialisation. The first loss drop (loss < 0.6) is within 10 %
    of AGF's first jump (measured: 2194 vs 2169 steps)."""
    G = cyclic(P)
    x = _cp_template()
    r = simulate(
        G, x, 2, hidden=18, init_scale=0.01, seed=0, lr=0.01, momentum=0.9, optimizer="gd",
        max_rounds=1,
    )  # fmt: skip
    task = SequenceTask(G, x, 2)
    net = TwoLayerNet(
        torch.tensor(task.encoding), 2, 18, 1, 0.01,
        generator=torch.Generator().manual_seed(0), dtype=torch.float64,
    )  # fmt: skip
    seq = task.exhaustive()
    y = task.targets(seq, torch.float64)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    drop = None
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: extra threads only add hand-off overhead
    try:
        for step in range(int(1.3 * r.jump_steps[0])):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(net(seq)[0], y)
            if loss.item() < 0.6:
                drop = step
                break
            loss.backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    assert drop is not None
    assert drop == pytest.approx(r.jump_steps[0], rel=0.1)


# --------------------------------------------------------------------------- time conversion
def test_step_time_formula() -> None:
    assert step_time(20, 0.01, 0.9) == pytest.approx(0.01)
    assert step_time(6, 1e-3) == pytest.approx(2e-3 / 6)


def _num_grad_utility(G, x, k, theta, residual, eps=1e-6):
    g = np.zeros_like(theta)
    for idx in np.ndindex(theta.shape):
        tp, tm = theta.copy(), theta.copy()
        tp[idx] += eps
        tm[idx] -= eps
        g[idx] = (utility(G, x, k, tp, residual) - utility(G, x, k, tm, residual)) / (2 * eps)
    return g


@pytest.mark.parametrize("kind", ["sgd", "per_neuron"])
def test_one_optimizer_step_is_step_time_of_the_flow(kind: str) -> None:
    """One full-batch step on nn.MSELoss moves neuron i by Δt·η_i·∇U(θ_i; r) with
    Δt = 2·lr/n and r = y − f (the flow of the module docstring): exactly, not only near 0."""
    G = dihedral(3)
    k, n, lr = 2, G.order, 0.05
    rng = np.random.default_rng(0)
    x = rng.standard_normal(n)
    x -= x.mean()
    task = SequenceTask(G, x, k)
    net = TwoLayerNet(
        torch.tensor(task.encoding), k, 3, 1, 0.3,
        generator=torch.Generator().manual_seed(1), dtype=torch.float64,
    )  # fmt: skip
    seq = task.exhaustive()
    y = task.targets(seq, torch.float64)
    theta = torch.cat([net.W_in[0], net.W_out[0][:, None]], dim=1).detach().numpy().copy()
    with torch.no_grad():
        resid = (y - net(seq)[0]).numpy()
    if kind == "sgd":
        opt = torch.optim.SGD(net.parameters(), lr=lr)
    else:
        opt = PerNeuronSGD(net.neuron_params(), lr=lr, degree=net.degree)
    opt.zero_grad()
    torch.nn.functional.mse_loss(net(seq)[0], y).backward()
    opt.step()
    after = torch.cat([net.W_in[0], net.W_out[0][:, None]], dim=1).detach().numpy()
    dt = step_time(n, lr)
    for i in range(3):
        eta = 1.0 if kind == "sgd" else np.linalg.norm(theta[i]) ** (2 - (k + 1))
        expected = dt * eta * _num_grad_utility(G, x, k, theta[i], resid)
        assert after[i] - theta[i] == pytest.approx(expected, rel=1e-6, abs=1e-12)


def test_momentum_multiplies_the_step_by_the_geometric_sum() -> None:
    """Heavy-ball momentum m under a (slowly varying) gradient moves lr/(1−m) per step."""
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = torch.optim.SGD([p], lr=0.01, momentum=0.9)
    steps = 400
    for _ in range(steps):
        opt.zero_grad()
        (-p.sum()).backward()  # constant gradient −1
        opt.step()
    before = p.item()
    opt.zero_grad()
    (-p.sum()).backward()
    opt.step()
    assert p.item() - before == pytest.approx(0.01 / (1 - 0.9), rel=1e-12)
    assert step_time(5, 0.01, 0.9) == pytest.approx(step_time(5, 0.01 / (1 - 0.9)))


def test_utility_and_gradient_match_bruteforce_and_finite_differences() -> None:
    for G, k in [(dihedral(3), 2), (dihedral(3), 3), (cyclic(5), 3)]:
        rng = np.random.default_rng(k)
        x = rng.standard_normal(G.order)
        x -= x.mean()
        prob = _Problem(SequenceTask(G, x, k))
        theta = rng.standard_normal((2, k + 1, G.order))
        R = rng.standard_normal((G.order**k, G.order))
        U, grad = prob.utility_and_grad(theta, R)
        assert U == pytest.approx(utility(G, x, k, theta, R), rel=1e-12)
        for b in range(2):
            num = _num_grad_utility(G, x, k, theta[b], R)
            assert grad[b] == pytest.approx(num, rel=1e-6, abs=1e-8)
        loss, gl = prob.loss_and_grad(theta)
        assert loss == pytest.approx(np.mean((prob.Y - prob.output(theta)) ** 2))
        assert gl == pytest.approx(
            -(2 / G.order) * prob.utility_and_grad(theta, prob.Y - prob.output(theta))[1]
        )


# --------------------------------------------------------------------------- D3 worked example
def test_d3_worked_example_per_neuron() -> None:
    """D3, powers (0, 30, 3000), k = 2, per-neuron SGD: rot1 then sign, mean-MSE levels
    505 → 5 → 0, first jump within 10 % of n·ln(1/θ_0)/(2(k+1)·lr·U*) (measured +4 %: the
    directions first have to align)."""
    G = dihedral(3)
    x = fourier_template(G, [0, 30, 3000])
    k, lr, init = 2, 1e-5, 1e-3
    r = simulate(G, x, k, hidden=40, init_scale=init, seed=0, lr=lr, optimizer="per_neuron")
    assert r.drop_irreps == [["rot1"], ["sign"]]
    assert r.learned_irreps[0] == ["rot1"]
    assert r.drop_levels_mse == pytest.approx([505.0, 5.0, 0.0], abs=0.5)
    u_star = predict_staircase(G, x, k).step_utilities[0]
    closed = G.order * math.log(1 / (math.sqrt(2) * init)) / (2 * (k + 1) * lr * u_star)
    assert r.jump_steps[0] == pytest.approx(closed, rel=0.1)
    assert r.jump_steps[0] > closed  # alignment only delays
    assert np.all(np.diff(r.levels_mse) <= 1e-9 * r.levels_mse[0])


# --------------------------------------------------------------------------- invariants
def _check_against_staircase(r: AGFResult, G, x, k, rtol: float) -> None:
    """Order of the drops = Theorem 4.1 order; at every *clean* plateau (each irrep either
    learned up to a fraction ``rtol`` of its power, or learned by at most ``rtol``) the level is
    the closed-form level of the learned set, within ``2·rtol·L_0``; levels non-increasing;
    residual powers add up to the levels; the final loss is below ``2·rtol·L_0``."""
    s = predict_staircase(G, x, k)
    assert r.drop_irreps == [[r.irrep_labels[i] for i in sorted(step)] for step in s.order]
    L0 = r.levels_mse[0]
    atol = 2 * rtol * L0
    assert np.all(np.diff(r.levels_mse) <= 1e-9 * L0)
    rp = np.asarray(r.residual_powers)
    assert rp.sum(axis=1) == pytest.approx(r.levels_mse, rel=1e-9, abs=1e-12 * L0)
    present = [i for step in s.order for i in step]
    frac = 1 - rp[:, present] / rp[0, present]  # learned fraction per irrep
    prefixes = [set(sum(s.order[:m], [])) for m in range(len(s.order) + 1)]
    clean = 0
    for j in range(rp.shape[0]):
        learned = {i for i, f in zip(present, frac[j], strict=True) if f >= 1 - rtol}
        unlearned = {i for i, f in zip(present, frac[j], strict=True) if f <= rtol}
        if len(learned) + len(unlearned) < len(present):
            continue
        m = prefixes.index(learned)  # learned sets are prefixes of the theory order
        assert r.levels_mse[j] == pytest.approx(s.plateaus_mse[m], abs=atol)
        clean += 1
    assert clean >= 3
    assert r.levels_mse[-1] == pytest.approx(0.0, abs=atol)


def test_invariants_d5() -> None:
    G = dihedral(5)
    x = fourier_template(G, [0, 3000, 2000, 1000])
    r = simulate(G, x, 2, hidden=30, init_scale=1e-4, seed=0, lr=1e-3, optimizer="per_neuron")
    _check_against_staircase(r, G, x, 2, rtol=1e-3)


@pytest.mark.slow
def test_invariants_c6_k3() -> None:
    G = cyclic(6)
    x = fourier_template(G, [0, 1, 4, 2])
    r = simulate(G, x, 3, hidden=64, init_scale=1e-2, seed=0, lr=1e-3, optimizer="per_neuron")
    # k = 3 fits converge slowly (cost minimisation budget): 1 % instead of 0.1 %
    _check_against_staircase(r, G, x, 3, rtol=1e-2)


# --------------------------------------------------------------------------- API
def _small_run(**kw) -> AGFResult:
    G = dihedral(3)
    x = fourier_template(G, [0, 30, 3000])
    args = dict(hidden=8, init_scale=1e-3, seed=0, lr=1e-5, max_rounds=2)
    args.update(kw)
    return simulate(G, x, 2, **args)


def test_result_api_curve_and_to_dict() -> None:
    r = _small_run()
    assert r.num_jumps == 2 and r.stop_reason == "max_rounds"
    assert len(r.levels_mse) == 3 and len(r.costmin_iterations) == 2
    assert r.levels_p1 == pytest.approx([v * 3 for v in r.levels_mse])
    steps, loss = r.curve()
    assert steps[0] == 0 and loss[0] == pytest.approx(505.0)
    assert np.all(np.diff(steps) >= 0) and np.all(np.diff(loss) <= 0)
    assert steps[-1] >= r.jump_steps[-1] and loss[-1] == pytest.approx(r.levels_mse[-1])
    steps2, _ = r.curve(end_step=0.5 * r.jump_steps[0])
    assert steps2.tolist() == [0.0, 0.5 * r.jump_steps[0]]
    d = r.to_dict()
    json.dumps(d)
    assert d["levels_mse"] == pytest.approx(r.levels_mse)
    assert d["drops"][0]["irreps"] == ["rot1"]
    W_in, W_out = r.params
    assert W_in.shape == (8, 2, 6) and W_out.shape == (8, 6)
    assert sorted(r.active) == sorted(i for js in r.jump_neurons for i in js)


def test_max_steps_and_max_time_stop_before_any_jump() -> None:
    r = _small_run(max_steps=10.0)
    assert r.num_jumps == 0 and r.stop_reason == "max_time"
    assert r.final_step == pytest.approx(10.0)
    assert r.drops() == [] and r.levels_mse == pytest.approx([505.0])


def test_deactivation_returns_neurons_to_the_dormant_set() -> None:
    """With an absurd collapse_frac every active neuron counts as collapsed: it is recorded and
    goes back to the dormant set, and the loss returns to its initial value."""
    r = _small_run(collapse_frac=1e9)
    assert [j for j, _ in r.deactivations] == [0, 1]
    assert [i for _, i in r.deactivations] == [js[0] for js in r.jump_neurons]
    assert r.active == []
    assert r.levels_mse == pytest.approx([505.0] * 3)


def test_stalls_when_no_dormant_neuron_can_ever_activate() -> None:
    """Neurons with u = 0 are exactly stationary (U = 0, ∇U = 0 for k >= 2): nothing happens."""
    G = dihedral(3)
    x = fourier_template(G, [0, 30, 3000])
    w = np.random.default_rng(0).standard_normal((4, 6)) * 1e-3
    r = simulate(G, x, 2, init_params=(np.zeros((4, 2, 6)), w))
    assert r.stop_reason == "stalled" and r.num_jumps == 0


@pytest.mark.parametrize("costmin", ["adam", "gd"])
def test_other_cost_minimisers_reduce_the_loss(costmin: str) -> None:
    r = _small_run(costmin=costmin, costmin_lr=1e-3, costmin_steps=200, max_rounds=1)
    assert r.levels_mse[1] < 0.99 * r.levels_mse[0]


def test_validation_errors() -> None:
    G = dihedral(3)
    x = fourier_template(G, [0, 1, 1])
    with pytest.raises(ConfigError, match="optimizer"):
        simulate(G, x, 2, optimizer="adam")
    with pytest.raises(ConfigError, match="costmin"):
        simulate(G, x, 2, costmin="newton")
    with pytest.raises(ConfigError, match="k"):
        simulate(G, x, 1)
    with pytest.raises(ConfigError, match="init_scale"):
        simulate(G, x, 2, init_scale=2.0)
    with pytest.raises(ConfigError, match="momentum"):
        simulate(G, x, 2, momentum=1.0)
    with pytest.raises(ConfigError, match="lr"):
        simulate(G, x, 2, lr=0.0)
    with pytest.raises(ShapeError, match="template"):
        simulate(G, x[:5], 2)
    with pytest.raises(ShapeError, match="init_params"):
        simulate(G, x, 2, init_params=(np.zeros((3, 2, 5)), np.zeros((3, 5))))
    big = cyclic(60)
    assert 60**3 > MAX_SEQUENCES
    with pytest.raises(ConfigError, match="n\\^k"):
        simulate(big, np.cos(2 * np.pi * np.arange(60) / 60), 3)


# -- collective activation (docs/theory.md §4.4) -----------------------------------------------


def test_collective_activation_keeps_one_drop_per_irrep_and_comes_first() -> None:
    """D5 (0, 3000, 2000, 1000): the collective rule learns sign, rot1, rot2 as three separate
    drops at the closed-form levels, each earlier than P2's single-neuron rule (the joint output
    of a cohort removes half of an irrep while each neuron is still small)."""
    G = dihedral(5)
    x = fourier_template(G, [0.0, 3000.0, 2000.0, 1000.0])
    kw = dict(hidden=300, init_scale=1e-3, seed=0, lr=3e-6, optimizer="per_neuron")
    col = simulate(G, x, 2, activation="collective", max_steps=30000.0, **kw)
    neu = simulate(G, x, 2, activation="neuron", max_steps=30000.0, **kw)
    assert [d["irreps"] for d in col.drops()] == [["sign"], ["rot1"], ["rot2"]]
    levels = col.drop_levels_mse
    np.testing.assert_allclose(levels[:3], [600.0, 300.0, 100.0], rtol=5e-3)
    assert levels[3] < 1.0  # rot2 learned
    assert col.drop_steps[0] < neu.drop_steps[0]
    with pytest.raises(ConfigError, match="activation"):
        simulate(G, x, 2, activation="bogus", **kw)
    with pytest.raises(ConfigError, match="collective_fraction"):
        simulate(G, x, 2, activation="collective", collective_fraction=1.5, **kw)


@pytest.mark.slow
def test_collective_agf_predicts_a_trained_run_within_25_percent() -> None:
    """C6, one-hot ×10, k = 3, H = 100, init 1e-2, optim.lr=auto (docs/theory.md §4.4): the
    run's summary compares AGF with the observed drops; both within 25 % (measured: +0.2 %,
    +2.3 %); the closed form's first drop within 25 % (measured −23 %)."""
    from groupcomp.config import load_config
    from groupcomp.runs import execute

    cfg = load_config(
        None,
        [
            "group=C6",
            "template=onehot",
            "template.scale=10",
            "task.k=3",
            "model.hidden=100",
            "model.init_scale=1e-2",
            "theory.agf=true",
            "train.threads=1",
            "train.log_points=80",
            "train.checkpoints=1",
        ],
    )
    s = execute(cfg, None, quiet=True).summary
    drops = s["drops"]
    assert [d["irreps"] for d in drops] == [["freq3"], ["freq2", "freq1"]]
    for d in drops:
        assert d["observed_step"] is not None and abs(d["agf_error"]) < 0.25
    assert abs(drops[0]["closed_form_error"]) < 0.25
