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


def _spectrogram_f0_panel(ax, wav: np.ndarray, sample_rate: int, title: str, f0: np.ndarray | None) -> None:
    """Draw a 0-4 kHz log-magnitude spectrogram with the F0 contour (unvoiced = gaps) on `ax`."""
    from vqspeech.pitch.metrics import EVAL_HOP_SECONDS, eval_f0

    x = np.asarray(wav, dtype=np.float32).reshape(-1)
    f0 = eval_f0(x, sample_rate) if f0 is None else np.asarray(f0, np.float64)
    n_fft, hop = 512, 128
    if x.size < n_fft:
        x = np.pad(x, (0, n_fft - x.size))
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop] * np.hanning(n_fft)
    spec = 20 * np.log10(np.abs(np.fft.rfft(frames, axis=1)).T + 1e-6)
    fmax = 4000.0
    bins = int(fmax / (sample_rate / n_fft)) + 1
    dur = x.size / sample_rate
    ax.imshow(spec[:bins], origin="lower", aspect="auto", extent=[0, dur, 0, fmax], cmap="magma",
              vmin=spec.max() - 80, vmax=spec.max())
    t = np.arange(f0.size) * EVAL_HOP_SECONDS + EVAL_HOP_SECONDS / 2
    ax.plot(t, np.where(f0 > 0, f0, np.nan), color="cyan", linewidth=1.2, label="F0")
    ax.set_ylim(0, fmax)
    ax.set_xlabel("s")
    ax.set_ylabel("Hz")
    voiced = float((f0 > 0).mean()) if f0.size else 0.0
    ax.set_title(f"{title} ({100 * voiced:.0f}% voiced)" if title else f"{100 * voiced:.0f}% voiced", fontsize=8)


def plot_spectrogram_f0(wav: np.ndarray, sample_rate: int, path: str | os.PathLike, title: str = "",
                        f0: np.ndarray | None = None, width: float = 4.0) -> None:
    """A log-magnitude spectrogram (0-4 kHz) with the F0 contour drawn over it (default tracker at
    100 frames/s, or `f0` Hz at 100 frames/s; unvoiced frames are gaps)."""
    plot_spectrograms_f0([(title, wav, f0)], sample_rate, path, width=width)


def plot_spectrograms_f0(panels: list[tuple[str, np.ndarray, np.ndarray | None]], sample_rate: int,
                         path: str | os.PathLike, width: float = 4.0, title: str = "") -> None:
    """One spectrogram + F0 panel per (title, wav, f0 or None for the tracker's), stacked."""
    plt = _pyplot()
    fig, axes = plt.subplots(len(panels), 1, figsize=(width, 2.2 * len(panels)), squeeze=False)
    for ax, (name, wav, f0) in zip(axes[:, 0], panels, strict=True):
        _spectrogram_f0_panel(ax, wav, sample_rate, name, f0)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def plot_f0_contours(contours: list[tuple[str, np.ndarray, np.ndarray]], frame_seconds: float,
                     path: str | os.PathLike, title: str = "") -> None:
    """One panel per utterance: the tracker's F0 (reference) and the F0 head's, Hz over seconds."""
    plt = _pyplot()
    fig, axes = plt.subplots(len(contours), 1, figsize=(8, 1.8 * len(contours)), squeeze=False)
    for ax, (utt, ref, pred) in zip(axes[:, 0], contours, strict=True):
        t = np.arange(max(ref.size, pred.size)) * frame_seconds
        ax.plot(t[: ref.size], np.where(ref > 0, ref, np.nan), color="black", linewidth=1.5, label="tracker")
        ax.plot(t[: pred.size], np.where(pred > 0, pred, np.nan), color="tab:orange", linewidth=1.0,
                label="F0 head")
        ax.set_title(utt, fontsize=8)
        ax.set_ylabel("Hz")
    axes[0, 0].legend(fontsize=7, loc="upper right")
    axes[-1, 0].set_xlabel("s")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
