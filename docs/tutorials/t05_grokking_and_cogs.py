# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 5. Grokking and CoGS on Z_d
#
# `groupcomp arith` trains a two-layer network on pairs of one-hot operands `(a, b)` of a group
# to output `a·b` — for `Z_d`, addition modulo `d` — on a training split of the `d²` pairs.
# Such networks *grok*: they fit the training pairs long before they generalise to the held-out
# ones. CoGS (Y. Tian, arXiv 2410.01779; `docs/theory.md` §5) describes the solutions they end
# up with in the Fourier domain, as sums and products of small algebraic building blocks.
#
# This tutorial trains a grokking run on Z23, builds the CoGS constructions on Z7 and checks
# their losses, then trains a small Z7 network and factorises it into those blocks. It takes
# about half a minute.

# %%
from functools import reduce
from pathlib import Path

import numpy as np
from IPython.display import Image, display

import groupcomp
from groupcomp import theory
from groupcomp.config import ArithConfig
from groupcomp.theory import cogs

# %% [markdown]
# ## Grokking on Z23
#
# The `arith_z23` preset (CoGS' Fig. 3 setting: hidden 512, quadratic activation, Adam, MSE,
# 90 % of the 529 pairs for training). Arithmetic configs use their own schema (`ArithConfig`);
# 200 full-batch epochs are enough here.

# %%
cfg = groupcomp.load_config(
    "arith_z23", ["train.epochs=200", "train.threads=1"], schema=ArithConfig
)
result = groupcomp.train(cfg, out="runs", quiet=True)
arith = result.summary["arith"]
print("split:", arith["split"]["n_train"], "train /", arith["split"]["n_test"], "test pairs")
print("train accuracy 100 % at epoch", arith["train100_epoch"][0])
print("test accuracy 100 % at epoch ", arith["grokking_epoch"][0])
print("final", {key: arith["final"][key][0] for key in ("train_acc", "test_acc")})

# %%
assert arith["final"]["test_acc"][0] == 1.0
assert arith["train100_epoch"][0] < arith["grokking_epoch"][0] / 2  # fits first, then groks

# %% [markdown]
# `figures/accuracy.png`: train and test accuracy against the epoch (log axis). The gap between
# the two curves is the grokking delay.

# %%
display(Image(filename=str(Path(result.run_dir) / "figures" / "accuracy.png")))

# %% [markdown]
# With fewer training pairs the network memorises instead (P4's scaling law puts the critical
# training set size at `c·d·ln d`; `split=critical` uses it). A quarter of this split:

# %%
small = groupcomp.load_config(
    "arith_z23",
    ["train.epochs=200", "train.threads=1", "split.train_fraction=0.2"],
    schema=ArithConfig,
)
memorised = groupcomp.train(small, out=None, quiet=True).summary["arith"]["final"]
print("train fraction 0.2:", {key: memorised[key][0] for key in ("train_acc", "test_acc")})
assert memorised["train_acc"][0] == 1.0 and memorised["test_acc"][0] < 0.5

# %% [markdown]
# ## CoGS constructions on Z7
#
# A network is described by the Fourier coefficients `z_a, z_b, z_c` of its hidden nodes
# (`theory.CogsNet`). Networks form a semi-ring: `+` puts two networks side by side, `*` takes
# the node-wise Kronecker product. The loss on all `d²` pairs decomposes over the frequencies
# `k` (Theorem 1, `theory.loss_decomposition`): `ℓ = (d−1)/d + (1/d) Σ_k ℓ_k`, and a frequency
# pair `±k` is solved when its `ℓ_k = −1`.
#
# * `z_syn(d, k)`: 3 nodes that get the diagonal sum potential `r_kkk = 1` right but leave a
#   term that depends on one operand only (`R_*`): `ℓ_k = −1/2`;
# * `z_nu(d, k)`: 2 nodes, useless alone, whose product with `z_syn` (6 nodes) cancels that
#   term and solves the pair; one such product per pair is `z_f6`, a global solution of order
#   `3(d−1)`.

