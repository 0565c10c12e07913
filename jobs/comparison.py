"""The candidate beside the champion on the same rows (the candidate's test split), logged by
``register`` whenever the gate scored both: where they disagree, per-class metrics side by
side (classifiers), and one picture (ROC and precision-recall curves overlaid, or both models'
residuals), for a reviewer and the model card.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import mlflow
import numpy as np

ARTIFACT = "comparison.json"
PLOT = "plots/candidate_vs_champion.png"


def summarize(task: str, classes: Sequence | None, y, candidate, champion) -> dict[str, Any]:
    """The comparison as JSON-ready numbers: rows, rows where the two disagree (another
    predicted class; for regression a difference above a tenth of the target's spread), and per
    class the precision, recall and F1 of each."""
    y = np.asarray(y)
    out: dict[str, Any] = {"rows": len(y)}
    if task == "classification":
        from sklearn.metrics import precision_recall_fscore_support

        mine, theirs = np.argmax(candidate, axis=1), np.argmax(champion, axis=1)
        out["rows_disagreeing"] = int((mine != theirs).sum())
        codes = np.arange(len(classes or []))
        per_class = []
        for label, code in zip(classes or [], codes, strict=True):
            row = {"class": str(label), "support": int((y == code).sum())}
            for name, predicted in (("candidate", mine), ("champion", theirs)):
                p, r, f, _ = precision_recall_fscore_support(
                    y, predicted, labels=[code], average=None, zero_division=0
                )
                row |= {f"{name}_precision": float(p[0]), f"{name}_recall": float(r[0]),
                        f"{name}_f1": float(f[0])}  # fmt: skip
            per_class.append(row)
        out["per_class"] = per_class
        return out
    candidate, champion = np.asarray(candidate, float), np.asarray(champion, float)
    spread = float(np.std(y)) or 1.0
    out["rows_disagreeing"] = int((np.abs(candidate - champion) > 0.1 * spread).sum())
    out["disagreement_threshold"] = 0.1 * spread
    out["mean_absolute_difference"] = float(np.mean(np.abs(candidate - champion)))
    out["candidate_mae"] = float(np.mean(np.abs(candidate - y)))
    out["champion_mae"] = float(np.mean(np.abs(champion - y)))
    return out


def figure(task: str, classes: Sequence | None, y, candidate, champion):
    """ROC and precision-recall curves of both (positive class, or each class one-vs-rest for
    more than two), or residuals against the actual value for both."""
    from matplotlib.figure import Figure

    y = np.asarray(y)
    fig = Figure(figsize=(11, 4.5))
    if task == "classification":
        from sklearn.metrics import precision_recall_curve, roc_curve

        roc, pr = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
        codes = [1] if len(classes or []) == 2 else range(len(classes or []))
        for code in codes:
            hits = y == code
            for name, output, style in (
                ("candidate", candidate, "-"),
                ("champion", champion, "--"),
            ):
                label = f"{name}" + (f" ({classes[code]})" if len(codes) > 1 else "")
                fpr, tpr, _ = roc_curve(hits, np.asarray(output)[:, code])
                roc.plot(fpr, tpr, style, label=label)
                precision, recall, _ = precision_recall_curve(hits, np.asarray(output)[:, code])
                pr.plot(recall, precision, style, label=label)
        roc.plot([0, 1], [0, 1], ":", color="gray")
        roc.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
        pr.set(xlabel="recall", ylabel="precision", title="Precision-recall")
        roc.legend(fontsize=8)
        pr.legend(fontsize=8)
    else:
        ax = fig.add_subplot()
        for name, output in (("candidate", candidate), ("champion", champion)):
            ax.scatter(y, np.asarray(output) - y, s=8, alpha=0.5, label=name)
        ax.axhline(0, color="gray", linestyle=":")
        ax.set(xlabel="actual", ylabel="predicted - actual", title="Residuals on the same rows")
        ax.legend()
    fig.suptitle("Candidate beside champion on the candidate's test split")
    fig.tight_layout()
    return fig


def log(outputs: tuple) -> dict[str, Any]:
    """Log ``comparison.json``, the picture and ``rows_disagreeing`` on the active run; returns
    the summary. ``outputs``: ``gate.Verdict.outputs``."""
    task, classes, y, candidate, champion = outputs
    summary = summarize(task, classes, y, candidate, champion)
    mlflow.log_dict(summary, ARTIFACT)
    mlflow.log_metric("rows_disagreeing", summary["rows_disagreeing"])
    mlflow.log_figure(figure(task, classes, y, candidate, champion), PLOT)
    return summary
