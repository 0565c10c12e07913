"""Comparing a batch's bucket counts with a model's reference profile: drift per column, and the
model's metrics on a labelled batch against its test metrics.

Drift is the population stability index (PSI) over the profile's buckets, missing values and
unseen categories included: ``sum((b - r) * ln(b / r))`` over the reference shares ``r`` and the
batch's ``b``, each floored at ``FLOOR`` so an empty bucket counts without dividing by zero.

A column is flagged when its PSI reaches the threshold (``PSI_THRESHOLD``, 0.1) *and* exceeds
what chance gives a batch of that size: for samples of one distribution ``PSI * n`` is about
chi-squared with (buckets - 1) degrees of freedom, ``n = 1 / (1/batch + 1/reference)``, so
``noise_floor`` is its 99.9th percentile over ``n``. A 1,000-row batch of unchanged data has a
PSI around 0.01 and a floor near 0.03; a 100-row batch would often pass 0.1 by chance, and the
floor (about 0.3) keeps it from being flagged.

Why 0.1: the usual reading of PSI is "below 0.1 no change, 0.1 to 0.25 a moderate shift,
above 0.25 a major one". A retrain is cheap next to a month of predictions from a model whose
inputs moved, so the moderate shift already counts (``severity`` says which it is). A date
column's values move on with time by nature; its PSI counts missing dates only, and the share of
dates outside the training range is reported beside it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from common import metrics as metric_names
from common.profile import PREDICTION, Entry, Profile

PSI_THRESHOLD = 0.1
MAJOR_PSI = 0.25  # the usual "major shift" mark, drawn in the picture and named as severity
MAX_METRIC_DROP = 0.1  # a tenth worse than at test time
FLOOR = 1e-4
CONFIDENCE = 0.999


def psi(reference: np.ndarray, batch: np.ndarray) -> float:
    """The population stability index of two share vectors (each summing to one)."""
    r = np.maximum(np.asarray(reference, dtype="float64"), FLOOR)
    b = np.maximum(np.asarray(batch, dtype="float64"), FLOOR)
    return float(np.sum((b - r) * np.log(b / r)))


def noise_floor(buckets: int, batch_rows: int, reference_rows: int) -> float:
    """The PSI that two samples of one distribution stay under with ``CONFIDENCE``."""
    from scipy.stats import chi2

    if buckets < 2 or batch_rows < 1:
        return math.inf if batch_rows < 1 else 0.0
    effective = 1.0 / (1.0 / batch_rows + 1.0 / max(reference_rows, 1))
    return float(chi2.ppf(CONFIDENCE, buckets - 1) / effective)


def _drift_shares(entry: Entry, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(reference shares, batch shares, labels) of the buckets PSI is taken over: all of them,
    but for a date column present vs missing."""
    rows = max(int(counts.sum()), 1)
    batch = counts / rows
    reference = entry.reference
    if entry.role == "datetime":
        return (
            np.asarray([1.0 - entry.missing, entry.missing]),
            np.asarray([1.0 - batch[-1], batch[-1]]),
            ["present", "missing"],
        )
    return reference, batch, entry.buckets


def compare_entry(
    entry: Entry, counts: np.ndarray, *, reference_rows: int, threshold: float
) -> dict[str, Any]:
    """One column's drift: PSI and whether it is flagged, missing shares, unseen or
    out-of-range shares, and the bucket shares both sides (for the picture)."""
    rows = int(counts.sum())
    reference, batch, labels = _drift_shares(entry, counts)
    value = psi(reference, batch)
    present = sum(1 for r, b in zip(reference, batch, strict=True) if r > 0 or b > 0)
    floor = noise_floor(max(present, 2), rows, reference_rows)
    drifted = bool(value >= threshold and value > floor)
    missing_batch = float(counts[-1] / max(rows, 1))
    out: dict[str, Any] = {
        "column": entry.column,
        "role": entry.role,
        "psi": round(value, 6),
        "drifted": drifted,
        "severity": "major" if value >= MAJOR_PSI else "moderate" if value >= threshold else "none",
        "noise_floor": round(floor, 6),
        "missing_reference": entry.missing,
        "missing_batch": round(missing_batch, 6),
        "missing_change": round(missing_batch - entry.missing, 6),
    }
    if entry.role in ("categorical", "boolean"):
        unseen = float(counts[-2] / max(rows, 1))
        out["unseen_share"] = round(unseen, 6) if entry.vocabulary is not None else None
    if entry.role == "datetime":
        out["out_of_range_share"] = round(float((counts[1] + counts[2]) / max(rows, 1)), 6)
        out["range"] = [entry.low, entry.high]
    out["buckets"] = labels
    out["reference"] = [round(float(x), 6) for x in reference]
    out["batch"] = [round(float(x), 6) for x in batch]
    return out


def compare(
    profile: Profile, counts: Mapping[str, np.ndarray], *, threshold: float = PSI_THRESHOLD
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """(one drift entry per input column in table order, the predictions' entry or None)."""
    columns = [
        compare_entry(e, counts[e.column], reference_rows=profile.rows, threshold=threshold)
        for e in profile.columns
    ]
    prediction = None
    if profile.prediction is not None:
        test_rows = _test_rows(profile)
        prediction = compare_entry(
            profile.prediction, counts[PREDICTION], reference_rows=test_rows, threshold=threshold
        )
    return columns, prediction


def _test_rows(profile: Profile) -> int:
    """Rows behind the predictions' reference: the test split (about a fifth of the table when
    the profile does not say)."""
    return profile.test_rows or max(profile.rows // 5, 1)


def drifted_columns(entries: Sequence[Mapping[str, Any]]) -> list[str]:
    return [entry["column"] for entry in entries if entry["drifted"]]


def metric_drop(metric: str, reference: float, batch: float) -> float:
    """How much worse ``batch`` is than ``reference`` as a fraction of it (positive: worse)."""
    worse = reference - batch if metric_names.GREATER_IS_BETTER[metric] else batch - reference
    return float(worse / max(abs(reference), 1e-12))


def baseline_output(profile: Profile, rows: int) -> np.ndarray:
    """The naive baseline's output on ``rows`` rows: the training class shares for every row,
    or the training target's mean."""
    target = profile.target
    if profile.task == "classification":
        shares = np.asarray(target["shares"], dtype="float64")
        return np.tile(shares / shares.sum(), (rows, 1))
    return np.full(rows, float(target["mean"]))
