"""A small ctypes driver for libespeak-ng (shipped with its data by the PyPI package espeakng-loader).

`synthesize(text, voice, ...)` returns the waveform at eSpeak's native rate (22050 Hz) and a phone event
per phoneme with its exact sample position (`espeakEVENT_PHONEME`, enabled with
`espeakINITIALIZE_PHONEME_EVENTS` at initialisation; the event's `sample` field counts samples from the
start of the synthesis).

Traps handled here:
- `espeak_SetVoiceByName` returns non-zero for an unknown name and silently keeps the previous voice, and
  an unknown `+variant` is silently dropped: `set_voice` checks the return code and the loaded voice's
  identifier and variant, raising `VQSpeechError` on any mismatch.
- A variant's `breath` setting (en-us+f2 has one) adds breath noise that differs from run to run even
  in a fresh process (measured: 3 different outputs in 4 runs of the same text; `srand` does not help,
  removing the `breath` line does). `reproducible_data_dir` builds a copy of the data dir (symlinks, so
  a few kB) whose variants have their `breath`/`breathw` lines removed; everything else is the same.
- The library keeps state between syntheses, so the same text comes out a few samples different the second
  time in one process. Deterministic corpora therefore synthesise each utterance in a fresh process
  (vqspeech.data.synth uses a pool with maxtasksperchild=1); this module loads the library lazily so that
  a parent process never holds an initialised engine.
"""

from __future__ import annotations

import ctypes
import logging
import os
from dataclasses import dataclass

import numpy as np

from vqspeech.errors import VQSpeechError

log = logging.getLogger(__name__)

AUDIO_OUTPUT_SYNCHRONOUS = 2
espeakCHARS_AUTO = 0
espeakINITIALIZE_PHONEME_EVENTS = 0x0001
espeakINITIALIZE_DONT_EXIT = 0x8000
espeakEVENT_LIST_TERMINATED = 0
espeakEVENT_WORD = 1
espeakEVENT_END = 5
espeakEVENT_MSG_TERMINATED = 6
espeakEVENT_PHONEME = 7
# espeak_PARAMETER
espeakRATE, espeakVOLUME, espeakPITCH, espeakRANGE, espeakPUNCTUATION, espeakCAPITALS, espeakWORDGAP = range(1, 8)
PAUSE_PHONEMES_PREFIX = "_"  # eSpeak's pause phonemes: "_", "_:", "_!", "_;" ...


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


class _Voice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_char_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


@dataclass(frozen=True)
class PhoneEvent:
    """A phoneme starting at `sample` (at the engine's rate); `phoneme` is eSpeak's mnemonic."""

    sample: int
    phoneme: str


class _Engine:
    """The initialised library (one per process)."""

    def __init__(self, data_path: str | None = None) -> None:
        lib_path, default_data = library_paths()
        data_path = data_path or default_data
        try:
            self.lib = ctypes.cdll.LoadLibrary(lib_path)
        except OSError as err:
            raise VQSpeechError(f"{lib_path}: cannot load libespeak-ng ({err})") from None
        lib = self.lib
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_GetCurrentVoice.argtypes = []
        lib.espeak_GetCurrentVoice.restype = ctypes.POINTER(_Voice)
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                     ctypes.c_uint, ctypes.c_uint, ctypes.POINTER(ctypes.c_uint), ctypes.c_void_p]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synchronize.argtypes = []
        lib.espeak_Synchronize.restype = ctypes.c_int
        options = espeakINITIALIZE_PHONEME_EVENTS | espeakINITIALIZE_DONT_EXIT
        rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, os.fsencode(data_path), options)
        if rate <= 0:
            raise VQSpeechError(f"{data_path}: libespeak-ng failed to initialise (returned {rate})")
        self.sample_rate = int(rate)
        self._chunks: list[np.ndarray] = []
        self._events: list[PhoneEvent] = []
        self._callback = _CALLBACK(self._on_audio)  # keep a reference: the library calls it later
        lib.espeak_SetSynthCallback(self._callback)

    def _on_audio(self, wav, n: int, events) -> int:
        if n > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        i = 0
        while events and events[i].type != espeakEVENT_LIST_TERMINATED:
            ev = events[i]
            if ev.type == espeakEVENT_PHONEME:
                name = bytes(ev.id.string).split(b"\0", 1)[0].decode("utf-8", "replace")
                self._events.append(PhoneEvent(int(ev.sample), name))
            i += 1
        return 0  # continue synthesis

    def set_voice(self, voice: str) -> None:
        """Select `voice` ("en-us", "en-us+f2"); raise on an unknown voice or variant."""
        base, _, variant = voice.partition("+")
        ret = self.lib.espeak_SetVoiceByName(voice.encode("utf-8"))
        if ret != 0:
            raise VQSpeechError(f"espeak voice {voice!r}: unknown voice (espeak_SetVoiceByName returned {ret}); "
                                "list voices with `espeak-ng --voices=en`")
        current = self.lib.espeak_GetCurrentVoice()
        ident = (current.contents.identifier or b"").decode("utf-8", "replace") if current else ""
        name = (current.contents.name or b"").decode("utf-8", "replace") if current else ""
        # the identifier is "<lang path>/<name>" and, with a variant, "<lang path>/<name>+<variant>"
        got_base, _, got_variant = ident.partition("+")
        if got_variant != variant or not (got_base.rsplit("/", 1)[-1].lower() == base.lower()
                                          or name.lower() == base.lower()):
            what = f"variant {variant!r}" if got_variant != variant else "voice"
            raise VQSpeechError(f"espeak voice {voice!r}: unknown {what} (eSpeak loaded {ident or name!r})")

    def set_parameter(self, param: int, value: int) -> None:
        ret = self.lib.espeak_SetParameter(param, int(value), 0)
        if ret != 0:
            raise VQSpeechError(f"espeak parameter {param}={value}: rejected (returned {ret})")

    def synth(self, text: str) -> tuple[np.ndarray, list[PhoneEvent]]:
        self._chunks, self._events = [], []
        raw = text.encode("utf-8") + b"\0"
        buf = ctypes.create_string_buffer(raw, len(raw))
        ret = self.lib.espeak_Synth(buf, len(raw), 0, 0, 0, espeakCHARS_AUTO, None, None)
        if ret != 0:
            raise VQSpeechError(f"espeak failed to synthesise {text[:40]!r} (returned {ret})")
        self.lib.espeak_Synchronize()
        wav = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        return wav, list(self._events)


