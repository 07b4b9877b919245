"""Numba float32 CPU kernel for autoregressive WaveNet generation (the Fast WaveNet method).

One call generates `n` steps for B streams, carrying its state (ring buffers of past layer inputs and
the next input per stream) so it can be called chunk by chunk. No Python runs per sample: the dilated
convs, gate, residual/skip, output head and the sampling all happen here. Streams must be sorted by
length, longest first, so the active streams at any step are rows [:nb].

Per step and layer, for the nb active streams:
    h[nb, G]    = cond[b, frame, l] + sum_j x_tap_j[nb, R] @ wd[l, j]     (frame = t // hop - f0)
                  [+ src[i, b] @ ws[l]]                                    (the excitation, if any)
    z[nb, H]    = tanh(h[:, :H]) * sigmoid(h[:, H:])
    xs[nb, R+S] += z @ wrs[l] + brs[l];  xs[:, :R] *= sqrt(0.5)           (xs = [x | skip sum])
The products run input-channel-outer, stream-middle, output-channel-inner: each weight row is read
once per step and reused for all streams, and the inner loop is a contiguous AXPY that LLVM turns
into FMA vectors. tanh/sigmoid use a float32 rational approximation (vectorisable, < 1e-6 abs error).
"""

from __future__ import annotations

import os

import numpy as np


def _prefer_wide_vectors() -> None:
    """On AVX-512 CPUs let LLVM use 512-bit vectors (its default tuning there prefers 256-bit ones):
    about 1.5x faster products. Process-wide numba setting, only if the user set no NUMBA_CPU_* and
    no numba function was compiled yet; opt out with VQSPEECH_NUMBA_WIDE=0."""
    if os.environ.get("VQSPEECH_NUMBA_WIDE", "1") == "0":
        return
    if os.environ.get("NUMBA_CPU_FEATURES") or os.environ.get("NUMBA_CPU_NAME"):
        return
    try:
        import llvmlite.binding as ll
        import numba.core.config as numba_config

        features = ll.get_host_cpu_features().flatten()
    except Exception:  # pragma: no cover - exotic platforms: keep numba's defaults
        return
    if "+avx512f" in features.split(",") and not numba_config.CPU_FEATURES:
        numba_config.CPU_FEATURES = features + ",-prefer-256-bit"


_prefer_wide_vectors()

from numba import njit  # noqa: E402

from vqspeech.generate.pack import ring_layout  # noqa: E402,F401 - the layout lives with the packing

SQRT_HALF = np.float32(np.sqrt(0.5))


@njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def _tanh(x):
    """float32 tanh as a rational function (Eigen's fast tanh), max abs error ~1e-7 after clamping."""
    c = np.float32(7.90531110763549805)
    x = x if x < c else c
    x = x if x > -c else -c
    x2 = x * x
    p = x2 * np.float32(-2.76076847742355e-16) + np.float32(2.00018790482477e-13)
    p = p * x2 + np.float32(-8.60467152213735e-11)
    p = p * x2 + np.float32(5.12229709037114e-08)
    p = p * x2 + np.float32(1.48572235717979e-05)
    p = p * x2 + np.float32(6.37261928875436e-04)
    p = p * x2 + np.float32(4.89352455891786e-03)
    p = p * x
    q = x2 * np.float32(1.19825839466702e-06) + np.float32(1.18534705686654e-04)
    q = q * x2 + np.float32(2.26843463243900e-03)
    q = q * x2 + np.float32(4.89352518554385e-03)
    return p / q


@njit(cache=True, fastmath=True, error_model="numpy")
def tanh_f32(x):
    """Vector version of the kernel's tanh, for tests: x [N] float32 -> [N] float32."""
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = _tanh(x[i])
    return out


@njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def _mm_acc(x, w, y, nb, n_in):
    """y[:nb, :n_out] += x[:nb, :n_in] @ w[:n_in, :n_out] (w C-contiguous, n_out = w.shape[1]).

    Eight input rows per pass: each y row is loaded and stored once per 8 FMAs (not once per FMA),
    and the 8 weight rows stay in L1 while they are reused for every stream."""
    n_out = w.shape[1]
    i = 0
    while i + 8 <= n_in:
        w0 = w[i]
        w1 = w[i + 1]
        w2 = w[i + 2]
        w3 = w[i + 3]
        w4 = w[i + 4]
        w5 = w[i + 5]
        w6 = w[i + 6]
        w7 = w[i + 7]
        b = 0
        while b + 2 <= nb:  # two streams per pass share each weight load
            xa = x[b]
            xb = x[b + 1]
            a0, a1, a2, a3, a4, a5, a6, a7 = xa[i], xa[i + 1], xa[i + 2], xa[i + 3], xa[i + 4], xa[i + 5], \
                xa[i + 6], xa[i + 7]
            c0, c1, c2, c3, c4, c5, c6, c7 = xb[i], xb[i + 1], xb[i + 2], xb[i + 3], xb[i + 4], xb[i + 5], \
                xb[i + 6], xb[i + 7]
            ya = y[b]
            yb = y[b + 1]
            for o in range(n_out):
                v0, v1, v2, v3, v4, v5, v6, v7 = w0[o], w1[o], w2[o], w3[o], w4[o], w5[o], w6[o], w7[o]
                ya[o] += ((a0 * v0 + a1 * v1) + (a2 * v2 + a3 * v3)) + ((a4 * v4 + a5 * v5) + (a6 * v6 + a7 * v7))
                yb[o] += ((c0 * v0 + c1 * v1) + (c2 * v2 + c3 * v3)) + ((c4 * v4 + c5 * v5) + (c6 * v6 + c7 * v7))
            b += 2
        while b < nb:
            xa = x[b]
            a0, a1, a2, a3, a4, a5, a6, a7 = xa[i], xa[i + 1], xa[i + 2], xa[i + 3], xa[i + 4], xa[i + 5], \
                xa[i + 6], xa[i + 7]
            ya = y[b]
            for o in range(n_out):
                ya[o] += ((a0 * w0[o] + a1 * w1[o]) + (a2 * w2[o] + a3 * w3[o])) + (
                    (a4 * w4[o] + a5 * w5[o]) + (a6 * w6[o] + a7 * w7[o]))
            b += 1
        i += 8
    while i < n_in:
        wi = w[i]
        for b in range(nb):
            xv = x[b, i]
            yb = y[b]
            for o in range(n_out):
                yb[o] += xv * wi[o]
        i += 1


@njit(cache=True, fastmath=True, error_model="numpy", nogil=True)
def generate_steps(
    embed, wd, wrs, brs, w1, b1, w2, b2, dil, buf_off, buf_mask,
    buf, cur_in, cond, hop, f0, t0, n, lengths, forced, uniforms, inv_temp, out, logits_out, ws, src,
):
    """Run steps t0 .. t0 + n - 1 for all streams (rows sorted by `lengths`, longest first).

    embed [I, R], wd [L, k, R, G], wrs [L, H, R+S], brs [L, R+S], w1 [S, S], b1 [S], w2 [S, Q], b2 [Q]
    dil, buf_off, buf_mask: [L] int64 (ring buffer l holds rows buf_off[l] .. buf_off[l] + mask)
    buf [rows, B, R] float32 state (zeros at t = 0: causal zero padding); cur_in [B] int64 state: the
    input index at step t0 (updated in place). cond [B, F, L, G]: gate bias + conditioning per frame.
    lengths [B] int64 (descending); forced [B, n] int64 teacher-forced next inputs or [B, 0];
    uniforms [B, n] float64 in [0, 1) (used when inv_temp > 0); inv_temp: 1 / temperature, 0 = argmax.
    Writes out [B, n] int64 (sampled index per step) and logits_out [B, n, Q] when its axis 1 is n.
    ws [L, E, G], src [n, B, E]: the excitation input of steps t0 .. t0 + n - 1 (E = 0: none).
    """
    n_layers = wd.shape[0]
    k = wd.shape[1]
    r = wd.shape[2]
    g = wd.shape[3]
    h2 = g // 2
    s = w1.shape[0]
    q = w2.shape[1]
    bmax = cur_in.shape[0]
    xs = np.zeros((bmax, r + s), dtype=np.float32)
    h = np.empty((bmax, g), dtype=np.float32)
    z = np.empty((bmax, h2), dtype=np.float32)
    y1 = np.empty((bmax, s), dtype=np.float32)
    lg = np.empty((bmax, q), dtype=np.float32)
    cdf = np.empty(q, dtype=np.float32)
    n_src = ws.shape[1]
    want_logits = logits_out.shape[1] == n
    use_forced = forced.shape[1] == n
    half = np.float32(0.5)
    it = np.float32(inv_temp)
    for i in range(n):
        t = t0 + i
        nb = 0
        while nb < bmax and lengths[nb] > t:
            nb += 1
        if nb == 0:
            break
        frame = t // hop - f0
        # input embedding; skip sums start at zero
        for b in range(nb):
            e = embed[cur_in[b]]
            for c in range(r):
                xs[b, c] = e[c]
            for c in range(s):
                xs[b, r + c] = 0.0
        for layer in range(n_layers):
            d = dil[layer]
            off = buf_off[layer]
            mask = buf_mask[layer]
            for b in range(nb):
                cb = cond[b, frame, layer]
                for o in range(g):
                    h[b, o] = cb[o]
            if n_src > 0:
                _mm_acc(src[i], ws[layer], h, nb, n_src)
            wl = wd[layer]
            for j in range(k - 1):
                past = buf[off + ((t - (k - 1 - j) * d) & mask)]
                _mm_acc(past, wl[j], h, nb, r)
            _mm_acc(xs, wl[k - 1], h, nb, r)
            # store the current input for later taps
            row = buf[off + (t & mask)]
            for b in range(nb):
                for c in range(r):
                    row[b, c] = xs[b, c]
            for b in range(nb):
                ha = h[b, :h2]
                hg = h[b, h2:]
                zb = z[b]
                for o in range(h2):
                    zb[o] = _tanh(ha[o]) * (half + half * _tanh(half * hg[o]))
            bl = brs[layer]
            for b in range(nb):
                for o in range(r + s):
                    xs[b, o] += bl[o]
            _mm_acc(z, wrs[layer], xs, nb, h2)
            for b in range(nb):
                for c in range(r):
                    xs[b, c] *= SQRT_HALF
        # output head: relu -> out1 -> relu -> out2
        for b in range(nb):
            for o in range(s):
                y1[b, o] = b1[o]
                v = xs[b, r + o]
                xs[b, r + o] = v if v > 0.0 else np.float32(0.0)
        _mm_acc(xs[:, r:], w1, y1, nb, s)
        for b in range(nb):
            for o in range(s):
                v = y1[b, o]
                y1[b, o] = v if v > 0.0 else np.float32(0.0)
            for o in range(q):
                lg[b, o] = b2[o]
        _mm_acc(y1, w2, lg, nb, s)
        # sampling: argmax, or inverse CDF with a pre-drawn uniform
        for b in range(nb):
            best = 0
            m = lg[b, 0]
            for o in range(1, q):
                if lg[b, o] > m:
                    m = lg[b, o]
                    best = o
            if it > 0.0:
                acc = np.float32(0.0)
                for o in range(q):
                    acc += np.exp((lg[b, o] - m) * it)
                    cdf[o] = acc
                target = np.float32(uniforms[b, i]) * acc
                best = q - 1
                for o in range(q):
                    if cdf[o] > target:
                        best = o
                        break
            out[b, i] = best
            if want_logits:
                for o in range(q):
                    logits_out[b, i, o] = lg[b, o]
            cur_in[b] = forced[b, i] if use_forced else best
    return n


