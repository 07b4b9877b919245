"""Chunked encoding == whole-file encoding; chunked decoding == one decode_codes call."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vqspeech.codec.api import (
    decode_to_file,
    decode_to_waveform,
    encode_batch,
    encode_blocks,
    encode_file,
    encode_waveform,
)
from vqspeech.errors import VQSpeechError
from vqspeech.models.config import EncoderConfig, QuantizerConfig, VQVAEConfig, named_decoder_config
from vqspeech.models.vqvae import build_vqvae


def tiny_vqvae(upsample: str = "repeat", strides=(2, 2, 2, 2), k: int = 16):
    torch.manual_seed(0)
    cfg = VQVAEConfig(speakers=["alice", "bob"], encoder=EncoderConfig(strides=list(strides), hidden_channels=16,
                      residual_blocks=1), quantizer=QuantizerConfig(num_codes=k, dim=8),
                      decoder=named_decoder_config("tiny"), upsample=upsample)
    model = build_vqvae(cfg).eval()
    with torch.no_grad():  # codebook = encoder outputs of noise, so that many codes are used
        z = model.encoder(torch.randn(1, 1, 64 * k) * 0.3)[0].t()
        model.quantizer.codebook.copy_(z[torch.randperm(z.shape[0])[:k]])
    return model


def _whole(model, wav):
    with torch.no_grad():
        return model.encode(torch.from_numpy(wav).view(1, 1, -1))[0].numpy()


@pytest.mark.parametrize("strides", [(2, 2, 2, 2), (5, 2, 4)])
def test_chunked_equals_whole(strides):
    model = tiny_vqvae(strides=strides)
    hop = model.hop
    rng = np.random.default_rng(0)
    lengths = [1, hop - 1, hop, hop + 1, 7 * hop, 7 * hop + 3, 50 * hop - 1, 123 * hop + 17, 333]
    for T in lengths:
        wav = (0.5 * rng.standard_normal(T)).astype(np.float32)
        whole = _whole(model, wav)
        assert whole.size == -(-T // hop)
        for chunk_frames in (1, 2, 3, 5, 17, 1000):
            got = encode_waveform(model, wav, chunk_seconds=chunk_frames * hop / model.sample_rate)
            np.testing.assert_array_equal(got, whole, err_msg=f"T={T} chunk={chunk_frames}")
        # ragged blocks, as a file reader delivers them
        cuts = np.sort(rng.integers(0, T + 1, 5))
        blocks = np.split(wav, cuts)
        got = encode_blocks(model, blocks, chunk_seconds=3 * hop / model.sample_rate)
        np.testing.assert_array_equal(got, whole)
    assert len(set(whole.tolist())) > 1  # the invariant is not trivially met by a constant encoder


@pytest.mark.parametrize("strides", [(2, 2, 2, 2), (5, 2, 4)])
def test_batched_equals_each_alone(strides):
    model = tiny_vqvae(strides=strides)
    rng = np.random.default_rng(1)
    wavs = [rng.standard_normal(n).astype(np.float32) * 0.3 for n in (2000, 65, 1, 1999, 640, 3001)]
    batched = encode_batch(model, wavs)
    for w, c in zip(wavs, batched, strict=True):
        assert c.dtype == np.int64 and c.shape == (-(-len(w) // model.hop),)
        np.testing.assert_array_equal(c, encode_waveform(model, w))
        np.testing.assert_array_equal(c, _whole(model, w))
    assert encode_batch(model, []) == []


def test_encode_file_streams_any_rate(tmp_path, tone):
    import soundfile as sf

    from vqspeech.audio import load_audio

    model = tiny_vqvae()
    stereo = np.stack([tone(0.3, 16000), tone(0.3, 16000, freq=330)], axis=1)
    sf.write(tmp_path / "a.wav", stereo, 16000)
    codes, n = encode_file(model, tmp_path / "a.wav", chunk_seconds=0.05)
    wav = load_audio(tmp_path / "a.wav", 16000)
    assert n == wav.size
    np.testing.assert_array_equal(codes, _whole(model, wav))
    sf.write(tmp_path / "b.flac", tone(0.3, 22050), 22050)
    codes, n = encode_file(model, tmp_path / "b.flac", chunk_seconds=0.05)
    assert abs(n - 4800) <= 2 and codes.size == -(-n // model.hop)
    (tmp_path / "e.wav").write_bytes(b"")
    with pytest.raises(VQSpeechError, match="not a readable audio file"):
        encode_file(model, tmp_path / "e.wav")
    sf.write(tmp_path / "z.wav", np.zeros((0, 1), np.float32), 16000)
    with pytest.raises(VQSpeechError, match="no audio samples"):
        encode_file(model, tmp_path / "z.wav")


@pytest.mark.parametrize("upsample", ["repeat", "transposed"])
def test_chunked_decode_equals_decode_codes(upsample):
    from vqspeech.generate import decode_codes

    model = tiny_vqvae(upsample)
    codes = np.random.default_rng(1).integers(0, 16, 300)  # 300 codes * 16 = 4800 samples, several chunks
    ref = decode_codes(model, [codes], [1], temperature=1.0, seed=3, num_samples=[4790])[0]
    from vqspeech.generate import iter_decode

    got = np.concatenate(list(iter_decode(model, codes, "bob", seed=3, num_samples=4790, chunk_seconds=0.02)))
    assert got.shape == ref.shape == (4790,)
    np.testing.assert_array_equal(got, ref)
    other = decode_to_waveform(model, codes, "bob", seed=4, num_samples=4790)
    assert not np.array_equal(other, ref)  # the seed matters, so the equality above means something


def test_decode_to_file_and_speakers(tmp_path):
    import soundfile as sf

    model = tiny_vqvae()
    codes = np.arange(20) % 16
    path = decode_to_file(model, codes, tmp_path / "o.wav", "alice", temperature=0, num_samples=300)
    data, rate = sf.read(path)
    assert rate == 16000 and data.shape == (300,)
    from vqspeech.speakers import resolve_speaker

    assert resolve_speaker(model.speakers, "bob") == 1 and resolve_speaker(model.speakers) == 0
    with pytest.raises(VQSpeechError, match="unknown speaker 'carol' \\(known: alice, bob\\)"):
        decode_to_waveform(model, codes, "carol")
    with pytest.raises(VQSpeechError, match="codes"):
        decode_to_waveform(model, np.array([16]), "bob")
    assert list(tmp_path.iterdir()) == [path]


def test_first_speaker_fallback_is_said_once(caplog):
    """Entropy coding resolves the prior's speaker once per ~1 s frame: the fallback line is said once."""
    import logging

    from vqspeech.speakers import resolve_speaker

    with caplog.at_level(logging.INFO, logger="vqspeech.speakers"):
        for _ in range(5):
            assert resolve_speaker(["zz_once_a", "zz_once_b"], what="prior") == 0
    assert [r.getMessage() for r in caplog.records] == ["no speaker given: the prior uses 'zz_once_a'"]
