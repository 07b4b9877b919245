"""The prior in integer arithmetic, for entropy coding that is bit-identical on every CPU.

After Balle, Johnston & Minnen 2019 ("Integer networks for data compression with latent-variable
models"): the range coder's probability tables must be the same on the encoder's and the decoder's
machine, so the prior that makes them runs on integers only. `IntPrior.from_prior` derives the integer
network deterministically from the float prior's weights (the prior fingerprint covers those weights;
the spec below, named by `CODER_ID`, does the rest):

  * activations are fixed-point int32 values clamped to int16 range (|a| <= 32767), with fixed
    fraction bits per tensor: FX (residual stream, gate inputs), FZ (gated z), FS (skip outputs and
    their sum), FH (output head) and FL (logits);
  * weights are int16 with a power-of-two scale per output column: w_q = rint(w * 2**e), e the
    largest in [E_MIN, E_MAX] with sum_i |w_q[i]| <= L1_MAX, so that an int32 accumulator can never
    overflow (|sum w_q a| <= 32767 * 32767 < 2**30, biases clipped to 2**29);
  * an output is rshift_round(acc, shift) with shift = F_in + e - F_out (round half up), and the
    residual update is x = clamp(rshift_round((x + clamp(res)) * 46341, 16)) (46341 / 2**16 ~ sqrt(1/2));
  * tanh and sigmoid are lookup tables at steps of 1/128 with linear interpolation, exp is a table
    at steps of 1/64 nat, all computed with `decimal` (correctly rounded on every platform);
  * the speaker conditioning (dilated-conv bias + speaker projection) is an exactly rounded sum
    (`math.fsum` of products of float32 values, which are exact in float64);
  * the coder's table: E_o = EXP[(max - logit_o) >> 4] (0 beyond 20 nats), m = ((2**16 - K) << 40) // sum E,
    freq_o = 1 + (E_o * m) >> 40, and what is left of 2**16 goes to the first argmax: every code keeps
    a frequency >= 1 and the total is exactly 2**16.

`reference_tables` is the pure-numpy reference (the whole sequence at once, teacher forced, in int64);
`vqspeech.codec.int_kernel` is the numba kernel (one step at a time, int32 accumulators). Tests
assert that both give identical tables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from functools import lru_cache

import numpy as np

CODER_ID = 1  # the integer-prior coder of this module (stored in .vqs v2 headers); change it with the spec
FX, FZ, FS, FH, FL = 11, 14, 11, 9, 10  # fraction bits: residual/gate input, z, skip, head, logits
ACT_MAX = 32767  # activations are clamped to int16 range before every product
L1_MAX = 32767  # per-column sum of |w_q|: the int32 accumulator bound
BIAS_MAX = 1 << 29
E_MIN, E_MAX = -8, 20  # column scale exponents
PREC = 16  # the coder's tables sum to 2**PREC
TANH_LO, SIG_LO = 8, 16  # tables cover [-8, 8] and [-16, 16] at steps of 1/128
LUT_STEP = 7  # table step 2**-7; the FX - LUT_STEP lower bits interpolate
EXP_STEP = 6  # exp table step: 2**-6 nat
EXP_N = 20 << EXP_STEP  # exp(-d) for d < 20 nats; 0 beyond
SQRT_HALF_Q16 = 46341  # round(sqrt(0.5) * 2**16): the residual scale
MAX_K = 1 << (PREC - 1)  # a table needs room for a frequency >= 1 per code


def _round(v: Decimal) -> int:
    return int(v.to_integral_value(rounding=ROUND_HALF_EVEN))


TABLES_SHA256 = "88c13e6625d9fdae"  # of the three tables' little-endian int32 bytes (pinned by a test too)


def _digest(ts) -> str:
    import hashlib

    h = hashlib.sha256()
    for t in ts:
        h.update(t.astype("<i4").tobytes())
    return h.hexdigest()[:16]


@lru_cache(maxsize=1)
def tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tanh [2049], sigmoid [4097], exp [EXP_N]) int32 lookup tables (Q15, Q15, Q16).

    The definition is the correctly rounded one (`decimal`); float64 math gives the same integers in a
    few ms wherever its libm is accurate, which the digest confirms (else the decimal path is taken)."""
    fast = _tables_float()
    return fast if _digest(fast) == TABLES_SHA256 else _tables_decimal()


