"""The validation gate: the policy a candidate model must pass before it is registered.

Everything is scored on the same held-out rows (the candidate run's own test split, rebuilt from
its logged data parameters) by ``metrics.task_metrics``, the business metric with the candidate
run's settings. The candidate is refused when its metric

- is no better than a naive baseline fitted on the split's training part (the class priors for
  every row in classification, the training mean in regression): a tie is refused;
- misses the absolute ``threshold`` (direction known per metric);
- is not better than the current champion's by more than ``-margin``: with ``margin=0`` a tie
  keeps the champion, a positive margin lets a candidate that is worse by less than it through.

Schema evolution (``refuse_other_data``): a champion is scored on the candidate's rows only when
the two are comparable, i.e. the same task and target, and the candidate's inputs hold every
column the champion needs, each of the same kind. Kinds are number (any integer or float width:
a whole-number column that gains a missing value reads as float and is the same column), text,
boolean and date, from each run's features.json (else its model signature). So a table that grew
rows, columns, categories or missing values is comparable, and the champion ignores columns it
does not know. Not comparable: a column the champion needs is gone, or changed kind (number ->
text): one line names the columns. A scheduled job's way out is ``schema_change=replace``:
``register`` then judges the candidate against the baseline and threshold only and records that
it replaced the champion on a schema change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import mlflow
import numpy as np
from mlflow.exceptions import MlflowException
from mlflow.models import MetricThreshold
from mlflow.models.evaluation import EvaluationResult

from common import business, data, metrics
from common.columns import OVERRIDES, parse_names
from common.errors import UserInputError, one_line
from jobs import launcher

SHOWN = 5  # columns named per kind of difference in a mismatch message


@dataclass(frozen=True)
class Verdict:
    """What the gate found: ``passed``/``failed`` with the scores, or ``skipped``."""

    status: str
    metric: str
    candidate: float | None = None
    champion: float | None = None
    baseline: float | None = None
    failures: list[str] = field(default_factory=list)
    note: str = ""
    schema_change: str = ""  # the schema change schema_change=replace let through
    # Candidate and champion outputs on the same rows, when both were scored (for
    # jobs.comparison): (task, classes, labels, candidate output, champion output).
    outputs: tuple | None = field(default=None, repr=False, compare=False)

    def describe(self) -> str:
        """One line for the model version's description and the refusal message."""
        if self.candidate is None:
            return "validation disabled"
        if self.failures:
            return "; ".join(self.failures)
        return f"all checks passed: {self.metric}={self.candidate:.6g}{self.note}"


def held_out(run) -> tuple[data.TabularData, data.Split]:
    """The run's own test split, rebuilt from its data parameters and resolved tags."""
    params, tags = launcher.given_params(run), run.data.tags
    missing = [k for k in ("data", "test_size", "seed") if k not in params]
    missing += [k for k in ("target", "task") if k not in tags]
    if missing:
        raise UserInputError(f"run {run.info.run_id} lacks data parameter(s)/tag(s) {missing}")
    table = data.load(
        params["data"], target=tags["target"], task=tags["task"], overrides=_overrides(params)
    )
    _check_unchanged(run, table.digest)
    split = data.split(table, test_size=float(params["test_size"]), seed=int(params["seed"]))
    return table, split


def _overrides(params: dict[str, str]) -> dict[str, tuple[str, ...]]:
    """The column roles the run was given: a column it forced in may be dropped by default."""
    return {flag: parse_names(params.get(flag, "")) for flag in OVERRIDES}


def _check_unchanged(run, digest: str) -> None:
    """Refuse to rebuild the split of a table whose content changed since the run trained."""
    recorded = run.data.tags.get("data_digest")
    if recorded and recorded != digest:
        raise UserInputError(
            f"data '{launcher.given_params(run)['data']}' changed since run {run.info.run_id} "
            f"trained on it (content digest {digest}, was {recorded}), so its test split cannot "
            "be rebuilt; retrain on the current data, or restore the file"
        )


def score_model(
    model_uri: str,
    table: data.TabularData,
    split: data.Split,
    metric: str,
    settings: business.Settings | None = None,
    *,
    own_rows: bool = True,
) -> float:
    """Load ``model_uri`` and compute ``metric`` on the held-out raw rows (the business metric
    with the candidate run's ``settings``).

    Args:
        own_rows: False for another model than the one trained on these rows (the champion):
            it gets the rows through its own checks and conversions, not its signature's
            dtypes, which a comparable table may have widened (a whole-number column with a
            missing value reads as float64, which MLflow's ``long`` refuses).
    """
    output = model_output(model_uri, table, split, own_rows=own_rows)
    return metrics.task_metrics(table.task, split.y_test, output, settings)[metric]


