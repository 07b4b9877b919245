"""Stage 1 of the recipes: build the training audio cache of each data dir ahead of training.

    python recipes/common/build_cache.py [--sample-rate 16000] DATA_DIR...

The trainer (`vqspeech train vqvae|prior`) builds the same cache on first use, in the same place
(`<data_dir>/.cache/`, via `vqspeech.data.dataset.open_audio_cache`); building it here makes that a
separate, logged, resumable stage, and a stale cache (wav.scp/utt2spk/segments changed) is rebuilt.
There is no `vqspeech` verb for it, so the recipes call the library function directly.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dirs", nargs="+", help="Kaldi data dirs to cache")
    parser.add_argument("--sample-rate", type=int, default=16000, help="model sample rate (Hz)")
    args = parser.parse_args(argv)

    from vqspeech.data.dataset import open_audio_cache
    from vqspeech.errors import VQSpeechError

    for d in args.data_dirs:
        try:
            cache = open_audio_cache(d, args.sample_rate, build=True, progress=True)
        except VQSpeechError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        hours = float(cache.lengths.sum()) / args.sample_rate / 3600
        print(f"{d}: {len(cache)} utterances, {hours:.3f} h cached in {cache.audio_path.parent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
