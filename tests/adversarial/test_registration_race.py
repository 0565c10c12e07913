"""Registrations started together cannot promote a candidate a sequential order would refuse."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

import trainers
from tests.helpers.project import PROJECT_ROOT
from tests.helpers.runs import all_runs, train_main

pytestmark = [pytest.mark.adversarial, pytest.mark.slow]
NAME = "race"
# Three forests of clearly different quality on breast_cancer's test split.
QUALITY = {
    "weak": ["--n-estimators", "1", "--max-depth", "1", "--max-features", "0.05"],
    "medium": ["--n-estimators", "2", "--max-depth", "2", "--max-features", "0.1"],
    "strong": [],
}


@pytest.fixture
def candidates() -> dict[str, str]:
    """Run ids by quality, each checked to be better than the one before."""
    ids = {}
    for quality, argv in QUALITY.items():
        assert train_main(trainers.get("sklearn"), "--autolog", "false", *argv) == 0
        ids[quality] = all_runs()[-1].info.run_id
    scores = [MlflowClient().get_run(ids[q]).data.metrics["test_roc_auc"] for q in QUALITY]
    assert scores == sorted(set(scores)), scores
    return ids


@pytest.mark.parametrize("order", [["weak", "medium", "strong"], ["strong", "medium", "weak"]])
def test_concurrent_promotions_end_with_the_best_candidate_as_champion(candidates, order, tmp_path):
    command = [sys.executable, "-m", "entrypoints.register", "--model-name", NAME]
    processes = {}
    for quality in order:
        # Each with its own TMPDIR, as separate shells or schedulers would have.
        scratch = tmp_path / f"tmp-{quality}"
        scratch.mkdir()
        processes[quality] = subprocess.Popen(
            [*command, "--run-id", candidates[quality], "--promote", "true"],
            cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "TMPDIR": str(scratch)},
        )  # fmt: skip
    outcomes = {quality: p.communicate(timeout=300) for quality, p in processes.items()}
    codes = {quality: p.returncode for quality, p in processes.items()}
    assert set(codes.values()) <= {0, 2}, outcomes
    assert codes["strong"] == 0  # nothing beats it, whatever ran first
    client = MlflowClient()
    champion = client.get_model_version_by_alias(NAME, "champion")
    assert champion.tags["source_run_id"] == candidates["strong"]
    # Every refusal names the gate; every registered version passed it against the champion
    # of its moment.
    for quality, code in codes.items():
        if code == 2:
            assert "refused by the validation gate: champion:" in outcomes[quality][1]
    versions = client.search_model_versions(f"name = '{NAME}'")
    assert {v.tags["validation_status"] for v in versions} == {"passed"}


def _register(*argv: str) -> int:
    from entrypoints import register

    return register.main(["--model-name", NAME, *argv])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--mode", "dry_run", "--alias", "champion"], "the champion alias moves only with"),
        (["--mode", "dry_run", "--alias", "Champion"], "the champion alias moves only with"),
        (["--mode", "disabled", "--promote", "true"], "promote=true needs mode=enabled"),
        (["--mode", "dry_run", "--promote", "true"], "promote=true needs mode=enabled"),
    ],
)
def test_no_mode_or_alias_makes_an_ungated_model_champion(candidates, argv, message, capsys):
    assert _register("--run-id", candidates["strong"], "--promote", "true") == 0
    assert _register("--run-id", candidates["weak"], *argv) == 2
    assert message in capsys.readouterr().err
    champion = MlflowClient().get_model_version_by_alias(NAME, "champion")
    assert champion.tags["source_run_id"] == candidates["strong"]
