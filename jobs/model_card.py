"""The model card ``register`` writes for every candidate: Markdown a reviewer reads in the
MLflow UI as the model version's description, also logged as ``model_card.md`` on the register
run (refused candidates get it there too, so the refusal can be read in one place).

It is built from what the runs already hold: the gate's verdict check by check with the
candidate's, champion's and baseline's scores on the candidate's test split; the training run's
table (name, content digest, rows, date ranges, from the model's ``profile.json``), columns and
roles (``features.json``: dropped columns with their reasons, suspected leaks), task and target,
parameters, lineage (run, commit, the model's pinned requirements' digest) and plots; then the
fork's own section from ``docs/model_card_template.md`` (intended use, limitations), whose
``{placeholders}`` are the ``FIELDS`` below. An artifact the card wants that the run lacks is
named as missing; the card never blocks a registration.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import string
from collections.abc import Mapping
from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient

from common.environment import PROJECT_ROOT
from common.errors import UserInputError
from jobs import gate, launcher

TEMPLATE = PROJECT_ROOT / "docs" / "model_card_template.md"
ARTIFACT = "model_card.md"
# What a fork's template may name, as {name}.
FIELDS = ("model_name", "dataset", "target", "task", "metric", "training_run_id")
MAX_COLUMNS = 60  # rows of the columns table; the rest are counted
# MLflow's SQL registry stores a version's description in VARCHAR(5000) (PostgreSQL and MySQL
# refuse more; sqlite does not check): a longer card is cut there, whole on the register run.
MAX_DESCRIPTION = 5000
PARAMS_SHOWN = ("data", "target", "task", "test_size", "seed", "data_version")


def check_template(path: Path | None = None) -> str:
    """The fork's card section (``TEMPLATE``), refused in one line when it names a placeholder
    the card does not fill (or is not a template ``str.format`` reads)."""
    path = path or TEMPLATE
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    try:
        named = {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}
    except ValueError as exc:  # a lone { or }
        raise UserInputError(f"{path.name}: {exc}; write a literal brace as {{{{ or }}}}") from None
    unknown = sorted(named - set(FIELDS))
    if unknown:
        raise UserInputError(
            f"{path.name}: unknown placeholder {{{unknown[0]}}}; the card fills "
            + ", ".join(f"{{{f}}}" for f in FIELDS)
        )
    return text


def render(
    run,
    verdict: gate.Verdict,
    *,
    model_name: str,
    template: str,
    args,
    compared: dict | None = None,
    register_run_id: str = "",
) -> str:
    """The card for candidate ``run`` judged by ``verdict`` under ``model_name``; ``compared``:
    ``jobs.comparison``'s summary, logged on register run ``register_run_id``."""
    tags, run_id = run.data.tags, run.info.run_id
    files = _Artifacts(run_id)
    features, reference = files.json("features.json"), files.json("model/artifacts/profile.json")
    status = verdict.status
    lines = [
        f"# {model_name}: model card",
        "",
        f"**Gate: {status}** on `{verdict.metric}`. {verdict.describe()}",
        "",
        *_checks(verdict, args),
        "",
        *_compared(compared, register_run_id),
        "## Data",
        "",
        *_data(tags, reference, files),
        "",
        "## Columns",
        "",
        *_columns(features, reference, files),
        "",
        "## What the model relies on",
        "",
        *_importance(files),
        "",
        "## Training",
        "",
        *_training(run),
        "",
        "## Lineage",
        "",
        *_lineage(run, files),
        "",
        "## Plots",
        "",
        *_plots(run_id),
    ]
    fork = template.format(
        model_name=model_name, dataset=tags.get("dataset", ""), target=tags.get("target", ""),
        task=tags.get("task", ""), metric=verdict.metric, training_run_id=run_id,
    ) if template.strip() else ""  # fmt: skip
    if fork:
        lines += ["", fork.strip()]
    return "\n".join(lines).strip() + "\n"


class _Artifacts:
    """The training run's artifacts the card reads, each at most once; missing ones noted."""

    def __init__(self, run_id: str):
        self.run_id, self.missing = run_id, []

    def optional(self, path: str) -> str | None:
        """The artifact's text, or None when the run lacks it (or the store cannot read it)."""
        try:
            return mlflow.artifacts.load_text(f"runs:/{self.run_id}/{path}")
        except Exception:  # absent: the card says so where it matters and goes on
            return None

    def text(self, path: str) -> str | None:
        """``optional``, recording a missing artifact for the card's note."""
        found = self.optional(path)
        if found is None:
            self.missing.append(path)
        return found

    def json(self, path: str) -> dict | None:
        found = self.text(path)
        try:
            return None if found is None else json.loads(found)
        except json.JSONDecodeError:  # not JSON: as good as missing
            self.missing.append(path)
            return None

    def note(self, path: str) -> str:
        return f"_`{path}` is missing from training run `{self.run_id}`._"


