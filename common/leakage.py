"""Leak screening: how well each used feature predicts the target on its own.

A column that alone predicts the target almost perfectly (hours worked for "works", a
cancellation date for "churned") is more often a leak, known only once the outcome is, than a
gift; its model passes every check on the test split and fails in production. Before training,
``screen`` scores every used column alone on a seeded sample of the training split and names the
ones whose score surely reaches the threshold. Nothing is refused: the run records the suspects
(``jobs.model_record``: a printed line, ``features.json``, the ``suspected_leaks`` tag).

The single-feature model is a target-mean curve, cheap and bounded whatever the table:

- numbers (booleans, and datetimes as their instants, too): ``BINS`` quantile bins; the mean
  target of each bin, interpolated linearly between the bins' mean values (and extended past the
  outer ones), so a threshold inside a bin and a steep or heavy-tailed relation are still followed;
- categories: the mean target of each category;
- missing values are a bin or category of their own (missing exactly when the outcome is known is
  a classic leak); bins and categories are shrunk towards the prior by ``SMOOTHING`` rows, and an
  unseen one gets the prior.

Every row of the sample (at most ``MAX_ROWS``) is scored by the curve of the other ``FOLDS - 1``
folds (stratified by class), so no row's own target reaches its score and no row is wasted: on
small tables a single holdout part would be a few dozen rows, too noisy to trust near 1.0.
Scores: ROC AUC for classification (one-vs-rest, macro-averaged over the classes when more than
two), as ``max(auc, 1 - auc)``; R² for regression. A column is suspected when its score's
one-sided 95% lower bound reaches ``THRESHOLDS`` (so chance on a small table is not a leak).
Seeded: the same rows and seed give the same scores.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from common.columns import Roles

# Training rows scored, at most: bounds the cost on big tables (a few seconds on 1,000,000 rows).
MAX_ROWS = 50_000
FOLDS = 5
BINS = 64
SMOOTHING = 1.0  # rows of the prior mean added to each bin and category
# Fewer sampled rows than this: no column is scored (a perfect split of 20 rows is chance).
MIN_ROWS = 50
# A column whose score alone is at least this (its lower bound, below) is a suspected leak. ROC AUC
# 0.99: 99 of 100 (positive, negative) pairs ordered right by that one column; R² 0.98: 2% of the
# variance left. The strongest honest single features of the builtin sets and data/ tables score
# about 0.98 (iris petal length, 3 classes), 0.96 (breast_cancer) and R² 0.30 (diabetes bmi).
THRESHOLDS = {"roc_auc": 0.99, "r2": 0.98}
# A suspect's lower bound, not its score, must reach the threshold: the lower of the one-sided
# 95% bound (score minus Z standard errors: Hanley-McNeil's for an AUC, the large-sample one for
# R²) and the score with one more row the column gets wrong (a perfect score has no standard
# error). On a small table an excellent honest column reaches 0.99, even 1.0, by chance (iris
# petal length, 120 rows: 0.976 at the median of 1,000 seeds, 40 of them >= 0.99); on 50,000
# rows the bound is within 0.001 of the score. A perfect leak is flagged from about 100 rows of
# the rarer class (AUC) or 50 rows (R²).
Z = 1.645
TAG_CHARS = 5000  # within every MLflow store's limit on a tag's value


@dataclass(frozen=True)
class Screen:
    """Every used column's score alone against the target, and the suspected leaks.

    ``scores`` is empty (nothing suspected) when the sample had fewer than ``MIN_ROWS`` rows.
    """

    metric: str  # "roc_auc" or "r2"
    scores: dict[str, float] = field(default_factory=dict)
    lower: dict[str, float] = field(default_factory=dict)  # each score's lower bound
    rows: int = 0  # sampled training rows scored
    seed: int = 0

    @property
    def threshold(self) -> float:
        return THRESHOLDS[self.metric]

    @property
    def suspects(self) -> list[str]:
        """The suspected leaks, strongest first (ties in column order)."""
        flagged = [
            name
            for name, score in self.scores.items()
            if self.lower.get(name, score) >= self.threshold
        ]
        return sorted(flagged, key=lambda name: -self.scores[name])

    def tag(self) -> str:
        """The ``suspected_leaks`` tag: the suspects comma-separated, "" when none; the first
        ``TAG_CHARS`` characters' worth of whole names (features.json marks them all)."""
        text = ""
        for name in self.suspects:
            longer = f"{text},{name}" if text else name
            if len(longer) > TAG_CHARS:
                break
            text = longer
        return text

    def line(self) -> str | None:
        """``suspected leak: hours_worked (alone: roc_auc 1.000)``; None when none."""
        if not (suspects := self.suspects):
            return None
        listed = ", ".join(f"{n} (alone: {self.metric} {self.scores[n]:.3f})" for n in suspects)
        return f"suspected leak{'s' if len(suspects) > 1 else ''}: {listed}"

    def annotate(self, described: dict) -> dict:
        """``features.json`` (``common.columns.describe``) with each scored column's
        ``alone_score``, ``"suspected_leak": true`` on the suspects, and ``leak_screen``: how
        they were scored."""
        suspects = set(self.suspects)
        columns = []
        for entry in described["columns"]:
            name = entry["name"]
            if name in self.scores:
                entry = {**entry, "alone_score": round(self.scores[name], 4)}
                if name in suspects:
                    entry["suspected_leak"] = True
            columns.append(entry)
        screen = {"metric": self.metric, "threshold": self.threshold, "confidence": 0.95,
                  "rows": self.rows, "folds": FOLDS, "seed": self.seed}  # fmt: skip
        return {**described, "columns": columns, "leak_screen": screen}


