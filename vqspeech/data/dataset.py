"""Training batches from a Kaldi data dir: a preprocessed int16 audio cache and seeded random crops.

The cache is built once per data dir and sample rate: every utterance is decoded (segments and piped
commands included), resampled, and appended to one int16 file `audio_<rate>.int16` read back as a
memory map, with `index_<rate>.json` listing `utt, offset, length, speaker` and a hash of wav.scp,
utt2spk and segments: when those files change the cache is rebuilt. It lives in `<data_dir>/.cache/`
unless another directory is given. Training then never decodes audio files.

Crops: `CropSampler` turns (seed, step, rank) into a batch of (utterance, start) pairs, so the batch
of any step is a pure function of the step: resuming at step N reproduces the data order exactly, and
loader workers can prefetch steps in any order. Every epoch is a seeded permutation of the utterances;
under torchrun each rank takes every world_size-th utterance of it (like DistributedSampler, with the
remainder dropped so all ranks see equally many). Utterances shorter than a crop are zero-padded at the
end (`short="pad"`, the default: the mu-law zero, silence) or left out (`short="skip"`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from vqspeech.errors import VQSpeechError
from vqspeech.fileutil import atomic_path, write_text_atomic

log = logging.getLogger(__name__)

CACHE_VERSION = 1
_HASHED_FILES = ("wav.scp", "utt2spk", "segments")


def data_dir_hash(data_dir: str | os.PathLike, sample_rate: int) -> str:
    """sha256 over wav.scp, utt2spk, segments (when present) and the sample rate."""
    h = hashlib.sha256(f"v{CACHE_VERSION} rate={sample_rate}\n".encode())
    for name in _HASHED_FILES:
        p = Path(data_dir) / name
        h.update(f"{name}\n".encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


@dataclass
class AudioCache:
    """An opened cache: utterance ids, speakers and int16 samples in one memory map."""

    audio_path: Path
    utts: list[str]
    speakers: list[str]  # per utterance
    offsets: np.ndarray  # [U] int64, start sample of each utterance in the file
    lengths: np.ndarray  # [U] int64, samples per utterance
    sample_rate: int
    _audio: np.ndarray | None = None

    @property
    def audio(self) -> np.ndarray:
        """[total] int16 memory map (opened lazily, so the object pickles cheaply to workers)."""
        if self._audio is None:
            total = int(self.lengths.sum())
            self._audio = (
                np.memmap(self.audio_path, dtype=np.int16, mode="r", shape=(total,))
                if total
                else np.zeros(0, np.int16)
            )
        return self._audio

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_audio"] = None
        return state

    def __len__(self) -> int:
        return len(self.utts)

    def utterance(self, i: int) -> np.ndarray:
        """[T] float32 in [-1, 1] of utterance number i."""
        o, n = int(self.offsets[i]), int(self.lengths[i])
        return self.audio[o : o + n].astype(np.float32) / 32768.0

    def crop_raw(self, i: int, start: int, length: int, pad: int = 0) -> tuple[np.ndarray, int]:
        """([length] int16 values start..start+length of sequence i, padded with `pad`), valid count."""
        o, n = int(self.offsets[i]), int(self.lengths[i])
        out = np.full(length, pad, np.int16)
        take = max(0, min(length, n - start))
        out[:take] = self.audio[o + start : o + start + take]
        return out, take

    def crop(self, i: int, start: int, length: int) -> np.ndarray:
        """[length] float32: samples start..start+length of utterance i, zero-padded past its end."""
        o, n = int(self.offsets[i]), int(self.lengths[i])
        out = np.zeros(length, np.float32)
        take = max(0, min(length, n - start))
        out[:take] = self.audio[o + start : o + start + take].astype(np.float32) / 32768.0
        return out


def _cache_files(cache_dir: Path, sample_rate: int) -> tuple[Path, Path]:
    return cache_dir / f"audio_{sample_rate}.int16", cache_dir / f"index_{sample_rate}.json"


def _open(cache_dir: Path, sample_rate: int, digest: str) -> AudioCache | None:
    audio_path, index_path = _cache_files(cache_dir, sample_rate)
    if not (audio_path.is_file() and index_path.is_file()):
        return None
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    try:  # a damaged index (not a mapping, entries without their fields) is rebuilt like a stale one
        if index.get("hash") != digest or index.get("version") != CACHE_VERSION:
            return None
        entries = index["utts"]
        lengths = np.array([e["length"] for e in entries], dtype=np.int64)
        if audio_path.stat().st_size != 2 * int(lengths.sum()):
            return None
        return AudioCache(
            audio_path=audio_path,
            utts=[str(e["utt"]) for e in entries],
            speakers=[str(e["speaker"]) for e in entries],
            offsets=np.array([e["offset"] for e in entries], dtype=np.int64),
            lengths=lengths,
            sample_rate=sample_rate,
        )
    except (AttributeError, KeyError, TypeError, ValueError, OverflowError):
        return None


def default_cache_dir(data_dir: str | os.PathLike) -> Path:
    return Path(data_dir) / ".cache"


def open_audio_cache(
    data_dir: str | os.PathLike,
    sample_rate: int = 16000,
    cache_dir: str | os.PathLike | None = None,
    build: bool = True,
    progress: bool = True,
) -> AudioCache:
    """Open the cache of `data_dir`, building (or rebuilding) it first when missing or stale.

    With `build=False` a missing cache is an error (used by non-zero ranks after rank 0 built it).
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise VQSpeechError(f"{data_dir}: no such data directory")
    cdir = Path(cache_dir) if cache_dir is not None else default_cache_dir(data_dir)
    digest = data_dir_hash(data_dir, sample_rate)
    cache = _open(cdir, sample_rate, digest)
    if cache is not None:
        return cache
    if not build:
        raise VQSpeechError(f"{cdir}: audio cache missing or stale")
    build_audio_cache(data_dir, cdir, sample_rate, progress=progress)
    cache = _open(cdir, sample_rate, digest)
    if cache is None:  # pragma: no cover - the files were just written
        raise VQSpeechError(f"{cdir}: could not read back the audio cache just built")
    return cache


