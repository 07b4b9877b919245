"""Output planning of the codec verbs, called as a library (vqspeech.codec.outputs)."""

from __future__ import annotations

import pytest

from vqspeech.codec.outputs import convert_output, decode_outputs, encode_outputs, sample_output
from vqspeech.errors import VQSpeechError


def test_names_are_inferred_and_checked(tmp_path):
    (tmp_path / "in" / "sub").mkdir(parents=True)
    for name in ("a.wav", "sub/b.flac", "notes.txt"):
        (tmp_path / "in" / name).write_bytes(b"")
    one = tmp_path / "in" / "a.wav"
    assert encode_outputs([one]) == [(one, tmp_path / "in" / "a.vqs")]
    assert encode_outputs([one], tmp_path / "x.vqs") == [(one, tmp_path / "x.vqs")]
    assert [o.relative_to(tmp_path) for _, o in encode_outputs([tmp_path / "in"])] == \
        [tmp_path.joinpath("in_vqs", "a.vqs").relative_to(tmp_path),
         tmp_path.joinpath("in_vqs", "sub", "b.vqs").relative_to(tmp_path)]
    assert convert_output(one, "p226") == tmp_path / "in" / "a.to_p226.wav"
    assert sample_output(None, tmp_path / "s.wav") == tmp_path / "s.wav"
    vqs = tmp_path / "in" / "a.vqs"
    vqs.write_bytes(b"x")
    assert decode_outputs([vqs]) == [(vqs, tmp_path / "in" / "a.decoded.wav")]
    with pytest.raises(VQSpeechError, match="exists .use --force"):
        encode_outputs([one])
    assert encode_outputs([one], force=True)[0][1] == vqs
    with pytest.raises(VQSpeechError, match="would overwrite its input"):
        convert_output(one, "p226", one, force=True)
    with pytest.raises(VQSpeechError, match="would be written twice"):
        encode_outputs([one, tmp_path / "in" / "a.wav"], tmp_path / "out", force=True)
    with pytest.raises(VQSpeechError, match="no such file"):
        encode_outputs([tmp_path / "missing.wav"])