def metric_of(task: str) -> str:
    return "r2" if task == "regression" else "roc_auc"


def screen(features: pd.DataFrame, y: np.ndarray, *, task: str, roles: Roles, seed: int) -> Screen:
    """Score each of ``roles.used`` alone against ``y`` on at most ``MAX_ROWS`` rows.

    Args:
        features: The training rows, normalized (``TabularData.features``: numbers and booleans
            float, categories objects, datetimes UTC datetimes).
        y: Their target: class codes 0..K-1 for classification, numbers for regression.
        task: ``classification`` or ``regression``.
        roles: The columns' roles; the used ones are scored.
        seed: The run's seed: which rows are sampled and how they are folded.
    """
    metric = metric_of(task)
    rng = np.random.default_rng(seed)
    rows = len(y)
    picked = np.arange(rows)
    if rows > MAX_ROWS:
        picked = np.sort(rng.choice(rows, size=MAX_ROWS, replace=False))
    if len(picked) < MIN_ROWS:
        return Screen(metric, rows=len(picked), seed=seed)
    y = np.asarray(y)[picked]
    sample = features.iloc[picked]
    targets = _targets(y, task)
    folds = _folds(y, task, rng)
    categorical = set(roles.categorical)
    scores, lower = {}, {}
    for name in roles.used:
        column = sample[name]
        if name in categorical:
            predicted = _category_means(column, targets, folds)
        else:
            predicted = _curve(_numbers(column), targets, folds)
        score, bound = _score(metric, y, targets, predicted)
        if not (np.isfinite(score) and np.isfinite(bound)):  # nothing learnt from this column
            score = bound = 0.5 if metric == "roc_auc" else 0.0
        scores[name], lower[name] = score, bound
    return Screen(metric, scores, lower, len(picked), seed)


def _targets(y: np.ndarray, task: str) -> np.ndarray:
    """(rows, K): the target as numbers to average: one column per class (binary: the positive
    class only), or the value."""
    if task == "regression":  # scaled like the numbers: R² is the same, squares stay finite
        return _scaled(y.astype("float64")).reshape(-1, 1)
    classes = int(y.max()) + 1
    onehot = np.zeros((len(y), classes))
    onehot[np.arange(len(y)), y.astype("int64")] = 1.0
    return onehot[:, 1:] if classes == 2 else onehot