def build_audio_cache(
    data_dir: str | os.PathLike, cache_dir: str | os.PathLike, sample_rate: int = 16000, progress: bool = True
) -> None:
    """Decode every utterance of `data_dir` into `cache_dir` (atomic: audio file, then the index)."""
    from vqspeech.data.kaldi import load_utterance, read_data_dir
    from vqspeech.progress import progress_bar

    data_dir, cache_dir = Path(data_dir), Path(cache_dir)
    digest = data_dir_hash(data_dir, sample_rate)
    data = read_data_dir(data_dir)
    utts = data.utterances()
    if not utts:
        raise VQSpeechError(f"{data_dir}: the data dir lists no utterances")
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise VQSpeechError(f"{cache_dir}: cannot create the audio cache ({err.strerror})") from None
    audio_path, index_path = _cache_files(cache_dir, sample_rate)
    entries, offset = [], 0
    with atomic_path(audio_path) as tmp, open(tmp, "wb") as fh:
        bar = progress_bar(utts, desc=f"caching {data_dir.name}", unit="utt", disable=not progress, leave=False)
        for utt in bar:
            wav = load_utterance(data, utt, sample_rate=sample_rate)
            pcm = np.clip(np.round(np.asarray(wav, np.float32) * 32768.0), -32768, 32767).astype("<i2")
            fh.write(pcm.tobytes())
            entries.append({"utt": utt, "offset": offset, "length": int(pcm.size), "speaker": data.utt2spk[utt]})
            offset += int(pcm.size)
        fh.flush()
        os.fsync(fh.fileno())
    index = {"version": CACHE_VERSION, "hash": digest, "sample_rate": sample_rate, "data_dir": str(data_dir),
             "utts": entries}
    write_text_atomic(index_path, json.dumps(index) + "\n")
    log.info(f"{data_dir}: cached {len(utts)} utterances, {offset / sample_rate / 3600:.2f} h in {cache_dir}")


