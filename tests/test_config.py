from dataclasses import dataclass, field
from typing import Literal

import pytest

from vqspeech.config import apply_overrides, from_dict, load_yaml, merge, to_dict
from vqspeech.errors import VQSpeechError


@dataclass
class Inner:
    channels: int = 64  # width
    mode: Literal["a", "b"] = "a"  # a choice


@dataclass
class Outer:
    lr: float = 1e-3  # learning rate
    inner: Inner = field(default_factory=Inner)  # a part
    strides: list[int] = field(default_factory=lambda: [2, 2])  # list
    name: str | None = None  # optional


def test_roundtrip():
    cfg = Outer(lr=2, inner=Inner(channels=8, mode="b"), strides=[4], name="x")
    back = from_dict(Outer, to_dict(cfg))
    assert back == cfg and isinstance(back.lr, float)


def test_unknown_key_named():
    with pytest.raises(VQSpeechError, match="unknown key 'inner.chanels'"):
        from_dict(Outer, {"inner": {"chanels": 3}})


def test_type_errors():
    with pytest.raises(VQSpeechError, match="'inner.channels' must be int"):
        from_dict(Outer, {"inner": {"channels": "many"}})
    with pytest.raises(VQSpeechError, match="'inner.mode' must be one of"):
        from_dict(Outer, {"inner": {"mode": "c"}})
    with pytest.raises(VQSpeechError, match="must be a list"):
        from_dict(Outer, {"strides": 3})


def test_overrides():
    d = apply_overrides(to_dict(Outer()), ["lr=0.5", "inner.channels=16", "strides=[2, 2, 2]", "name=abc"])
    cfg = from_dict(Outer, d)
    assert cfg.lr == 0.5 and cfg.inner.channels == 16 and cfg.strides == [2, 2, 2] and cfg.name == "abc"
    with pytest.raises(VQSpeechError, match="unknown key 'nope'"):
        apply_overrides(to_dict(Outer()), ["inner.nope=1"])
    with pytest.raises(VQSpeechError, match="key=value"):
        apply_overrides(to_dict(Outer()), ["lr"])


def test_yaml_and_merge(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("inner:\n  channels: 32\n")
    assert from_dict(Outer, merge(to_dict(Outer()), load_yaml(p))).inner.channels == 32
    p.write_text("- a\n- b\n")
    with pytest.raises(VQSpeechError, match="mapping"):
        load_yaml(p)
    with pytest.raises(VQSpeechError, match="no such config"):
        load_yaml(tmp_path / "missing.yaml")


def test_exponent_floats_from_yaml_and_set():
    d = apply_overrides(to_dict(Outer()), ["lr=3e-4"])
    assert from_dict(Outer, d).lr == 3e-4
    with pytest.raises(VQSpeechError, match="'lr' must be float"):
        from_dict(Outer, {"lr": "fast"})
