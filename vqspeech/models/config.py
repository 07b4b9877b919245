"""Dataclass configs of the model parts; they round-trip through `vqspeech.config.to_dict/from_dict`.

`VQVAEConfig` and `PriorConfig` are what `config.json` of a saved model and the `model` section of a
training YAML hold. Derived sizes (hop, receptive fields) are properties, never stored fields.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from vqspeech.errors import VQSpeechError


def bits_per_code(num_codes: int) -> int:
    """Bits of a fixed-length code for K codes: ceil(log2 K)."""
    return max(1, math.ceil(math.log2(num_codes)))


@dataclass
class WaveNetConfig:
    """A WaveNet stack: `stacks` x `layers_per_stack` gated dilated causal conv layers."""

    type: Literal["wavenet"] = "wavenet"  # decoder type: the paper's autoregressive mu-law WaveNet
    stacks: int = 2  # repeats of the dilation cycle 1, 2, 4, ..., 2**(layers_per_stack-1)
    layers_per_stack: int = 10  # layers per cycle (dilations double within a cycle)
    residual_channels: int = 64  # channels of the residual path (and of the input embedding)
    gate_channels: int = 128  # output channels of each dilated conv, split into tanh / sigmoid halves
    skip_channels: int = 64  # channels of the skip path and the output head
    kernel_size: int = 2  # taps of each dilated conv
    speaker_dim: int = 32  # size of the learned speaker embedding (used only when there are speakers)
    # how an input symbol enters the network: "embedding" (a learned row per symbol) or, for the
    # 8-bit mu-law decoder input only, "mulaw_scalar" (row = W @ [companded value, amplitude] + b of the
    # sample: neighbouring levels start out close, which a waveform model learns faster than free rows)
    input: str = "embedding"
    # NSF-style excitation as extra local conditioning: sines at k x F0, k = 1..source_harmonics, on voiced
    # samples + a noise channel on unvoiced ones, from the F0 head at decoding time (0 = none, the paper's)
    source_harmonics: int = 0

    def __post_init__(self) -> None:
        if self.type != "wavenet":
            raise VQSpeechError(f"config: a WaveNet config has type 'wavenet', got '{self.type}'")
        if self.input not in ("embedding", "mulaw_scalar"):
            raise VQSpeechError(f"config: decoder input must be 'embedding' or 'mulaw_scalar', got '{self.input}'")
        for name in ("stacks", "layers_per_stack", "residual_channels", "skip_channels", "speaker_dim"):
            if getattr(self, name) < 1:
                raise VQSpeechError(f"config: decoder {name} must be >= 1, got {getattr(self, name)}")
        if self.kernel_size < 2:
            raise VQSpeechError(f"config: kernel_size must be >= 2, got {self.kernel_size}")
        if self.gate_channels < 2 or self.gate_channels % 2:
            raise VQSpeechError(f"config: gate_channels must be even and >= 2, got {self.gate_channels}")
        if not 0 <= self.source_harmonics <= 64:
            raise VQSpeechError(f"config: decoder source_harmonics must be in [0, 64], got {self.source_harmonics}")

    @property
    def source_channels(self) -> int:
        """Channels of the excitation input: one per harmonic + one noise channel (0 without a source)."""
        return self.source_harmonics + 1 if self.source_harmonics > 0 else 0

    @property
    def num_layers(self) -> int:
        return self.stacks * self.layers_per_stack

    @property
    def dilations(self) -> list[int]:
        """Dilation of each layer: layer i has `2 ** (i % layers_per_stack)`."""
        return [2 ** (i % self.layers_per_stack) for i in range(self.num_layers)]

    @property
    def receptive_field(self) -> int:
        """Number of inputs each output sees: `(kernel_size - 1) * sum(dilations) + 1`."""
        return (self.kernel_size - 1) * sum(self.dilations) + 1


_NAMED_DECODERS: dict[str, dict] = {
    # for tests: a receptive field of 16 samples
    "tiny": dict(stacks=1, layers_per_stack=4, residual_channels=16, gate_channels=32, skip_channels=16,
                 speaker_dim=8),
    # CPU default: receptive field 2047 samples (128 ms at 16 kHz)
    "small": dict(stacks=2, layers_per_stack=10, residual_channels=64, gate_channels=128, skip_channels=64),
    # the paper's size, for GPUs: receptive field 3070 samples (192 ms)
    "paper": dict(stacks=3, layers_per_stack=10, residual_channels=256, gate_channels=512, skip_channels=256,
                  speaker_dim=64),
}


def named_decoder_config(name: str) -> WaveNetConfig:
    """The named WaveNet configs: "tiny" (tests), "small" (CPU default), "paper" (GPUs)."""
    if name not in _NAMED_DECODERS:
        raise VQSpeechError(f"unknown decoder config '{name}' (known: {', '.join(_NAMED_DECODERS)})")
    return WaveNetConfig(**_NAMED_DECODERS[name])


@dataclass
class SourceFilterConfig:
    """Non-autoregressive harmonic-plus-noise source-filter decoder (DDSP / NSF style).

    A non-causal dilated conv net at the code rate reads the quantized codes, the speaker and the frame
    F0, and predicts per frame the amplitudes of `harmonics` sines at k x F0 and the magnitude response
    of a `noise_bins`-bin filter over white noise; both are synthesised at the sample rate and summed.
    """

    type: Literal["source_filter"] = "source_filter"  # decoder type
    channels: int = 128  # channels of the frame-rate network
    layers: int = 8  # residual dilated conv blocks (kernel 3)
    dilation_cycle: int = 4  # block i has dilation 2 ** (i % dilation_cycle)
    speaker_dim: int = 32  # learned speaker embedding size
    harmonics: int = 64  # sines at k x F0, k = 1..harmonics (those at or above Nyquist are masked)
    noise_bins: int = 65  # bins of each frame's noise filter, 0..Nyquist (FIR length 2 * (bins - 1))
    # multi-resolution STFT loss (auraloss): FFT sizes, hop = size / 4, Hann windows
    stft_sizes: list[int] = field(default_factory=lambda: [2048, 1024, 512, 256, 128, 64])

    def __post_init__(self) -> None:
        if self.type != "source_filter":
            raise VQSpeechError(f"config: a source-filter config has type 'source_filter', got '{self.type}'")
        for name in ("channels", "layers", "dilation_cycle", "speaker_dim", "harmonics"):
            if getattr(self, name) < 1:
                raise VQSpeechError(f"config: decoder {name} must be >= 1, got {getattr(self, name)}")
        if self.noise_bins < 2:
            raise VQSpeechError(f"config: decoder noise_bins must be >= 2, got {self.noise_bins}")
        if not self.stft_sizes or any(n < 16 for n in self.stft_sizes):
            raise VQSpeechError(f"config: decoder stft_sizes must be FFT sizes >= 16, got {self.stft_sizes}")

    @property
    def context(self) -> int:
        """Frames each side that one output frame of the network sees."""
        return sum(2 ** (i % self.dilation_cycle) for i in range(self.layers))


DECODER_TYPES = {"wavenet": WaveNetConfig, "source_filter": SourceFilterConfig}
DecoderConfig = WaveNetConfig | SourceFilterConfig


def decoder_config(value) -> DecoderConfig:
    """A decoder config from a dict (its `type` picks the class; no type = "wavenet", as before types)."""
    from vqspeech.config import from_dict

    if isinstance(value, (WaveNetConfig, SourceFilterConfig)):
        return value
    if not isinstance(value, dict):
        raise VQSpeechError(f"config: 'decoder' must be a mapping, got {value!r}")
    kind = value.get("type", "wavenet")
    if kind not in DECODER_TYPES:
        raise VQSpeechError(f"config: unknown decoder type {kind!r} (known: {', '.join(DECODER_TYPES)}; "
                            "a model made by a newer vqspeech needs an upgrade)")
    return from_dict(DECODER_TYPES[kind], value, "decoder")


@dataclass
class F0HeadConfig:
    """The F0 head: voicing + log-F0 per frame from the quantized codes and the speaker (non-causal)."""

    channels: int = 128  # channels of the residual dilated conv blocks
    layers: int = 7  # blocks; block i has dilation 2 ** (i % dilation_cycle)
    dilation_cycle: int = 7  # 7 layers of kernel 3: context 127 frames each side (0.51 s at 250 frames/s)
    kernel_size: int = 3  # taps of each dilated conv (odd: centred)
    f0_ref: float = 150.0  # Hz: the head's log-F0 output is log(f0_ref) + network output
    loss_weight: float = 1.0  # weight of its loss (BCE voicing + L1 log-F0) in the VQ-VAE's loss
    tracker: str = "praat"  # the pitch tracker whose F0 it is trained on (vqspeech.pitch.TRACKERS)

    def __post_init__(self) -> None:
        if self.channels < 1 or self.layers < 1 or self.dilation_cycle < 1:
            raise VQSpeechError("config: f0_head channels, layers and dilation_cycle must be >= 1")
        if self.kernel_size < 3 or self.kernel_size % 2 == 0:
            raise VQSpeechError(f"config: f0_head kernel_size must be odd and >= 3, got {self.kernel_size}")
        if not self.f0_ref > 0 or not self.loss_weight >= 0:
            raise VQSpeechError("config: f0_head f0_ref must be > 0 and loss_weight >= 0")
        from vqspeech.pitch.track import TRACKERS

        if self.tracker not in TRACKERS:
            raise VQSpeechError(f"config: f0_head tracker must be one of {', '.join(TRACKERS)}, got '{self.tracker}'")

    @property
    def context(self) -> int:
        """Frames each side that one prediction sees."""
        return (self.kernel_size // 2) * sum(2 ** (i % self.dilation_cycle) for i in range(self.layers))


@dataclass
class EncoderConfig:
    """Strided 1-D conv encoder on the raw waveform; one latent vector per `prod(strides)` samples."""

    strides: list[int] = field(default_factory=lambda: [2, 2, 2, 2, 2, 2])  # hop 64 = 250 codes/s at 16 kHz
    hidden_channels: int = 128  # channels of every conv layer
    residual_blocks: int = 2  # residual blocks of 1x1 convs after the strided convs

    def __post_init__(self) -> None:
        if not self.strides or any(s < 1 for s in self.strides):
            raise VQSpeechError(f"config: encoder strides must be a non-empty list of ints >= 1, got {self.strides}")
        if self.hidden_channels < 1 or self.residual_blocks < 0:
            raise VQSpeechError("config: encoder hidden_channels must be >= 1 and residual_blocks >= 0")

    @property
    def hop(self) -> int:
        return math.prod(self.strides)


@dataclass
class QuantizerConfig:
    """Vector quantizer: K codes of size D, trained by loss or by EMA (paper appendix)."""

    num_codes: int = 512  # K: codebook size
    dim: int = 64  # D: size of each code vector (= encoder output channels = decoder conditioning channels)
    mode: Literal["loss", "ema"] = "loss"  # "loss": codebook loss; "ema": exponential moving averages
    beta: float = 0.25  # weight of the commitment loss ||z_e - sg[e]||^2
    decay: float = 0.99  # EMA decay (mode "ema") and decay of the per-code usage statistics
    eps: float = 1e-5  # Laplace smoothing of the EMA cluster counts
    kmeans_init: bool = True  # initialise the codebook by k-means on the first training batch
    kmeans_iters: int = 10  # Lloyd iterations of that k-means
    restart_dead: bool = True  # replace codes that fall out of use by recent encoder outputs
    dead_ratio: float = 0.03  # a code is dead when its usage EMA is below dead_ratio / K
    restart_buffer: int = 4096  # how many recent encoder outputs are kept to restart dead codes from

    def __post_init__(self) -> None:
        if self.num_codes < 2 or self.dim < 1:
            raise VQSpeechError(f"config: quantizer needs num_codes >= 2 and dim >= 1, got {self.num_codes}, {self.dim}")
        if not 0.0 < self.decay < 1.0:
            raise VQSpeechError(f"config: quantizer decay must be in (0, 1), got {self.decay}")

    @property
    def bits_per_code(self) -> int:
        """Bits of a fixed-length code: ceil(log2 K)."""
        return bits_per_code(self.num_codes)


@dataclass
class VQVAEConfig:
    """The whole VQ-VAE: encoder, quantizer, speaker-conditioned WaveNet decoder."""

    sample_rate: int = 16000  # Hz of the waveforms the model reads and writes
    speakers: list[str] = field(default_factory=list)  # speaker names; decoder speaker i = speakers[i]
    encoder: EncoderConfig = field(default_factory=EncoderConfig)  # hop 64, 128 hidden channels
    quantizer: QuantizerConfig = field(default_factory=QuantizerConfig)  # K=512, D=64, loss mode
    # a WaveNetConfig (type "wavenet", the default: the "small" WaveNet) or a SourceFilterConfig
    decoder: WaveNetConfig | SourceFilterConfig = field(default_factory=WaveNetConfig)
    upsample: Literal["repeat", "transposed"] = "repeat"  # codes -> sample rate (WaveNet): repeat x hop or learned
    f0_head: F0HeadConfig | None = None  # predicts F0 from the codes; required by the source-filter decoder

    def __post_init__(self) -> None:
        self.decoder = decoder_config(self.decoder)
        if isinstance(self.decoder, SourceFilterConfig) and self.f0_head is None:
            raise VQSpeechError("config: the source_filter decoder needs an f0_head (its pitch at decoding time)")
        if isinstance(self.decoder, WaveNetConfig) and self.decoder.source_harmonics and self.f0_head is None:
            raise VQSpeechError("config: a WaveNet decoder with source_harmonics > 0 needs an f0_head (the pitch "
                                "of its excitation at decoding time)")
        if len(set(self.speakers)) != len(self.speakers):
            raise VQSpeechError("config: speakers must be unique")

    @property
    def hop(self) -> int:
        """Samples per code."""
        return self.encoder.hop

    @property
    def decoder_type(self) -> str:
        return self.decoder.type

    @property
    def code_rate(self) -> float:
        """Codes per second."""
        return self.sample_rate / self.hop


@dataclass
class PriorConfig:
    """A WaveNet prior over the code sequence of a (frozen) VQ-VAE."""

    num_codes: int = 512  # K of the VQ-VAE whose codes are modelled
    sample_rate: int = 16000  # that VQ-VAE's sample rate (for reporting times and rates)
    hop: int = 64  # that VQ-VAE's samples per code
    speakers: list[str] = field(default_factory=list)  # speaker conditioning; empty = unconditional
    wavenet: WaveNetConfig = field(default_factory=WaveNetConfig)  # RF 2047 codes = 8.2 s at hop 64
    vqvae_fingerprint: str = ""  # model_fingerprint of that VQ-VAE ("" = not recorded)

    def __post_init__(self) -> None:
        if self.num_codes < 2 or self.hop < 1:
            raise VQSpeechError("config: prior needs num_codes >= 2 and hop >= 1")
        if len(set(self.speakers)) != len(self.speakers):
            raise VQSpeechError("config: speakers must be unique")
        if self.wavenet.input != "embedding":
            raise VQSpeechError("config: the prior's wavenet input must be 'embedding' (codes have no amplitude)")
        if self.wavenet.source_harmonics:
            raise VQSpeechError("config: the prior's wavenet takes no excitation source (source_harmonics: 0)")

    @property
    def code_rate(self) -> float:
        return self.sample_rate / self.hop
