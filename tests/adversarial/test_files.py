"""predict never loses a user's file: not an existing output, not its own input."""

from __future__ import annotations

import hashlib
from pathlib import Path

import mlflow
import pandas as pd
import pytest

import trainers
from entrypoints import predict
from jobs import scoring
from tests.helpers.runs import all_runs, train_main

pytestmark = pytest.mark.adversarial
URI = "models:/churn@champion"


def _fingerprint(path: Path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def _predict(*argv: str) -> int:
    return predict.main(["--model-uri", URI, *argv])


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_an_existing_output_is_refused_and_left_as_it_was(
    churn_champion, churn_csv, tmp_path, suffix, capsys
):
    out = tmp_path / f"report{suffix}"
    out.write_bytes(b"the user's own file")
    before = _fingerprint(out)
    assert _predict("--input", str(churn_csv), "--output", str(out)) == 2
    err = capsys.readouterr().err
    assert f"error: output '{out}' exists; pass overwrite=true to replace it" in err
    assert _fingerprint(out) == before


@pytest.mark.parametrize("overwrite", ["false", "true"])
def test_the_input_is_never_the_output(churn_champion, churn_csv, tmp_path, overwrite, capsys):
    rows = tmp_path / "rows.csv"
    rows.write_bytes(churn_csv.read_bytes())
    before = _fingerprint(rows)
    argv = ["--input", str(rows), "--output", str(rows), "--overwrite", overwrite]
    assert _predict(*argv) == 2
    assert "is the input or holds it: write the predictions elsewhere" in capsys.readouterr().err
    assert _fingerprint(rows) == before
    # The same file through another spelling of its path.
    other = tmp_path / "sub" / ".." / "rows.csv"
    assert _predict("--input", str(rows), "--output", str(other), "--overwrite", overwrite) == 2
    assert _fingerprint(rows) == before


def test_a_failed_overwrite_keeps_the_old_output_and_leaves_no_partial_file(
    churn_champion, churn_csv, tmp_path, capsys
):
    out = tmp_path / "scored.csv"
    out.write_text("yesterday's predictions\\n")
    bad = tmp_path / "rows.csv"
    pd.read_csv(churn_csv).drop(columns="region").to_csv(bad, index=False)
    assert _predict("--input", str(bad), "--output", str(out), "--overwrite", "true") == 2
    assert "Model is missing inputs ['region']" in capsys.readouterr().err
    assert out.read_text() == "yesterday's predictions\\n"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".partial")) == []


def test_overwrite_true_replaces_the_output_with_complete_predictions(
    churn_champion, churn_csv, tmp_path
):
    out = tmp_path / "scored.parquet"
    out.write_bytes(b"old")
    assert _predict("--input", str(churn_csv), "--output", str(out), "--overwrite", "true") == 0
    assert len(pd.read_parquet(out)) == 400
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".partial")] == []


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: (tmp / "file.txt").write_text("x") and tmp / "file.txt" / "out.csv",
         "is not a folder this run can write to"),
        (lambda tmp: Path("/proc/out.csv"), "is not a folder this run can write to"),
    ],
)  # fmt: skip
def test_an_output_that_cannot_be_written_is_refused_before_scoring(
    churn_champion, churn_csv, tmp_path, make, message, capsys
):
    out = make(tmp_path)  # a file as the parent, or /proc: refused even for root
    assert _predict("--input", str(churn_csv), "--output", str(out)) == 2
    assert message in capsys.readouterr().err
    assert all_runs("tags.entry_point = 'predict'") == []


def test_a_header_only_input_is_one_line_and_a_failed_run(churn_champion, tmp_path, capsys):
    rows = tmp_path / "empty.csv"
    rows.write_text("customer_plan,region,tenure_months,monthly_charges,support_tickets\\n")
    assert _predict("--input", str(rows)) == 2
    assert f"error: input '{rows}' has no rows to score" in capsys.readouterr().err
    (run,) = all_runs("tags.entry_point = 'predict'")
    assert run.info.status == "FAILED"
    assert "has no rows to score" in run.data.tags["failure_reason"]


@pytest.mark.parametrize("spelling", ["file://{path}", "file://localhost{path}"])
def test_the_input_given_as_a_file_uri_is_still_never_the_output(
    churn_champion, churn_csv, tmp_path, spelling, capsys
):
    rows = tmp_path / "in.csv"
    rows.write_bytes(churn_csv.read_bytes())
    before = _fingerprint(rows)
    argv = ["--input", spelling.format(path=rows), "--output", str(rows), "--overwrite", "true"]
    assert _predict(*argv) == 2
    assert "is the input or holds it" in capsys.readouterr().err
    assert _fingerprint(rows) == before


def test_an_output_folder_holding_the_input_or_user_files_is_never_replaced(
    churn_champion, churn_csv, tmp_path, capsys
):
    folder = tmp_path / "scored.parquet"
    folder.mkdir()
    rows = folder / "in.csv"
    rows.write_bytes(churn_csv.read_bytes())
    (folder / "notes.txt").write_text("mine")
    argv = ["--input", str(rows), "--output", str(folder), "--overwrite", "true"]
    assert _predict(*argv, "--engine", "spark") == 2
    assert "is the input or holds it" in capsys.readouterr().err
    other = tmp_path / "other.csv"
    other.write_bytes(churn_csv.read_bytes())
    argv = ["--input", str(other), "--output", str(folder), "--overwrite", "true"]
    assert _predict(*argv, "--engine", "spark") == 2
    assert "is a folder that predict did not write" in capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir()) == ["in.csv", "notes.txt"]
    assert _predict(*argv) == 2  # pandas writes a file: a folder is never its output
    assert "is a folder that predict did not write" in capsys.readouterr().err


def test_an_output_that_appears_while_scoring_is_not_replaced_without_overwrite(
    churn_champion, churn_csv, tmp_path, monkeypatch, capsys
):
    out = tmp_path / "race.csv"
    real = scoring.score_pandas

    def another_run_writes_first(model, frame):
        out.write_text("the other run's predictions")
        return real(model, frame)

    monkeypatch.setattr(scoring, "score_pandas", another_run_writes_first)
    assert _predict("--input", str(churn_csv), "--output", str(out)) == 2
    assert "appeared while scoring" in capsys.readouterr().err
    assert out.read_text() == "the other run's predictions"


@pytest.mark.parametrize("tamper", ["estimator", "config"])
def test_a_model_whose_files_do_not_load_is_one_line(churn_csv, tmp_path, tamper, capsys):
    argv = ["--data", str(churn_csv), "--target", "churn", "--autolog", "false"]
    assert train_main(trainers.get("sklearn"), *argv) == 0
    (run,) = all_runs()
    model = Path(mlflow.artifacts.download_artifacts(f"runs:/{run.info.run_id}/model",
                                                      dst_path=str(tmp_path / "m")))  # fmt: skip
    if tamper == "estimator":
        (model / "artifacts" / "estimator.skops").write_bytes(b"not a zip")
    else:
        (model / "artifacts" / "config.json").write_text("[" * 100_000)
    capsys.readouterr()
    assert predict.main(["--model-uri", str(model), "--input", str(churn_csv)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"model_uri '{model}': the model does not load" in err
