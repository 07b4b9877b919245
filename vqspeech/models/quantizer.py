"""Vector quantizer (VQ-VAE, van den Oord et al. 2017) with straight-through gradients.

Modes:
- "loss": the codebook is a parameter trained by `||sg[z] - e||^2`; loss = codebook + beta * commitment.
- "ema":  the codebook is a buffer updated by exponential moving averages (paper appendix):
          N_k <- decay N_k + (1 - decay) n_k,  m_k <- decay m_k + (1 - decay) sum_{z -> k} z,
          N_k smoothed = (N_k + eps) / (sum N + K eps) * sum N  (Laplace),  e_k = m_k / N_k smoothed;
          loss = beta * commitment; the codebook receives no gradient.
Training-mode extras (both switchable): k-means init of the codebook on the first batch, and restart
of dead codes (usage EMA below `dead_ratio / K`) from a buffer of recent encoder outputs.

Distributed training: `sync_fn(t) -> t` (e.g. an all-reduce sum) is applied to the per-batch counts and
sums, so EMA statistics and dead-code decisions are identical on every rank; the k-means init and the
restart vectors are broadcast from rank 0 when torch.distributed is initialised.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vqspeech.models.config import QuantizerConfig

_CHUNK = 65536  # rows of the [N, K] distance matrix computed at once


@dataclass
class QuantizerOutput:
    quantized: torch.Tensor  # [B, D, N] straight-through: forward = codebook vectors, gradient -> z
    codes: torch.Tensor  # [B, N] int64
    loss: torch.Tensor  # scalar: codebook_loss + beta * commitment_loss ("loss"), beta * commitment ("ema")
    codebook_loss: torch.Tensor  # scalar ||sg[z] - e||^2 (mean); reported but not trained on in "ema" mode
    commitment_loss: torch.Tensor  # scalar ||z - sg[e]||^2 (mean)
    perplexity: torch.Tensor  # scalar exp(entropy of the batch's code histogram)
    usage: torch.Tensor  # scalar fraction of the K codes used in the batch


def _broadcast(t: torch.Tensor) -> None:
    """Copy rank 0's tensor to all ranks (no-op outside torch.distributed)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.broadcast(t, 0)


