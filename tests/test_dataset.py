"""The audio cache and the seeded crop sampler behind training batches."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from vqspeech.errors import VQSpeechError


def write_corpus(root, lengths=(4000, 6000, 9000, 700), speakers=("spkA", "spkB"), seed=0):
    """A tiny data dir: utterance i is noise of lengths[i] samples; returns (dir, {utt: wav})."""
    from vqspeech.data.kaldi import DataDir, write_data_dir

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    wav_scp, utt2spk, wavs = {}, {}, {}
    for i, n in enumerate(lengths):
        spk = speakers[i % len(speakers)]
        utt = f"{spk}-u{i:03d}"
        wav = (0.3 * rng.standard_normal(n)).clip(-0.99, 0.99).astype(np.float32)
        path = root / "wav" / f"{utt}.wav"
        path.parent.mkdir(exist_ok=True)
        sf.write(path, wav, 16000, subtype="PCM_16")
        wav_scp[utt], utt2spk[utt] = str(path), spk
        wavs[utt] = sf.read(path, dtype="float32")[0]
    write_data_dir(root, DataDir(wav_scp=wav_scp, utt2spk=utt2spk))
    return root, wavs


def test_cache_holds_the_audio_and_is_reused(tmp_path):
    from vqspeech.data.dataset import open_audio_cache

    d, wavs = write_corpus(tmp_path / "train")
    cache = open_audio_cache(d, 16000, progress=False)
    assert cache.utts == sorted(wavs)
    assert list(cache.lengths) == [wavs[u].size for u in cache.utts]
    for i, u in enumerate(cache.utts):
        np.testing.assert_allclose(cache.utterance(i), wavs[u], atol=1.0 / 32768)
        assert cache.speakers[i] == u.split("-")[0]
    audio_file = cache.audio_path
    mtime = audio_file.stat().st_mtime_ns
    again = open_audio_cache(d, 16000, progress=False)
    assert again.audio_path == audio_file and audio_file.stat().st_mtime_ns == mtime  # not rebuilt


def test_cache_is_rebuilt_when_the_data_dir_changes(tmp_path):
    from vqspeech.data.dataset import open_audio_cache

    d, _ = write_corpus(tmp_path / "train")
    first = open_audio_cache(d, 16000, progress=False)
    lines = (d / "wav.scp").read_text().splitlines()[:2]  # drop two utterances
    (d / "wav.scp").write_text("\n".join(lines) + "\n")
    keep = {ln.split()[0] for ln in lines}
    (d / "utt2spk").write_text("".join(ln + "\n" for ln in (d / "utt2spk").read_text().splitlines()
                                       if ln.split()[0] in keep))
    (d / "spk2utt").unlink(missing_ok=True)
    second = open_audio_cache(d, 16000, progress=False)
    assert len(first) == 4 and len(second) == 2 and second.utts == sorted(keep)
    with pytest.raises(VQSpeechError, match="no such data directory"):
        open_audio_cache(tmp_path / "missing", 16000)


def test_sampler_is_a_pure_function_of_the_step():
    from vqspeech.data.dataset import CropSampler

    lengths = np.array([5000, 3000, 10000, 800, 4096])
    a = CropSampler(lengths, batch_size=3, crop=1024, seed=7)
    b = CropSampler(lengths, batch_size=3, crop=1024, seed=7)
    steps = [a.items(s) for s in range(10)]
    assert [b.items(s) for s in reversed(range(10))] == steps[::-1]  # any order, same batches
    assert steps != [CropSampler(lengths, 3, 1024, seed=8).items(s) for s in range(10)]
    for batch in steps:
        for u, start in batch:
            assert 0 <= start <= max(0, lengths[u] - 1024)
    # one epoch = each utterance once (5 utterances, batch 3: items 0..4 are epoch 0)
    flat = [u for batch in steps for u, _ in batch]
    assert sorted(flat[:5]) == [0, 1, 2, 3, 4] and sorted(flat[5:10]) == [0, 1, 2, 3, 4]


def test_sampler_shards_utterances_across_ranks():
    from vqspeech.data.dataset import CropSampler

    lengths = np.full(11, 4000)
    shards = [CropSampler(lengths, 5, 1024, seed=3, rank=r, world_size=2) for r in range(2)]
    epoch0 = [{u for u, _ in s.items(0)} for s in shards]  # 5 = 11 // 2 utterances per rank
    assert len(epoch0[0]) == len(epoch0[1]) == 5 and not (epoch0[0] & epoch0[1])


def test_short_utterances_pad_or_skip():
    from vqspeech.data.dataset import CropSampler

    lengths = np.array([500, 3000])
    skip = CropSampler(lengths, 4, 1024, seed=0, short="skip")
    assert {u for s in range(5) for u, _ in skip.items(s)} == {1}
    pad = CropSampler(lengths, 4, 1024, seed=0, short="pad")
    assert {u for s in range(5) for u, _ in pad.items(s)} == {0, 1}
    with pytest.raises(VQSpeechError, match="at least one crop"):
        CropSampler(np.array([10, 20]), 2, 1024, seed=0, short="skip")


def test_batches_are_cache_slices_with_speaker_indices(tmp_path):
    from vqspeech.data.dataset import CropBatches, CropSampler, fixed_crops, open_audio_cache

    d, wavs = write_corpus(tmp_path / "train")
    cache = open_audio_cache(d, 16000, progress=False)
    spk = {"spkA": 0, "spkB": 1}
    sampler = CropSampler(cache.lengths, 4, 1024, seed=1)
    batches = CropBatches(cache, sampler, spk)
    wav, speaker = batches[3]
    assert wav.shape == (4, 1, 1024) and speaker.dtype.is_floating_point is False
    for row, (u, start) in enumerate(sampler.items(3)):
        ref = np.zeros(1024, np.float32)
        src = wavs[cache.utts[u]][start : start + 1024]
        ref[: src.size] = src  # the 700-sample utterance is zero-padded
        np.testing.assert_allclose(wav[row, 0].numpy(), ref, atol=1.0 / 32768)
        assert int(speaker[row]) == spk[cache.speakers[u]]
    with pytest.raises(VQSpeechError, match="spkB"):
        CropBatches(cache, sampler, {"spkA": 0})
    dev = fixed_crops(cache, 1024, 3, max_batches=5, max_utts=10, speaker_index={"spkA": 0})
    assert [b[0].shape[0] for b in dev] == [2] and all(int(s) == 0 for s in dev[0][1])


def test_dev_crops_come_from_the_middle_of_each_utterance(tmp_path):
    """A first crop would be mostly the leading silence every synthesiser and recording starts with."""
    from vqspeech.data.dataset import fixed_crops, open_audio_cache

    d, wavs = write_corpus(tmp_path / "train")
    cache = open_audio_cache(d, 16000, progress=False)
    (wav, _), = fixed_crops(cache, 256, 8, max_batches=1, max_utts=1, speaker_index={"spkA": 0, "spkB": 1})
    src = wavs[cache.utts[0]]
    start = (src.size - 256) // 2 // 64 * 64
    assert start > 0
    np.testing.assert_allclose(wav[0, 0].numpy(), src[start : start + 256], atol=1.0 / 32768)
