"""``ArithNet``: the network of the group-arithmetic experiments, batched over an ensemble axis.

The default is the model of P3 (Y. Tian, arXiv 2410.01779; docs/theory.md §5.1): fixed one-hot
embeddings, per-operand input weights, quadratic activation, linear output,
``o(a, b) = Σ_j w_{cj} (w_{aj}[a] + w_{bj}[b])²``. Options:

* ``embedding="learned"``: a trainable table ``E`` (``(S, M, dim)``, shared by all operands)
  replaces the one-hot vectors;
* ``layers > 1``: extra residual hidden layers ``h ← h + σ(h V_l)`` (``V_l``: ``(S, H, H)``);
* ``ridge=True``: the output layer is not trained by gradient but set in closed form before each
  step, ``W = argmin ‖Φ W − Y‖_F² + λ ‖W‖_F² = (ΦᵀΦ + λI)⁻¹ ΦᵀY`` on the current hidden features
  ``Φ`` of the training set (per ensemble member; ``Y`` = centred one-hot targets). This is the
  "top layer solved at every step" regime analysed by P4 (arXiv 2509.21519, stage I: the top
  layer fits the current features; the back-propagated signal then shapes the features). The
  gradient of the lower layers is taken with ``W`` held fixed (no differentiation through the
  solve).

Conventions (docs/architecture.md, "Models"): every parameter has a leading ensemble axis ``S``;
``forward(tuples)`` takes ``(B, k)`` (shared) or ``(S, B, k)`` symbol indices and returns
``(S, B, M)``; ``neuron_params()`` are the ``(S, H, …)`` parameters (input and output weights),
``other_params()`` the rest (embedding, residual matrices), so
:func:`groupcomp.optim.make_optimizer` works; Muon orthogonalises every parameter with
``dim >= 3`` — all matrices here, the learned embedding included (``(S, M, dim)`` → an
``M × dim`` matrix per member). When ``ridge`` is on the output weights are a buffer, not a
parameter, so no optimiser touches them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from groupcomp.errors import ConfigError
from groupcomp.models.activations import get_activation
from groupcomp.models.base import EnsembleModel, init_normal

__all__ = ["ARITH_ACTIVATIONS", "EMBEDDINGS", "ArithNet", "ridge_solve"]

#: activation names accepted by :class:`ArithNet` (``sqr`` = ``square``, P3's name)
ARITH_ACTIVATIONS: tuple[str, ...] = (
    "sqr",
    "square",
    "relu",
    "relu2",
    "silu",
    "gelu",
    "tanh",
    "linear",
    "power",
)
EMBEDDINGS: tuple[str, ...] = ("onehot", "learned")


def ridge_solve(features: Tensor, targets: Tensor, lam: float) -> Tensor:
    """``W = argmin ‖Φ W − Y‖_F² + λ‖W‖_F²`` for a batch: ``Φ (S, n, H)``, ``Y (S, n, M)`` or
    ``(n, M)`` → ``(S, H, M)``.

    Uses the ``H × H`` normal equations when ``n >= H`` and the ``n × n`` dual form
    ``Φᵀ(ΦΦᵀ + λI)⁻¹Y`` otherwise (same solution for ``λ > 0``). ``λ = 0`` gives the
    minimum-norm least-squares solution (via ``torch.linalg.lstsq`` / pseudo-inverse).
    """
    if targets.dim() == 2:
        targets = targets.unsqueeze(0).expand(features.shape[0], *targets.shape)
    S, n, H = features.shape
    if lam <= 0:
        return torch.linalg.pinv(features) @ targets
    if n >= H:
        A = features.mT @ features
        A = A + lam * torch.eye(H, dtype=A.dtype, device=A.device)
        L, info = torch.linalg.cholesky_ex(A)
        if bool((info == 0).all()):
            return torch.cholesky_solve(features.mT @ targets, L)
        return torch.linalg.solve(A, features.mT @ targets)
    K = features @ features.mT
    K = K + lam * torch.eye(n, dtype=K.dtype, device=K.device)
    L, info = torch.linalg.cholesky_ex(K)
    alpha = (
        torch.cholesky_solve(targets, L)
        if bool((info == 0).all())
        else torch.linalg.solve(K, targets)
    )
    return features.mT @ alpha


class ArithNet(EnsembleModel):
    r"""``o(a_1..a_k) = W_outᵀ h_L``, ``h_1 = σ(Σ_j U_j E[a_j])``, ``h_{l+1} = h_l + σ(h_l V_l)``.

    Parameters (``S`` = ensemble, ``H`` = hidden, ``k`` = operands, ``D`` = embedding dim):

    * ``W_in``: ``(S, H, k, D)`` — ``W_in[s, i, j]`` is neuron ``i``'s input weight for operand
      ``j`` (with one-hot embedding ``D = M`` and ``W_in[s, i, j, g]`` is ``w_{·i}[g]`` of P3);
    * ``W_out``: ``(S, H, M)`` — output vector of neuron ``i`` (a buffer when ``ridge``);
    * ``embedding``: ``(S, M, D)`` parameter when ``embedding="learned"`` (one-hot: the identity,
      a buffer);
    * ``V_1 … V_{L−1}``: ``(S, H, H)`` residual layers when ``layers = L > 1``.

    Initialisation (``s = init_scale``): ``W_in ~ s·N(0,1)/√(k D)``, ``W_out ~ s·N(0,1)/√H``,
    ``V_l ~ s·N(0,1)/√H``, learned embedding ``~ N(0,1)``. PyTorch's default ``nn.Linear``
    init used by P3's code (one layer per operand) has std ``1/√(3M)`` and ``1/√(3H)``, i.e.
    ``s = √(k/3)`` for the input and ``s = 1/√3`` for the output weights.

    Args:
        M: number of symbols (inputs and output classes).
        num_operands: ``k >= 1``.
        hidden: ``H``.
        num_models: ``S``.
        activation: one of :data:`ARITH_ACTIVATIONS` (``power`` = ``z^k``).
        embedding: ``"onehot"`` (fixed) or ``"learned"``.
        embed_dim: ``D`` for a learned embedding (default ``M``); must be ``M`` for one-hot.
        layers: number of hidden layers ``L >= 1``.
        ridge: solve the output layer by ridge regression (see :meth:`fit_readout`).
        init_scale: ``s``.
        generator: ``torch.Generator`` for the init (default: seeded with 0).
    """

    _k_param = "num_operands"

    def __init__(
        self,
        M: int,
        num_operands: int = 2,
        hidden: int = 512,
        num_models: int = 1,
        *,
        activation: str = "sqr",
        embedding: str = "onehot",
        embed_dim: int | None = None,
        layers: int = 1,
        ridge: bool = False,
        init_scale: float = 1.0,
        generator: torch.Generator | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        self_kwargs = dict(
            M=M,
            num_operands=num_operands,
            hidden=hidden,
            activation=activation,
            embedding=embedding,
            embed_dim=embed_dim,
            layers=layers,
            ridge=ridge,
            init_scale=init_scale,
            dtype=dtype,
            device=device,
        )
        dt = dtype or torch.get_default_dtype()
        super().__init__(
            torch.eye(int(M), dtype=dt), num_operands, hidden, num_models, init_scale, dt, device
        )
        act = str(activation).lower()
        if act not in ARITH_ACTIVATIONS:
            raise ConfigError(
                f"ArithNet: activation must be one of {', '.join(ARITH_ACTIVATIONS)}; "
                f"got {activation!r}"
            )
        self.activation = get_activation("square" if act == "sqr" else act, power=self.k)
        if embedding not in EMBEDDINGS:
            raise ConfigError(
                f"ArithNet: embedding must be one of {', '.join(EMBEDDINGS)}; got {embedding!r}"
            )
        if int(layers) != layers or layers < 1:
            raise ConfigError(f"ArithNet: layers must be an integer >= 1, got {layers!r}")
        D = self.n if embed_dim is None else int(embed_dim)
        if embedding == "onehot" and D != self.n:
            raise ConfigError(
                f"ArithNet: embed_dim must equal M = {self.n} with embedding='onehot', got {D} "
                f"(use embedding='learned' for another dimension)"
            )
        if D < 1:
            raise ConfigError(f"ArithNet: embed_dim must be an integer >= 1, got {D}")
        self._init_kwargs = self_kwargs
        self.embedding_kind = embedding
        self.embed_dim = D
        self.layers = int(layers)
        self.ridge = bool(ridge)
        gen = torch.Generator().manual_seed(0) if generator is None else generator
        S, H, k, n, s = self.num_models, self.hidden, self.k, self.n, self.init_scale
        dt = self.encoding.dtype
        self.W_in = init_normal((S, H, k, D), s / math.sqrt(k * D), gen, dt, device)
        w_out = init_normal((S, H, n), s / math.sqrt(H), gen, dt, device)
        if self.ridge:
            self.register_buffer("W_out", w_out.detach().clone())
        else:
            self.W_out = w_out
        if embedding == "learned":
            self.embedding = init_normal((S, n, D), 1.0, gen, dt, device)
        else:
            eye = torch.eye(n, dtype=dt, device=self.encoding.device)
            self.register_buffer("embedding", eye.expand(S, n, n).clone())
        self.residual = nn.ParameterList(
            [init_normal((S, H, H), s / math.sqrt(H), gen, dt, device) for _ in range(layers - 1)]
        )
        homogeneous = (
            embedding == "onehot" and self.layers == 1 and self.activation.degree is not None
        )
        self.degree = self.activation.degree + 1 if homogeneous else None  # type: ignore[operator]

    # ---------------------------------------------------------------- parameters
    def neuron_params(self) -> list[nn.Parameter]:
        """``W_in`` and (unless ``ridge``) ``W_out``: neuron ``i`` of model ``s`` is ``[s, i]``."""
        return [self.W_in] if self.ridge else [self.W_in, self.W_out]

    def other_params(self) -> list[nn.Parameter]:
        """Learned embedding and residual matrices."""
        out = [self.embedding] if self.embedding_kind == "learned" else []
        return out + list(self.residual)

    def select(self, models: int | Sequence[int] | Tensor) -> ArithNet:
        """A copy holding only the given ensemble members (an int keeps a size-1 axis)."""
        idx = torch.as_tensor([models] if isinstance(models, int) else models, dtype=torch.long)
        if idx.dim() != 1 or idx.numel() == 0:
            raise ValueError("models must be an int or a non-empty 1-D sequence of ints")
        new = ArithNet(**{**self._init_kwargs, "num_models": int(idx.numel())})
        state = {
            k: (v if k == "encoding" else v.detach()[idx.to(v.device)].clone())
            for k, v in self.state_dict().items()
        }
        new.load_state_dict(state)
        return new

    # ---------------------------------------------------------------- forward
    def symbol_weights(self) -> Tensor:
        """Effective first-layer weights on the symbols, ``u[s, i, j, g] = ⟨W_in[s,i,j], E[s,g]⟩``:
        ``(S, H, k, M)`` (equal to ``W_in`` for the one-hot embedding). This is the function on
        the operand set whose Fourier power the training run records."""
        if self.embedding_kind == "onehot":
            return self.W_in
        return torch.einsum("shjd,sgd->shjg", self.W_in, self.embedding)

    def preactivations(self, tuples: Tensor) -> Tensor:
        """First-layer pre-activations ``Σ_j ⟨U_j, E[a_j]⟩``: ``(S, B, H)``."""
        seq, per_model = self._check_seq(tuples)
        table = self.symbol_weights().permute(0, 2, 3, 1)  # (S, k, M, H)
        return self._lookup_sum(table.contiguous(), seq, per_model)

    def _hidden(self, z: Tensor) -> Tensor:
        h = self.activation(z)
        for V in self.residual:
            h = h + self.activation(h @ V)
        return h

    def features(self, tuples: Tensor) -> Tensor:
        """Last hidden layer ``h_L``: ``(S, B, H)``."""
        return self._hidden(self.preactivations(tuples))

    def forward(self, tuples: Tensor) -> Tensor:
        """``tuples``: ``(B, k)`` or ``(S, B, k)`` symbols → ``(S, B, M)``."""
        return self.features(tuples) @ self.W_out

    def forward_dense(self, x: Tensor) -> Tensor:
        """``x``: ``(B, k, M)`` or ``(S, B, k, M)`` input vectors (one-hot rows reproduce
        :meth:`forward`) → ``(S, B, M)``."""
        x = self._check_dense(x)
        e = torch.einsum("sbjg,sgd->sbjd", x, self.embedding)
        z = torch.einsum("sbjd,shjd->sbh", e, self.W_in)
        return self._hidden(z) @ self.W_out

    # ---------------------------------------------------------------- fused exact gradients
    #: activations per chunk of the fused step (members × rows × hidden; 4 MB in float32): a
    #: chunk's activations stay in cache from the lookup through the products to the scatter
    _CHUNK_ELEMENTS = 2**20

    @property
    def supports_fused_grad(self) -> bool:
        """Whether :meth:`loss_and_grad` applies: one-hot operands, one hidden layer and an
        activation with an analytic ``σ'`` (``sqr``/``square``, ``power``, ``relu``, ``relu2``,
        ``tanh``, ``linear``)."""
        return (
            self.embedding_kind == "onehot"
            and self.layers == 1
            and self.activation.grad is not None
        )

    def _prepared(self, tuples: Tensor, labels: Tensor, n: int, loss: str) -> dict[str, Any]:
        """Index tensors of a batch, computed once while the same ``tuples`` / ``labels``
        tensors come back (the full batch): per chunk of rows ``[r0, r1)`` (all members) the
        flat table rows ``(S·(r1−r0), k)`` and, for its training rows ``r < n``, each
        operand's rows; the labels ``y`` (``(S, B)``) and, for ``mse``, the centred one-hot
        targets ``t`` (``(S, B, M)``)."""
        S, k, M = self.num_models, self.k, self.n
        rows = max(64, self._CHUNK_ELEMENTS // (S * self.hidden))
        key = (loss, n, rows, self.W_in.dtype, tuples._version, labels._version)
        c = self.__dict__.get("_prep")
        if c is not None and c["tuples"] is tuples and c["labels"] is labels and c["key"] == key:
            return c
        seq, per_model = self._check_seq(tuples)
        B = seq.shape[-2]
        off = self._flat_offsets(seq, per_model)  # (S, B, k) rows of the (S·k·M, H) table
        chunks = []
        for r0 in range(0, B, rows):
            r1 = min(B, r0 + rows)
            ng = max(0, min(r1, n) - r0)  # training rows in the chunk
            lookup = off[:, r0:r1].reshape(-1, k).contiguous()
            scatter = [off[:, r0 : r0 + ng, j].reshape(-1).contiguous() for j in range(k)]
            chunks.append((r0, r1, ng, lookup, scatter))
        y = labels.to(seq.device).expand(S, B).contiguous()
        c = {"tuples": tuples, "labels": labels, "key": key, "chunks": chunks, "y": y}
        if loss == "mse":
            c["t"] = F.one_hot(y, M).to(self.W_in.dtype) - 1.0 / M
        self.__dict__["_prep"] = c
        return c

    @torch.no_grad()
    def loss_and_grad(
        self, tuples: Tensor, labels: Tensor, loss: str = "mse", *, grad_rows: int | None = None
    ) -> tuple[Tensor, Tensor]:
        """Per-tuple losses, correctness and the exact gradients in one pass, without autograd.

        ``tuples``: ``(B, k)`` or ``(S, B, k)`` symbols; ``labels``: ``(B,)`` or ``(S, B)``
        classes; ``loss``: ``"mse"`` (``‖P^⊥ o − (e_y − 1/M)‖²`` summed over outputs) or
        ``"ce"`` (cross-entropy). The first ``grad_rows`` tuples (default: all) are the batch:
        *sets* ``W_in.grad`` (and ``W_out.grad`` unless ``ridge``) to the gradient of
        ``Σ_s mean_{b < grad_rows} loss[s, b]``, i.e. each member's gradient of its own mean
        loss; the other rows (e.g. the test split) only share the forward pass. Returns
        ``(losses (S, B), correct (S, B) bool)`` of every row at the current weights (correct:
        the arg-max output is the label).

        Equal to autograd on the same losses (tested, float64); only for
        :attr:`supports_fused_grad` models. Rows go through in chunks of
        :attr:`_CHUNK_ELEMENTS` activations (lookup, activation, products, loss, scatter per
        chunk); index tensors are cached while the same batch tensors come back.
        """
        if not self.supports_fused_grad:
            raise ConfigError(
                "ArithNet.loss_and_grad: needs embedding='onehot', layers=1 and an activation "
                "with an analytic derivative"
            )
        if loss not in ("mse", "ce"):
            raise ConfigError(f"ArithNet.loss_and_grad: loss must be 'mse' or 'ce', got {loss!r}")
        S, H, k, M = self.num_models, self.hidden, self.k, self.n
        B = tuples.shape[-2]
        n = B if grad_rows is None else int(grad_rows)
        c = self._prepared(tuples, labels, n, loss)
        y, dt, dev = c["y"], self.W_in.dtype, self.W_in.device
        act = self.activation
        square = act.name == "square" or (act.name == "power" and act.power == 2)
        # the per-operand lookup tables T[s, j, g, :] = W_in[s, :, j, g], as rows of one flat
        # table (contiguous: a row gather from the transposed view is ~8x slower)
        table = self.W_in.permute(0, 2, 3, 1).contiguous().view(S * k * M, H)
        Mp = -(-M // 16) * 16
        W = self.W_out
        if Mp != M:  # a thin product is ~1.6x faster with its width padded to 16 (zero columns)
            W = self._work("W_out_pad", (S, H, Mp), dt, zero=True)
            W[..., :M].copy_(self.W_out)
        losses = torch.empty(S, B, dtype=dt, device=dev)
        correct = torch.empty(S, B, dtype=torch.bool, device=dev)
        gWt = None if self.ridge else torch.zeros(S, M, H, dtype=dt, device=dev)  # W_out.gradᵀ
        dtable = torch.zeros(S * k * M, H, dtype=dt, device=dev)
        for r0, r1, ng, lookup, scatter in c["chunks"]:
            cn = r1 - r0
            if k == 1:
                z = F.embedding(lookup[:, 0], table)
            else:
                z = F.embedding_bag(lookup, table, mode="sum")
            z = z.view(S, cn, H)
            h = torch.mul(z, z, out=self._work(f"h{cn}", (S, cn, H), dt)) if square else act(z)
            out = torch.bmm(h, W)[..., :M]  # (S, cn, M)
            yc = y[:, r0:r1]
            torch.eq(out.argmax(-1), yc, out=correct[:, r0:r1])
            if loss == "mse":
                # r = P^⊥ o − (e_y − 1/M) is centred, so dL/do = 2 r / n
                r = out.sub_(out.mean(-1, keepdim=True)).sub_(c["t"][:, r0:r1])
                torch.sum(r * r, -1, out=losses[:, r0:r1])
                g = r[:, :ng].mul_(2.0 / n)
            else:
                logp = torch.log_softmax(out, -1)
                losses[:, r0:r1] = -logp.gather(-1, yc.unsqueeze(-1)).squeeze(-1)
                g = logp[:, :ng].exp_()  # softmax; dL/do = (softmax − e_y) / n
                y_col = yc[:, :ng].unsqueeze(-1)
                g.scatter_add_(-1, y_col, torch.full_like(y_col, -1, dtype=dt))
                g.div_(n)
            if not ng:
                continue
            if gWt is not None:
                gWt.baddbmm_(g.mT, h[:, :ng])  # as gᵀh: ~2x faster than hᵀg at these shapes
            if square:  # σ'(z) = 2z: the exact factor 2 goes into the small (S, ng, M) factor
                dz = self._work(f"dz{ng}", (S, ng, H), dt)
                torch.bmm(g.mul_(2.0), self.W_out.mT, out=dz).mul_(z[:, :ng])
            else:
                dz = torch.bmm(g, self.W_out.mT).mul_(act.grad(z[:, :ng]))
            # scatter dz back to the table rows: dT[s, j, g] += dz[s, b] for g = tuples[b, j]
            src = dz.view(S * ng, H)
            for j in range(k):
                dtable.index_add_(0, scatter[j], src)
        if gWt is not None:
            self.W_out.grad = gWt.mT.contiguous()
        self.W_in.grad = dtable.view(S, k, M, H).permute(0, 3, 1, 2).contiguous()
        return losses, correct

    # ---------------------------------------------------------------- ridge readout
    @torch.no_grad()
    def fit_readout(self, tuples: Tensor, targets: Tensor, lam: float) -> Tensor:
        """Set ``W_out`` to the ridge solution on the current features of ``tuples`` (per model):
        ``(ΦᵀΦ + λI)⁻¹ΦᵀY``. ``targets``: ``(S, n, M)`` or ``(n, M)``. Returns the new
        ``W_out``. Only for ``ridge=True`` models."""
        if not self.ridge:
            raise ConfigError("ArithNet.fit_readout: needs a model built with ridge=True")
        phi = self.features(tuples)
        W = ridge_solve(phi, targets.to(phi.dtype), float(lam))
        self.W_out.copy_(W)
        return self.W_out

    def extra_repr(self) -> str:
        return (
            f"M={self.n}, num_operands={self.k}, hidden={self.hidden}, "
            f"num_models={self.num_models}, activation={self.activation.name!r}, "
            f"embedding={self.embedding_kind!r}, embed_dim={self.embed_dim}, "
            f"layers={self.layers}, ridge={self.ridge}, init_scale={self.init_scale:g}"
        )
