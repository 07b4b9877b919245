"""The one speaker policy, used by every verb and every Python entry point (decode, convert, sample,
entropy coding, evaluation, the demo).

- A speaker asked for by name (or index) must be one the model knows: otherwise one VQSpeechError line
  listing the valid names.
- No speaker asked for: the source's speaker (a .vqs header's, an utterance's) when the model knows it;
  else the model's first speaker, said on stderr (a log line, or a note when the caller collects notes).
- A model without speakers takes none: the index is None.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from vqspeech.errors import VQSpeechError

log = logging.getLogger(__name__)
_said: set[str] = set()  # fallback lines already logged: said once per process, not per frame or chunk


def resolve_speaker(speakers: Sequence[str], name: str | int | None = None, *, source: str | None = None,
                    what: str = "model", notes: list[str] | None = None) -> int | None:
    """The index of the speaker to use among `speakers` (None for a model without speakers).

    name: the speaker asked for (a name, or an index); source: the speaker of the input, used when no
    name is given; what: the model's role in messages ("decoder", "prior"); notes: when given, the
    fallback to the first speaker is appended there (once per message) instead of logged."""
    speakers = list(speakers)
    if name is not None:
        if isinstance(name, str):
            if name not in speakers:
                known = ", ".join(speakers) if speakers else f"none: the {what} has no speakers"
                raise VQSpeechError(f"unknown speaker '{name}' (known: {known})")
            return speakers.index(name)
        if not 0 <= int(name) < max(1, len(speakers)):
            raise VQSpeechError(f"speaker index {name} not in [0, {len(speakers)})")
        return int(name) if speakers else None
    if not speakers:
        return None
    if source is not None and source in speakers:
        return speakers.index(source)
    if source is not None:
        msg = f"speaker {source!r} unknown to the {what}: using {speakers[0]!r}"
    else:
        msg = f"no speaker given: the {what} uses {speakers[0]!r}"
    if notes is None:
        if msg not in _said:
            _said.add(msg)
            log.info(msg)
    elif msg not in notes:
        notes.append(msg)
    return 0
