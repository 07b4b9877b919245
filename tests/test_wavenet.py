"""WaveNet invariants: causality (inputs, local conditioning), receptive field formula == measured."""

from __future__ import annotations

import pytest
import torch

from vqspeech.config import from_dict, to_dict
from vqspeech.models.config import WaveNetConfig, named_decoder_config
from vqspeech.models.wavenet import WaveNet

torch.manual_seed(0)


def _net(cfg: WaveNetConfig, cond: int = 3, speakers: int = 2, classes: int = 256) -> WaveNet:
    torch.manual_seed(0)
    # float64 so that the smallest influences at the edge of the receptive field do not round away
    return WaveNet(cfg, classes, classes, cond_channels=cond, num_speakers=speakers).double().eval()


def _changed(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Time steps t where logits [B, K, T] differ."""
    return torch.nonzero((a - b).abs().amax(dim=(0, 1)) > 0).flatten()


@pytest.mark.parametrize("cfg", [named_decoder_config("tiny"),
                                 WaveNetConfig(stacks=2, layers_per_stack=3, residual_channels=8,
                                               gate_channels=16, skip_channels=8, kernel_size=3, speaker_dim=4),
                                 WaveNetConfig(stacks=1, layers_per_stack=4, residual_channels=8, gate_channels=16,
                                               skip_channels=8, speaker_dim=4, input="mulaw_scalar")])
def test_causality_and_measured_receptive_field(cfg):
    net = _net(cfg)
    T = 3 * cfg.receptive_field + 5
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 256, (2, T), generator=g)
    c = torch.randn(2, 3, T, generator=g, dtype=torch.float64)
    spk = torch.tensor([0, 1])
    with torch.no_grad():
        base = net(x, c, spk)
        for t0 in (0, 7, T // 2):
            x2 = x.clone()
            x2[:, t0] = (x2[:, t0] + 97) % 256
            changed = _changed(base, net(x2, c, spk))
            assert changed.min().item() >= t0  # nothing before t0 moves
            # measured receptive field: the input at t0 reaches exactly outputs t0 .. t0 + RF - 1
            assert changed.min().item() == t0
            assert changed.max().item() == min(T - 1, t0 + cfg.receptive_field - 1)
            assert changed.numel() == min(T, t0 + cfg.receptive_field) - t0
            c2 = c.clone()
            c2[:, :, t0] += 1.0
            changed = _changed(base, net(x, c2, spk))
            assert changed.min().item() == t0  # causal in the conditioning too
            # cond enters after the first dilated conv, so it spans the remaining layers only
            cond_rf = (cfg.kernel_size - 1) * sum(cfg.dilations[1:]) + 1
            assert changed.max().item() == min(T - 1, t0 + cond_rf - 1)


def test_receptive_field_formula():
    for name, rf in (("tiny", 16), ("small", 2047), ("paper", 3070)):
        cfg = named_decoder_config(name)
        assert cfg.receptive_field == (cfg.kernel_size - 1) * sum(cfg.dilations) + 1 == rf
    assert named_decoder_config("small").dilations[:11] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1]


def test_speaker_changes_output_everywhere_and_cond_repeat_matches():
    cfg = named_decoder_config("tiny")
    net = _net(cfg)
    T, r = 40, 8
    x = torch.randint(0, 256, (2, T))
    frames = torch.randn(2, 3, T // r, dtype=torch.float64)
    with torch.no_grad():
        a = net(x, frames.repeat_interleave(r, dim=2), torch.tensor([0, 0]))
        b = net(x, frames, torch.tensor([0, 0]), cond_repeat=r)
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
        c = net(x, frames, torch.tensor([1, 1]), cond_repeat=r)
    assert _changed(b, c).numel() == T


def test_parameter_names_are_the_interface():
    net = _net(named_decoder_config("tiny"))
    names = set(dict(net.named_parameters()))
    for n in ("embed.weight", "speaker_embed.weight", "layers.0.dilated.weight", "layers.0.dilated.bias",
              "layers.0.cond.weight", "layers.0.speaker.weight", "layers.0.res.weight", "layers.0.res.bias",
              "layers.0.skip.weight", "layers.0.skip.bias", "out1.weight", "out1.bias", "out2.weight",
              "out2.bias"):
        assert n in names
    assert "layers.0.cond.bias" not in names and "layers.0.speaker.bias" not in names
    assert [layer.dilated.dilation[0] for layer in net.layers] == [1, 2, 4, 8]
    bare = WaveNet(named_decoder_config("tiny"), 513, 512)
    assert bare.speaker_embed is None and bare.layers[0].cond is None and bare.layers[0].speaker is None
    assert bare(torch.randint(0, 513, (1, 10))).shape == (1, 512, 10)


def test_config_round_trip_and_errors():
    from vqspeech.errors import VQSpeechError

    cfg = named_decoder_config("paper")
    assert from_dict(WaveNetConfig, to_dict(cfg)) == cfg
    with pytest.raises(VQSpeechError, match="unknown decoder config"):
        named_decoder_config("huge")
    with pytest.raises(VQSpeechError, match="gate_channels"):
        WaveNetConfig(gate_channels=7)


def test_scalar_input_rows_are_a_linear_map_of_the_level():
    """"mulaw_scalar": row k = W @ [companded value, amplitude] + b; only for the 256-level input."""
    from vqspeech.audio import mu_law_decode
    from vqspeech.errors import VQSpeechError
    from vqspeech.models.config import PriorConfig

    net = _net(WaveNetConfig(stacks=1, layers_per_stack=2, residual_channels=8, gate_channels=16,
                             skip_channels=8, speaker_dim=4, input="mulaw_scalar"))
    k = torch.arange(256)
    feats = torch.stack([2.0 * k / 255 - 1, torch.from_numpy(mu_law_decode(k.numpy())).double()], dim=1)
    w, b = net.embed.proj.weight, net.embed.proj.bias
    assert torch.allclose(net.embed.weight, feats @ w.T + b)
    assert sorted(n for n, _ in net.embed.named_parameters()) == ["proj.bias", "proj.weight"]
    assert "embed.levels" not in net.state_dict()  # derived, not saved
    with pytest.raises(ValueError, match="256"):
        WaveNet(WaveNetConfig(input="mulaw_scalar"), 17, 16)
    with pytest.raises(VQSpeechError, match="input"):
        WaveNetConfig(input="onehot")
    with pytest.raises(VQSpeechError, match="prior"):
        PriorConfig(num_codes=16, wavenet=WaveNetConfig(input="mulaw_scalar"))