_engine: _Engine | None = None


def library_paths() -> tuple[str, str]:
    """(libespeak-ng path, espeak-ng-data path) from espeakng-loader."""
    try:
        import espeakng_loader
    except ImportError:
        raise VQSpeechError("espeakng-loader is not installed (pip install espeakng-loader)") from None
    return espeakng_loader.get_library_path(), espeakng_loader.get_data_path()


def engine(data_path: str | None = None) -> _Engine:
    """The process's initialised engine (created on first use, with `data_path` or the package's data)."""
    global _engine
    if _engine is None:
        _engine = _Engine(data_path)
    return _engine


def reproducible_data_dir(dest: str | os.PathLike) -> str:
    """Build at `dest` an espeak-ng-data dir that mirrors the package's through symlinks, except that
    voice variants lose their `breath`/`breathw` lines (the one non-reproducible feature). Returns it."""
    from pathlib import Path

    src = Path(library_paths()[1])
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for entry in src.iterdir():
        if entry.name != "voices":
            (dest / entry.name).symlink_to(entry)
    for vdir in (src / "voices").iterdir():
        if not vdir.is_dir():
            (dest / "voices").mkdir(exist_ok=True)
            (dest / "voices" / vdir.name).symlink_to(vdir)
            continue
        out = dest / "voices" / vdir.name
        out.mkdir(parents=True, exist_ok=True)
        for f in vdir.iterdir():
            lines = f.read_bytes().split(b"\n") if f.is_file() else None
            if lines is not None and any(line.lstrip().startswith(b"breath") for line in lines):
                (out / f.name).write_bytes(b"\n".join(x for x in lines if not x.lstrip().startswith(b"breath")))
            else:
                (out / f.name).symlink_to(f)
    return str(dest)


def synthesize(text: str, voice: str, *, rate: int | None = None, pitch: int | None = None,
               pitch_range: int | None = None, data_path: str | None = None
               ) -> tuple[np.ndarray, int, list[PhoneEvent]]:
    """Synthesise `text` with `voice`.

    Returns `(wav: [T] int16 at sample_rate, sample_rate, events)`; each event's `sample` is the phoneme's
    first sample. `rate` is words per minute (80-450), `pitch` and `pitch_range` are 0-100 (eSpeak's
    defaults: 175, 50, 50). Call once per fresh process for byte-reproducible output, with `data_path`
    from `reproducible_data_dir` (used when the process's engine is first created).
    """
    eng = engine(data_path)
    eng.set_voice(voice)
    for param, value in ((espeakRATE, rate), (espeakPITCH, pitch), (espeakRANGE, pitch_range)):
        if value is not None:
            eng.set_parameter(param, value)
    wav, events = eng.synth(text)
    return wav, eng.sample_rate, events