def model_output(
    model_uri: str, table: data.TabularData, split: data.Split, *, own_rows: bool = True
) -> np.ndarray:
    """``model_uri``'s class probabilities (n, K) or predictions on the held-out raw rows
    (``own_rows``: see ``score_model``)."""
    model = mlflow.pyfunc.load_model(model_uri)
    rows = table.raw_rows(split.X_test.index)
    out = model.predict(rows) if own_rows else model.unwrap_python_model().predict(None, rows)
    if table.task == "classification":
        return out[[f"probability_{c}" for c in table.classes]].to_numpy("float64")
    return out["prediction"].to_numpy("float64")


def baseline_score(
    table: data.TabularData,
    split: data.Split,
    metric: str,
    settings: business.Settings | None = None,
) -> float:
    """``metric`` of a model that knows only the training part's target: the class priors for
    every test row (its prediction is the majority class), or the training mean."""
    rows = len(split.y_test)
    if table.task == "classification":
        counts = np.bincount(split.y_train, minlength=len(table.classes))
        output = np.tile(counts / counts.sum(), (rows, 1))
    else:
        output = np.full(rows, float(np.mean(split.y_train)))
    return metrics.task_metrics(table.task, split.y_test, output, settings)[metric]


def _output(model_uri: str, role: str, table, split) -> np.ndarray:
    """``model_output``, with a model that cannot be loaded or fed these rows named in one
    line."""
    try:
        return model_output(model_uri, table, split, own_rows=role != "champion")
    except Exception as exc:  # a missing artifact, another schema, a broken environment
        reason = one_line(exc, last=True, limit=500)  # MLflow's schema errors end with the point
        raise UserInputError(f"the {role} {model_uri} could not be scored: {reason}") from exc


def _input_schema(model_uri: str) -> dict[str, str] | None:
    """Column name -> type of the model's signature inputs; None when unknown or unreadable
    (scoring then names what is wrong with the model)."""
    try:
        signature = mlflow.models.get_model_info(model_uri).signature
    except Exception:
        return None
    if signature is None or signature.inputs is None:
        return None
    return {str(c.get("name")): str(c.get("type")) for c in signature.inputs.to_dict()}


# Column kinds by features.json role, and by signature type for runs without features.json.
_KIND_OF_ROLE = {"numeric": "number", "categorical": "text", "boolean": "boolean",
                 "datetime": "date"}  # fmt: skip
_KIND_OF_TYPE = {"long": "number", "integer": "number", "double": "number", "float": "number",
                 "string": "text", "boolean": "boolean", "datetime": "date"}  # fmt: skip


def _input_kinds(run, model_uri: str) -> dict[str, str | None] | None:
    """The model's input columns -> kind (None: unknown, e.g. a column typed ``any``); None when
    the model's inputs are unknown."""
    schema = _input_schema(model_uri)
    if schema is None:
        return None
    roles = {}
    if run is not None:
        try:
            described = mlflow.artifacts.load_dict(f"runs:/{run.info.run_id}/features.json")
            roles = {c["name"]: c["role"] for c in described.get("columns", [])}
        except Exception:  # runs logged before features.json: the signature's types only
            roles = {}
    return {
        name: _KIND_OF_ROLE.get(roles.get(name, ""), _KIND_OF_TYPE.get(kind))
        for name, kind in schema.items()
    }


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:SHOWN])
    return shown + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")


def _differences(candidate_run, champion_run, candidate_uri: str, champion_uri: str):
    """(other data: task or target differ; schema: a column the champion needs gone or of
    another kind), each a list of short phrases."""
    ours, theirs = candidate_run.data.tags, champion_run.data.tags if champion_run else {}
    other_data, schema = [], []
    for key in ("task", "target"):
        if theirs.get(key) and ours.get(key) and theirs[key] != ours[key]:
            other_data.append(f"{key} '{theirs[key]}' vs the candidate's '{ours[key]}'")
    new = _input_kinds(candidate_run, candidate_uri)
    old = _input_kinds(champion_run, champion_uri)
    if new is not None and old is not None:
        if missing := [c for c in old if c not in new]:
            schema.append(f"columns the candidate lacks: {_listed(missing)}")
        changed = [
            f"{c} {old[c]}->{new[c]}"
            for c in old
            if c in new and old[c] and new[c] and old[c] != new[c]
        ]
        if changed:
            schema.append(f"columns of another kind: {_listed(changed)}")
        if (other_data or schema) and (extra := [c for c in new if c not in old]):
            schema.append(f"columns only the candidate has: {_listed(extra)}")
    return other_data, schema


