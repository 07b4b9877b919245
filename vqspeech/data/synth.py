"""The synthetic multi-speaker corpus: eSpeak NG voices reading generated sentences, with exact phone
alignments from eSpeak's phoneme events.

Layout written by `build_synth_corpus(DATA, ...)` (built in a temp dir next to DATA, renamed when done):

    DATA/wav/<spk>/<utt>.wav          16 kHz mono 16-bit PCM
    DATA/{train,dev,test,parallel}/   Kaldi data dirs: wav.scp (absolute paths), utt2spk, spk2utt, text,
                                      utt2dur, ctm (eSpeak phoneme mnemonics without stress marks; pauses,
                                      leading and trailing silence are `sil`)
    DATA/speakers.tsv                 speaker, voice, rate (wpm), pitch, range
    DATA/synth.json                   the options used

Utterance ids are `<spk>-<nnnnnn>` (`us_m1-000123`) and `<spk>-par<nnnn>` for the parallel set, in which
every speaker reads the same sentences. Each utterance is synthesised in a fresh process (a pool with
`maxtasksperchild=1`), because libespeak-ng keeps state between syntheses: the same seed gives
byte-identical wavs whatever the number of jobs.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import multiprocessing as mp
import os
import random
import tempfile
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from vqspeech.data.espeak import reproducible_data_dir
from vqspeech.errors import VQSpeechError

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
MIN_SECONDS, MAX_SECONDS = 2.0, 8.0
MAX_ATTEMPTS = 20  # sentences tried per utterance before giving up on the 2-8 s range
SPLITS = ("train", "dev", "test")

DEFAULT_SPEAKERS: dict[str, str] = {
    "us_m1": "en-us+m1",
    "us_f2": "en-us+f2",
    "gb_m3": "en+m3",
    "gb_f4": "en+f4",
    "us_m5": "en-us+m5",
    "car_f1": "en-029+f1",
    "sc_m2": "en-gb-scotland+m2",
    "us_klatt3": "en-us+klatt3",
}


@dataclass(frozen=True)
class SpeakerVoice:
    """A speaker: an eSpeak voice plus a deterministic rate/pitch/range derived from the speaker id."""

    speaker: str
    voice: str
    rate: int  # words per minute (eSpeak default 175)
    pitch: int  # 0-100 (default 50)
    pitch_range: int  # 0-100 (default 50)

    @classmethod
    def from_id(cls, speaker: str, voice: str) -> SpeakerVoice:
        h = zlib.crc32(speaker.encode("utf-8"))
        return cls(speaker, voice, rate=155 + h % 31, pitch=38 + (h >> 8) % 25, pitch_range=35 + (h >> 16) % 31)


def parse_speakers(spec: str | None) -> list[tuple[str, str]]:
    """`"us_m1,gb_f4,my=en-us+f3"` -> [(id, voice)]: known ids or `id=voice`; None -> the defaults."""
    if spec is None or not spec.strip():
        return list(DEFAULT_SPEAKERS.items())
    out: list[tuple[str, str]] = []
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        spk, eq, voice = item.partition("=")
        spk, voice = spk.strip(), voice.strip()
        if not eq:
            if spk not in DEFAULT_SPEAKERS:
                raise VQSpeechError(f"--speakers: unknown speaker id {spk!r} (known: {', '.join(DEFAULT_SPEAKERS)}; "
                                    "or give id=voice, e.g. my_f3=en-us+f3)")
            voice = DEFAULT_SPEAKERS[spk]
        if not spk or not voice or any(c.isspace() or c in "-/" for c in spk):
            raise VQSpeechError(f"--speakers: bad entry {item!r} (speaker ids must be non-empty, without "
                                "whitespace, '-' or '/')")
        if spk in dict(out):
            raise VQSpeechError(f"--speakers: speaker {spk!r} given twice")
        out.append((spk, voice))
    if not out:
        raise VQSpeechError("--speakers: no speakers given")
    return out


@dataclass(frozen=True)
class _Job:
    utt: str
    speaker: SpeakerVoice
    key: str  # sentence key; None-like "" for a fixed text
    text: str  # fixed text (parallel set) or "" to generate from key
    seed: int
    wav_path: str
    data_path: str  # espeak-ng-data without breath noise (espeak.reproducible_data_dir)


@dataclass(frozen=True)
class _Result:
    utt: str
    text: str
    num_samples: int
    phones: list[tuple[int, int, str]]  # (start sample, end sample, phone) at 16 kHz, contiguous


def _phone_name(mnemonic: str) -> str:
    name = mnemonic.lstrip("',")  # eSpeak's stress marks
    return "sil" if not name or name.startswith("_") else name


def phone_intervals(events: list, num_in: int, rate_in: int, rate_out: int, num_out: int
                    ) -> list[tuple[int, int, str]]:
    """eSpeak phoneme events (sample positions at `rate_in`) -> contiguous `(start, end, phone)` intervals
    at `rate_out` covering exactly `[0, num_out)`; audio before the first event and pauses are `sil`,
    zero-length intervals are dropped and adjacent `sil`s merged."""
    bounds: list[tuple[int, str]] = [(0, "sil")]
    for ev in events:
        pos = min(max(int(ev.sample), 0), num_in)
        bounds.append((min(round(pos * rate_out / rate_in), num_out), _phone_name(ev.phoneme)))
    out: list[tuple[int, int, str]] = []
    for i, (start, phone) in enumerate(bounds):
        end = bounds[i + 1][0] if i + 1 < len(bounds) else num_out
        if end <= start:
            continue
        if out and out[-1][2] == phone == "sil":
            out[-1] = (out[-1][0], end, phone)
        else:
            out.append((start, end, phone))
    return out


def synthesize_utterance(job: _Job) -> _Result:
    """Synthesise one utterance (in a fresh process), write its wav, return text and phones."""
    from vqspeech.audio import resample, save_audio
    from vqspeech.data import espeak
    from vqspeech.data.sentences import sentence

    rng = random.Random(f"vqspeech-synth/{job.seed}/{job.utt}")
    spk = job.speaker
    for attempt in range(1 if job.text else MAX_ATTEMPTS):
        text = job.text or sentence(job.seed, job.key if attempt == 0 else f"{job.key}/{attempt}")
        rate = int(round(spk.rate * rng.uniform(0.93, 1.07)))  # a little prosodic variety per utterance
        wav22, rate_in, events = espeak.synthesize(text, spk.voice, rate=rate, pitch=spk.pitch,
                                                   pitch_range=spk.pitch_range, data_path=job.data_path)
        wav = resample(wav22.astype(np.float32) / 32768.0, rate_in, SAMPLE_RATE)
        lead = np.zeros(int(rng.uniform(0.05, 0.25) * SAMPLE_RATE), np.float32)
        tail = np.zeros(int(rng.uniform(0.10, 0.30) * SAMPLE_RATE), np.float32)
        phones = phone_intervals(events, wav22.size, rate_in, SAMPLE_RATE, wav.size)
        wav = np.concatenate([lead, wav, tail])
        phones = [(s + lead.size, e + lead.size, p) for s, e, p in phones]
        phones = [(0, lead.size, "sil")] + phones + [(wav.size - tail.size, wav.size, "sil")]
        merged: list[tuple[int, int, str]] = []
        for s, e, p in phones:
            if e <= s:
                continue
            if merged and merged[-1][2] == p == "sil":
                merged[-1] = (merged[-1][0], e, p)
            else:
                merged.append((s, e, p))
        seconds = wav.size / SAMPLE_RATE
        if MIN_SECONDS <= seconds <= MAX_SECONDS:
            break
        if job.text:
            log.warning("%s: %.2f s is outside %g-%g s (parallel sentence kept)", job.utt, seconds,
                        MIN_SECONDS, MAX_SECONDS)
            break
    else:
        raise VQSpeechError(f"{job.utt}: voice {spk.voice!r} gave no sentence of {MIN_SECONDS:g}-{MAX_SECONDS:g} s "
                            f"in {MAX_ATTEMPTS} tries (is its rate {spk.rate} wpm sensible?)")
    peak = float(np.max(np.abs(wav)))
    if peak > 0.97:  # keep resampling overshoot off the clip level; a fixed function of the audio
        wav = wav * np.float32(0.97 / peak)
    save_audio(job.wav_path, wav, SAMPLE_RATE)
    return _Result(job.utt, text, int(wav.size), merged)


def _check_voices(voices: list[str], data_path: str) -> None:
    from vqspeech.data import espeak

    for voice in voices:
        espeak.engine(data_path).set_voice(voice)


def _pool_context():
    # fork: children start fast and import nothing again (`python -m vqspeech` re-runs the CLI under
    # spawn); the parent never initialises eSpeak, so each child starts from a pristine engine. If this
    # process did use eSpeak (a library user), forked children would inherit its state: spawn instead.
    from vqspeech.data import espeak

    methods = mp.get_all_start_methods()
    fork = "fork" in methods and espeak._engine is None
    return mp.get_context("fork" if fork else "spawn")


@dataclass
class SynthSummary:
    utterances: int
    speakers: int
    hours: float
    bytes_on_disk: int


def build_synth_corpus(out: str | os.PathLike, speakers: list[tuple[str, str]] | None = None, *,
                       utts_per_speaker: int = 300, parallel_sentences: int = 20, seed: int = 0, jobs: int = 1,
                       force: bool = False, progress: bool = False) -> SynthSummary:
    """Build the synthetic corpus in `out` (see the module docstring). Returns counts and size."""

    out = Path(out)
    if out.exists() and not force:
        raise VQSpeechError(f"{out}: exists (use --force to overwrite)")
    if utts_per_speaker < 3:
        raise VQSpeechError(f"--utts-per-speaker {utts_per_speaker}: need at least 3 (train, dev and test)")
    if parallel_sentences < 1:
        raise VQSpeechError(f"--parallel-sentences {parallel_sentences}: need at least 1")
    if jobs < 1:
        raise VQSpeechError(f"--jobs {jobs}: need at least 1")
    voices = [SpeakerVoice.from_id(s, v) for s, v in (speakers or list(DEFAULT_SPEAKERS.items()))]
    try:
        with tempfile.TemporaryDirectory(prefix="vqspeech-espeak-") as espeak_data:
            return _build(out, voices, utts_per_speaker, parallel_sentences, seed, jobs, progress,
                          reproducible_data_dir(Path(espeak_data) / "espeak-ng-data"))
    except OSError as err:  # an unwritable or full output location
        where = err.filename or out
        raise VQSpeechError(f"{where}: cannot write the corpus ({err.strerror or err})") from None


def _build(out: Path, voices: list[SpeakerVoice], utts_per_speaker: int, parallel_sentences: int, seed: int,
           jobs: int, progress: bool, data_path: str) -> SynthSummary:
    from vqspeech.data.kaldi import DataDir, PhoneInterval, write_ctm, write_data_dir
    from vqspeech.data.sentences import sentence, transcript
    from vqspeech.fileutil import atomic_dir, write_text_atomic

    ctx = _pool_context()
    with ctx.Pool(1, maxtasksperchild=1) as pool:  # a throwaway process: fail fast on a bad voice
        pool.apply(_check_voices, ([v.voice for v in voices], data_path))

    final = out.resolve()
    n_held = max(1, round(0.05 * utts_per_speaker))
    split_of: dict[str, str] = {}
    job_list: list[_Job] = []
    par_texts: list[str] = []  # 9-13 words: 2-8 s for any speaker's rate
    for j in range(100 * parallel_sentences):
        text = sentence(seed, f"parallel/{j}", words=(9, 13))
        if len(par_texts) < parallel_sentences and 9 <= len(text.split()) <= 13:
            par_texts.append(text)
    for spk in voices:
        order = list(range(utts_per_speaker))
        random.Random(f"vqspeech-split/{seed}/{spk.speaker}").shuffle(order)
        for rank, i in enumerate(order):
            utt = f"{spk.speaker}-{i:06d}"
            split_of[utt] = "dev" if rank < n_held else "test" if rank < 2 * n_held else "train"
            job_list.append(_Job(utt, spk, f"{spk.speaker}/{i}", "", seed,
                                 str(final / "wav" / spk.speaker / f"{utt}.wav"), data_path))
        for j, text in enumerate(par_texts):
            utt = f"{spk.speaker}-par{j:04d}"
            split_of[utt] = "parallel"
            job_list.append(_Job(utt, spk, "", text, seed, str(final / "wav" / spk.speaker / f"{utt}.wav"),
                                 data_path))

    with atomic_dir(out) as tmp:
        job_list = [dataclasses.replace(j, wav_path=str(tmp / Path(j.wav_path).relative_to(final)))
                    for j in job_list]
        results: list[_Result] = []
        from vqspeech.progress import progress_bar

        with ctx.Pool(jobs, maxtasksperchild=1) as pool, progress_bar(
                total=len(job_list), desc="synthesising", unit="utt", disable=not progress, leave=False) as bar:
            for res in pool.imap_unordered(synthesize_utterance, job_list, chunksize=1):
                results.append(res)
                bar.update(1)
        spk_of = {j.utt: j.speaker.speaker for j in job_list}
        for split in (*SPLITS, "parallel"):
            sel = sorted((r for r in results if split_of[r.utt] == split), key=lambda r: r.utt)
            data = DataDir(
                wav_scp={r.utt: str(final / "wav" / spk_of[r.utt] / f"{r.utt}.wav") for r in sel},
                utt2spk={r.utt: spk_of[r.utt] for r in sel},
                text={r.utt: transcript(r.text) for r in sel},
                utt2dur={r.utt: r.num_samples / SAMPLE_RATE for r in sel},
            )
            write_data_dir(tmp / split, data)
            write_ctm(tmp / split / "ctm", {r.utt: [PhoneInterval(s / SAMPLE_RATE, e / SAMPLE_RATE, p)
                                                    for s, e, p in r.phones] for r in sel})
        write_text_atomic(tmp / "speakers.tsv", "speaker\tvoice\trate\tpitch\trange\n" + "".join(
            f"{v.speaker}\t{v.voice}\t{v.rate}\t{v.pitch}\t{v.pitch_range}\n" for v in voices))
        write_text_atomic(tmp / "synth.json", json.dumps({
            "seed": seed, "utts_per_speaker": utts_per_speaker, "parallel_sentences": parallel_sentences,
            "sample_rate": SAMPLE_RATE, "speakers": [asdict(v) for v in voices]}, indent=2) + "\n")
        size = sum(f.stat().st_size for f in tmp.rglob("*") if f.is_file())
    total = sum(r.num_samples for r in results) / SAMPLE_RATE
    return SynthSummary(utterances=len(results), speakers=len(voices), hours=total / 3600, bytes_on_disk=size)