class NumbaStreams:
    """State of B streams generated by `generate_steps`, advanced chunk by chunk.

    packed: a `PackedWaveNet`; first_input: the input index at t = 0 (128 for the decoder, K for the
    prior); lengths: [B] steps per stream, sorted longest first."""

    def __init__(self, packed, lengths: np.ndarray, first_input: int):
        self.p = packed
        self.lengths = np.ascontiguousarray(lengths, dtype=np.int64)
        if np.any(np.diff(self.lengths) > 0):
            raise ValueError("streams must be sorted by length, longest first")
        b = self.lengths.shape[0]
        self.buf_off, self.buf_mask, rows = ring_layout(packed.dil, packed.kernel_size)
        self.buf = np.zeros((rows, b, packed.residual), dtype=np.float32)
        self.cur_in = np.full(b, first_input, dtype=np.int64)
        self.t = 0

    def step(self, n: int, cond: np.ndarray, hop: int, f0: int, *, forced: np.ndarray | None = None,
             uniforms: np.ndarray | None = None, temperature: float = 1.0,
             want_logits: bool = False, source: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Generate steps t .. t + n - 1. cond: [B, F, L, G] float32 covering frames
        (t // hop) - f0 .. ((t + n - 1) // hop) - f0; source: [B, n, E] float32, the excitation of these
        steps (required when the WaveNet has one). Returns (samples [B, n] int64, logits [B, n, Q])."""
        p = self.p
        b = self.lengths.shape[0]
        out = np.zeros((b, n), dtype=np.int64)
        logits = np.zeros((b, n if want_logits else 0, p.out_classes), dtype=np.float32)
        forced_a = np.zeros((b, 0), np.int64) if forced is None else np.ascontiguousarray(forced, np.int64)
        inv_temp = 0.0 if temperature <= 0 else 1.0 / temperature
        if uniforms is None:
            if inv_temp > 0:
                raise ValueError("sampling with temperature > 0 needs uniforms")
            uniforms = np.zeros((b, 0), dtype=np.float64)
        e = p.source_channels
        if e:
            if source is None or source.shape != (b, n, e):
                got = None if source is None else source.shape
                raise ValueError(f"this WaveNet needs source [B, n, E] = {(b, n, e)}, got {got}")
            src = np.ascontiguousarray(np.asarray(source, np.float32).transpose(1, 0, 2))  # [n, B, E]
        else:
            src = np.zeros((n, b, 0), np.float32)
        generate_steps(p.embed, p.wd, p.wrs, p.brs, p.w1, p.b1, p.w2, p.b2, p.dil, self.buf_off,
                       self.buf_mask, self.buf, self.cur_in, np.ascontiguousarray(cond, np.float32),
                       int(hop), int(f0), int(self.t), int(n), self.lengths, forced_a,
                       np.ascontiguousarray(uniforms, np.float64), float(inv_temp), out, logits, p.ws, src)
        self.t += n
        return out, (logits if want_logits else None)
