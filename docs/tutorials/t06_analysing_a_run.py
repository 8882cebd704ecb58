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
# # 6. Analysing a finished run
#
# Every run writes a folder (README, "Run folder"): `config.yaml` (the resolved config),
# `summary.json`, `metrics.parquet` and `checkpoints/step_<t>.pt`. `groupcomp.load_run` reads
# any of them back — any run kind, from any working folder — with the model at every
# checkpoint. This tutorial trains a short run, then reads it as you would a run from last week:
# its config, metrics, the model at a step, and one neuron's weights in the group's Fourier
# basis. It takes about ten seconds.

# %%
import numpy as np
import torch
from omegaconf import OmegaConf

import groupcomp
from groupcomp import fourier

# %% [markdown]
# A short `d3` run with two seeds (trained together as one batched model). 3000 steps cover the
# first drop (`rot1`, near step 150) but not the second (`sign`, after ~60 000 steps): the run
# warns about that, and ends on the middle plateau.

# %%
result = groupcomp.train(
    "d3",
    out="runs",
    quiet=True,
    overrides=["train.steps=3000", "train.seeds=[0,1]", "train.threads=1"],
)
path = result.run_dir
print(path)

# %% [markdown]
# ## Config and summary

# %%
run = groupcomp.load_run(path)
print(run.kind, "|", run.group.name, "|", run.task)
print(OmegaConf.to_yaml(run.config.model))
print("lr", run.config.optim.lr, "(resolved from auto) | steps", run.config.train.steps)
print("status", run.summary["status"], "| final loss per seed", run.summary["final_loss_per_seed"])
print("checkpoints at steps", run.checkpoint_steps)
assert run.kind == "sequence" and run.config.train.seeds == [0, 1]
assert run.checkpoint_steps[0] == 0 and run.checkpoint_steps[-1] == 3000

# %% [markdown]
# ## Metrics
#
# One row per step and seed. `loss` is recorded every step; the spectral columns at log-spaced
# probe steps: `irrep_loss/<irrep>` splits the loss over the irreps (they sum to it) and
# `power/<irrep>` is the power of the learned function.

# %%
metrics = run.metrics
print(metrics.columns.tolist())
loss = metrics.pivot(index="step", columns="seed", values="loss")
print(loss.iloc[[0, 100, 150, 200, -1]])

probed = metrics.dropna(subset=["eval_loss"])
parts = probed.filter(like="irrep_loss/").sum(axis=1)
print("largest |sum of irrep_loss - eval_loss|:", float((parts - probed["eval_loss"]).abs().max()))
assert np.allclose(parts, probed["eval_loss"], rtol=1e-4)

# %% [markdown]
# ## The model at a checkpoint
#
# `run.model(step)` rebuilds the network from the config and loads that checkpoint (default:
# the last); `run.loss(step)` is its loss on the task, per seed.

# %%
print("loss at step 0:", run.loss(0), " at the end:", run.loss())
assert np.allclose(run.loss(0), 505, rtol=1e-3)
assert np.allclose(run.loss(), run.summary["final_loss_per_seed"], rtol=1e-4)
assert np.allclose(run.loss(), 5, rtol=1e-2)  # on the plateau after rot1

# %% [markdown]
# The model is an ordinary torch module (`TwoLayerNet`, every parameter with the seed axis
# first). Its outputs on all `n^k` sequences, Fourier-transformed, reproduce the run's
# `power/<irrep>` columns at the last step:

# %%
model = run.model()
G, task = run.group, run.task
seq = task.exhaustive()  # (36, 2): every pair of D3 elements
with torch.no_grad():
    out = model(seq).double().numpy()  # (seeds, sequences, n)
power = fourier.power(G, out).mean(axis=1)  # (seeds, irreps)
labels = [r.label for r in G.irreps()]
last = probed[probed.step == probed.step.max()].sort_values("seed")
print("recomputed:", power.round(3))
print("metrics:   ", last[[f"power/{lab}" for lab in labels]].to_numpy().round(3))
assert np.allclose(power, last[[f"power/{lab}" for lab in labels]], rtol=1e-3, atol=1e-3)

# %% [markdown]
# ## One neuron in the Fourier basis
#
# Neuron `i` of seed `s` has input weights `W_in[s, i]` (`(k, n)`: one vector on the group per
# input slot) and output weights `W_out[s, i]` (`(n,)`). `fourier.basis(G)` is an orthonormal
# basis of functions on the group, grouped by irrep (`fourier.basis_irrep_index`), so `w @ B`
# are the neuron's coordinates and their squares, summed per irrep, its power spectrum
# (`fourier.power`). Take the largest neuron of seed 0:

# %%
norms = model.neuron_norms()[0].detach().numpy()
i = int(norms.argmax())
w_in = model.W_in[0, i].detach().double().numpy()  # (k, n)
w_out = model.W_out[0, i].detach().double().numpy()  # (n,)
B, index = fourier.basis(G), fourier.basis_irrep_index(G)
print("neuron", i, "norm", norms[i].round(4), "(initial norms are about 1.4e-3)")
print("basis columns belong to irreps", [labels[j] for j in index])
print("coordinates of slot 1:", (w_in[0] @ B).round(4))
spectrum = fourier.power(G, np.vstack([w_in, w_out]))  # (k + 1, irreps)
share = spectrum / spectrum.sum(axis=1, keepdims=True)
print("share of each irrep (rows: slot 1, slot 2, output):", labels)
print(share.round(4))
assert (share[:, labels.index("rot1")] > 0.99).all()

# %% [markdown]
# The neuron lives in `rot1` on all three of its weight vectors. At initialisation it was a
# random vector (`rot1` spans 4 of the 6 dimensions of functions on D3, so about two thirds of
# a random vector's power falls there by chance):

# %%
w0 = run.model(0).W_in[0, i].detach().double().numpy()
print("at step 0:", (fourier.power(G, w0) / fourier.power(G, w0).sum(1, keepdims=True)).round(3))

# %% [markdown]
# Is this neuron typical? Count the neurons of seed 0 that grew to more than ten times their
# initial norm, and the smallest `rot1` share among them:

# %%
W_in = model.W_in[0].detach().double().numpy()  # (H, k, n)
grown = np.flatnonzero(norms > 10 * np.sqrt(2) * run.config.model.init_scale)
spectra = fourier.power(G, W_in[grown]).sum(axis=1)  # (grown, irreps), both slots together
rot1_share = spectra[:, labels.index("rot1")] / spectra.sum(axis=1)
print(f"{len(grown)} of {len(norms)} neurons grew; smallest rot1 share {rot1_share.min():.4f}")
assert len(grown) > len(norms) // 2 and rot1_share.min() > 0.99

# %% [markdown]
# Nearly every neuron grew at the first drop, and every one of them learned `rot1`: the
# network's units specialise to one irrep, as the theory's neuron-by-neuron picture (AGF,
# tutorial 2) assumes. Run the same analysis on a run that went past the second drop
# (`train.steps=auto`) to find the neurons that learned `sign`.
