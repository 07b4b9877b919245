"""Combine Kaldi data dirs and hold out utterances of every speaker for dev and test (seeded).

    python recipes/common/split_heldout.py OUT IN_DIR... [--dev 2] [--test 2] [--seed 0]

Writes OUT/train, OUT/dev and OUT/test: each speaker with more than dev + test utterances gives `--dev`
of them to dev and `--test` to test (a seeded choice), the rest to train; speakers with fewer stay in
train. Utterance and recording ids must be unique across the inputs. Relative wav.scp paths are made
absolute (they were relative to their own data dir). Used by the LibriSpeech recipe, whose dev/test
parts have other speakers than its training parts (the decoder needs known speakers to reconstruct).
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path


def _absolute(entry: str, base: Path) -> str:
    if entry.rstrip().endswith("|") or Path(entry).is_absolute():
        return entry
    return str((base / entry).resolve())


def combine(dirs: list[Path]):
    from vqspeech.data.kaldi import DataDir, read_data_dir
    from vqspeech.errors import VQSpeechError

    out = DataDir(wav_scp={}, utt2spk={}, text={}, segments={}, utt2dur={})
    has = {"text": True, "segments": True, "utt2dur": True}
    for d in dirs:
        dd = read_data_dir(d)
        for rec, entry in dd.wav_scp.items():
            if rec in out.wav_scp:
                raise VQSpeechError(f"{d}/wav.scp: recording {rec!r} also in an earlier input")
            out.wav_scp[rec] = _absolute(entry, Path(d).resolve())
        for utt, spk in dd.utt2spk.items():
            if utt in out.utt2spk:
                raise VQSpeechError(f"{d}/utt2spk: utterance {utt!r} also in an earlier input")
            out.utt2spk[utt] = spk
        for name in has:
            part = getattr(dd, name)
            if part is None:
                has[name] = False
            else:
                getattr(out, name).update(part)
    for name, present in has.items():
        if not present:
            setattr(out, name, None)
    return out


def subset(data, utts: list[str]):
    from vqspeech.data.kaldi import DataDir

    keep = set(utts)
    recs = {data.recording(u) for u in utts}

    def pick(d):
        return None if d is None else {k: v for k, v in d.items() if k in keep}

    return DataDir(wav_scp={r: e for r, e in data.wav_scp.items() if r in recs},
                   utt2spk=pick(data.utt2spk), text=pick(data.text), segments=pick(data.segments),
                   utt2dur=pick(data.utt2dur))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("inputs", type=Path, nargs="+")
    parser.add_argument("--dev", type=int, default=2, help="dev utterances per speaker")
    parser.add_argument("--test", type=int, default=2, help="test utterances per speaker")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from vqspeech.data.kaldi import write_data_dir
    from vqspeech.errors import VQSpeechError

    try:
        data = combine(args.inputs)
        rng = random.Random(args.seed)
        split: dict[str, list[str]] = {"train": [], "dev": [], "test": []}
        for utts in data.spk2utt().values():
            if len(utts) <= args.dev + args.test:
                split["train"] += utts
                continue
            held = rng.sample(utts, args.dev + args.test)
            split["dev"] += held[: args.dev]
            split["test"] += held[args.dev:]
            held_set = set(held)
            split["train"] += [u for u in utts if u not in held_set]
        for name, utts in split.items():
            if not utts:
                raise VQSpeechError(f"{args.out / name}: no utterances (too few per speaker for --dev/--test)")
            write_data_dir(args.out / name, subset(data, sorted(utts)))
            print(f"{args.out / name}: {len(utts)} utterances")
    except VQSpeechError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
