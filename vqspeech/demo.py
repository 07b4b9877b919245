"""`make demo`: the main job on the bundled default model (grows as the project does)."""

from __future__ import annotations

import sys


def main() -> int:
    print("vqspeech demo: the bundled default model is not trained yet; nothing to run.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
