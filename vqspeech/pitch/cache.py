"""F0 of every utterance of an audio cache, computed once and cached beside it.

`f0_<rate>_<hop>_<tracker>.f32` holds the frames of all utterances back to back (float32 Hz, 0 =
unvoiced, `ceil(length / hop)` frames per utterance, in the audio cache's order); the index JSON next
to it records the audio cache's index digest, so the F0 cache is rebuilt whenever the audio changes.
Under torchrun each node's local rank 0 builds it (like the audio cache); the others wait and open it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vqspeech.errors import VQSpeechError
from vqspeech.fileutil import atomic_path, write_text_atomic
from vqspeech.pitch.track import DEFAULT_TRACKER, num_frames, track_f0

log = logging.getLogger(__name__)

F0_CACHE_VERSION = 1


@dataclass
class F0Cache:
    """Frame F0 of each utterance of an AudioCache (same order)."""

    path: Path
    offsets: np.ndarray  # [U] int64 first frame of each utterance
    frames: np.ndarray  # [U] int64 frames per utterance
    hop: int
    _data: np.ndarray | None = None

    @property
    def data(self) -> np.ndarray:
        if self._data is None:
            total = int(self.frames.sum())
            self._data = np.memmap(self.path, np.float32, mode="r", shape=(total,)) if total else np.zeros(0, np.float32)
        return self._data

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_data"] = None
        return state

    def utterance(self, i: int) -> np.ndarray:
        """[frames] float32 Hz of utterance i (0 = unvoiced)."""
        o, n = int(self.offsets[i]), int(self.frames[i])
        return np.array(self.data[o: o + n])

    def crop(self, i: int, first_frame: int, n: int) -> np.ndarray:
        """[n] float32: frames first_frame .. first_frame + n of utterance i, 0 (unvoiced) past its end."""
        o, total = int(self.offsets[i]), int(self.frames[i])
        out = np.zeros(n, np.float32)
        take = max(0, min(n, total - first_frame))
        out[:take] = self.data[o + first_frame: o + first_frame + take]
        return out


def _digest(audio_cache) -> str:
    from vqspeech.data.dataset import _cache_files

    _, index_path = _cache_files(audio_cache.audio_path.parent, audio_cache.sample_rate)
    h = hashlib.sha256(f"f0 v{F0_CACHE_VERSION}\n".encode())
    h.update(index_path.read_bytes() if index_path.is_file() else b"")
    h.update(str(audio_cache.audio_path.stat().st_size).encode())
    return h.hexdigest()


def _files(audio_cache, hop: int, tracker: str) -> tuple[Path, Path]:
    d = audio_cache.audio_path.parent
    stem = f"f0_{audio_cache.sample_rate}_{hop}_{tracker}"
    return d / f"{stem}.f32", d / f"{stem}.json"


def _open(audio_cache, hop: int, tracker: str) -> F0Cache | None:
    data_path, index_path = _files(audio_cache, hop, tracker)
    if not (data_path.is_file() and index_path.is_file()):
        return None
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if index.get("digest") != _digest(audio_cache) or index.get("version") != F0_CACHE_VERSION:
        return None
    frames = np.array([num_frames(n, hop) for n in audio_cache.lengths], dtype=np.int64)
    if data_path.stat().st_size != 4 * int(frames.sum()):
        return None
    offsets = np.concatenate([[0], np.cumsum(frames)[:-1]]).astype(np.int64)
    return F0Cache(path=data_path, offsets=offsets, frames=frames, hop=hop)


def open_f0_cache(audio_cache, hop: int, tracker: str = DEFAULT_TRACKER, build: bool = True,
                  progress: bool = True) -> F0Cache:
    """The F0 cache of `audio_cache` at `hop`, built first when missing or stale (build=False: error)."""
    cache = _open(audio_cache, hop, tracker)
    if cache is not None:
        return cache
    if not build:
        raise VQSpeechError(f"{audio_cache.audio_path.parent}: F0 cache missing or stale")
    build_f0_cache(audio_cache, hop, tracker, progress)
    cache = _open(audio_cache, hop, tracker)
    if cache is None:  # pragma: no cover - just written
        raise VQSpeechError(f"{audio_cache.audio_path.parent}: could not read back the F0 cache just built")
    return cache


def build_f0_cache(audio_cache, hop: int, tracker: str = DEFAULT_TRACKER, progress: bool = True) -> None:
    """Track F0 of every utterance of `audio_cache` into its directory (atomic: data, then index)."""
    from vqspeech.progress import progress_bar

    data_path, index_path = _files(audio_cache, hop, tracker)
    voiced = total = 0
    with atomic_path(data_path) as tmp, open(tmp, "wb") as fh:
        for i in progress_bar(range(len(audio_cache)), desc="tracking F0", unit="utt", disable=not progress,
                      leave=False):
            f0, _ = track_f0(audio_cache.utterance(i), audio_cache.sample_rate, hop, tracker)
            fh.write(f0.astype("<f4").tobytes())
            voiced += int((f0 > 0).sum())
            total += f0.size
        fh.flush()
        os.fsync(fh.fileno())
    write_text_atomic(index_path, json.dumps({"version": F0_CACHE_VERSION, "digest": _digest(audio_cache),
                                              "hop": hop, "tracker": tracker, "frames": total}) + "\n")
    log.info(f"{audio_cache.audio_path.parent}: F0 of {len(audio_cache)} utterances ({tracker}), "
             f"{100 * voiced / max(total, 1):.1f}% voiced frames")


def open_f0_caches(caches, hop: int, tracker: str, info, progress: bool) -> list[F0Cache | None]:
    """F0 caches of several audio caches (None stays None); each node's local rank 0 builds them."""
    from vqspeech.train.distributed import barrier

    out = []
    for c in caches:
        if c is None:
            out.append(None)
            continue
        if info.local_rank == 0:
            open_f0_cache(c, hop, tracker, build=True, progress=progress and info.is_main)
        barrier(info)
        out.append(open_f0_cache(c, hop, tracker, build=False))
    return out


def data_dir_f0(data_dir: str | os.PathLike, sample_rate: int = 16000, hop: int = 64,
                tracker: str = DEFAULT_TRACKER, progress: bool = True) -> dict[str, np.ndarray]:
    """{utt: F0 frames} of a data dir, through its (built if needed) audio and F0 caches."""
    from vqspeech.data.dataset import open_audio_cache

    audio = open_audio_cache(data_dir, sample_rate, progress=progress)
    f0 = open_f0_cache(audio, hop, tracker, progress=progress)
    return {u: f0.utterance(i) for i, u in enumerate(audio.utts)}
