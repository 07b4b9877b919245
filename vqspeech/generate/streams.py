"""B streams of one WaveNet (decoder or prior) on either backend, with their own random numbers.

"numba" (a float32 CPU kernel, no Python per step) and "torch" (cached incremental steps, the GPU
path) compute the same thing from the same packed weights (`pack.pack_wavenet`); "auto" picks numba
for a WaveNet on the CPU and torch for one on CUDA. Random numbers: numba draws `rng.random((B, n))`
per call from `np.random.default_rng(seed)`; torch samples with a `torch.Generator` seeded with `seed`
(the global generator without a seed). Same seed + same backend + same inputs = same output.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from vqspeech.errors import VQSpeechError

log = logging.getLogger(__name__)


def check_temperature(temperature: float) -> float:
    if not temperature >= 0:
        raise VQSpeechError(f"temperature {temperature}: must be >= 0 (0 = argmax)")
    return float(temperature)


def pick_backend(device, backend: str) -> str:
    """"auto" | "numba" | "torch" for a model on `device` (a torch.device) -> "numba" or "torch"."""
    if backend not in ("auto", "numba", "torch"):
        raise VQSpeechError(f"backend '{backend}': expected auto, numba or torch")
    if backend == "auto":
        return "torch" if device.type != "cpu" else "numba"
    if backend == "numba" and device.type != "cpu":
        raise VQSpeechError("backend numba runs on the CPU: load the model with device='cpu'")
    return backend


class WaveNetStreams:
    """Streams of `wavenet` advanced chunk by chunk, state (ring buffers, RNG) carried between calls.

    lengths: steps per stream, sorted longest first; first_input: the input index at t = 0 (the mu-law
    zero for the decoder, K for the prior); temperature 0 = argmax."""

    def __init__(self, wavenet, lengths: list[int], first_input: int, *, backend: str = "auto",
                 seed: int | None = None, temperature: float = 1.0) -> None:
        self.device = next(wavenet.parameters()).device
        self.backend = pick_backend(self.device, backend)
        self.temperature = check_temperature(temperature)
        self.lengths = [int(v) for v in lengths]
        self.first_input = int(first_input)
        if self.backend == "numba":
            from vqspeech.generate.numba_kernel import NumbaStreams
            from vqspeech.generate.pack import pack_wavenet

            self.packed = pack_wavenet(wavenet)
            self.impl = NumbaStreams(self.packed, np.asarray(self.lengths), self.first_input)
            self.rng = np.random.default_rng(seed)
        else:
            import torch

            from vqspeech.generate.torch_incremental import TorchStreams

            self.impl = TorchStreams(wavenet, self.lengths, self.first_input)
            self.gen = None
            if seed is not None:
                self.gen = torch.Generator(device=self.device)
                self.gen.manual_seed(int(seed))

    def warm_up(self, cond, hop: int, f0: int) -> None:
        """Load (the first time ever: compile) the numba kernel with one argmax step on throw-away
        streams, so a progress bar's clock can start after it. Changes no state."""
        if self.backend != "numba":
            return
        from vqspeech.generate.numba_kernel import NumbaStreams

        t_load = time.perf_counter()
        b = len(self.lengths)
        e = self.packed.source_channels
        NumbaStreams(self.packed, np.ones(b, np.int64), self.first_input).step(
            1, cond.cpu().numpy(), hop, f0, temperature=0, source=np.zeros((b, 1, e), np.float32) if e else None)
        log.debug("numba kernel ready in %.1f s", time.perf_counter() - t_load)

    def set_input(self, row: int, value: int) -> None:
        """Make `value` the next input of stream `row` (a decoded code fed back, in entropy decoding)."""
        self.impl.cur_in[row] = value

    def step(self, n: int, cond, hop: int, f0: int, *, forced: np.ndarray | None = None,
             want_logits: bool = False, source: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Steps t .. t + n - 1. cond: [B, F, L, G] torch tensor (`pack.layer_conditioning`) whose frame 0
        is frame `f0` of the `hop`-spaced conditioning; forced: [B, n] teacher-forced next inputs;
        source: [B, n, E] the excitation of a source-excited WaveNet. Returns (samples [B, n] int64, logits [B, n, Q] float32 or None) as numpy arrays."""
        if self.backend == "numba":
            uni = self.rng.random((len(self.lengths), n)) if self.temperature > 0 else None
            return self.impl.step(n, cond.cpu().numpy(), hop, f0, forced=forced, uniforms=uni,
                                  temperature=self.temperature, want_logits=want_logits, source=source)
        import torch

        f = None if forced is None else torch.as_tensor(np.asarray(forced), device=self.device)
        src = None if source is None else torch.as_tensor(np.asarray(source), device=self.device)
        out, logits = self.impl.step(n, cond, hop, f0, forced=f, temperature=self.temperature, generator=self.gen,
                                     want_logits=want_logits, source=src)
        return out.cpu().numpy(), (None if logits is None else logits.float().cpu().numpy())
