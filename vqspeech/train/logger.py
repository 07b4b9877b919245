"""Training logs: one JSON object per line in EXP/log/train.jsonl plus TensorBoard events in EXP/log/tb.

Only rank 0 writes. A JSONL record: {"step": int, "split": "train"|"dev", "time": unix s, <metrics>}.
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

log = logging.getLogger(__name__)


class TrainLogger:
    def __init__(self, exp: str | Path, enabled: bool = True, tensorboard: bool = True):
        self.enabled = enabled
        self.dir = Path(exp) / "log"
        self._tb = None
        self._fh = None
        if not enabled:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.dir / "train.jsonl", "a", encoding="utf-8")  # noqa: SIM115 - kept open
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(log_dir=str(self.dir / "tb"))
            except Exception as err:  # noqa: BLE001 - logging must never stop training
                log.warning(f"tensorboard unavailable ({err}); writing JSONL only")

    def write(self, step: int, split: str, metrics: dict[str, float]) -> None:
        if not self.enabled:
            return
        clean = {k: (float(v) if math.isfinite(float(v)) else str(float(v))) for k, v in metrics.items()}
        record = {"step": step, "split": split, "time": round(time.time(), 3), **clean}
        assert self._fh is not None
        self._fh.write(json.dumps(record) + "\n")
        self._fh.flush()
        if self._tb is not None:
            for k, v in metrics.items():
                self._tb.add_scalar(f"{split}/{k}", float(v), step)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def read_log(path: str | Path) -> list[dict]:
    """All records of a train.jsonl file."""
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
