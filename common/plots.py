"""Figures logged as run artifacts, drawn without pyplot's global state."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve
from sklearn.metrics import confusion_matrix

# Scatter plots draw at most this many points: drawing cost grows with the points, and a few
# thousand show the shape of any test split.
MAX_SCATTER_POINTS = 5000


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
    history: Mapping[str, Sequence[tuple[int, float]]],
    names: Sequence[str],
    *,
    best_step: int | None = None,
    step_label: str = "epoch",
    ylabel: str = "loss",
) -> Figure:
    """One line per metric in ``names`` over the (0-based step, value) pairs of ``history``.

    Steps are drawn 1-based, as progress lines and summaries count them; ``best_step``
    (0-based) is marked with a vertical line.
    """
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    for name in names:
        points = history.get(name, [])
        ax.plot([step + 1 for step, _ in points], [value for _, value in points], label=name)
    if best_step is not None:
        ax.axvline(
            best_step + 1, color="grey", linestyle="--", label=f"best {step_label} {best_step + 1}"
        )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(step_label)
    ax.set_ylabel(ylabel)
    ax.legend()
    ax.set_title("Learning curve")
    fig.tight_layout()
    return fig


def _one_vs_rest(
    y_true: np.ndarray, proba: np.ndarray, labels: Sequence
) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """(label, is-this-class, its probability) for the positive class of a binary problem or
    each class of several; classes absent from (or alone in) ``y_true`` have no curve."""
    codes = [1] if len(labels) == 2 else range(len(labels))
    for code in codes:
        hits = y_true == code
        if hits.any() and not hits.all():
            yield str(labels[code]), hits, proba[:, code]


def _one_vs_rest_figure(
    y_true: np.ndarray,
    proba: np.ndarray,
    labels: Sequence,
    draw: Callable[[Axes, str, np.ndarray, np.ndarray], None],
    *,
    title: str,
    axis_labels: tuple[str, str],
    legend_at: str,
    diagonal: str = "",
) -> Figure:
    """A unit square with ``draw(ax, label, hits, score)`` called per ``_one_vs_rest`` curve,
    and the identity line labelled ``diagonal`` if given."""
    fig = Figure(figsize=(6, 5))
    ax = fig.add_subplot()
    for label, hits, score in _one_vs_rest(y_true, proba, labels):
        draw(ax, label, hits, score)
    if diagonal:
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label=diagonal)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    what = "positive class" if len(labels) == 2 else "one-vs-rest per class"
    ax.set_title(f"{title} (test split, {what})")
    ax.legend(loc=legend_at, fontsize="small")
    fig.tight_layout()
    return fig


def roc_curve_figure(y_true: np.ndarray, proba: np.ndarray, labels: Sequence) -> Figure:
    """ROC curve of the positive class (binary) or of each class against the rest, with AUCs."""

    def draw(ax: Axes, label: str, hits: np.ndarray, score: np.ndarray) -> None:
        fpr, tpr, _ = skm.roc_curve(hits, score)
        ax.plot(fpr, tpr, label=f"{label} (AUC {skm.auc(fpr, tpr):.3f})")

    return _one_vs_rest_figure(
        y_true, proba, labels, draw, title="ROC curve",
        axis_labels=("false positive rate", "true positive rate"), legend_at="lower right",
        diagonal="chance",
    )  # fmt: skip


def precision_recall_figure(y_true: np.ndarray, proba: np.ndarray, labels: Sequence) -> Figure:
    """Precision against recall, per class as the ROC curve is, with average precisions."""

    def draw(ax: Axes, label: str, hits: np.ndarray, score: np.ndarray) -> None:
        precision, recall, _ = skm.precision_recall_curve(hits, score)
        average = skm.average_precision_score(hits, score)
        ax.step(recall, precision, where="post", label=f"{label} (AP {average:.3f})")

    return _one_vs_rest_figure(
        y_true, proba, labels, draw, title="Precision-recall",
        axis_labels=("recall", "precision"), legend_at="lower left",
    )  # fmt: skip


def calibration_figure(
    y_true: np.ndarray, proba: np.ndarray, labels: Sequence, *, bins: int = 10
) -> Figure:
    """Reliability diagram: observed frequency against mean predicted probability per bin.

    Binary: the positive class's probability. Several classes: the top label, i.e. the
    predicted class's probability against how often that prediction is right (one curve that
    stays readable for many classes), above a histogram of those probabilities.
    """
    if len(labels) == 2:
        hits, score = y_true == 1, proba[:, 1]
        what, xlabel = f"positive class {labels[1]}", f"predicted probability of {labels[1]}"
    else:
        hits, score = proba.argmax(axis=1) == y_true, proba.max(axis=1)
        what, xlabel = "top label", "probability of the predicted class"
    fig = Figure(figsize=(6, 6))
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    top.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfectly calibrated")
    observed, predicted = calibration_curve(hits, score, n_bins=bins, pos_label=True)
    top.plot(predicted, observed, marker="o", label="model")
    top.set_ylabel("observed frequency")
    top.set_ylim(0, 1.02)
    top.legend(loc="upper left", fontsize="small")
    top.set_title(f"Calibration (test split, {what})")
    bottom.hist(score, bins=bins, range=(0, 1), color="tab:blue", alpha=0.6)
    bottom.set_xlim(0, 1)
    bottom.set_xlabel(xlabel)
    bottom.set_ylabel("rows")
    fig.tight_layout()
    return fig


def _sample(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """At most ``MAX_SCATTER_POINTS`` pairs (a fixed random subset) and a note saying so."""
    if len(y_true) <= MAX_SCATTER_POINTS:
        return y_true, y_pred, ""
    keep = np.random.default_rng(0).choice(len(y_true), MAX_SCATTER_POINTS, replace=False)
    return y_true[keep], y_pred[keep], f", {MAX_SCATTER_POINTS:,} of {len(y_true):,} rows"


def predicted_vs_actual_figure(y_true: np.ndarray, y_pred: np.ndarray) -> Figure:
    """Each test row's prediction against its true value, with the identity line."""
    actual, predicted, note = _sample(np.asarray(y_true, float), np.asarray(y_pred, float))
    fig = Figure(figsize=(5.5, 5))
    ax = fig.add_subplot()
    ax.scatter(actual, predicted, s=10, alpha=0.5)
    low = min(actual.min(), predicted.min())
    high = max(actual.max(), predicted.max())
    ax.plot([low, high], [low, high], color="grey", linestyle="--", label="prediction = actual")
    ax.set_xlabel("actual")
    ax.set_ylabel("predicted")
    ax.legend(loc="upper left")
    ax.set_title(f"Predicted vs actual (test split{note})")
    fig.tight_layout()
    return fig


