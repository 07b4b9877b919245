"""The range coder of `vqspeech.codec.int_kernel` in plain Python: the reference its tests compare
against, and a coder for any frequency tables (each row sums to 2**16, every entry >= 1).

Why not constriction's coders: they take float probabilities (quantised inside, with a float sum)
or their own fixed-point models; the tables here are already exact integers, and the coder runs
inside the numba kernel next to the prior (no Python per code), which needs its own coder anyway.
"""

from __future__ import annotations

import numpy as np

PREC = 16
TOP = 1 << 24


def encode(codes, tables: np.ndarray) -> bytes:
    """codes: [n] ints, tables: [n, K] ints (rows summing to 2**PREC) -> bytes."""
    low, rng, cache, csize = 0, 0xFFFFFFFF, 0, 1
    out = bytearray()

    def shift_low():
        nonlocal low, cache, csize
        if low < 0xFF000000 or low >= 1 << 32:
            carry = low >> 32
            temp = cache
            while True:
                out.append((temp + carry) & 0xFF)
                temp = 0xFF
                csize -= 1
                if csize == 0:
                    break
            cache = (low >> 24) & 0xFF
        csize += 1
        low = (low & 0x00FFFFFF) << 8

    for c, row in zip(codes, tables, strict=True):
        row = [int(f) for f in row]
        assert sum(row) == 1 << PREC and min(row) >= 1
        r = rng >> PREC
        low += sum(row[: int(c)]) * r
        rng = row[int(c)] * r
        while rng < TOP:
            rng <<= 8
            shift_low()
    for sh in range(40, -1, -1):  # the value of [low, low + rng) with the most trailing zero bits
        v = -(-low >> sh) << sh
        if v < low + rng:
            low = v
            break
    for _ in range(5):
        shift_low()
    assert out[0] == 0
    return bytes(out[1:]).rstrip(b"\0")


def decode(data: bytes, tables_for) -> list[int]:
    """tables_for(t, previous codes) -> the table [K] of step t; returns the codes until it returns None."""
    pos = 0

    def byte() -> int:
        nonlocal pos
        pos += 1
        return data[pos - 1] if pos - 1 < len(data) else 0

    code, rng = 0, 0xFFFFFFFF
    for _ in range(4):
        code = (code << 8) | byte()
    codes: list[int] = []
    while (row := tables_for(len(codes), codes)) is not None:
        row = [int(f) for f in row]
        r = rng >> PREC
        v = code // r
        if v >= 1 << PREC:
            raise ValueError("not a valid range-coded stream")
        cum, c = 0, 0
        while cum + row[c] <= v:
            cum += row[c]
            c += 1
        code -= cum * r
        rng = row[c] * r
        while rng < TOP:
            code = ((code << 8) | byte()) & 0xFFFFFFFF
            rng <<= 8
        codes.append(c)
    return codes