def _tables_float() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = (np.arange(2 * TANH_LO * (1 << LUT_STEP) + 1) - TANH_LO * (1 << LUT_STEP)) / (1 << LUT_STEP)
    y = (np.arange(2 * SIG_LO * (1 << LUT_STEP) + 1) - SIG_LO * (1 << LUT_STEP)) / (1 << LUT_STEP)
    return (np.rint(np.tanh(x) * (1 << 15)).astype(np.int32), np.rint((1 << 15) / (1 + np.exp(-y))).astype(np.int32),
            np.rint(np.exp(-np.arange(EXP_N) / (1 << EXP_STEP)) * (1 << PREC)).astype(np.int32))


def _tables_decimal() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with localcontext() as ctx:
        ctx.prec = 40
        one = Decimal(1)
        tanh = []
        for i in range(2 * TANH_LO * (1 << LUT_STEP) + 1):
            e2 = (Decimal(2 * (i - TANH_LO * (1 << LUT_STEP))) / (1 << LUT_STEP)).exp()
            tanh.append(_round((e2 - one) / (e2 + one) * (1 << 15)))
        sig = []
        for i in range(2 * SIG_LO * (1 << LUT_STEP) + 1):
            x = Decimal(i - SIG_LO * (1 << LUT_STEP)) / (1 << LUT_STEP)
            sig.append(_round(one / (one + (-x).exp()) * (1 << 15)))
        ex = [_round((Decimal(-i) / (1 << EXP_STEP)).exp() * (1 << PREC)) for i in range(EXP_N)]
    return (np.asarray(tanh, dtype=np.int32), np.asarray(sig, dtype=np.int32), np.asarray(ex, dtype=np.int32))