def _folds(y: np.ndarray, task: str, rng: np.random.Generator) -> np.ndarray:
    """Each row's fold, 0..FOLDS-1, in shuffled order (each class dealt round the folds)."""
    order = rng.permutation(len(y))
    if task != "regression":
        order = order[np.argsort(y[order], kind="stable")]
    folds = np.empty(len(y), dtype="int64")
    folds[order] = np.arange(len(y)) % FOLDS
    return folds


def _numbers(column: pd.Series) -> np.ndarray:
    """Float values, NaN where missing; datetimes as their instants (ticks of their unit since
    1970: any year pandas holds, 9999 too)."""
    if pd.api.types.is_datetime64_any_dtype(column):
        ticks = column.array.asi8.astype("float64")
        return _scaled(np.where(column.isna().to_numpy(), np.nan, ticks))
    return _scaled(pd.to_numeric(column, errors="coerce").to_numpy("float64", na_value=np.nan))


def _scaled(values: np.ndarray) -> np.ndarray:
    """``values`` divided by a power of two (exact) to at most 1 in size, so that sums and
    differences of values as large as 1e308 stay finite; the curve's fit does not change."""
    finite = values[np.isfinite(values)]
    largest = float(np.max(np.abs(finite))) if finite.size else 0.0
    if largest == 0.0:
        return values
    return np.ldexp(values, -np.frexp(largest)[1])