def check(
    metric: str,
    candidate: float,
    champion: float | None,
    threshold: float | None,
    margin: float,
    baseline: float | None = None,
) -> list[str]:
    """The failed checks, each naming both numbers; empty when the candidate passes."""
    greater = metrics.GREATER_IS_BETTER[metric]
    for role, value in (("candidate", candidate), ("champion", champion), ("baseline", baseline)):
        if value is not None and not math.isfinite(value):
            return [
                f"{role}: {metric}={value} on the candidate's test split (undefined there, e.g. "
                "one class only): no fair comparison; choose another metric or a larger test_size"
            ]

    def gain(over: float) -> float:  # positive: the candidate is better
        return candidate - over if greater else over - candidate

    failures = []
    if baseline is not None and gain(baseline) <= 0:
        failures.append(
            f"baseline: {metric}={candidate:.6g} vs {baseline:.6g} for a naive model (class "
            "priors or the training mean) on the same rows; it must do better"
        )
    if threshold is not None:
        try:
            mlflow.validate_evaluation_results(
                {metric: MetricThreshold(threshold=threshold, greater_is_better=greater)},
                EvaluationResult(metrics={metric: candidate}, artifacts={}),
            )
        except MlflowException as exc:  # ModelValidationFailedException
            failures.append(f"threshold: {metric}={candidate:.6g} vs threshold {threshold} ({exc})")
    if champion is not None and gain(champion) <= -margin:
        lead = gain(champion)
        how = "a tie" if lead == 0 else f"worse by {-lead:.6g}"
        failures.append(
            f"champion: {metric}={candidate:.6g} vs champion's {champion:.6g} on the same rows "
            f"({how}; with margin {margin} it must be worse by less than the margin, and with "
            "margin 0 strictly better)"
        )
    return failures


def version_uri(version) -> str:
    """``models:/<name>/<version>`` of a registered model version."""
    return f"models:/{version.name}/{version.version}"


SCHEMA_CHANGES = ("refuse", "replace")


def refuse_other_data(run, champion, *, schema_change: str = "refuse") -> str:
    """Refuse a ``champion`` model version trained for another task or target than ``run``'s
    model, or on a schema the policy above calls not comparable: scoring it on the candidate's
    rows would mean nothing (or crash).

    Args:
        schema_change: ``replace`` lets a schema change through (not another task or target).

    Returns:
        The schema change ``replace`` let through; empty when the two are comparable.

    Raises:
        UserInputError: one line naming the differences and how to proceed.
    """
    if champion is None or champion.run_id == run.info.run_id:
        return ""
    champion_uri, candidate_uri = version_uri(champion), f"runs:/{run.info.run_id}/model"
    other_data, schema = _differences(
        run, _run_or_none(champion.run_id), candidate_uri, champion_uri
    )
    if not other_data and not schema:
        return ""
    if not other_data and schema_change == "replace":
        return "; ".join(schema)
    way_out = (
        "-P schema_change=replace judges it against the baseline and threshold only and "
        "replaces the champion; or "
        if not other_data
        else ""
    )
    raise UserInputError(
        f"model '{champion.name}': its champion (version {champion.version}) was trained on "
        f"other data ({'; '.join(other_data + schema)}); {way_out}register under another name "
        f"(-P model_name=...) or retire that champion (MlflowClient().delete_registered_model_"
        f"alias('{champion.name}', 'champion'))"
    )