class CropSampler:
    """Seeded random crops: `items(step) -> [(utterance index, start sample)] * batch_size`.

    A pure function of (seed, step, rank, world_size): the only state to save for an exact resume is
    the step, plus these settings (checked by `check_state`).
    """

    def __init__(
        self,
        lengths: np.ndarray,
        batch_size: int,
        crop: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        short: str = "pad",
        name: str = "data",
    ):
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.batch_size, self.crop, self.seed = batch_size, crop, seed
        self.rank, self.world_size = rank, world_size
        eligible = np.arange(len(self.lengths)) if short == "pad" else np.flatnonzero(self.lengths >= crop)
        if eligible.size == 0:
            raise VQSpeechError(f"{name}: no utterance is at least one crop ({crop} samples) long")
        if short == "skip" and eligible.size < len(self.lengths):
            log.warning(f"{name}: skipping {len(self.lengths) - eligible.size} utterances shorter than a crop")
        self.eligible = eligible
        self.per_rank = max(1, eligible.size // world_size)

    @lru_cache(maxsize=4)  # noqa: B019 - a handful of epochs, tied to the sampler's life
    def _shard(self, epoch: int) -> np.ndarray:
        perm = np.random.default_rng([self.seed, epoch]).permutation(self.eligible)
        if perm.size < self.world_size:
            perm = np.resize(perm, self.world_size)
        return perm[self.rank :: self.world_size][: self.per_rank]

    def items(self, step: int) -> list[tuple[int, int]]:
        first = step * self.batch_size
        idx = []
        for i in range(first, first + self.batch_size):
            idx.append(int(self._shard(i // self.per_rank)[i % self.per_rank]))
        rng = np.random.default_rng([self.seed, step, self.rank, 1])
        room = np.maximum(self.lengths[idx] - self.crop, 0) + 1
        starts = (rng.random(len(idx)) * room).astype(np.int64)
        return [(u, int(s)) for u, s in zip(idx, starts, strict=True)]

    def state(self) -> dict:
        return {"seed": self.seed, "batch_size": self.batch_size, "crop": self.crop,
                "world_size": self.world_size, "utterances": int(len(self.lengths))}

    def check_state(self, state: dict) -> None:
        """Warn when a resumed run's data settings differ (the data order then differs too)."""
        mine = self.state()
        diff = [k for k in mine if k in state and state[k] != mine[k]]
        if diff:
            log.warning(f"resume: data settings changed ({', '.join(diff)}): the data order differs from "
                        "an uninterrupted run")


class CropBatches:
    """Map-style dataset over steps: `batches[step] -> (wav [B, 1, crop] float32, speaker [B] int64)`,
    plus `f0 [B, crop // hop] float32` Hz when an F0 cache is given (crop starts then fall on the frame
    grid, so frame j of a crop is frame start / hop + j of its utterance).

    Usable directly or through torch's DataLoader (batch_size=None) for background workers.
    """

    def __init__(self, cache: AudioCache, sampler: CropSampler, speaker_index: dict[str, int], f0=None):
        self.cache, self.sampler, self.speaker_index = cache, sampler, speaker_index
        self.f0 = f0
        missing = sorted({s for s in cache.speakers if s not in speaker_index})
        if missing:
            raise VQSpeechError(f"speaker '{missing[0]}' of the data is not among the model's speakers")

    def __len__(self) -> int:  # only for DataLoader's sake; steps are unbounded
        return 2**62

    def __getitem__(self, step: int):
        import torch

        items = self.sampler.items(int(step))
        if self.f0 is not None:
            hop = self.f0.hop
            items = [(u, s // hop * hop) for u, s in items]
        wav = np.stack([self.cache.crop(u, s, self.sampler.crop) for u, s in items])[:, None, :]
        spk = np.array([self.speaker_index[self.cache.speakers[u]] for u, _ in items], dtype=np.int64)
        if self.f0 is None:
            return torch.from_numpy(wav), torch.from_numpy(spk)
        n = -(-self.sampler.crop // hop)
        f0 = np.stack([self.f0.crop(u, s // hop, n) for u, s in items])
        return torch.from_numpy(wav), torch.from_numpy(spk), torch.from_numpy(f0)


def fixed_crops(
    cache: AudioCache, crop: int, batch_size: int, max_batches: int, max_utts: int, speaker_index: dict[str, int],
    f0=None,
):
    """Deterministic validation batches: the middle crop (start a multiple of 64 samples) of the first
    utterances (sorted ids) whose speaker the model knows; a first crop would be mostly leading silence.
    Returns a list of (wav [b, 1, crop], speaker [b]) tensors (+ f0 [b, crop // hop] with an F0 cache)."""
    import torch

    keep = [i for i in range(len(cache)) if cache.speakers[i] in speaker_index][:max_utts]
    keep = keep[: batch_size * max_batches]
    batches = []
    for k in range(0, len(keep), batch_size):
        chunk = keep[k : k + batch_size]
        starts = [max(0, (int(cache.lengths[i]) - crop) // 2) // 64 * 64 for i in chunk]
        if f0 is not None:
            starts = [s // f0.hop * f0.hop for s in starts]
        wav = np.stack([cache.crop(i, s, crop) for i, s in zip(chunk, starts, strict=True)])[:, None, :]
        spk = np.array([speaker_index[cache.speakers[i]] for i in chunk], dtype=np.int64)
        if f0 is None:
            batches.append((torch.from_numpy(wav), torch.from_numpy(spk)))
        else:
            n = -(-crop // f0.hop)
            f = np.stack([f0.crop(i, s // f0.hop, n) for i, s in zip(chunk, starts, strict=True)])
            batches.append((torch.from_numpy(wav), torch.from_numpy(spk), torch.from_numpy(f)))
    return batches