def _category_means(column: pd.Series, targets: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """Out-of-fold mean target of each row's category (missing is one more category)."""
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    codes = np.where(codes < 0, len(uniques), codes)
    return _out_of_fold_means(codes, len(uniques) + 1, targets, folds)


def _out_of_fold_means(
    codes: np.ndarray, count: int, targets: np.ndarray, folds: np.ndarray
) -> np.ndarray:
    """(rows, K): each row's code's mean target over the other folds, shrunk to their prior."""
    sums = np.stack([np.bincount(codes, targets[:, k], count) for k in range(targets.shape[1])], 1)
    counts = np.bincount(codes, minlength=count).astype("float64")
    predicted = np.empty_like(targets)
    for fold in range(FOLDS):
        inside = folds == fold
        fold_sums = np.stack(
            [np.bincount(codes[inside], targets[inside, k], count) for k in range(sums.shape[1])],
            1,
        )
        fold_counts = np.bincount(codes[inside], minlength=count)
        out_sums, out_counts = sums - fold_sums, counts - fold_counts
        prior = out_sums.sum(0) / max(out_counts.sum(), 1.0)
        means = (out_sums + SMOOTHING * prior) / (out_counts + SMOOTHING)[:, None]
        predicted[inside] = means[codes[inside]]
    return predicted


def _curve(values: np.ndarray, targets: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """Out-of-fold predictions of the binned target-mean curve of one numeric column."""
    missing = np.isnan(values)
    present = values[~missing]
    if present.size == 0:  # nothing to bin: the missing "category" (the prior) for every row
        return _out_of_fold_means(np.zeros(len(values), "int64"), 1, targets, folds)
    distinct = np.unique(present)
    if len(distinct) <= BINS:
        edges = distinct[1:]  # one bin per value
    else:
        edges = np.unique(np.quantile(present, np.linspace(0, 1, BINS + 1)[1:-1]))
    bins = np.searchsorted(edges, values, side="right")
    count = len(edges) + 2
    bins = np.where(missing, count - 1, bins)  # the last bin: missing values
    predicted = np.empty_like(targets)
    filled = np.where(missing, 0.0, values)
    for fold in range(FOLDS):
        inside, outside = folds == fold, folds != fold
        means = _bin_means(bins[outside], targets[outside], count)
        at = np.bincount(bins[outside], minlength=count).astype("float64")
        centers = np.bincount(bins[outside], filled[outside], count) / np.maximum(at, 1.0)
        known = np.flatnonzero(at[:-1] > 0)
        rows = np.flatnonzero(inside)
        predicted[rows] = means[-1]  # missing values, and every row if no bin has rows
        numeric = rows[~missing[rows]]
        if len(known) == 1:
            predicted[numeric] = means[known[0]]
        elif len(known) > 1:
            predicted[numeric] = _interpolate(filled[numeric], centers[known], means[known])
    return predicted


def _bin_means(bins: np.ndarray, targets: np.ndarray, count: int) -> np.ndarray:
    """(count, K): each bin's mean target shrunk towards the prior; the prior where empty."""
    sums = np.stack([np.bincount(bins, targets[:, k], count) for k in range(targets.shape[1])], 1)
    counts = np.bincount(bins, minlength=count).astype("float64")
    prior = targets.mean(0)
    return (sums + SMOOTHING * prior) / (counts + SMOOTHING)[:, None]


def _interpolate(x: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """Piecewise-linear through (xp, fp) (xp increasing), extended past both ends."""
    right = np.clip(np.searchsorted(xp, x, side="right"), 1, len(xp) - 1)
    left = right - 1
    span = xp[right] - xp[left]
    weight = ((x - xp[left]) / np.where(span > 0, span, 1.0))[:, None]
    return fp[left] + weight * (fp[right] - fp[left])


def _score(
    metric: str, y: np.ndarray, targets: np.ndarray, predicted: np.ndarray
) -> tuple[float, float]:
    """(score, its lower bound) of the out-of-fold predictions: the lower of the score minus
    ``Z`` standard errors and the score with one more row the column gets wrong."""
    rows = len(y)
    if metric == "r2":
        actual, guess = targets[:, 0], predicted[:, 0]
        total = float(np.sum((actual - actual.mean()) ** 2))
        if total == 0.0:
            return 0.0, 0.0
        r2 = 1.0 - float(np.sum((actual - guess) ** 2)) / total
        fit = min(max(r2, 0.0), 1.0)  # large-sample error of R² with one predictor
        error = 2.0 * np.sqrt(fit) * (1.0 - fit) / np.sqrt(rows)
        # One more row predicted no better than by the mean adds total / rows to the errors.
        return r2, float(min(r2 - Z * error, r2 - 1.0 / rows))
    aucs, variances, pessimistic = [], [], []
    for k in range(targets.shape[1]):
        positive = targets[:, k] > 0.5
        hits = int(positive.sum())
        if hits in (0, rows):  # a class with no training rows here says nothing
            continue
        auc = _auc(positive, predicted[:, k])
        auc = max(auc, 1.0 - auc)
        aucs.append(auc)
        variances.append(_auc_variance(auc, hits, rows))
        # One more row of the rarer side ranked wrong against every row of the other.
        rarer = min(hits, rows - hits)
        pessimistic.append(auc * rarer / (rarer + 1))
    if not aucs:
        return 0.5, 0.5
    auc = float(np.mean(aucs))
    error = float(np.sqrt(np.sum(variances)) / len(aucs))
    return auc, float(min(auc - Z * error, np.mean(pessimistic)))


def _auc(positive: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC from ranks (ties count half)."""
    from scipy.stats import rankdata

    hits = int(positive.sum())
    misses = len(positive) - hits
    if hits == 0 or misses == 0:
        return 0.5
    ranks = rankdata(score)
    return float((ranks[positive].sum() - hits * (hits + 1) / 2) / (hits * misses))


def _auc_variance(auc: float, hits: int, rows: int) -> float:
    """Hanley and McNeil's (1982) variance of an AUC from ``hits`` positives in ``rows``."""
    misses = rows - hits
    if hits == 0 or misses == 0:
        return 0.0
    q1, q2 = auc / (2.0 - auc), 2.0 * auc**2 / (1.0 + auc)
    spread = auc * (1.0 - auc) + (hits - 1) * (q1 - auc**2) + (misses - 1) * (q2 - auc**2)
    return max(spread, 0.0) / (hits * misses)
