"""Numba kernels of the integer prior (`vqspeech.codec.int_prior`) and its range coder, batch 1.

One step of the prior: int32 accumulators, int16 weights, integer shifts and lookup tables, so the
result does not depend on the CPU, the vector width, nor on how the steps are grouped into calls.
`encode_frame` / `decode_frame` run a whole frame (fresh prior state, fresh coder) without Python
per code.

The range coder (LZMA's, multi-symbol): 32-bit range, tables summing to 2**16, renormalised byte by
byte below 2**24, carries resolved with a cached byte. The first output byte is always 0 and is not
written; at the end the coder picks the value of its interval with the most trailing zero bits, and
trailing zero bytes are not written either (the decoder reads zeros past the end). A frame of n
codes thus costs its information content plus about one byte. `vqspeech.codec.rangecoder` is the same
coder in plain Python (the reference the tests compare against).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from vqspeech.codec import int_prior as ipm
from vqspeech.generate.pack import ring_layout  # the same ring buffers as the float WaveNet kernels

TOP = 1 << 24
RANGE0 = 0xFFFFFFFF
# the constants below are written out in the kernels (numba folds them); they must match the spec
assert (ipm.FX, ipm.FZ, ipm.FS, ipm.FH, ipm.FL, ipm.LUT_STEP, ipm.EXP_STEP, ipm.PREC, ipm.TANH_LO, ipm.SIG_LO,
        ipm.SQRT_HALF_Q16) == (11, 14, 11, 9, 10, 7, 6, 16, 8, 16, 46341)


@njit(cache=True, inline="always")
def _rs(a, s):
    """rshift_round of an int64 by s (s < 0: left shift)."""
    if s > 0:
        return (a + (np.int64(1) << (s - 1))) >> s
    if s == 0:
        return a
    return a << (-s)


@njit(cache=True, inline="always")
def _cl(a):
    return min(max(a, -32767), 32767)


@njit(cache=True, inline="always")
def _lut(table, h, lo):
    frac = 11 - 7  # FX - LUT_STEP
    span = np.int64(lo) << 11
    u = min(max(h, -span), span) + span
    i = u >> frac
    f = u & ((1 << frac) - 1)
    t0 = np.int64(table[i])
    t1 = np.int64(table[min(i + 1, table.shape[0] - 1)])
    return t0 + (((t1 - t0) * f + (1 << (frac - 1))) >> frac)


@njit(cache=True, inline="always")
def _mm(src, w, y, n_in):
    """y[:n_out] += src[:n_in] @ w (int32 += int32 * int16; never overflows by the L1 bound)."""
    n_out = w.shape[1]
    for i in range(n_in):
        xi = np.int32(src[i])
        if xi == 0:
            continue
        wi = w[i]
        for o in range(n_out):
            y[o] += xi * np.int32(wi[o])


@njit(cache=True)
def _step(W, buf, buf_off, buf_mask, t, inp, spk, ws, freq):
    """One prior step at time t with input index `inp`: writes freq [K] int64, updates buf."""
    embed, wd, cond, sd, wrs, brs, srs, w1, b1, s1, w2, b2, s2, dil, tanh_t, sig_t, ex = W
    x, acc, acc2, skip, hin, y1, lg = ws
    n_layers = wd.shape[0]
    k_taps = wd.shape[1]
    r = wd.shape[2]
    g = wd.shape[3]
    h2 = g // 2
    s = w1.shape[0]
    q = w2.shape[1]
    e = embed[inp]
    for c in range(r):
        x[c] = e[c]
    for c in range(s):
        skip[c] = 0
    for layer in range(n_layers):
        d = dil[layer]
        off = buf_off[layer]
        mask = buf_mask[layer]
        cb = cond[spk, layer]
        for o in range(g):
            acc[o] = cb[o]
        wl = wd[layer]
        for j in range(k_taps - 1):
            tt = t - (k_taps - 1 - j) * d
            if tt >= 0:
                _mm(buf[off + (tt & mask)], wl[j], acc, r)
        _mm(x, wl[k_taps - 1], acc, r)
        row = buf[off + (t & mask)]
        for c in range(r):
            row[c] = x[c]
        sl = sd[layer]
        for o in range(h2):  # the gate: z (in hin's storage)
            a = _rs(np.int64(acc[o]), sl[o])
            b = _rs(np.int64(acc[h2 + o]), sl[h2 + o])
            hin[o] = np.int32(_rs(_lut(tanh_t, a, 8) * _lut(sig_t, b, 16), 30 - 14))  # z at FZ
        bl = brs[layer]
        for o in range(r + s):
            acc2[o] = bl[o]
        _mm(hin, wrs[layer], acc2, h2)
        sr = srs[layer]
        for c in range(r):
            res = _cl(_rs(np.int64(acc2[c]), sr[c]))
            x[c] = _cl(_rs((np.int64(x[c]) + res) * 46341, 16))
        for c in range(s):
            skip[c] += _cl(_rs(np.int64(acc2[r + c]), sr[r + c]))
    for c in range(s):
        v = skip[c]
        hin[c] = _cl(_rs(np.int64(v if v > 0 else 0), 11 - 9))
        y1[c] = b1[c]
    _mm(hin, w1, y1, s)
    for c in range(s):
        v = _rs(np.int64(y1[c]), s1[c])
        hin[c] = _cl(v if v > 0 else 0)
    for o in range(q):
        lg[o] = b2[o]
    _mm(hin, w2, lg, s)
    best = 0
    mx = np.int64(-(1 << 40))
    for o in range(q):
        v = min(max(_rs(np.int64(lg[o]), s2[o]), -(1 << 30)), 1 << 30)
        lg[o] = v
        if v > mx:
            mx = v
            best = o
    total = np.int64(0)
    for o in range(q):
        dd = (mx - lg[o]) >> (10 - 6)
        ev = np.int64(ex[dd]) if dd < ex.shape[0] else np.int64(0)
        freq[o] = ev
        total += ev
    m = ((np.int64(1 << 16) - q) << 40) // total
    used = np.int64(0)
    for o in range(q):
        f = 1 + ((freq[o] * m) >> 40)
        freq[o] = f
        used += f
    freq[best] += (1 << 16) - used


def _workspace(ip) -> tuple:
    r = ip.wd.shape[2]
    g = ip.wd.shape[3]
    s = ip.w1.shape[0]
    return (np.zeros(r, np.int32), np.zeros(g, np.int32), np.zeros(ip.wrs.shape[2], np.int32), np.zeros(s, np.int32),
            np.zeros(max(s, g // 2), np.int32), np.zeros(s, np.int32), np.zeros(ip.num_codes, np.int32))


@njit(cache=True)
def _tables(W, buf, buf_off, buf_mask, t0, inputs, spk, ws, out):
    for i in range(inputs.shape[0]):
        _step(W, buf, buf_off, buf_mask, t0 + i, inputs[i], spk, ws, out[i])


@njit(cache=True)
def _encode(W, buf, buf_off, buf_mask, codes, spk, ws, freq, out):
    """Range-code `codes` from a fresh prior state -> number of bytes written to `out`."""
    q = freq.shape[0]
    low = np.int64(0)
    rng = np.int64(RANGE0)
    cache = np.int64(0)
    csize = np.int64(1)
    pos = np.int64(-1)  # the first byte (always 0) is not written
    inp = q
    n = codes.shape[0]
    for t in range(n + 1):
        if t < n:
            _step(W, buf, buf_off, buf_mask, t, inp, spk, ws, freq)
            c = codes[t]
            cum = np.int64(0)
            for o in range(c):
                cum += freq[o]
            r = rng >> 16
            low += cum * r
            rng = freq[c] * r
            inp = c
            shifts = 0
            while rng < TOP:
                rng <<= 8
                shifts += 1
        else:  # flush: the value of [low, low + rng) with the most trailing zero bits
            sh = 40
            while sh > 0:
                v = ((low + (np.int64(1) << sh) - 1) >> sh) << sh
                if v < low + rng:
                    break
                sh -= 1
            low = ((low + (np.int64(1) << sh) - 1) >> sh) << sh
            shifts = 5
        for _ in range(shifts):
            if low < 0xFF000000 or low >= (np.int64(1) << 32):
                carry = low >> 32
                temp = cache
                while True:
                    if pos >= 0:
                        out[pos] = (temp + carry) & 0xFF
                    pos += 1
                    temp = 0xFF
                    csize -= 1
                    if csize == 0:
                        break
                cache = (low >> 24) & 0xFF
            csize += 1
            low = (low & 0x00FFFFFF) << 8
    while pos > 0 and out[pos - 1] == 0:
        pos -= 1
    return max(pos, 0)


@njit(cache=True)
def _decode(W, buf, buf_off, buf_mask, data, n, spk, ws, freq, codes):
    """Decode n codes from `data` (fresh state) into `codes` -> 0, or 1 if the data are not a valid stream."""
    q = freq.shape[0]
    nd = data.shape[0]
    code = np.int64(0)
    rng = np.int64(RANGE0)
    pos = 0
    for _ in range(4):
        code = (code << 8) | (np.int64(data[pos]) if pos < nd else 0)
        pos += 1
    inp = q
    for t in range(n):
        _step(W, buf, buf_off, buf_mask, t, inp, spk, ws, freq)
        r = rng >> 16
        v = code // r
        if v >= (1 << 16):
            return 1
        cum = np.int64(0)
        c = 0
        while cum + freq[c] <= v:
            cum += freq[c]
            c += 1
        code -= cum * r
        rng = freq[c] * r
        while rng < TOP:
            code = ((code << 8) | (np.int64(data[pos]) if pos < nd else 0)) & 0xFFFFFFFF
            pos += 1
            rng <<= 8
        codes[t] = c
        inp = c
    return 0


def max_frame_bytes(n: int) -> int:
    """The most bytes `encode_frame` writes for n codes: a code costs at most 16 + 0.006 bits (frequency
    >= 1 of 2**16, range truncation < 2**-8), plus the flush."""
    return 2 * n + n // 128 + 16


class IntPriorKernel:
    """The numba side of an `IntPrior`: tables (chunk by chunk), and frames encoded / decoded."""

    def __init__(self, ip) -> None:
        tanh_t, sig_t, ex = ipm.tables()
        self.ip = ip
        self.W = (ip.embed, ip.wd, ip.cond, ip.sd, ip.wrs, ip.brs, ip.srs, ip.w1, ip.b1, ip.s1, ip.w2, ip.b2, ip.s2,
                  ip.dil, tanh_t, sig_t, ex)
        self.buf_off, self.buf_mask, self.rows = ring_layout(ip.dil, ip.wd.shape[1])

    def _state(self):
        return np.zeros((self.rows, self.ip.wd.shape[2]), np.int32), _workspace(self.ip)

    def stream(self, speaker_row: int = 0) -> TableStream:
        return TableStream(self, speaker_row)

    def encode_frame(self, codes: np.ndarray, speaker_row: int = 0) -> bytes:
        """codes: [n] int in [0, K) -> the range-coded bytes of one frame (fresh state)."""
        c = np.ascontiguousarray(codes, dtype=np.int64).reshape(-1)
        if c.size and (c.min() < 0 or c.max() >= self.ip.num_codes):
            raise ValueError(f"codes must be in [0, {self.ip.num_codes})")
        if not 0 <= speaker_row < self.ip.cond.shape[0]:
            raise ValueError(f"speaker row {speaker_row} not in [0, {self.ip.cond.shape[0]})")
        buf, ws = self._state()
        freq = np.zeros(self.ip.num_codes, np.int64)
        out = np.zeros(max_frame_bytes(c.size), np.uint8)
        n = _encode(self.W, buf, self.buf_off, self.buf_mask, c, int(speaker_row), ws, freq, out)
        return out[:n].tobytes()

    def decode_frame(self, data: bytes, n: int, speaker_row: int = 0) -> np.ndarray | None:
        """Inverse of `encode_frame` -> codes [n] int64, or None if `data` is not a valid stream."""
        if not 0 <= speaker_row < self.ip.cond.shape[0]:
            raise ValueError(f"speaker row {speaker_row} not in [0, {self.ip.cond.shape[0]})")
        buf, ws = self._state()
        freq = np.zeros(self.ip.num_codes, np.int64)
        codes = np.zeros(n, np.int64)
        bad = _decode(self.W, buf, self.buf_off, self.buf_mask, np.frombuffer(data, np.uint8), int(n),
                      int(speaker_row), ws, freq, codes)
        return None if bad else codes


class TableStream:
    """Teacher-forced frequency tables, state carried from call to call (any chunking, same tables)."""

    def __init__(self, kernel: IntPriorKernel, speaker_row: int) -> None:
        if not 0 <= speaker_row < kernel.ip.cond.shape[0]:
            raise ValueError(f"speaker row {speaker_row} not in [0, {kernel.ip.cond.shape[0]})")
        self.k = kernel
        self.spk = int(speaker_row)
        self.buf, self.ws = kernel._state()
        self.t = 0
        self.next_input = kernel.ip.num_codes  # the start token

    def tables(self, codes: np.ndarray) -> np.ndarray:
        """codes: [n] the next codes -> their tables [n, K] int64."""
        c = np.asarray(codes, dtype=np.int64).reshape(-1)
        if c.size and (c.min() < 0 or c.max() >= self.k.ip.num_codes):
            raise ValueError(f"codes must be in [0, {self.k.ip.num_codes})")
        inputs = np.concatenate([[self.next_input], c[:-1]]).astype(np.int64) if c.size else c
        out = np.zeros((c.size, self.k.ip.num_codes), np.int64)
        _tables(self.k.W, self.buf, self.k.buf_off, self.k.buf_mask, self.t, inputs, self.spk, self.ws, out)
        self.t += c.size
        if c.size:
            self.next_input = int(c[-1])
        return out
