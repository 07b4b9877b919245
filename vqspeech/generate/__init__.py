"""Fast autoregressive generation: waveforms from codes (any decoder type) and codes from the prior.

`decoder.py` holds the decoder interface and the one driver (`make_decoder`, `run_decoder`,
`decode_codes`, `iter_decode`); `streams.py` the WaveNet streams on either backend ("numba": a float32
CPU kernel, no Python per sample; "torch": cached incremental steps, the GPU path; "auto" picks numba on
the CPU and torch on CUDA) with their random state; `source_filter.py` the source-filter decoder's
chunked stream. Streams of different lengths are generated together in one batch.
"""

from __future__ import annotations

import numpy as np

from vqspeech.errors import VQSpeechError
from vqspeech.generate.decoder import CHUNK, decode_codes, iter_decode, make_decoder, run_decoder

__all__ = ["CHUNK", "decode_codes", "iter_decode", "make_decoder", "run_decoder", "sample_codes"]


def sample_codes(prior, n_codes: int, speaker: int | None = None, *, batch: int = 1,
                 temperature: float = 1.0, seed: int | None = None, backend: str = "auto",
                 progress: bool = False, chunk: int = CHUNK) -> np.ndarray:
    """Sample code sequences from the WaveNet prior: returns [batch, n_codes] int64 in [0, K)."""
    import torch

    from vqspeech.generate.pack import layer_conditioning
    from vqspeech.generate.streams import WaveNetStreams, check_temperature
    from vqspeech.progress import RateBar

    check_temperature(temperature)
    if n_codes < 1 or batch < 1:
        raise VQSpeechError(f"sample: n_codes ({n_codes}) and batch ({batch}) must be >= 1")
    wavenet = prior.wavenet
    dev = next(wavenet.parameters()).device
    spk_t = None
    if getattr(wavenet, "speaker_embed", None) is not None:
        n_spk = len(prior.config.speakers)
        if speaker is None or not 0 <= int(speaker) < n_spk:
            raise VQSpeechError(f"sample: this prior needs a speaker index in [0, {n_spk}), got {speaker}")
        spk_t = torch.full((batch,), int(speaker), dtype=torch.long, device=dev)
    streams = WaveNetStreams(wavenet, [n_codes] * batch, int(prior.config.num_codes), backend=backend, seed=seed,
                             temperature=temperature)
    with torch.no_grad():
        cond = layer_conditioning(wavenet, None, spk_t, batch=batch)  # [B, 1, L, G]: every step uses frame 0
    out = np.zeros((batch, n_codes), dtype=np.int64)
    bar = RateBar(batch * n_codes, float(prior.config.sample_rate) / float(prior.config.hop), progress, "sample")
    try:
        streams.warm_up(cond, n_codes + 1, 0)
        bar.restart()
        for t0 in range(0, n_codes, chunk):
            n = min(chunk, n_codes - t0)
            out[:, t0:t0 + n], _ = streams.step(n, cond, n_codes + 1, 0)
            bar.update(batch * n)
    finally:
        bar.close()
    return out
