"""Figures logged as run artifacts, drawn without pyplot's global state."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import confusion_matrix


def confusion_matrix_figure(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence) -> Figure:
    """Counts of true vs predicted class, labelled with the original class values."""
    matrix = confusion_matrix(y_true, y_pred, labels=np.arange(len(labels)))
    size = max(4.0, 0.6 * len(labels) + 2)
    fig = Figure(figsize=(size, size))
    ax = fig.add_subplot()
    ax.imshow(matrix, cmap="Blues")
    ticks = np.arange(len(labels))
    ax.set_xticks(ticks, [str(v) for v in labels], rotation=45, ha="right")
    ax.set_yticks(ticks, [str(v) for v in labels])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for (i, j), count in np.ndenumerate(matrix):
        color = "white" if count > matrix.max() / 2 else "black"
        ax.text(j, i, str(count), ha="center", va="center", color=color)
    ax.set_title("Confusion matrix (test split)")
    fig.tight_layout()
    return fig


def feature_importance_figure(
    names: Sequence[str], importances: Sequence[float], *, top: int = 20, title: str = ""
) -> Figure:
    """Horizontal bars of the ``top`` largest importances, largest at the top."""
    values = np.asarray(importances, dtype=float)
    order = np.argsort(values)[::-1][:top][::-1]
    fig = Figure(figsize=(7, max(3.0, 0.3 * len(order) + 1)))
    ax = fig.add_subplot()
    ax.barh([str(names[i]) for i in order], values[order])
    ax.set_xlabel("importance")
    ax.set_title(title or f"Top {len(order)} feature importances")
    fig.tight_layout()
    return fig


def learning_curve_figure(
    history: Mapping[str, Sequence[tuple[int, float]]], names: Sequence[str]
) -> Figure:
    """One line per metric in ``names`` over the (0-based step, value) pairs of ``history``."""
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    for name in names:
        points = history.get(name, [])
        ax.plot([step + 1 for step, _ in points], [value for _, value in points], label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend()
    ax.set_title("Learning curve")
    fig.tight_layout()
    return fig