def _quantize(w: np.ndarray, bias: np.ndarray | None, f_in: int, f_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """w: [n_in, n_out] float32, bias: [..., n_out] exact float64 or None ->
    (w_q [n_in, n_out] int16, bias_q [..., n_out] int32, shift [n_out] int64)."""
    w64 = np.asarray(w, dtype=np.float32).astype(np.float64)
    n_out = w64.shape[1]
    e = np.full(n_out, E_MIN, dtype=np.int64)
    for ex in range(E_MIN, E_MAX + 1):  # sums of integers < 2**53: exact in any order
        fits = np.abs(np.rint(w64 * 2.0 ** ex)).sum(axis=0) <= L1_MAX
        e = np.where(fits, ex, e)
        if not fits.any():
            break
    q = np.rint(w64 * np.exp2(e.astype(np.float64))[None, :])
    if (np.abs(q).sum(axis=0) > L1_MAX).any():
        raise ValueError("prior weights too large for the integer prior (column L1 norm above 2**23)")
    scale = np.exp2((f_in + e).astype(np.float64))
    b = np.zeros(n_out) if bias is None else np.asarray(bias, dtype=np.float64)
    b_q = np.clip(np.rint(b * scale), -BIAS_MAX, BIAS_MAX)
    return q.astype(np.int16), b_q.astype(np.int32), (f_in + e - f_out).astype(np.int64)


@dataclass
class IntPrior:
    """The integer prior (shapes: L layers, kernel k, residual R, gate G = 2H, skip S, K codes, P speakers)."""

    embed: np.ndarray  # [K + 1, R] int32 at FX
    wd: np.ndarray  # [L, k, R, G] int16
    cond: np.ndarray  # [max(P, 1), L, G] int32: gate bias (+ speaker) at the accumulator's scale
    sd: np.ndarray  # [L, G] int64 shifts to FX
    wrs: np.ndarray  # [L, H, R + S] int16
    brs: np.ndarray  # [L, R + S] int32
    srs: np.ndarray  # [L, R + S] int64 shifts (to FX for res, FS for skip)
    w1: np.ndarray  # [S, S] int16
    b1: np.ndarray  # [S] int32
    s1: np.ndarray  # [S] int64 (to FH)
    w2: np.ndarray  # [S, K] int16
    b2: np.ndarray  # [K] int32
    s2: np.ndarray  # [K] int64 (to FL)
    dil: np.ndarray  # [L] int64
    speakers: list[str]

    @property
    def num_codes(self) -> int:
        return int(self.w2.shape[1])

    @property
    def receptive_field(self) -> int:
        return int((self.wd.shape[1] - 1) * self.dil.sum() + 1)

    def speaker_row(self, speaker: str | None) -> int:
        """Row of `cond` for a speaker name (None: row 0 of an unconditional prior)."""
        if not self.speakers:
            return 0
        if speaker not in self.speakers:
            raise ValueError(f"the prior does not know speaker {speaker!r}")
        return self.speakers.index(speaker)

    @classmethod
    def from_prior(cls, prior) -> IntPrior:
        """Quantize a `vqspeech.models.prior.CodePrior` (deterministic: same float weights, same result)."""
        from torch import nn

        from vqspeech.generate.pack import pack_wavenet

        wn = prior.wavenet
        if not isinstance(wn.embed, nn.Embedding) or getattr(wn, "cond_channels", 0):
            # a computed input table (torch matmul) or local conditioning would not be exact on every CPU
            raise ValueError("the integer prior needs an embedding input and no local conditioning")
        p = pack_wavenet(wn)
        k_taps, r, g = p.wd.shape[1], p.residual, p.gate
        n_layers = p.num_layers
        h = g // 2
        k = p.out_classes
        if k > MAX_K:
            raise ValueError(f"the integer prior supports K <= {MAX_K}, got {k}")
        # exact conditioning per speaker: dilated bias + speaker projection (fsum of exact products)
        layers = list(wn.layers)
        dbias = [layer.dilated.bias.detach().float().cpu().numpy().astype(np.float64) for layer in layers]
        rows = []
        if wn.speaker_embed is not None:
            emb = wn.speaker_embed.weight.detach().float().cpu().numpy().astype(np.float64)  # [P, D]
            for s in range(emb.shape[0]):
                per_layer = []
                for li, layer in enumerate(layers):
                    if layer.speaker is None:
                        per_layer.append(dbias[li])
                        continue
                    ws = layer.speaker.weight.detach().float().cpu().numpy().astype(np.float64)  # [G, D]
                    per_layer.append(np.array([math.fsum([dbias[li][o], *(ws[o] * emb[s])]) for o in range(g)]))
                rows.append(np.stack(per_layer))
        else:
            rows.append(np.stack(dbias))
        cond_f = np.stack(rows)  # [P, L, G] float64
        wd_q = np.empty((n_layers, k_taps, r, g), dtype=np.int16)
        cond_q = np.empty(cond_f.shape, dtype=np.int32)
        sd = np.empty((n_layers, g), dtype=np.int64)
        wrs_q = np.empty((n_layers, h, p.wrs.shape[2]), dtype=np.int16)
        brs_q = np.empty((n_layers, p.wrs.shape[2]), dtype=np.int32)
        srs = np.empty((n_layers, p.wrs.shape[2]), dtype=np.int64)
        for li in range(n_layers):
            wq, cq, s = _quantize(p.wd[li].reshape(k_taps * r, g), cond_f[:, li], FX, FX)
            wd_q[li], cond_q[:, li], sd[li] = wq.reshape(k_taps, r, g), cq, s
            wq_r, bq_r, s_r = _quantize(p.wrs[li, :, :r], p.brs[li, :r], FZ, FX)
            wq_s, bq_s, s_s = _quantize(p.wrs[li, :, r:], p.brs[li, r:], FZ, FS)
            wrs_q[li] = np.concatenate([wq_r, wq_s], axis=1)
            brs_q[li] = np.concatenate([bq_r, bq_s])
            srs[li] = np.concatenate([s_r, s_s])
        w1, b1, s1 = _quantize(p.w1, p.b1, FH, FH)
        w2, b2, s2 = _quantize(p.w2, p.b2, FH, FL)
        embed = np.clip(np.rint(p.embed.astype(np.float64) * 2.0 ** FX), -ACT_MAX, ACT_MAX).astype(np.int32)
        return cls(embed=embed, wd=wd_q, cond=cond_q, sd=sd, wrs=wrs_q, brs=brs_q, srs=srs, w1=w1, b1=b1, s1=s1,
                   w2=w2, b2=b2, s2=s2, dil=p.dil.astype(np.int64), speakers=list(prior.speakers))


# ---- the pure-numpy reference (int64 throughout; asserts the int32 bounds the kernel relies on) ----

def _rshift(a: np.ndarray, s: np.ndarray) -> np.ndarray:
    s = np.broadcast_to(np.asarray(s, dtype=np.int64), a.shape)
    pos = np.maximum(s, 0)
    half = np.where(pos > 0, np.left_shift(np.int64(1), np.maximum(pos - 1, 0)), 0)
    return np.where(s >= 0, (a + half) >> pos, a << np.maximum(-s, 0))


def _clamp(a: np.ndarray) -> np.ndarray:
    return np.clip(a, -ACT_MAX, ACT_MAX)


def _acc(x: np.ndarray, w: np.ndarray, bias) -> np.ndarray:
    out = np.asarray(bias, dtype=np.int64) + x.astype(np.int64) @ w.astype(np.int64)
    assert np.abs(out).max(initial=0) < 1 << 31, "int32 accumulator bound broken"
    return out


def lut(table: np.ndarray, h: np.ndarray, lo: int) -> np.ndarray:
    """Table lookup with linear interpolation: h at FX -> Q15."""
    frac = FX - LUT_STEP
    u = np.clip(h, -(lo << FX), lo << FX) + (lo << FX)
    i, f = u >> frac, u & ((1 << frac) - 1)
    t = table.astype(np.int64)
    nxt = t[np.minimum(i + 1, t.size - 1)]
    return t[i] + (((nxt - t[i]) * f + (1 << (frac - 1))) >> frac)


def freq_table(logits: np.ndarray) -> np.ndarray:
    """logits: [..., K] int at FL -> frequencies [..., K] int64 (each >= 1, each row summing to 2**PREC)."""
    _, _, ex = tables()
    lg = np.asarray(logits, dtype=np.int64)
    k = lg.shape[-1]
    d = (lg.max(axis=-1, keepdims=True) - lg) >> (FL - EXP_STEP)
    e = np.where(d < EXP_N, ex.astype(np.int64)[np.minimum(d, EXP_N - 1)], 0)
    m = (((1 << PREC) - k) << 40) // e.sum(axis=-1, keepdims=True)
    f = 1 + ((e * m) >> 40)
    best = np.argmax(lg, axis=-1)[..., None]
    rest = (1 << PREC) - f.sum(axis=-1, keepdims=True)
    np.put_along_axis(f, best, np.take_along_axis(f, best, axis=-1) + rest, axis=-1)
    return f


def reference_logits(ip: IntPrior, codes: np.ndarray, speaker_row: int = 0) -> np.ndarray:
    """Teacher-forced integer logits of a sequence coded from a fresh state: codes [N] -> [N, K] int64 at FL."""
    tanh_t, sig_t, _ = tables()
    c = np.asarray(codes, dtype=np.int64).reshape(-1)
    n = c.size
    inputs = np.concatenate([[ip.num_codes], c[:-1]])
    x = ip.embed[inputs].astype(np.int64)  # [N, R]
    r = x.shape[1]
    k_taps = ip.wd.shape[1]
    skip = np.zeros((n, ip.w1.shape[0]), dtype=np.int64)
    for li in range(ip.dil.size):
        d = int(ip.dil[li])
        taps = []
        for j in range(k_taps):
            lag = (k_taps - 1 - j) * d
            taps.append(np.concatenate([np.zeros((min(lag, n), r), np.int64), x[: max(0, n - lag)]]))
        hin = np.concatenate(taps, axis=1)
        h = _rshift(_acc(hin, ip.wd[li].reshape(k_taps * r, -1), ip.cond[speaker_row, li]), ip.sd[li])
        g2 = h.shape[1] // 2
        z = _rshift(lut(tanh_t, h[:, :g2], TANH_LO) * lut(sig_t, h[:, g2:], SIG_LO), 30 - FZ)
        out = _rshift(_acc(z, ip.wrs[li], ip.brs[li]), ip.srs[li])
        x = _clamp(_rshift((x + _clamp(out[:, :r])) * SQRT_HALF_Q16, 16))
        skip = skip + _clamp(out[:, r:])
    hin = _clamp(_rshift(np.maximum(skip, 0), FS - FH))
    y1 = _clamp(np.maximum(_rshift(_acc(hin, ip.w1, ip.b1), ip.s1), 0))
    return np.clip(_rshift(_acc(y1, ip.w2, ip.b2), ip.s2), -(1 << 30), 1 << 30)


def reference_tables(ip: IntPrior, codes: np.ndarray, speaker_row: int = 0) -> np.ndarray:
    """The coder's frequency tables of a sequence from a fresh state: codes [N] -> [N, K] int64."""
    return freq_table(reference_logits(ip, codes, speaker_row))
