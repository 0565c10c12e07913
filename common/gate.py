"""The validation gate: the policy a candidate model must pass before it is registered.

Both models are scored on the same held-out rows (the candidate run's own test split, rebuilt
from its logged data parameters). The candidate fails when its metric misses the absolute
``threshold`` (direction known per metric), or is worse than the current champion's by more than
``margin``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.models import MetricThreshold
from mlflow.models.evaluation import EvaluationResult

from common import data, metrics
from common.errors import UserInputError, one_line


@dataclass(frozen=True)
class Verdict:
    """What the gate found: ``passed``/``failed`` with both scores, or ``skipped``."""

    status: str
    metric: str
    candidate: float | None = None
    champion: float | None = None
    failures: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One line for the model version's description and the refusal message."""
        if self.candidate is None:
            return "validation disabled"
        if self.failures:
            return "; ".join(self.failures)
        return f"all checks passed: {self.metric}={self.candidate:.6g}"


def held_out(run) -> tuple[data.TabularData, data.Split]:
    """The run's own test split, rebuilt from its data parameters and resolved tags."""
    params, tags = run.data.params, run.data.tags
    missing = [k for k in ("data", "test_size", "seed") if k not in params]
    missing += [k for k in ("target", "task") if k not in tags]
    if missing:
        raise UserInputError(f"run {run.info.run_id} lacks data parameter(s)/tag(s) {missing}")
    table = data.load(params["data"], target=tags["target"], task=tags["task"])
    split = data.split(table, test_size=float(params["test_size"]), seed=int(params["seed"]))
    return table, split


def score_model(model_uri: str, table: data.TabularData, split: data.Split, metric: str) -> float:
    """Load ``model_uri`` and compute ``metric`` on the held-out raw rows."""
    model = mlflow.pyfunc.load_model(model_uri)
    out = model.predict(table.raw_rows(split.X_test.index))
    if table.task == "classification":
        proba = out[[f"probability_{c}" for c in table.classes]].to_numpy(dtype="float64")
        scores = metrics.classification_metrics(split.y_test, proba)
    else:
        scores = metrics.regression_metrics(split.y_test, out["prediction"].to_numpy())
    return scores[metric]


def _score(model_uri: str, role: str, table, split, metric: str) -> float:
    """``score_model``, with a model that cannot be loaded or fed these rows named in one line."""
    try:
        return score_model(model_uri, table, split, metric)
    except Exception as exc:  # a missing artifact, another schema, a broken environment
        reason = one_line(exc, last=True, limit=500)  # MLflow's schema errors end with the point
        raise UserInputError(f"the {role} {model_uri} could not be scored: {reason}") from exc


def check(
    metric: str, candidate: float, champion: float | None, threshold: float | None, margin: float
) -> list[str]:
    """The failed checks, each naming both numbers; empty when the candidate passes."""
    greater = metrics.GREATER_IS_BETTER[metric]
    for role, value in (("candidate", candidate), ("champion", champion)):
        if value is not None and not math.isfinite(value):
            return [
                f"{role}: {metric}={value} on the candidate's test split (undefined there, e.g. "
                "one class only): no fair comparison; choose another metric or a larger test_size"
            ]
    failures = []
    if threshold is not None:
        try:
            mlflow.validate_evaluation_results(
                {metric: MetricThreshold(threshold=threshold, greater_is_better=greater)},
                EvaluationResult(metrics={metric: candidate}, artifacts={}),
            )
        except MlflowException as exc:  # ModelValidationFailedException
            failures.append(f"threshold: {metric}={candidate:.6g} vs threshold {threshold} ({exc})")
    if champion is not None:
        worse_by = (champion - candidate) if greater else (candidate - champion)
        if worse_by > margin:
            failures.append(
                f"champion: {metric}={candidate:.6g} vs champion's {champion:.6g} on the same "
                f"rows (worse by {worse_by:.6g}, margin {margin})"
            )
    return failures


def judge(
    run,
    metric: str,
    *,
    champion_uri: str | None,
    threshold: float | None,
    margin: float,
) -> Verdict:
    """Score the run's model (and the champion, if there is one) on the run's test split."""
    table, split = held_out(run)
    candidate = _score(f"runs:/{run.info.run_id}/model", "candidate", table, split, metric)
    champion = _score(champion_uri, "champion", table, split, metric) if champion_uri else None
    failures = check(metric, candidate, champion, threshold, margin)
    status = "failed" if failures else "passed"
    return Verdict(status, metric, candidate, champion, failures)
