"""What the logged figures show: their curves, labels and marks, read back from the Figure."""

from __future__ import annotations

import numpy as np
import pytest

from common import plots

LABELS = ["cat", "dog", "eel"]


def _legend(ax) -> list[str]:
    return ax.get_legend_handles_labels()[1]


def _is_integer(values) -> bool:
    return all(float(v).is_integer() for v in values)


def _three_classes(rows: int = 90):
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], rows // 3)
    proba = rng.dirichlet([1, 1, 1], len(y)) + np.eye(3)[y]
    return y, proba / proba.sum(axis=1, keepdims=True)


def test_learning_curve_marks_the_best_step_one_based_with_integer_ticks():
    history = {"train_loss": [(s, 1 / (s + 1)) for s in range(7)]}
    history["validation_loss"] = [(s, abs(s - 4) + 1.0) for s in range(7)]

    fig = plots.learning_curve_figure(
        history, ("train_loss", "validation_loss"), best_step=4, step_label="round"
    )

    (ax,) = fig.axes
    assert _legend(ax) == ["train_loss", "validation_loss", "best round 5"]
    marker = ax.lines[-1]
    assert list(marker.get_xdata()) == [5, 5]
    assert list(ax.lines[0].get_xdata()) == [1, 2, 3, 4, 5, 6, 7]
    assert ax.get_xlabel() == "round"
    assert _is_integer(ax.get_xticks())


def test_learning_curve_without_a_best_step_has_no_marker():
    fig = plots.learning_curve_figure({"train_loss": [(0, 1.0), (1, 0.5)]}, ("train_loss",))
    assert _legend(fig.axes[0]) == ["train_loss"]


def test_multiclass_roc_and_precision_recall_have_one_curve_per_original_label():
    y, proba = _three_classes()

    roc = plots.roc_curve_figure(y, proba, LABELS).axes[0]
    pr = plots.precision_recall_figure(y, proba, LABELS).axes[0]

    assert [label.split(" (")[0] for label in _legend(roc)] == [*LABELS, "chance"]
    assert [label.split(" (")[0] for label in _legend(pr)] == LABELS
    assert all("AUC" in label for label in _legend(roc)[:3])
    assert all("AP" in label for label in _legend(pr))


def test_binary_roc_is_the_positive_class_only():
    y = np.array([0, 0, 1, 1])
    proba = np.array([[0.9, 0.1], [0.6, 0.4], [0.35, 0.65], [0.2, 0.8]])

    ax = plots.roc_curve_figure(y, proba, ["no", "yes"]).axes[0]

    assert _legend(ax) == ["yes (AUC 1.000)", "chance"]
    assert "positive class" in ax.get_title()


def test_a_class_missing_from_the_test_split_gets_no_curve():
    y = np.array([0, 0, 1, 1])
    proba = np.array([[0.8, 0.1, 0.1], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1]])

    ax = plots.roc_curve_figure(y, proba, LABELS).axes[0]

    assert [label.split(" (")[0] for label in _legend(ax)] == ["cat", "dog", "chance"]


def test_binary_calibration_is_drawn_for_the_positive_class():
    y = np.array([0] * 50 + [1] * 50)
    positive = np.r_[np.linspace(0.05, 0.45, 50), np.linspace(0.55, 0.95, 50)]
    proba = np.c_[1 - positive, positive]

    reliability, histogram = plots.calibration_figure(y, proba, ["no", "yes"]).axes

    assert "positive class yes" in reliability.get_title()
    model = reliability.lines[-1]
    assert np.all((model.get_xdata() >= 0) & (model.get_xdata() <= 1))
    assert set(model.get_ydata()) == {0.0, 1.0}  # the probabilities separate the classes
    assert sum(bar.get_height() for bar in histogram.patches) == 100


def test_multiclass_calibration_is_top_label_even_when_every_prediction_is_right():
    y, proba = _three_classes()
    proba = np.eye(3)[y] * 0.6 + 0.4 / 3

    reliability, _ = plots.calibration_figure(y, proba, LABELS).axes

    assert "top label" in reliability.get_title()
    assert list(reliability.lines[-1].get_ydata()) == [1.0]


def test_predicted_vs_actual_draws_the_identity_line_over_all_values():
    actual = np.array([1.0, 2.0, 3.0, 10.0])
    predicted = np.array([1.5, 2.0, 2.5, 8.0])

    (ax,) = plots.predicted_vs_actual_figure(actual, predicted).axes

    identity = ax.lines[0]
    assert list(identity.get_xdata()) == [1.0, 10.0] == list(identity.get_ydata())
    assert len(ax.collections[0].get_offsets()) == 4


def test_residuals_show_actual_minus_predicted_and_their_histogram():
    actual = np.array([1.0, 2.0, 3.0])
    predicted = np.array([2.0, 2.0, 2.0])

    scatter, histogram = plots.residuals_figure(actual, predicted).axes

    assert scatter.collections[0].get_offsets()[:, 1].tolist() == [-1.0, 0.0, 1.0]
    assert sum(bar.get_height() for bar in histogram.patches) == 3


def test_large_scatter_plots_draw_a_sample_and_say_so():
    rows = plots.MAX_SCATTER_POINTS * 2
    values = np.arange(rows, dtype=float)

    (ax,) = plots.predicted_vs_actual_figure(values, values).axes

    assert len(ax.collections[0].get_offsets()) == plots.MAX_SCATTER_POINTS
    assert f"of {rows:,} rows" in ax.get_title()


@pytest.mark.parametrize("labels", [["no", "yes"], LABELS])
def test_confusion_matrix_labels_are_the_original_classes(labels):
    codes = np.arange(len(labels))
    ax = plots.confusion_matrix_figure(codes, codes, labels).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == labels
