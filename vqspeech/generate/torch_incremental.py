"""Cached incremental WaveNet generation in torch (Fast WaveNet): the GPU path and the reference.

Each layer keeps a ring buffer (queue) of its last (k - 1) * d + 1 inputs, so one step costs one
[B, k*R] x [k*R, G] product per layer instead of recomputing the receptive field. The conditioning
projections (dilated-conv bias + cond 1x1 conv + speaker projection) come precomputed per frame from
`pack.layer_conditioning`. Streams are sorted longest first, so the active ones are rows [:nb].
Nothing here synchronises with the device per step (no .item()), so CUDA runs asynchronously.
"""

from __future__ import annotations

import math

import torch

from vqspeech.generate.pack import pack_wavenet, ring_layout


class TorchStreams:
    """B streams of one WaveNet advanced step by step; state carried between `step` calls.

    lengths: steps per stream, sorted longest first; first_input: input index at t = 0."""

    def __init__(self, wavenet, lengths: list[int], first_input: int) -> None:
        if any(a < b for a, b in zip(lengths, lengths[1:], strict=False)):
            raise ValueError("streams must be sorted by length, longest first")
        dev = next(wavenet.parameters()).device
        self.device = dev
        self.lengths = [int(v) for v in lengths]
        p = pack_wavenet(wavenet)  # the layout the numba kernel reads, as tensors on the WaveNet's device
        k = self.k = p.kernel_size
        self.dil = [int(d) for d in p.dil]
        # [L, k*R, G]: rows j*R:(j+1)*R multiply the input at t - (k - 1 - j) * d

        def t_(a):
            return torch.from_numpy(a).to(dev)

        self.wd = t_(p.wd.reshape(p.num_layers, k * p.residual, p.gate))
        self.wrs, self.brs = t_(p.wrs), t_(p.brs)  # [L, H, R+S], [L, R+S]
        self.embed, self.w1, self.b1, self.w2, self.b2 = t_(p.embed), t_(p.w1), t_(p.b1), t_(p.w2), t_(p.b2)
        self.r, self.g, self.s = p.residual, p.gate, p.skip
        self.ws = t_(p.ws) if p.source_channels else None  # [L, E, G] the excitation's 1x1 convs, or None
        _, masks, _ = ring_layout(p.dil, k)
        b = len(self.lengths)
        self.sizes = [int(m) + 1 for m in masks]
        self.bufs = [torch.zeros(size, b, self.r, device=dev) for size in self.sizes]
        self.cur_in = torch.full((b,), int(first_input), dtype=torch.long, device=dev)
        self.t = 0

    @torch.no_grad()
    def step(self, n: int, cond: torch.Tensor, hop: int, f0: int, *, forced: torch.Tensor | None = None,
             temperature: float = 1.0, generator: torch.Generator | None = None,
             want_logits: bool = False, source: torch.Tensor | None = None
             ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Steps t .. t + n - 1. cond: [B, F, L, G] covering frames t // hop - f0 onwards; forced:
        [B, n] teacher-forced next inputs; source: [B, n, E] the excitation of these steps (required
        when the WaveNet has one). Returns (samples [B, n] int64, logits [B, n, Q] or None)."""
        b = len(self.lengths)
        q = self.w2.shape[1]
        out = torch.zeros(b, n, dtype=torch.long, device=self.device)
        logits = torch.zeros(b, n, q, device=self.device) if want_logits else None
        cond = cond.to(self.device, torch.float32)
        if self.ws is not None:
            e = self.ws.shape[1]
            if source is None or tuple(source.shape) != (b, n, e):
                got = None if source is None else tuple(source.shape)
                raise ValueError(f"this WaveNet needs source [B, n, E] = {(b, n, e)}, got {got}")
            source = torch.as_tensor(source).to(self.device, torch.float32)
        r, h2 = self.r, self.g // 2
        scale = math.sqrt(0.5)
        for i in range(n):
            t = self.t + i
            nb = sum(1 for v in self.lengths if v > t)
            if nb == 0:
                break
            frame = t // hop - f0
            x = self.embed[self.cur_in[:nb]]  # [nb, R]
            skip = torch.zeros(nb, self.s, device=self.device)
            for layer, (d, size, buf) in enumerate(zip(self.dil, self.sizes, self.bufs, strict=True)):
                taps = [buf[(t - (self.k - 1 - j) * d) % size, :nb] for j in range(self.k - 1)]
                bias = cond[:nb, frame, layer]
                if self.ws is not None:
                    bias = torch.addmm(bias, source[:nb, i], self.ws[layer])
                h = torch.addmm(bias, torch.cat(taps + [x], dim=1), self.wd[layer])
                buf[t % size, :nb] = x
                z = torch.tanh(h[:, :h2]) * torch.sigmoid(h[:, h2:])
                rs = torch.addmm(self.brs[layer], z, self.wrs[layer])
                x = (x + rs[:, :r]) * scale
                skip += rs[:, r:]
            y = torch.relu(torch.addmm(self.b1, torch.relu(skip), self.w1))
            lg = torch.addmm(self.b2, y, self.w2)  # [nb, Q]
            if temperature <= 0:
                nxt = lg.argmax(dim=1)
            else:
                probs = torch.softmax(lg / temperature, dim=1)
                nxt = torch.multinomial(probs, 1, generator=generator)[:, 0]
            out[:nb, i] = nxt
            if logits is not None:
                logits[:nb, i] = lg
            self.cur_in[:nb] = forced[:nb, i].to(self.device) if forced is not None else nxt
        self.t += n
        return out, logits
