"""PNG figures of the phone analysis (matplotlib, Agg backend: no display needed).

- `plot_cooccurrence`: code x phone co-occurrence heatmap, one row per used code, rows normalised to
  sum to 1 (P(phone | code)), codes ordered by their dominant phone (phones in inventory order), then
  by how pure they are; phones on the x axis.
- `plot_per_phone_accuracy`: per-phone many-to-one accuracy (in-sample recall of each phone), phones
  sorted by frame count, with the overall accuracy and the majority baseline as lines.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def code_order(table: np.ndarray) -> np.ndarray:
    """Indices of the used codes (rows of `table` [K, P] with counts), by dominant phone, then purity."""
    used = np.flatnonzero(table.sum(1) > 0)
    sub = table[used].astype(np.float64)
    dominant = sub.argmax(1)
    purity = sub.max(1) / sub.sum(1)
    return used[np.lexsort((-purity, dominant))]


def plot_cooccurrence(table: np.ndarray, phones: list[str], path: str | os.PathLike, title: str = "") -> None:
    """Write the heatmap of P(phone | code) for the used codes of `table` [K, P] (int counts) to `path`."""
    plt = _pyplot()
    order = code_order(table)
    rows = table[order].astype(np.float64)
    rows /= np.maximum(rows.sum(1, keepdims=True), 1)
    P = len(phones)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.22 * P + 2), max(4.0, min(14.0, 0.04 * len(order) + 3))))
    im = ax.imshow(rows, aspect="auto", interpolation="nearest", cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(P))
    ax.set_xticklabels(phones, rotation=90, fontsize=7 if P > 30 else 9)
    ax.set_xlabel("phone")
    ax.set_ylabel(f"code ({len(order)} used, ordered by dominant phone)")
    # mark where the dominant phone changes along the code axis
    dom = table[order].argmax(1)
    for y in np.flatnonzero(dom[1:] != dom[:-1]) + 0.5:
        ax.axhline(y, color="white", lw=0.3, alpha=0.5)
    ax.set_yticks([])
    fig.colorbar(im, ax=ax, label="P(phone | code)")
    ax.set_title(title or "code x phone co-occurrence (row-normalised)")
    fig.tight_layout()
    fig.savefig(path, dpi=120, format="png")
    plt.close(fig)


def plot_per_phone_accuracy(metrics: dict[str, Any], path: str | os.PathLike, title: str = "") -> None:
    """Write a bar chart of `metrics["per_phone"][phone]["accuracy"]`, phones by frame count, to `path`."""
    plt = _pyplot()
    per = metrics["per_phone"]
    names = sorted(per, key=lambda p: (-per[p]["frames"], p))
    acc = [per[p]["accuracy"] for p in names]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.22 * len(names) + 2), 4.0))
    ax.bar(range(len(names)), acc, color="tab:blue")
    ins = metrics["in_sample"]
    ax.axhline(ins["accuracy"], color="tab:green", ls="--", lw=1, label=f"overall {ins['accuracy']:.1%}")
    ax.axhline(ins["baseline"], color="tab:red", ls=":", lw=1, label=f"majority baseline {ins['baseline']:.1%}")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=90, fontsize=7 if len(names) > 30 else 9)
    ax.set_ylim(0, 1)
    ax.set_ylabel("many-to-one accuracy (in-sample)")
    ax.set_xlabel("phone (most frequent first)")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(title or "per-phone accuracy")
    fig.tight_layout()
    fig.savefig(path, dpi=120, format="png")
    plt.close(fig)
