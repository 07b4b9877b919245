"""Dataclass configs <-> plain dicts / YAML, strictly: an unknown key is an error naming the key.

Every config in the package is a (possibly nested) dataclass. `from_dict` builds one from a dict such
as a parsed YAML file or a model's config.json; `to_dict` goes back; `apply_overrides` applies
`--set a.b.c=value` strings (values parsed as YAML scalars: 3, 0.5, true, null, [1, 2], text).
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from vqspeech.errors import VQSpeechError

T = TypeVar("T")


def to_dict(cfg: Any) -> dict:
    """A JSON/YAML-ready dict of a dataclass config (nested dataclasses become dicts)."""
    return dataclasses.asdict(cfg)


def _convert(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise VQSpeechError(f"config: '{where}' must be a mapping, got {value!r}")
        return from_dict(tp, value, where)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        tagged = _tagged_union(args)
        if tagged and isinstance(value, dict):  # dataclasses told apart by their `type` field
            kind = value.get("type", next(iter(tagged)))
            if kind not in tagged:
                name = where.rsplit(".", 1)[-1]
                raise VQSpeechError(f"config: unknown {name} type {kind!r} at '{where}.type' (known: "
                                    f"{', '.join(tagged)}; a model made by a newer vqspeech needs an upgrade)")
            return from_dict(tagged[kind], value, where)
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, where)
            except VQSpeechError as err:
                errors.append(str(err))
        raise VQSpeechError(errors[0] if errors else f"config: bad value for '{where}': {value!r}")
    if origin is typing.Literal:
        if value not in typing.get_args(tp):
            choices = ", ".join(repr(a) for a in typing.get_args(tp))
            raise VQSpeechError(f"config: '{where}' must be one of {choices}, got {value!r}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise VQSpeechError(f"config: '{where}' must be a list, got {value!r}")
        args = typing.get_args(tp)
        item = args[0] if args else Any
        out = [_convert(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return out if origin is list else tuple(out)
    if origin is dict:
        if not isinstance(value, dict):
            raise VQSpeechError(f"config: '{where}' must be a mapping, got {value!r}")
        return dict(value)
    if tp is Any:
        return value
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):  # YAML 1.1 reads 3e-4 (no dot) as a string
        try:
            return float(value)
        except ValueError:
            pass
    if tp is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if tp in (int, float, str, bool) and not (isinstance(value, tp) and not (tp is int and isinstance(value, bool))):
        raise VQSpeechError(f"config: '{where}' must be {tp.__name__}, got {value!r}")
    return value


def _tagged_union(args: tuple) -> dict[str, type]:
    """{type tag: dataclass} when every member of a union is a dataclass with a defaulted `type` field
    (the first member's tag is the default), else {}."""
    out: dict[str, type] = {}
    for arg in args:
        if arg is type(None):
            continue
        if not (dataclasses.is_dataclass(arg) and isinstance(arg, type)):
            return {}
        f = {x.name: x for x in dataclasses.fields(arg)}.get("type")
        if f is None or f.default is dataclasses.MISSING:
            return {}
        out[f.default] = arg
    return out


def from_dict(cls: type[T], data: dict, where: str = "") -> T:
    """Build dataclass `cls` from `data`; unknown keys and wrongly typed values are errors."""
    if not isinstance(data, dict):
        raise VQSpeechError(f"config: '{where or cls.__name__}' must be a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        name = f"{where}.{unknown[0]}" if where else unknown[0]
        raise VQSpeechError(f"config: unknown key '{name}' (known: {', '.join(sorted(fields))})")
    kwargs = {k: _convert(v, hints[k], f"{where}.{k}" if where else k) for k, v in data.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise VQSpeechError(f"config: {where or cls.__name__}: {err}") from None


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply `key.sub=value` strings to a nested dict (a copy); values are parsed as YAML scalars."""
    import copy

    data = copy.deepcopy(data)
    for item in overrides:
        if "=" not in item:
            raise VQSpeechError(f"--set expects key=value, got '{item}'")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        node = data
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                raise VQSpeechError(f"--set {key}: '{part}' is not a config section")
            node = node[part]
        if parts[-1] not in node:
            raise VQSpeechError(f"--set {key}: unknown key '{parts[-1]}' (known: {', '.join(sorted(node))})")
        try:
            node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            node[parts[-1]] = raw
        except RecursionError:
            raise VQSpeechError(f"--set {key}: the value is nested too deeply") from None
        check_tree(node[parts[-1]], f"--set {key}")
    return data


MAX_CONFIG_BYTES = 1 << 20  # a YAML config is a few KB; a MB is plenty (100k speaker names fit)
MAX_JSON_BYTES = 16 << 20  # a model's config.json
MAX_DEPTH = 64  # nesting of mappings/lists in a config file
MAX_NODES = 1_000_000  # values in a parsed config, counting every use of a YAML alias


def check_tree(data: Any, where: str, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES) -> None:
    """Refuse a parsed config nested deeper than `max_depth` or holding more than `max_nodes` values (YAML
    aliases counted at each use, so a "billion laughs" file stops here, not in a later copy of it)."""
    budget = max_nodes
    stack = [(data, 0)]
    while stack:
        node, depth = stack.pop()
        budget -= 1
        if budget < 0:
            raise VQSpeechError(f"{where}: more than {max_nodes} values (YAML aliases count at each use)")
        if isinstance(node, (dict, list)):
            if depth >= max_depth:
                raise VQSpeechError(f"{where}: nested deeper than {max_depth} levels")
            items = node.values() if isinstance(node, dict) else node
            stack.extend((v, depth + 1) for v in items)


_JSON_STRING = None


def json_depth(text: str) -> int:
    """The deepest nesting of [ ] / { } in JSON text (outside strings), without parsing it."""
    import re

    import numpy as np

    global _JSON_STRING
    if _JSON_STRING is None:
        _JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
    brackets = re.sub(r"[^\[\]{}]", "", _JSON_STRING.sub("", text))
    if not brackets:
        return 0
    arr = np.frombuffer(brackets.encode("ascii"), np.uint8)
    steps = np.where((arr == ord("[")) | (arr == ord("{")), 1, -1)
    return int(np.cumsum(steps).max())


def loads_json(text: str, where: str, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """json.loads with limits: size, nesting depth (checked before parsing) and the value count."""
    import json

    if len(text) > max_bytes:
        raise VQSpeechError(f"{where}: {len(text)} bytes, more than the {max_bytes} a config may have")
    if json_depth(text) > max_depth:
        raise VQSpeechError(f"{where}: nested deeper than {max_depth} levels")
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as err:
        raise VQSpeechError(f"{where}: not valid JSON ({str(err).splitlines()[0]})") from None
    check_tree(data, where, max_depth)
    return data


def load_yaml(path: str | os.PathLike) -> dict:
    """Parse a YAML config file into a dict (an empty file is an empty dict); size, depth and value count
    are limited (MAX_CONFIG_BYTES, MAX_DEPTH, MAX_NODES)."""
    path = Path(path)
    if not path.is_file():
        raise VQSpeechError(f"{path}: no such config file")
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise VQSpeechError(f"{path}: {size} bytes, more than the {MAX_CONFIG_BYTES} a config file may have")
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise VQSpeechError(f"{path}: not UTF-8 text (byte {err.start})") from None
    except OSError as err:
        raise VQSpeechError(f"{path}: cannot read ({err.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise VQSpeechError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    except RecursionError:
        raise VQSpeechError(f"{path}: nested too deeply to be a config") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise VQSpeechError(f"{path}: a config file must hold a mapping at the top level")
    check_tree(data, str(path))
    return data


def merge(base: dict, update: dict) -> dict:
    """Recursively merge `update` into a copy of `base` (update wins)."""
    out = dict(base)
    for k, v in update.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out
