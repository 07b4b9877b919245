"""Pack a WaveNet's weights once into contiguous float32 arrays in the order the fast loops read them,
and project the conditioning (local codes, speaker, dilated-conv bias) for a whole utterance at once.

Layout (L layers, kernel k, residual R, gate G = 2H, skip S, Q output classes):
    embed  [in_classes, R]      input embedding rows
    wd     [L, k, R, G]         dilated conv, transposed: tap j multiplies x[t - (k - 1 - j) * d]
    wrs    [L, H, R + S]        res and skip 1x1 convs fused (columns :R residual, R: skip)
    brs    [L, R + S]           their biases
    w1 [S, S], b1 [S], w2 [S, Q], b2 [Q]   output head (transposed)
    dil    [L] int64            dilations
    ws     [L, E, G]            excitation 1x1 convs, transposed (E = source channels; E = 0 without a source)
The innermost loops run over contiguous output channels (the last axis), so they vectorise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class PackedWaveNet:
    """WaveNet weights as contiguous float32 numpy arrays (see the module docstring for shapes)."""

    embed: np.ndarray
    wd: np.ndarray
    wrs: np.ndarray
    brs: np.ndarray
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    dil: np.ndarray
    kernel_size: int
    residual: int
    gate: int
    skip: int
    out_classes: int
    ws: np.ndarray | None = None  # [L, E, G]; None = [L, 0, G] (no excitation input)

    def __post_init__(self) -> None:
        if self.ws is None:
            self.ws = np.zeros((self.num_layers, 0, self.gate), np.float32)

    @property
    def source_channels(self) -> int:
        return int(self.ws.shape[1])

    @property
    def num_layers(self) -> int:
        return int(self.dil.shape[0])

    @property
    def receptive_field(self) -> int:
        return int((self.kernel_size - 1) * self.dil.sum() + 1)

    def macs_per_sample(self) -> int:
        """Multiply-accumulates per generated sample (per stream), conditioning excluded."""
        r, g, s, q, k = self.residual, self.gate, self.skip, self.out_classes, self.kernel_size
        per_layer = k * r * g + (g // 2) * (r + s) + self.source_channels * g
        return self.num_layers * per_layer + s * s + s * q


def _np(t) -> np.ndarray:
    return np.ascontiguousarray(t.detach().float().cpu().numpy())


def pack_wavenet(wavenet) -> PackedWaveNet:
    """`wavenet`: a `vqspeech.models.wavenet.WaveNet` (any object with its parameter names)."""
    layers = list(wavenet.layers)
    if not layers:
        raise ValueError("WaveNet has no layers")
    k = int(layers[0].dilated.kernel_size[0])
    wd, wrs, brs, dil = [], [], [], []
    for layer in layers:
        w = _np(layer.dilated.weight)  # [G, R, k]
        if w.shape[2] != k:
            raise ValueError("all layers must share one kernel size")
        wd.append(np.transpose(w, (2, 1, 0)))  # [k, R, G]
        res_w = _np(layer.res.weight)[:, :, 0]  # [R, H]
        skip_w = _np(layer.skip.weight)[:, :, 0]  # [S, H]
        wrs.append(np.concatenate([res_w, skip_w], axis=0).T)  # [H, R + S]
        brs.append(np.concatenate([_np(layer.res.bias), _np(layer.skip.bias)]))
        dil.append(int(layer.dilated.dilation[0]))
    wd_a = np.ascontiguousarray(np.stack(wd), dtype=np.float32)
    ws = None
    if getattr(layers[0], "source", None) is not None:
        ws = np.ascontiguousarray(np.stack([_np(layer.source.weight)[:, :, 0].T for layer in layers]))
    return PackedWaveNet(
        embed=_np(wavenet.embed.weight),
        wd=wd_a,
        wrs=np.ascontiguousarray(np.stack(wrs), dtype=np.float32),
        brs=np.ascontiguousarray(np.stack(brs), dtype=np.float32),
        w1=np.ascontiguousarray(_np(wavenet.out1.weight)[:, :, 0].T),
        b1=_np(wavenet.out1.bias),
        w2=np.ascontiguousarray(_np(wavenet.out2.weight)[:, :, 0].T),
        b2=_np(wavenet.out2.bias),
        dil=np.asarray(dil, dtype=np.int64),
        kernel_size=k,
        residual=wd_a.shape[2],
        gate=wd_a.shape[3],
        skip=int(wavenet.out1.weight.shape[0]),
        out_classes=int(wavenet.out2.weight.shape[0]),
        ws=ws,
    )


def ring_layout(dil: np.ndarray, kernel_size: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Ring buffer offsets and masks: layer l keeps the last pow2 >= (k - 1) * d + 1 inputs.

    Returns (buf_off [L] int64, buf_mask [L] int64, total rows)."""
    offs, masks, total = [], [], 0
    for d in dil:
        size = 1
        while size < (kernel_size - 1) * int(d) + 1:
            size *= 2
        offs.append(total)
        masks.append(size - 1)
        total += size
    return np.asarray(offs, dtype=np.int64), np.asarray(masks, dtype=np.int64), total


def layer_conditioning(wavenet, cond=None, speaker=None, batch: int = 1):
    """Per-layer additive gate input for every conditioning frame, computed once in parallel.

    cond: [B, C, F] float torch tensor (frames or samples) or None; speaker: [B] int64 tensor or None.
    Returns a torch tensor [B, F, L, G] (F = 1 without local conditioning) holding
    dilated-conv bias + cond 1x1 conv (+ speaker projection), on the WaveNet's device.
    """
    import torch

    layers = list(wavenet.layers)
    dev = layers[0].dilated.weight.device
    b = cond.shape[0] if cond is not None else (speaker.shape[0] if speaker is not None else batch)
    n_frames = cond.shape[2] if cond is not None else 1
    with torch.no_grad():
        spk = None
        if getattr(wavenet, "speaker_embed", None) is not None:
            if speaker is None:
                raise ValueError("this WaveNet is speaker-conditioned: a speaker index is required")
            spk = wavenet.speaker_embed(speaker.to(dev))  # [B, speaker_dim]
        out = []
        for layer in layers:
            g = layer.dilated.out_channels
            h = layer.dilated.bias.view(1, 1, g).expand(b, n_frames, g)
            if getattr(layer, "cond", None) is not None:
                if cond is None:
                    raise ValueError("this WaveNet needs local conditioning")
                w = layer.cond.weight[:, :, 0]  # [G, C]
                h = h + torch.einsum("gc,bcf->bfg", w, cond.to(dev, torch.float32))
            if spk is not None and getattr(layer, "speaker", None) is not None:
                h = h + layer.speaker(spk).view(b, 1, g)
            out.append(h)
        return torch.stack(out, dim=2).contiguous()  # [B, F, L, G]
