"""Vector quantizer invariants: nearest neighbour, straight-through gradients, EMA formula, k-means
init, dead-code restart, eval-mode quantized == decode(encode(z)), perplexity/usage, sync hook."""

from __future__ import annotations

import math

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from vqspeech.models.config import QuantizerConfig
from vqspeech.models.quantizer import VectorQuantizer


def _vq(**kw) -> VectorQuantizer:
    torch.manual_seed(0)
    base = dict(num_codes=8, dim=4, kmeans_init=False, restart_dead=False)
    base.update(kw)
    return VectorQuantizer(QuantizerConfig(**base))


def _set_codebook(vq: VectorQuantizer, values) -> None:
    with torch.no_grad():
        vq.codebook.copy_(torch.as_tensor(values, dtype=torch.float32))
        if vq.config.mode == "ema":
            vq.ema_sum.copy_(vq.codebook)


class _MaxNumel(TorchDispatchMode):
    """Records the largest tensor any op produces."""

    def __init__(self):
        super().__init__()
        self.max = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else [out]:
            if isinstance(t, torch.Tensor):
                self.max = max(self.max, t.numel())
        return out


def test_nearest_neighbour_matches_brute_force_without_NKD_tensor():
    vq = _vq(num_codes=64, dim=16).eval()
    z = torch.randn(4, 16, 64)
    flat = z.transpose(1, 2).reshape(-1, 16)
    expected = torch.cdist(flat, vq.codebook.detach()).argmin(1).view(4, 64)
    with _MaxNumel() as mode:
        codes = vq.encode(z)
    assert torch.equal(codes, expected)
    N, K, D = flat.shape[0], 64, 16
    assert mode.max <= N * K < N * K * D  # the [N, K] distance matrix is the largest tensor


@pytest.mark.parametrize("mode", ["loss", "ema"])
def test_eval_quantized_equals_decode_of_encode(mode):
    vq = _vq(mode=mode).eval()
    z = torch.randn(3, 4, 17)
    out = vq(z)
    assert torch.equal(out.codes, vq.encode(z))
    torch.testing.assert_close(out.quantized, vq.decode(vq.encode(z)), rtol=0, atol=1e-6)
    assert out.quantized.shape == z.shape and out.codes.dtype == torch.int64


def test_straight_through_loss_mode():
    vq = _vq().train()
    z = torch.randn(2, 4, 10, requires_grad=True)
    out = vq(z)
    w = torch.randn_like(z)
    gz, gcb = torch.autograd.grad((out.quantized * w).sum(), [z, vq.codebook], allow_unused=True)
    torch.testing.assert_close(gz, w)  # identity gradient to the encoder output
    assert gcb is None or torch.all(gcb == 0)  # the reconstruction path does not touch the codebook
    # codebook loss trains the codebook only; commitment loss trains the encoder only
    gz, gcb = torch.autograd.grad(out.codebook_loss, [z, vq.codebook], allow_unused=True)
    assert (gz is None or torch.all(gz == 0)) and gcb.abs().sum() > 0
    gz, gcb = torch.autograd.grad(out.commitment_loss, [z, vq.codebook], allow_unused=True)
    assert gz.abs().sum() > 0 and (gcb is None or torch.all(gcb == 0))
    torch.testing.assert_close(out.loss, out.codebook_loss + 0.25 * out.commitment_loss)


def test_ema_mode_codebook_has_no_gradient_and_loss_is_commitment():
    vq = _vq(mode="ema").train()
    assert "codebook" not in dict(vq.named_parameters()) and not vq.codebook.requires_grad
    z = torch.randn(2, 4, 10, requires_grad=True)
    out = vq(z)
    torch.testing.assert_close(out.loss, 0.25 * out.commitment_loss)
    (gz,) = torch.autograd.grad(out.loss + out.quantized.sum(), [z])
    assert gz.abs().sum() > 0