def _cell(text: object) -> str:
    """Text for a Markdown table cell: a ``|`` would end the cell, a newline the row."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.6g}"


def _checks(verdict: gate.Verdict, args) -> list[str]:
    """The gate's checks, one row each: passed, failed (with its line) or not applied."""
    failed = {line.split(":", 1)[0]: line for line in verdict.failures}
    rows = [
        ("baseline", verdict.baseline is not None, f"naive model {_number(verdict.baseline)}"),
        ("threshold", args.threshold is not None, f"at least {args.threshold}"
         if args.threshold is not None else "none set"),
        ("champion", verdict.champion is not None, f"champion {_number(verdict.champion)}, "
         f"margin {args.margin}" if verdict.champion is not None else "no champion compared"),
    ]  # fmt: skip
    out = [
        f"| check | result | {verdict.metric} of the candidate | against |",
        "| --- | --- | --- | --- |",
    ]
    for name, applied, against in rows:
        result = "failed" if name in failed else "passed" if applied else "not applied"
        if verdict.candidate is None:
            result = "skipped"
        out.append(f"| {name} | {result} | {_number(verdict.candidate)} | {against} |")
    if verdict.note:
        out += ["", verdict.note.strip(" ()")]
    out += [
        "",
        "Scores on the candidate's own test split (the same rows for all three):",
        "",
        "| model | " + verdict.metric + " |",
        "| --- | --- |",
        f"| candidate | {_number(verdict.candidate)} |",
        f"| champion | {_number(verdict.champion)} |",
        f"| naive baseline | {_number(verdict.baseline)} |",
    ]
    return out


def _compared(compared: dict | None, register_run_id: str) -> list[str]:
    """The candidate beside the champion on the same rows, when both were scored."""
    if not compared:
        return []
    rows, apart = compared["rows"], compared["rows_disagreeing"]
    out = ["## Candidate beside champion", ""]
    if "per_class" in compared:
        out += [
            f"They predict another class on **{apart} of {rows}** rows. Each cell: candidate vs "
            "champion.",
            "",
            "| class | support | precision | recall | F1 |",
            "| --- | --- | --- | --- | --- |",
        ]
        for row in compared["per_class"]:
            out.append(
                f"| `{_cell(row['class'])}` | {row['support']} | "
                + " | ".join(
                    f"{row[f'candidate_{m}']:.3f} vs {row[f'champion_{m}']:.3f}"
                    for m in ("precision", "recall", "f1")
                )
                + " |"
            )
    else:
        out += [
            f"Their predictions differ by more than {compared['disagreement_threshold']:.4g} "
            f"(a tenth of the target's spread) on **{apart} of {rows}** rows; mean absolute "
            f"difference {compared['mean_absolute_difference']:.4g}; MAE candidate "
            f"{compared['candidate_mae']:.4g}, champion {compared['champion_mae']:.4g}.",
        ]
    out += ["", f"- `runs:/{register_run_id}/plots/candidate_vs_champion.png`", ""]
    return out


def _data(tags: Mapping[str, str], reference: dict | None, files: _Artifacts) -> list[str]:
    out = [
        "| | |",
        "| --- | --- |",
        f"| table | `{tags.get('dataset', '?')}` |",
        f"| content digest | `{tags.get('data_digest', '?')}` (data_version "
        f"`{tags.get('data_version', '?')}`) |",
        f"| task, target | {tags.get('task', '?')}, `{tags.get('target', '?')}` |",
    ]
    if reference is None:
        return [*out, "", files.note("model/artifacts/profile.json")]
    out.append(f"| rows | {reference.get('rows', '?')} |")
    for entry in reference.get("columns", []):
        if entry.get("role") == "datetime" and entry.get("min"):
            out.append(
                f"| `{_cell(entry['column'])}` range | {entry['min'][:10]} to {entry['max'][:10]} |"
            )
    return out