# %%
d = 7
syn, nu = theory.z_syn(d, 1), theory.z_nu(d, 1)
for name, net in [("z_syn", syn), ("z_nu", nu), ("z_syn * z_nu", syn * nu)]:
    ell = theory.loss_decomposition(net).per_frequency
    print(f"{name:12} nodes {net.order}  l_k at k=+-1: {ell[1]:+.3f} {ell[-1]:+.3f}")
assert np.isclose(theory.loss_decomposition(syn).per_frequency[1], -0.5)
assert np.isclose(theory.loss_decomposition(syn * nu).per_frequency[1], -1.0)

# %% [markdown]
# Every sum potential is a ring homomorphism, `r(z1 * z2) = r(z1) r(z2)` — this is why products
# of partial solutions are solutions:

# %%
r_syn, r_nu, r_prod = (cogs.sum_potentials(net) for net in (syn, nu, syn * nu))
print("max |r(syn*nu) - r(syn) r(nu)| =", np.abs(r_prod - r_syn * r_nu).max())
assert np.allclose(r_prod, r_syn * r_nu, atol=1e-12)

# %%
f6 = reduce(lambda u, v: u + v, [theory.z_syn(d, k) * theory.z_nu(d, k) for k in (1, 2, 3)])
constructions = {
    "z_syn_all (z_syn on every pair)": cogs.z_syn_all(d),
    "sum of z_syn*z_nu over the pairs": f6,
    "z_f6": theory.z_f6(d),
    "z_f46": theory.z_f46(d),
    "z_memorisation": theory.z_memorisation(d),
}
losses = {}
for name, net in constructions.items():
    losses[name] = theory.loss_decomposition(net).loss
    print(f"{name:33} nodes {net.order:3}  loss {losses[name]:.3g}")
assert np.isclose(losses["z_syn_all (z_syn on every pair)"], (d - 1) / (2 * d))
assert max(losses[n] for n in list(constructions)[1:]) < 1e-12
assert (f6.order, theory.z_f6(d).order, theory.z_f46(d).order) == (18, 18, 2 * d)

# %% [markdown]
# `net.to_model()` turns any of them into the library's `ArithNet`, whose ordinary loss on the
# `d²` pairs is the same number (`cogs.direct_loss` computes it from the weights).

# %%
assert cogs.direct_loss(theory.z_f46(d)) < 1e-12
print(type(theory.z_f46(d).to_model()).__name__)

# %% [markdown]
# ## What a trained network found
#
# The `cogs_z7` preset trains CoGS' Fig. 2 setting (Z7, 20 hidden nodes, weight decay 1e-3,
# 3000 epochs). `groupcomp.cogs(run)` assigns every hidden node to its dominant frequency pair
# and tests each pair's block for an exact product: order 6 (`z_nu*z_syn`) or order 4
# (`z_nu*z_xi`). It writes tables and figures into `RUN/cogs/` and returns them.

# %%
cfg = groupcomp.load_config("cogs_z7", ["train.seeds=[0]", "train.threads=1"], schema=ArithConfig)
run = groupcomp.train(cfg, out="runs", quiet=True)
analysis = groupcomp.cogs(run.run_dir)
blocks = analysis["blocks"]
print(blocks[["k", "order", "kind", "factors", "residual"]].to_string(index=False))
print("order histogram:", analysis["histogram"])
print("loss on all 49 pairs:", float(analysis["seeds"]["loss_all_pairs"].iloc[0]))

# %%
assert set(blocks["order"]) <= {4, 6} and len(blocks) == 3  # every pair an exact product
assert blocks["residual"].max() < 0.05
assert analysis["seeds"]["loss_all_pairs"].iloc[0] < 1e-2

# %%
display(Image(filename=str(Path(run.run_dir) / "cogs" / "order_histogram.png")))

# %% [markdown]
# From the shell: `groupcomp arith cogs_z7` then `groupcomp cogs runs/cogs_z7-*`; the README's
# "CoGS" section has the Fig. 3 and Fig. 4 settings and the grokking-scaling sweep.