def judge(
    run,
    metric: str,
    *,
    champion=None,
    threshold: float | None,
    margin: float,
    baseline: bool = True,
    schema_change: str = "refuse",
) -> Verdict:
    """Score the run's model, the baseline and the ``champion`` model version (if any) on the
    run's test split.

    A candidate that is the champion's own run is not compared with itself (re-registering it
    is idempotent); the other checks still apply.

    Args:
        schema_change: ``refuse_other_data``'s: ``replace`` judges a candidate whose schema is
            not comparable with the champion's without it.

    Raises:
        UserInputError: the champion was trained on other data (``refuse_other_data``), or a
            model cannot be scored.
    """
    replaced = refuse_other_data(run, champion, schema_change=schema_change)
    note, champion_uri = "", None
    if champion is not None:
        champion_uri = version_uri(champion)
        if champion.run_id == run.info.run_id:
            note, champion_uri = f" (already the champion, {champion_uri})", None
        elif replaced:
            note = f" (replaces champion version {champion.version} on a schema change: {replaced})"
            champion_uri = None
    params = launcher.given_params(run)
    settings = business.settings_of(params)  # the champion is judged by the same costs
    candidate_uri = f"runs:/{run.info.run_id}/model"
    scoring_what = ["the candidate", *([f"the champion {champion_uri}"] if champion_uri else []),
                    *(["the baseline"] if baseline else [])]  # fmt: skip
    listed = ", ".join(scoring_what[:-1]) + " and " if len(scoring_what) > 1 else ""
    listed += scoring_what[-1]
    print(f"gate: scoring {listed} on the run's test split", flush=True)
    if params.get("engine") == "spark":
        candidate, floor, scored, outputs = _judge_on_spark(
            run, metric, settings, candidate_uri, champion_uri, baseline=baseline
        )
    else:
        table, split = held_out(run)
        mine = _output(candidate_uri, "candidate", table, split)
        value = lambda out: metrics.task_metrics(table.task, split.y_test, out, settings)[metric]  # noqa: E731
        candidate = value(mine)
        floor = baseline_score(table, split, metric, settings) if baseline else None
        scored, outputs = None, None
        if champion_uri:
            theirs = _output(champion_uri, "champion", table, split)
            scored = value(theirs)
            outputs = (table.task, table.classes, split.y_test, mine, theirs)
    failures = check(metric, candidate, scored, threshold, margin, floor)
    status = "failed" if failures else "passed"
    return Verdict(status, metric, candidate, scored, floor, failures, note, replaced, outputs)


def _judge_on_spark(
    run, metric: str, settings, candidate_uri: str, champion_uri: str | None, *, baseline: bool
) -> tuple[float, float | None, float | None, tuple | None]:
    """(candidate, baseline, champion) scores of a run trained with ``engine=spark`` and both
    models' outputs: its test split rebuilt on Spark the way training split it, the models
    scored by ``spark_udf``."""
    from common.spark import session as spark_session
    from common.spark import tables as spark_tables
    from jobs.spark_engine import worker_errors

    params, tags = launcher.given_params(run), run.data.tags
    spark = spark_session.get_or_create(
        "tabular-training-gate", needed_for="the gate of a Spark run"
    )
    with worker_errors():
        table = spark_tables.load(
            spark, params["data"], target=tags["target"], task=tags["task"],
            overrides=_overrides(params),
            test_size=float(params["test_size"]),
            validation_fraction=float(params.get("validation_fraction", 0.0)),
            seed=int(params["seed"]),
        )  # fmt: skip
    _check_unchanged(run, table.digest)
    task, seed = table.task, int(params["seed"])

    def outputs(uri: str, role: str) -> tuple[np.ndarray, np.ndarray]:
        try:
            return spark_tables.udf_scored_test_rows(spark, table, uri, seed=seed)
        except Exception as exc:
            reason = spark_tables.spark_failure(exc) or one_line(exc, last=True, limit=500)
            raise UserInputError(f"the {role} {uri} could not be scored: {reason}") from exc

    def value(y: np.ndarray, output: np.ndarray) -> float:
        return metrics.task_metrics(task, y, output, settings)[metric]

    y, output = outputs(candidate_uri, "candidate")
    candidate, floor, champion = value(y, output), None, None
    if baseline:
        shares = spark_tables.training_shares(table)
        naive = (
            np.tile(shares, (len(y), 1)) if task == "classification" else np.full(len(y), shares)
        )
        floor = value(y, naive)
    both = None
    if champion_uri:
        their_y, theirs = outputs(champion_uri, "champion")
        champion = value(their_y, theirs)
        if np.array_equal(y, their_y):  # the rows came back in the same order: comparable
            both = (task, table.sample.classes, y, output, theirs)
    return candidate, floor, champion, both


def _run_or_none(run_id: str | None):
    try:
        return mlflow.get_run(run_id) if run_id else None
    except MlflowException:
        return None  # a deleted run: the signatures still tell
