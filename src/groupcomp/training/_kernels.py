"""numba kernels of :mod:`groupcomp.training.compiled` (imported only when that engine runs).

One full-batch step of a ``TwoLayerNet`` with per-neuron SGD, for one model, split into
:func:`tables` (first-layer lookup tables), :func:`accumulate` (forward, loss and gradients over
a range of samples) and :func:`update` (per-neuron step). Samples are processed four at a time
(register blocking: each weight row is loaded once for four samples); the batch is padded to a
multiple of four with samples of weight 0. Every inner loop runs over the neuron index ``h``
(contiguous, vectorised). Shapes (one model): ``V (k, n, H)``, ``enc (n, n)``,
``seq (B4, k)``, ``tgt (B4, n2)``, ``mask (B4,)``, ``Wt (n2, H)`` with ``n2`` = ``n`` rounded up to
even. The trainer pads ``H`` to a multiple of 16 with all-zero neurons (no scalar loop tails;
1.17x on D3's H = 180) and the outputs to ``n2`` with an all-zero row of ``Wt`` and a zero
target column; both stay exactly zero (their gradients are 0).

``hyper`` (model dtype): ``[0, 2/(B·n), lr, κ, eps, p]`` with ``B`` the real batch size; ``act``:
0 = ``z^p``, 1 = relu, 2 = relu², 3 = linear.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# fast-math without "nnan"/"ninf": sums may be re-associated (vectorised reductions) and
# multiply-adds fused, but NaN and inf keep their meaning, so divergence is still detected
_OPTS = dict(fastmath={"reassoc", "contract", "nsz", "arcp"}, nogil=True, cache=True)
try:  # numba refuses cache=True when no cache folder is writable (read-only install, no HOME)

    @njit(**_OPTS)
    def _probe(x):  # pragma: no cover - compiled
        return x

except RuntimeError:
    _OPTS["cache"] = False  # compile in memory in every process instead (~5 s once)


@njit(**_OPTS)
def tables(V, enc, T):  # pragma: no cover - compiled
    """``T[j, g] = Σ_m enc[g, m] V[j, m]``."""
    k, n, H = V.shape
    zero = V[0, 0, 0] - V[0, 0, 0]
    for j in range(k):
        for g in range(n):
            Tr = T[j, g]
            for h in range(H):
                Tr[h] = zero
            for m in range(n):
                e = enc[g, m]
                Vr = V[j, m]
                for h in range(H):
                    Tr[h] += e * Vr[h]


@njit(**_OPTS)
def _activate(z, a, ds, act, p, pf, zero, one):  # pragma: no cover - compiled
    H = z.shape[0]
    two = one + one
    if act == 0:
        if p == 2:
            for h in range(H):
                a[h] = z[h] * z[h]
                ds[h] = two * z[h]
        elif p == 3:
            for h in range(H):
                z2 = z[h] * z[h]
                a[h] = z2 * z[h]
                ds[h] = (two + one) * z2
        elif p == 1:
            for h in range(H):
                a[h] = z[h]
                ds[h] = one
        else:
            for h in range(H):
                zp = z[h] ** (p - 1)
                a[h] = zp * z[h]
                ds[h] = pf * zp
    elif act == 1:  # z·0 instead of 0 below: a NaN / inf pre-activation stays NaN (as in torch)
        for h in range(H):
            if z[h] > zero:
                a[h] = z[h]
                ds[h] = one
            else:
                a[h] = z[h] * zero
                ds[h] = z[h] * zero
    elif act == 2:
        for h in range(H):
            r = z[h] if z[h] > zero else z[h] * zero
            a[h] = r * r
            ds[h] = two * r
    else:
        for h in range(H):
            a[h] = z[h]
            ds[h] = one


@njit(**_OPTS)
def _residual(s, tgt, mask, b, o, c, gr, i):  # pragma: no cover - compiled
    """Residual of output ``o`` of sample ``b`` (prediction ``s``): stores ``dL/d out`` in
    ``gr[i, o]`` and returns the squared error (float64)."""
    r = (s - tgt[b, o]) * mask[b]
    gr[i, o] = r * c
    return float(r) * float(r)


@njit(**_OPTS)
def accumulate(
    T, Wt, seq, tgt, mask, lo, hi, hyper, act, p, dT, dWt, Z, A, DS, DZ, gr
):  # pragma: no cover
    """Add the gradients of samples ``lo..hi`` (multiples of 4) to ``dT`` / ``dWt``; return
    their summed squared error (as float64). Scratch: ``Z, A, DS, DZ`` ``(4, H)``, ``gr``
    ``(4, n)``."""
    k = T.shape[0]
    n, H = Wt.shape
    zero = hyper[0]
    c = hyper[1]
    pf = hyper[5]
    one = c / c
    L = 0.0  # float64: a float32 running sum over B·n squared errors drifts by ~1e-4
    for b0 in range(lo, hi, 4):
        for i in range(4):
            z = Z[i]
            r0 = T[0, seq[b0 + i, 0]]
            for h in range(H):
                z[h] = r0[h]
            for j in range(1, k):
                row = T[j, seq[b0 + i, j]]
                for h in range(H):
                    z[h] += row[h]
            _activate(z, A[i], DS[i], act, p, pf, zero, one)
        a0 = A[0]
        a1 = A[1]
        a2 = A[2]
        a3 = A[3]
        d0 = DZ[0]
        d1 = DZ[1]
        d2 = DZ[2]
        d3 = DZ[3]
        for h in range(H):
            d0[h] = zero
            d1[h] = zero
            d2[h] = zero
            d3[h] = zero
        # outputs two at a time (n is even: the trainer pads it): each activation row is
        # loaded once per pair of outputs
        for o in range(0, n, 2):
            w = Wt[o]
            v = Wt[o + 1]
            s0 = zero
            s1 = zero
            s2 = zero
            s3 = zero
            t0 = zero
            t1 = zero
            t2 = zero
            t3 = zero
            for h in range(H):
                wh = w[h]
                vh = v[h]
                s0 += a0[h] * wh
                s1 += a1[h] * wh
                s2 += a2[h] * wh
                s3 += a3[h] * wh
                t0 += a0[h] * vh
                t1 += a1[h] * vh
                t2 += a2[h] * vh
                t3 += a3[h] * vh
            L += _residual(s0, tgt, mask, b0, o, c, gr, 0)
            L += _residual(s1, tgt, mask, b0 + 1, o, c, gr, 1)
            L += _residual(s2, tgt, mask, b0 + 2, o, c, gr, 2)
            L += _residual(s3, tgt, mask, b0 + 3, o, c, gr, 3)
            L += _residual(t0, tgt, mask, b0, o + 1, c, gr, 0)
            L += _residual(t1, tgt, mask, b0 + 1, o + 1, c, gr, 1)
            L += _residual(t2, tgt, mask, b0 + 2, o + 1, c, gr, 2)
            L += _residual(t3, tgt, mask, b0 + 3, o + 1, c, gr, 3)
            dw = dWt[o]
            dv = dWt[o + 1]
            g0 = gr[0, o]
            g1 = gr[1, o]
            g2 = gr[2, o]
            g3 = gr[3, o]
            q0 = gr[0, o + 1]
            q1 = gr[1, o + 1]
            q2 = gr[2, o + 1]
            q3 = gr[3, o + 1]
            for h in range(H):
                x0 = a0[h]
                x1 = a1[h]
                x2 = a2[h]
                x3 = a3[h]
                dw[h] += g0 * x0 + g1 * x1 + g2 * x2 + g3 * x3
                dv[h] += q0 * x0 + q1 * x1 + q2 * x2 + q3 * x3
            for h in range(H):
                wh = w[h]
                vh = v[h]
                d0[h] += g0 * wh + q0 * vh
                d1[h] += g1 * wh + q1 * vh
                d2[h] += g2 * wh + q2 * vh
                d3[h] += g3 * wh + q3 * vh
        for i in range(4):
            dz = DZ[i]
            ds = DS[i]
            for h in range(H):
                dz[h] *= ds[h]
            for j in range(k):
                row = dT[j, seq[b0 + i, j]]
                for h in range(H):
                    row[h] += dz[h]
    return L


@njit(**_OPTS)
def update(V, Wt, enc, dT, dWt, hyper, sc, dv):  # pragma: no cover - compiled
    """Per-neuron step ``θ_h -= lr·max(‖θ_h‖, eps)^(2−κ)·∇θ_h`` (norms before the update),
    with ``∇V[j, m] = Σ_g enc[g, m] dT[j, g]``."""
    k, n, H = V.shape
    zero = hyper[0]
    lr = hyper[2]
    kappa = hyper[3]
    eps = hyper[4]
    two = hyper[1] / hyper[1] + hyper[1] / hyper[1]
    for h in range(H):
        sc[h] = zero
    for j in range(k):
        for m in range(n):
            Vr = V[j, m]
            for h in range(H):
                sc[h] += Vr[h] * Vr[h]
    for o in range(Wt.shape[0]):
        w = Wt[o]
        for h in range(H):
            sc[h] += w[h] * w[h]
    if kappa == two:
        for h in range(H):
            sc[h] = lr
    else:
        for h in range(H):
            # a neuron at exactly 0 has a zero gradient: step 0 (eps^(2-κ) may overflow to inf,
            # and inf·0 = NaN; the trainer's zero padding neurons rely on this)
            if sc[h] > zero:
                sc[h] = lr * max(np.sqrt(sc[h]), eps) ** (two - kappa)
    for j in range(k):
        for m in range(n):
            for h in range(H):
                dv[h] = zero
            for g in range(n):
                e = enc[g, m]
                dr = dT[j, g]
                for h in range(H):
                    dv[h] += dr[h] * e
            Vr = V[j, m]
            for h in range(H):
                Vr[h] -= sc[h] * dv[h]
    for o in range(Wt.shape[0]):
        w = Wt[o]
        d = dWt[o]
        for h in range(H):
            w[h] -= sc[h] * d[h]


@njit(**_OPTS)
def steps_serial(
    V, Wt, enc, seq, tgt, mask, hyper, act, p, steps, losses, counter
):  # pragma: no cover
    """``steps`` full-batch steps of one model on one thread; ``losses[t]`` = mean-MSE before
    update ``t``; ``counter[0]`` = steps done."""
    k, n, H = V.shape
    B4 = seq.shape[0]
    dt = V.dtype
    T = np.empty((k, n, H), dt)
    dT = np.empty((k, n, H), dt)
    dWt = np.empty(Wt.shape, dt)
    Z = np.empty((4, H), dt)
    A = np.empty((4, H), dt)
    DS = np.empty((4, H), dt)
    DZ = np.empty((4, H), dt)
    gr = np.empty((4, Wt.shape[0]), dt)
    sc = np.empty(H, dt)
    dv = np.empty(H, dt)
    for t in range(steps):
        tables(V, enc, T)
        dT[:] = hyper[0]
        dWt[:] = hyper[0]
        L = accumulate(T, Wt, seq, tgt, mask, 0, B4, hyper, act, p, dT, dWt, Z, A, DS, DZ, gr)
        losses[t] = 0.5 * L * hyper[1]  # Σ r² / (B·n)
        update(V, Wt, enc, dT, dWt, hyper, sc, dv)
        counter[0] = t + 1


@njit(parallel=True, **_OPTS)
def steps_parallel(
    V, Wt, enc, seq, tgt, mask, hyper, act, p, steps, losses, counter, nchunks
):  # pragma: no cover
    """As :func:`steps_serial`, with each step's samples split into ``nchunks`` fixed chunks
    processed in parallel and their gradients summed in chunk order (so the numbers depend on
    ``nchunks`` but not on thread scheduling)."""
    k, n, H = V.shape
    B4 = seq.shape[0]
    dt = V.dtype
    nb = B4 // 4
    edges = np.empty(nchunks + 1, np.int64)
    for c in range(nchunks + 1):
        edges[c] = 4 * ((nb * c) // nchunks)
    T = np.empty((k, n, H), dt)
    dTc = np.empty((nchunks, k, n, H), dt)
    dWc = np.empty((nchunks, *Wt.shape), dt)
    Lc = np.empty(nchunks, np.float64)
    Zc = np.empty((nchunks, 4, H), dt)
    Ac = np.empty((nchunks, 4, H), dt)
    DSc = np.empty((nchunks, 4, H), dt)
    DZc = np.empty((nchunks, 4, H), dt)
    grc = np.empty((nchunks, 4, Wt.shape[0]), dt)
    sc = np.empty(H, dt)
    dv = np.empty(H, dt)
    for t in range(steps):
        tables(V, enc, T)
        for c in prange(nchunks):
            dTc[c] = hyper[0]
            dWc[c] = hyper[0]
            Lc[c] = accumulate(
                T, Wt, seq, tgt, mask, edges[c], edges[c + 1], hyper, act, p,
                dTc[c], dWc[c], Zc[c], Ac[c], DSc[c], DZc[c], grc[c],
            )  # fmt: skip
        L = Lc[0]
        for c in range(1, nchunks):
            dTc[0] += dTc[c]
            dWc[0] += dWc[c]
            L += Lc[c]
        losses[t] = 0.5 * L * hyper[1]  # Σ r² / (B·n)
        update(V, Wt, enc, dTc[0], dWc[0], hyper, sc, dv)
        counter[0] = t + 1