def test_ema_update_matches_formula_by_hand():
    decay, eps = 0.5, 0.1
    vq = _vq(num_codes=3, dim=1, mode="ema", decay=decay, eps=eps).train()
    _set_codebook(vq, [[0.0], [10.0], [100.0]])
    z = torch.tensor([[[1.0, 2.0, 9.0]]])  # [B=1, D=1, N=3]: 1, 2 -> code 0; 9 -> code 1; code 2 unused
    out = vq(z)
    assert out.codes.tolist() == [[0, 0, 1]]
    # by hand: N = 0.5 * 1 + 0.5 * n = [1.5, 1.0, 0.5]; m = 0.5 * e + 0.5 * sum z = [1.5, 9.5, 50]
    N = [1.5, 1.0, 0.5]
    m = [0.5 * 0 + 0.5 * 3.0, 0.5 * 10 + 0.5 * 9.0, 0.5 * 100 + 0.0]
    n = sum(N)
    smoothed = [(Ni + eps) / (n + 3 * eps) * n for Ni in N]
    expected = [mi / si for mi, si in zip(m, smoothed, strict=True)]
    torch.testing.assert_close(vq.codebook.flatten(), torch.tensor(expected), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(vq.ema_count, torch.tensor(N))
    # the forward pass itself used the codebook before the update
    torch.testing.assert_close(out.quantized.detach().flatten(), torch.tensor([0.0, 0.0, 10.0]))
    # eval mode changes nothing
    before = vq.codebook.clone()
    vq.eval()(z)
    assert torch.equal(vq.codebook, before)


def test_sync_fn_sees_counts_and_sums():
    seen = []

    def sync(t):
        seen.append(tuple(t.shape))
        return t

    vq = VectorQuantizer(QuantizerConfig(num_codes=8, dim=4, mode="ema", kmeans_init=False), sync_fn=sync).train()
    vq(torch.randn(2, 4, 5))
    assert (8,) in seen and (8, 4) in seen


def test_perplexity_and_usage():
    vq = _vq(num_codes=4, dim=1).eval()
    _set_codebook(vq, [[0.0], [1.0], [2.0], [3.0]])
    out = vq(torch.tensor([[[0.0, 0.1, 1.0, 0.9]]]))  # codes 0, 0, 1, 1
    assert out.codes.tolist() == [[0, 0, 1, 1]]
    assert math.isclose(out.perplexity.item(), 2.0, rel_tol=1e-5)
    assert math.isclose(out.usage.item(), 0.5)


def _clusters(K: int, D: int, per: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(K, D, generator=g) * 10
    pts = centres.repeat_interleave(per, 0) + 0.01 * torch.randn(K * per, D, generator=g)
    return centres, pts.t().unsqueeze(0)  # [1, D, K * per]


def test_kmeans_init_from_first_batch():
    centres, z = _clusters(4, 3, 20)
    vq = _vq(num_codes=4, dim=3, kmeans_init=True, kmeans_iters=20).train()
    assert int(vq.initialized) == 0
    vq(z)
    assert int(vq.initialized) == 1
    # every cluster centre has a code vector next to it
    assert torch.cdist(centres, vq.codebook.detach()).min(1).values.max() < 0.1
    before = vq.codebook.detach().clone()
    vq(z + 5.0)  # no re-init on later batches
    assert torch.equal(vq.codebook.detach(), before)
    off = _vq(num_codes=4, dim=3, kmeans_init=False).train()
    before = off.codebook.detach().clone()
    off(z)
    assert torch.equal(off.codebook.detach(), before)


@pytest.mark.parametrize("mode", ["loss", "ema"])
def test_dead_code_gets_restarted_from_encoder_outputs(mode):
    centres, z = _clusters(3, 2, 10, seed=1)
    cfg = dict(num_codes=4, dim=2, mode=mode, decay=0.5, dead_ratio=0.5)
    on = _vq(restart_dead=True, **cfg).train()
    off = _vq(restart_dead=False, **cfg).train()
    far = [100.0, 100.0]
    for vq in (on, off):
        _set_codebook(vq, torch.cat([centres, torch.tensor([far])]))
        for _ in range(5):
            vq(z)
    dist_on = torch.cdist(on.codebook[3:4].detach(), z[0].t()).min().item()
    assert dist_on < 0.5  # the dead code now sits among recent encoder outputs (clusters are 10 apart)
    if mode == "loss":  # without restart (and without EMA) the unused code never moves
        assert torch.equal(off.codebook[3].detach(), torch.tensor(far))
    else:
        assert torch.cdist(off.codebook[3:4].detach(), z[0].t()).min().item() > 1.0


def test_autocast_does_not_change_codes_and_buffers_keep_shape():
    vq = _vq(num_codes=64, dim=16, restart_dead=True).train()
    z = torch.randn(2, 16, 50)
    expected = vq.eval().encode(z)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = vq.eval()(z.bfloat16().float())  # bf16-representable input: same codes either way
        assert torch.equal(vq.encode(z), expected)
    assert out.quantized.dtype == torch.float32
    vq.train()
    shape = vq.recent.shape
    for n in (3, 5000):  # smaller and larger than the restart buffer
        vq(torch.randn(1, 16, n))
        assert vq.recent.shape == shape  # fixed: DDP broadcasts buffers, shapes must agree across ranks
    assert vq.recent_fill == shape[0]


def _ddp_worker(rank: int, world: int, init: str, out: str) -> None:
    import numpy as np
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)

    def all_reduce(t):
        dist.all_reduce(t)
        return t

    for restart in (False, True):
        torch.manual_seed(0)
        cfg = QuantizerConfig(num_codes=8, dim=4, mode="ema", kmeans_init=restart, restart_dead=restart,
                              decay=0.5, dead_ratio=0.9)
        vq = VectorQuantizer(cfg, sync_fn=all_reduce).train()
        torch.manual_seed(100 + rank)  # different data and random draws on each rank
        for step in range(4):
            z = torch.randn(1, 4, 30, generator=torch.Generator().manual_seed(10 * step + rank))
            res = vq(z)
        np.save(f"{out}/rank{rank}_{restart}.npy",
                np.concatenate([vq.codebook.numpy().ravel(), [res.perplexity.item()]]))
    dist.destroy_process_group()


def test_ema_under_two_process_all_reduce(tmp_path):
    import numpy as np
    import torch.multiprocessing as mp

    mp.spawn(_ddp_worker, args=(2, f"file://{tmp_path}/store", str(tmp_path)), nprocs=2, join=True)
    for restart in (False, True):  # with k-means init and dead-code restart too
        r0, r1 = np.load(tmp_path / f"rank0_{restart}.npy"), np.load(tmp_path / f"rank1_{restart}.npy")
        np.testing.assert_array_equal(r0, r1)  # all ranks keep the same codebook and statistics
    # summing counts and sums over ranks == one process that sees both ranks' batches
    r0 = np.load(tmp_path / "rank0_False.npy")
    torch.manual_seed(0)
    cfg = QuantizerConfig(num_codes=8, dim=4, mode="ema", kmeans_init=False, restart_dead=False, decay=0.5)
    vq = VectorQuantizer(cfg).train()
    for step in range(4):
        z = torch.cat([torch.randn(1, 4, 30, generator=torch.Generator().manual_seed(10 * step + r))
                       for r in range(2)], dim=2)
        vq(z)
    np.testing.assert_allclose(r0[:-1], vq.codebook.numpy().ravel(), rtol=1e-5, atol=1e-6)


def test_kmeans_init_with_fewer_vectors_than_codes_gives_distinct_codes():
    vq = _vq(num_codes=32, dim=4, kmeans_init=True).train()
    z = torch.randn(1, 4, 10)
    vq(z)
    cb = vq.codebook.detach()
    assert torch.unique(cb, dim=0).shape[0] == 32  # no two codes tie
    exact = (z[0].t()[:, None, :] - cb[None]).abs().sum(-1).min(1).values
    assert torch.all(exact == 0)  # every vector is a code
