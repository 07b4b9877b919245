"""Speaker embeddings, centroids and nearest-centroid speaker identification.

Two embedders share one interface, `embed(wav [T] float32 at 16 kHz) -> [E] float unit vector`:
- "resemblyzer": the GE2E speaker encoder bundled in the resemblyzer wheel (256-dim; loaded once,
  lazily, on the CPU; webrtcvad trims silences first);
- "mcep": mean and standard deviation of the mel-cepstra c1..c24 (no extra package, fast; a crude
  spectral-envelope / timbre signature for tests and for machines without resemblyzer).
Identification: the speaker whose centroid (mean of its reference embeddings, renormalised) has the
highest cosine similarity.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence

import numpy as np

from vqspeech.analysis.metrics import have, mel_cepstrum
from vqspeech.errors import VQSpeechError

log = logging.getLogger(__name__)

EMBEDDERS = ("resemblyzer", "mcep")


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return (v / n).astype(np.float32) if n > 0 else v.astype(np.float32)


@functools.lru_cache(maxsize=1)
def _voice_encoder():
    from resemblyzer import VoiceEncoder

    log.info("loading the resemblyzer speaker encoder (once)")
    return VoiceEncoder("cpu", verbose=False)


def _embed_resemblyzer(wav: np.ndarray) -> np.ndarray:
    from resemblyzer import preprocess_wav

    x = np.asarray(wav, dtype=np.float32)
    try:
        trimmed = preprocess_wav(x, source_sr=16000)
    except Exception:  # noqa: BLE001 - VAD fails on odd input: embed the raw signal
        trimmed = x
    if trimmed.size < 1600:  # VAD removed (nearly) everything: embed the raw signal
        trimmed = x
    return _unit(_voice_encoder().embed_utterance(trimmed))


def _embed_mcep(wav: np.ndarray) -> np.ndarray:
    c = mel_cepstrum(wav)[:, 1:]
    return _unit(np.concatenate([c.mean(axis=0), c.std(axis=0)]))


def resolve_embedder(name: str) -> tuple[str, str | None]:
    """-> (embedder actually used, note or None). 'auto' = resemblyzer if installed, else mcep."""
    if name not in (*EMBEDDERS, "auto"):
        raise VQSpeechError(f"speaker embedder '{name}': expected auto, {', '.join(EMBEDDERS)}")
    if name in ("auto", "resemblyzer") and not have("resemblyzer"):
        if name == "resemblyzer":
            raise VQSpeechError("speaker embedder resemblyzer: package not installed (pip install 'vqspeech[eval]')")
        return "mcep", "resemblyzer not installed: speaker similarity uses mean/std mel-cepstra (crude)"
    return ("resemblyzer" if name == "auto" else name), None


def embed(wav: np.ndarray, embedder: str = "resemblyzer") -> np.ndarray:
    """wav: [T] float32 16 kHz -> unit speaker embedding [E]."""
    if embedder == "resemblyzer":
        return _embed_resemblyzer(wav)
    if embedder == "mcep":
        return _embed_mcep(wav)
    raise VQSpeechError(f"speaker embedder '{embedder}': expected one of {', '.join(EMBEDDERS)}")


def centroids(embeddings: Mapping[str, Sequence[np.ndarray]]) -> dict[str, np.ndarray]:
    """speaker -> list of embeddings [E] -> speaker -> unit centroid [E]."""
    out = {}
    for spk, embs in embeddings.items():
        if len(embs) == 0:
            raise VQSpeechError(f"speaker {spk!r}: no reference utterances for a centroid")
        out[spk] = _unit(np.mean(np.stack(embs), axis=0))
    return out


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(_unit(a), _unit(b)))


def identify(embedding: np.ndarray, cents: Mapping[str, np.ndarray]) -> tuple[str, dict[str, float]]:
    """-> (nearest speaker by cosine similarity, similarity to every centroid)."""
    if not cents:
        raise VQSpeechError("speaker identification: no speaker centroids")
    sims = {spk: cosine(embedding, c) for spk, c in cents.items()}
    return max(sims, key=sims.__getitem__), sims


def leave_one_out_accuracy(embeddings: Mapping[str, Sequence[np.ndarray]]) -> float | None:
    """Identification accuracy of the reference utterances themselves, each against centroids built
    without it (how well the embedder separates these speakers at all); None with < 2 utterances each."""
    spks = {s: list(e) for s, e in embeddings.items()}
    if len(spks) < 2 or any(len(e) < 2 for e in spks.values()):
        return None
    full = {s: np.sum(np.stack(e), axis=0) for s, e in spks.items()}
    hits, n = 0, 0
    for s, embs in spks.items():
        for e in embs:
            cents = {t: _unit(full[t] - e) if t == s else _unit(full[t]) for t in spks}
            hits += identify(e, cents)[0] == s
            n += 1
    return hits / n