class VectorQuantizer(nn.Module):
    """K code vectors of size D; `forward(z: [B, D, N]) -> QuantizerOutput`."""

    def __init__(self, config: QuantizerConfig, sync_fn: Callable[[torch.Tensor], torch.Tensor] | None = None):
        super().__init__()
        self.config = config
        self.sync_fn = sync_fn
        K, D = config.num_codes, config.dim
        init = torch.empty(K, D).uniform_(-1.0 / K, 1.0 / K)
        if config.mode == "ema":
            self.register_buffer("codebook", init)
            self.register_buffer("ema_count", torch.ones(K))
            self.register_buffer("ema_sum", init.clone())
        else:
            self.codebook = nn.Parameter(init)
        # 1 once the codebook holds trained or k-means values (saved, so a loaded model never re-inits)
        self.register_buffer("initialized", torch.tensor(0 if config.kmeans_init else 1, dtype=torch.uint8))
        # training-only statistics, not saved with the model
        self.register_buffer("usage_ema", torch.full((K,), 1.0 / K), persistent=False)
        # fixed size (DDP broadcasts buffers: shapes must agree across ranks); `recent_fill` rows are valid
        self.register_buffer("recent", torch.zeros(config.restart_buffer, D), persistent=False)
        self.recent_fill = 0

    @property
    def num_codes(self) -> int:
        return self.config.num_codes

    @property
    def dim(self) -> int:
        return self.config.dim

    # ---- lookup -------------------------------------------------------------------------------------
    def _nearest(self, flat: torch.Tensor) -> torch.Tensor:
        """flat: [M, D] -> [M] int64 index of the nearest code (squared L2), via
        ||z||^2 - 2 z.e + ||e||^2 in chunks of rows: never an [M, K, D] tensor."""
        e = self.codebook.detach().float()
        e2 = (e * e).sum(1)
        out = []
        for chunk in flat.detach().float().split(_CHUNK):
            d = (chunk * chunk).sum(1, keepdim=True) - 2.0 * chunk @ e.t() + e2
            out.append(d.argmin(1))
        return torch.cat(out) if out else torch.zeros(0, dtype=torch.long, device=flat.device)

    def encode(self, z: torch.Tensor) -> torch.Tensor:
        """z: [B, D, N] float -> codes [B, N] int64 (nearest code vector)."""
        B, D, N = z.shape
        with torch.autocast(z.device.type, enabled=False):
            return self._nearest(z.transpose(1, 2).reshape(-1, D)).view(B, N)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """codes: [B, N] int64 -> [B, D, N] code vectors."""
        return F.embedding(codes, self.codebook).transpose(1, 2)

    # ---- training-time codebook maintenance ---------------------------------------------------------
    def _sync(self, t: torch.Tensor) -> torch.Tensor:
        return self.sync_fn(t) if self.sync_fn is not None else t

    @staticmethod
    def _kmeans_pp(data: torch.Tensor, K: int) -> torch.Tensor:
        """k-means++ seeding: [M, D] -> [K, D], each next centre drawn with probability ~ squared distance."""
        M = data.shape[0]
        cent = torch.empty(K, data.shape[1], device=data.device, dtype=data.dtype)
        cent[0] = data[torch.randint(0, M, (1,), device=data.device)]
        d2 = ((data - cent[0]) ** 2).sum(1)
        for k in range(1, K):
            total = d2.sum()
            if total <= 0:  # fewer distinct vectors than codes: random ones, jittered so no two codes tie
                idx = torch.randint(0, M, (1,), device=data.device)
                cent[k] = data[idx] + 0.01 * (data.std() + 1e-6) * torch.randn_like(data[idx])
            else:
                cent[k] = data[torch.multinomial(d2 / total, 1)]
            d2 = torch.minimum(d2, ((data - cent[k]) ** 2).sum(1))
        return cent

    @torch.no_grad()
    def _kmeans_init(self, flat: torch.Tensor) -> None:
        K = self.num_codes
        data = flat.detach().float()
        cent = self._kmeans_pp(data, K)
        # with fewer vectors than codes every vector is already a centre: Lloyd steps would change nothing
        for _ in range(self.config.kmeans_iters if data.shape[0] >= K else 0):
            d = (data * data).sum(1, keepdim=True) - 2.0 * data @ cent.t() + (cent * cent).sum(1)
            assign = d.argmin(1)
            counts = torch.bincount(assign, minlength=K).float()
            sums = torch.zeros_like(cent).index_add_(0, assign, data)
            used = counts > 0
            cent[used] = sums[used] / counts[used, None]
        _broadcast(cent)
        self.codebook.data.copy_(cent.to(self.codebook.dtype))
        if self.config.mode == "ema":
            self.ema_count.fill_(1.0)
            self.ema_sum.copy_(cent)
        self.initialized.fill_(1)

    @torch.no_grad()
    def _ema_update(self, flat: torch.Tensor, codes: torch.Tensor) -> None:
        c = self.config
        onehot_counts = torch.bincount(codes, minlength=c.num_codes).to(self.ema_count.dtype)
        sums = torch.zeros_like(self.ema_sum).index_add_(0, codes, flat.detach().to(self.ema_sum.dtype))
        onehot_counts, sums = self._sync(onehot_counts), self._sync(sums)
        self.ema_count.mul_(c.decay).add_(onehot_counts, alpha=1 - c.decay)
        self.ema_sum.mul_(c.decay).add_(sums, alpha=1 - c.decay)
        n = self.ema_count.sum()
        smoothed = (self.ema_count + c.eps) / (n + c.num_codes * c.eps) * n
        self.codebook.copy_(self.ema_sum / smoothed[:, None])

    @torch.no_grad()
    def _restart_dead(self, flat: torch.Tensor, counts: torch.Tensor) -> int:
        """Track usage; replace codes whose usage EMA is below dead_ratio / K. Returns how many."""
        c = self.config
        frac = counts / counts.sum().clamp(min=1)
        self.usage_ema.mul_(c.decay).add_(frac, alpha=1 - c.decay)
        cap = self.recent.shape[0]
        new_rows = flat.detach().to(self.recent.dtype)
        if new_rows.shape[0] > cap:  # keep a random subset of a large batch
            new_rows = new_rows[torch.randperm(new_rows.shape[0], device=new_rows.device)[:cap]]
        m = new_rows.shape[0]
        self.recent.copy_(torch.cat([new_rows, self.recent[: cap - m]]))
        self.recent_fill = min(cap, self.recent_fill + m)
        recent = self.recent[: self.recent_fill]
        dead = torch.nonzero(self.usage_ema < c.dead_ratio / c.num_codes).flatten()
        if dead.numel() == 0 or recent.shape[0] == 0:
            return 0
        pick = torch.randint(0, recent.shape[0], (dead.numel(),), device=recent.device)
        new = recent[pick].clone()
        _broadcast(new)
        self.codebook.data[dead] = new.to(self.codebook.dtype)
        if c.mode == "ema":
            self.ema_count[dead] = 1.0
            self.ema_sum[dead] = new.to(self.ema_sum.dtype)
        self.usage_ema[dead] = 1.0 / c.num_codes
        return int(dead.numel())

    # ---- forward ------------------------------------------------------------------------------------
    def forward(self, z: torch.Tensor) -> QuantizerOutput:
        """z: [B, D, N] encoder output -> QuantizerOutput (in training mode also updates the codebook).

        Runs in float32 with autocast off (bf16 distances would pick wrong codes); `quantized` is float32.
        """
        with torch.autocast(z.device.type, enabled=False):
            return self._forward(z.float())

    def _forward(self, z: torch.Tensor) -> QuantizerOutput:
        B, D, N = z.shape
        if D != self.dim:
            raise ValueError(f"quantizer expects {self.dim} channels, got {D}")
        flat = z.transpose(1, 2).reshape(-1, D)
        if self.training and not bool(self.initialized) and flat.shape[0] > 0:
            self._kmeans_init(flat)
        codes = self._nearest(flat)
        counts = self._sync(torch.bincount(codes, minlength=self.num_codes).float())
        e = F.embedding(codes, self.codebook)  # [M, D], the codebook before this step's updates
        codebook_loss = F.mse_loss(e, flat.detach())
        commitment_loss = F.mse_loss(flat, e.detach())
        if self.config.mode == "ema":
            loss = self.config.beta * commitment_loss
        else:
            loss = codebook_loss + self.config.beta * commitment_loss
        quantized = flat + (e - flat).detach()
        p = counts / counts.sum().clamp(min=1)
        perplexity = torch.exp(-(p * torch.log(p.clamp(min=1e-10))).sum())
        usage = (counts > 0).float().mean()
        if self.training and self.config.mode == "ema":
            self._ema_update(flat, codes)
        if self.training and self.config.restart_dead:
            self._restart_dead(flat, counts)
        return QuantizerOutput(
            quantized=quantized.view(B, N, D).transpose(1, 2),
            codes=codes.view(B, N),
            loss=loss,
            codebook_loss=codebook_loss,
            commitment_loss=commitment_loss,
            perplexity=perplexity,
            usage=usage,
        )
