"""`make demo` end to end on a tiny random model + prior (the bundled model is too slow for the suite)."""

import json

import pytest

from vqspeech.errors import VQSpeechError

SPEAKERS = ["car_f1", "gb_m3", "us_f2"]


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    import torch

    from vqspeech.models.config import (
        EncoderConfig,
        PriorConfig,
        QuantizerConfig,
        VQVAEConfig,
        named_decoder_config,
    )
    from vqspeech.models.io import model_fingerprint, save_model
    from vqspeech.models.prior import build_prior
    from vqspeech.models.vqvae import build_vqvae

    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("models")
    vq = build_vqvae(VQVAEConfig(speakers=SPEAKERS, encoder=EncoderConfig(hidden_channels=16, residual_blocks=1),
                                 quantizer=QuantizerConfig(num_codes=32, dim=8), decoder=named_decoder_config("tiny")))
    save_model(vq.eval(), root / "vq")
    prior = build_prior(PriorConfig(num_codes=32, speakers=SPEAKERS, wavenet=named_decoder_config("tiny"),
                                    vqvae_fingerprint=model_fingerprint(root / "vq")))
    save_model(prior.eval(), root / "prior")
    return root / "vq", root / "prior"


def test_demo_writes_everything(tmp_path, tiny_models, capsys):
    from vqspeech import demo

    out = tmp_path / "demo"
    assert demo.main(["--out", str(out), "--model", str(tiny_models[0]), "--prior", str(tiny_models[1]),
                      "--seconds", "0.5"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert [r["speaker"] for r in summary["utterances"]] == SPEAKERS
    for r in summary["utterances"]:
        utt = r["utterance"]
        assert (out / "wav" / f"{utt}.wav").is_file() and (out / "vqs" / f"{utt}.vqs").is_file()
        assert (out / "decoded" / f"{utt}.decoded.wav").is_file()
        assert len(list((out / "decoded").glob(f"{utt}.to_*.wav"))) == 2
        assert r["kbps"] == pytest.approx(250 * 5 / 1000, rel=0.01)  # 250 codes/s x 5 bits (K=32)
    assert sorted(p.name for p in (out / "samples").iterdir()) == [f"sample.{s}.wav" for s in SPEAKERS]
    assert 0 <= summary["phones"]["phone_accuracy"] <= 1
    page = (out / "index.html").read_text()
    assert page.count("<audio") == 3 * 4 + 3 and "heatmap" in page
    assert "mcd_db" in (out / "report.md").read_text()
    assert "vqspeech demo" in capsys.readouterr().out
    # a second run needs --force and leaves the first intact without it
    assert demo.main(["--out", str(out), "--model", str(tiny_models[0]), "--prior", str(tiny_models[1])]) == 2
    assert "exists" in capsys.readouterr().err and (out / "summary.json").is_file()


def test_demo_needs_synth_speakers(tmp_path):
    import torch

    from vqspeech import demo
    from vqspeech.models.config import EncoderConfig, QuantizerConfig, VQVAEConfig, named_decoder_config
    from vqspeech.models.vqvae import build_vqvae

    torch.manual_seed(0)
    vq = build_vqvae(VQVAEConfig(speakers=["p225", "p226"], encoder=EncoderConfig(hidden_channels=8, residual_blocks=0),
                                 quantizer=QuantizerConfig(num_codes=4, dim=4), decoder=named_decoder_config("tiny")))
    with pytest.raises(VQSpeechError, match="at least 3"):
        demo._pick_speakers(vq, 3)


def test_listening_note_comes_from_the_card_beside_the_model(tmp_path):
    from vqspeech.demo import model_listening_note

    (tmp_path / "default").mkdir()
    assert model_listening_note(tmp_path / "default") == ""  # no card
    (tmp_path / "MODEL_CARD.md").write_text("# card\n\n## Data\n\nsynth\n")
    assert model_listening_note(tmp_path / "default") == ""  # no notes section
    (tmp_path / "MODEL_CARD.md").write_text("# card\n\n## Listening notes\n\n**Noisy.** Very\nnoisy.\n\n"
                                            "What was tried: more.\n\n## Data\n\nsynth\n")
    assert model_listening_note(tmp_path / "default") == "**Noisy.** Very noisy."
