"""The model card register writes: a passed candidate's card is its version's description, a
refused one's is on the register run; a fork's template is checked; missing artifacts are named
and never block a registration."""

from __future__ import annotations

import os

import mlflow
import pytest
from mlflow.tracking import MlflowClient

import trainers
from entrypoints import register
from jobs import model_card
from tests.helpers.project import PROJECT_ROOT
from tests.helpers.runs import all_runs, train_main

NAME = "renewals"
RENEWALS_CSV = PROJECT_ROOT / "data" / "renewals_sample.csv"


@pytest.fixture(autouse=True)
def _registry_follows_tracking():
    yield
    mlflow.set_registry_uri(None)
    os.environ.pop("MLFLOW_REGISTRY_URI", None)


def _train(*argv: str) -> str:
    data = ["--data", str(RENEWALS_CSV), "--target", "renewed"]
    assert train_main(trainers.get("sklearn"), "--autolog", "false", *data, *argv) == 0
    return all_runs("tags.entry_point = 'train_sklearn'")[-1].info.run_id


def _card_of(register_run) -> str:
    return mlflow.artifacts.load_text(f"runs:/{register_run.info.run_id}/{model_card.ARTIFACT}")


def test_a_passed_candidates_card_is_its_versions_description():
    run_id = _train()
    assert register.main(["--run-id", run_id, "--model-name", NAME, "--promote", "true"]) == 0
    version = MlflowClient().get_model_version(NAME, "1")
    card = version.description
    (registered,) = all_runs("tags.entry_point = 'register'")
    assert _card_of(registered) == card
    assert card.startswith(f"# {NAME}: model card\n")
    assert "**Gate: passed** on `test_roc_auc`" in card
    candidate = float(version.tags["candidate_test_roc_auc"])
    baseline = float(version.tags["baseline_test_roc_auc"])
    assert f"| baseline | passed | {candidate:.6g} | naive model {baseline:.6g} |" in card
    assert "| champion | not applied |" in card  # the first version has none to beat
    assert f"| candidate | {candidate:.6g} |" in card
    # The table, its columns and their roles, the dropped ID with its reason.
    assert "| table | `renewals_sample` |" in card
    assert "| task, target | classification, `renewed` |" in card
    assert "`signup_date` range |" in card
    assert "| `customer_id` | dropped | – | identifier:" in card
    assert "| `is_premium` | boolean | 0.0% |" in card
    assert "## What the model relies on" in card
    assert "| `signup_date` |" in card.split("## What the model relies on")[1]
    assert f"- training run: `{run_id}`" in card
    assert "- environment: the model's pinned requirements, sha256 `" in card
    assert f"- `runs:/{run_id}/plots/roc_curve.png`" in card
    # The fork's section, its placeholders filled.
    assert "## Intended use" in card
    assert f"promoting training run `{run_id}`" in card


def test_a_refused_candidates_card_is_on_the_register_run_and_says_why():
    good = _train()
    assert register.main(["--run-id", good, "--model-name", NAME, "--promote", "true"]) == 0
    bad = _train("--max-depth", "1", "--n-estimators", "1", "--max-features", "0.05")
    assert register.main(["--run-id", bad, "--model-name", NAME]) == 2
    refused = all_runs("tags.entry_point = 'register'")[-1]
    assert refused.info.status == "FAILED"
    card = _card_of(refused)
    assert "**Gate: failed** on `test_roc_auc`" in card
    assert "| champion | failed |" in card
    champion = float(MlflowClient().get_model_version(NAME, "1").tags["candidate_test_roc_auc"])
    assert f"| champion | {champion:.6g} |" in card  # the champion's score on the same rows
    assert f"- training run: `{bad}`" in card
    assert len(MlflowClient().search_model_versions(f"name = '{NAME}'")) == 1
    # The candidate beside the champion on the same rows, on the register run and in the card.
    compared = mlflow.artifacts.load_dict(f"runs:/{refused.info.run_id}/comparison.json")
    assert compared["rows"] == 120  # the renewals table's test split
    assert 0 < compared["rows_disagreeing"] < 120
    assert refused.data.metrics["rows_disagreeing"] == compared["rows_disagreeing"]
    assert [row["class"] for row in compared["per_class"]] == ["no", "yes"]
    plots = {a.path for a in MlflowClient().list_artifacts(refused.info.run_id, "plots")}
    assert plots == {"plots/candidate_vs_champion.png"}
    assert f"They predict another class on **{compared['rows_disagreeing']} of 120** rows" in card
    assert "| `yes` |" in card
    assert "Each cell: candidate vs champion." in card


def test_a_template_placeholder_the_card_does_not_fill_is_one_line(tmp_path, monkeypatch, capsys):
    template = tmp_path / "model_card_template.md"
    template.write_text("## Owner\n{team_name} owns {model_name}.\n")
    monkeypatch.setattr(model_card, "TEMPLATE", template)
    run_id = _train()
    assert register.main(["--run-id", run_id, "--model-name", NAME]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "model_card_template.md: unknown placeholder {team_name}; the card fills" in line
    assert MlflowClient().search_model_versions(f"name = '{NAME}'") == []


def test_a_missing_artifact_is_named_and_registration_goes_on():
    run_id = _train()
    store = MlflowClient().get_run(run_id).info.artifact_uri.removeprefix("file://")
    os.remove(os.path.join(store, "features.json"))
    assert register.main(["--run-id", run_id, "--model-name", NAME]) == 0
    card = MlflowClient().get_model_version(NAME, "1").description
    assert f"_`features.json` is missing from training run `{run_id}`._" in card
    assert "**Gate: passed**" in card


def test_a_card_longer_than_the_registry_stores_is_cut_at_a_line_with_a_pointer():
    card = "# m: model card\n" + "".join(f"| `c{i}` | numeric | 0.0% |  |\n" for i in range(400))
    cut = model_card.description(card, "abc")
    assert len(cut) <= model_card.MAX_DESCRIPTION
    assert cut.endswith("_Cut here: the whole card is `model_card.md` of register run `abc`._\n")
    assert cut.split("\n\n_Cut here")[0] in card  # whole lines only
    assert model_card.description("short", "abc") == "short"


def test_a_pipe_in_a_column_name_stays_inside_its_table_cell():
    assert model_card._cell("a|b\nc") == "a\\|b c"