def _columns(features: dict | None, reference: dict | None, files: _Artifacts) -> list[str]:
    if features is None:
        return [files.note("features.json")]
    entries = features.get("columns", [])
    missing = {e.get("column"): e.get("missing") for e in (reference or {}).get("columns", [])}
    leaks = [e["name"] for e in entries if e.get("suspected_leak")]
    out = []
    if leaks:
        out += [f"**Suspected leaks**: {', '.join(f'`{n}`' for n in leaks)} (each predicts the "
                "target almost perfectly alone).", ""]  # fmt: skip
    out += ["| column | role | missing | note |", "| --- | --- | --- | --- |"]
    for entry in entries[:MAX_COLUMNS]:
        note = entry.get("reason", "")
        if entry.get("suspected_leak"):
            note = (note + "; " if note else "") + "suspected leak"
        if entry.get("format"):
            note = (note + "; " if note else "") + f"format `{entry['format']}`"
        share = missing.get(entry["name"])
        gaps = "–" if share is None else f"{share:.1%}"
        out.append(f"| `{_cell(entry['name'])}` | {entry['role']} | {gaps} | {_cell(note)} |")
    if len(entries) > MAX_COLUMNS:
        out.append(f"| … | | | {len(entries) - MAX_COLUMNS} more in features.json |")
    return out


def _importance(files: _Artifacts, top: int = 10) -> list[str]:
    """The permutation importances over the raw columns (``common.importance``), largest
    first."""
    text = files.text("permutation_importance.csv")
    if text is None:
        return [files.note("permutation_importance.csv")]
    rows = list(csv.reader(io.StringIO(text)))[1:]  # a column name may hold a comma
    out = [
        "Loss of the metric when a column is shuffled on the test split (the served model, "
        "raw columns; comparable across model families):",
        "",
        "| column | importance | std |",
        "| --- | --- | --- |",
    ]
    for name, value, std in rows[:top]:
        out.append(f"| `{_cell(name)}` | {value} | {std} |")
    if len(rows) > top:
        out.append(f"| … | {len(rows) - top} more in permutation_importance.csv | |")
    shap = files.optional("shap_importance.csv")  # XGBoost's own SHAP values, where logged
    if shap is not None:
        ranked = list(csv.reader(io.StringIO(shap)))[1 : top + 1]
        listed = ", ".join(f"`{_cell(name)}` {value}" for name, value in ranked)
        out += ["", f"XGBoost's own mean |SHAP value| per column: {listed}."]
    return out


def _training(run) -> list[str]:
    tags, params = run.data.tags, launcher.given_params(run)
    out = [
        f"Entry point `{tags.get('mlflow.project.entryPoint', tags.get('entry_point', '?'))}`, "
        f"model type `{tags.get('model_type', '?')}`, run `{run.info.run_name}`.",
        "",
        "| parameter | value |",
        "| --- | --- |",
    ]
    shown = [k for k in PARAMS_SHOWN if k in params]
    shown += sorted(k for k in params if k not in PARAMS_SHOWN)
    out += [f"| {k} | `{_cell(params[k])}` |" if params[k] != "" else f"| {k} | – |" for k in shown]
    return out


def _lineage(run, files: _Artifacts) -> list[str]:
    tags = run.data.tags
    requirements = files.text("model/requirements.txt")
    digest = (
        hashlib.sha256(requirements.encode()).hexdigest()[:12]
        if requirements is not None
        else "missing"
    )
    return [
        f"- training run: `{run.info.run_id}` (experiment `{run.info.experiment_id}`)",
        f"- git commit: `{tags.get('mlflow.source.git.commit', 'not recorded')}` "
        f"(dirty: {tags.get('git_dirty', '?')})",
        f"- environment: the model's pinned requirements, sha256 `{digest}`",
    ]


def _plots(run_id: str) -> list[str]:
    found = [a.path for a in MlflowClient().list_artifacts(run_id, "plots")]
    if not found:
        return [f"_No plots in training run `{run_id}`._"]
    return [f"- `runs:/{run_id}/{path}`" for path in sorted(found)]


def log(card: str) -> None:
    """The card as ``model_card.md`` on the active (register) run."""
    mlflow.log_text(card, ARTIFACT)


def description(card: str, register_run_id: str) -> str:
    """The card as a model version's description: whole when it fits ``MAX_DESCRIPTION``, else
    cut at a line with a pointer to the whole card."""
    if len(card) <= MAX_DESCRIPTION:
        return card
    tail = f"\n\n_Cut here: the whole card is `{ARTIFACT}` of register run `{register_run_id}`._\n"
    cut = card[: MAX_DESCRIPTION - len(tail)].rsplit("\n", 1)[0]
    return cut + tail


def safe_render(run, verdict: gate.Verdict, *, model_name: str, template: str, args,
                **more) -> str:  # fmt: skip
    """``render``, or a short card saying what failed: the card never blocks a registration."""
    try:
        return render(run, verdict, model_name=model_name, template=template, args=args, **more)
    except Exception as exc:  # an unreadable artifact store, a run of another shape
        return (
            f"# {model_name}: model card\n\n**Gate: {verdict.status}**. {verdict.describe()}\n\n"
            f"_The rest of the card could not be built: {type(exc).__name__}: {exc}_\n"
        )