def residuals_figure(y_true: np.ndarray, y_pred: np.ndarray) -> Figure:
    """Residuals (actual - predicted) against the prediction, and their histogram."""
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    actual, predicted, note = _sample(y_true, y_pred)
    fig = Figure(figsize=(10, 4))
    left, right = fig.subplots(1, 2, width_ratios=[3, 2])
    left.scatter(predicted, actual - predicted, s=10, alpha=0.5)
    left.axhline(0, color="grey", linestyle="--")
    left.set_xlabel("predicted")
    left.set_ylabel("residual (actual - predicted)")
    left.set_title(f"Residuals vs predicted (test split{note})")
    right.hist(y_true - y_pred, bins=30)
    right.axvline(0, color="grey", linestyle="--")
    right.set_xlabel("residual (actual - predicted)")
    right.set_ylabel("rows")
    right.set_title("Residual distribution")
    fig.tight_layout()
    return fig


MAX_DRIFT_BARS = 30  # columns in the PSI chart: the most drifted ones when there are more


def drift_figure(
    columns: Sequence[Mapping],
    prediction: Mapping | None,
    *,
    threshold: float,
    major: float,
    plotted: int = 3,
) -> Figure:
    """A monitoring run at a glance: PSI per column against the threshold (red: flagged), and
    the reference vs batch shares of the most drifted columns and of the predictions.

    Args:
        columns: ``common.drift.compare``'s column entries; ``prediction`` its predictions'.
    """
    ranked = sorted(columns, key=lambda e: -e["psi"])
    shown = ranked[:MAX_DRIFT_BARS][::-1]  # largest at the top
    detail = [e for e in ranked if e["psi"] > 0][:plotted] + ([prediction] if prediction else [])
    bar_rows = max(len(shown), 1)
    fig = Figure(figsize=(11, 2.0 + 0.28 * bar_rows + (3.2 if detail else 0)))
    heights = [0.28 * bar_rows + 1.2, 3.0] if detail else [1]
    grid = fig.add_gridspec(len(heights), max(len(detail), 1), height_ratios=heights)
    ax = fig.add_subplot(grid[0, :])
    values = [e["psi"] for e in shown]
    colors = ["tab:red" if e["drifted"] else "tab:orange" if e["psi"] >= threshold else "tab:gray"
              for e in shown]  # fmt: skip
    ax.barh([_short_label(e["column"]) for e in shown], values, color=colors)
    ax.axvline(threshold, color="tab:red", linestyle="--", label=f"threshold {threshold:g}")
    ax.axvline(major, color="black", linestyle=":", label=f"major shift {major:g}")
    drifted = sum(e["drifted"] for e in columns)
    more = f" (the {MAX_DRIFT_BARS} highest of {len(columns)})" if len(columns) > len(shown) else ""
    ax.set_title(f"PSI per column{more}: {drifted} of {len(columns)} drifted")
    ax.set_xlabel("population stability index (batch vs training profile)")
    ax.legend(loc="lower right")
    for i, entry in enumerate(detail):
        panel = fig.add_subplot(grid[1, i])
        kept = [i for i, (r, b) in enumerate(zip(entry["reference"], entry["batch"], strict=True))
                if r > 0 or b > 0]  # fmt: skip
        labels = [_short_label(entry["buckets"][i], 14) for i in kept]
        x = np.arange(len(labels))
        panel.bar(x - 0.2, [entry["reference"][i] for i in kept], width=0.4, label="training")
        panel.bar(x + 0.2, [entry["batch"][i] for i in kept], width=0.4, label="batch")
        panel.set_xticks(x, labels, rotation=60, ha="right", fontsize=7)
        name = "predictions" if entry is prediction else _short_label(entry["column"], 24)
        panel.set_title(f"{name}: psi {entry['psi']:.3f}", fontsize=9)
        panel.set_ylabel("share of rows" if i == 0 else "")
        if i == 0:
            panel.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _short_label(text: str, limit: int = 32) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
