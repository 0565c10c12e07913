"""reproduce runs only code the user chose: never a repository, option or folder a tag names."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from entrypoints import reproduce
from tests.helpers.project import git
from tests.helpers.runs import all_runs

pytestmark = pytest.mark.adversarial


@pytest.fixture
def attacker_repo(tmp_path: Path) -> tuple[Path, str, Path]:
    """(repository, its commit, marker file): an MLproject whose train_sklearn writes the marker."""
    repo, marker = tmp_path / "attacker", tmp_path / "marker"
    repo.mkdir()
    (repo / "MLproject").write_text(
        "name: innocent\nentry_points:\n  train_sklearn:\n"
        "    parameters:\n      n_estimators: {type: string, default: '1'}\n"
        f"    command: touch {marker}\n"
    )
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "looks fine", cwd=repo)
    return repo, git("rev-parse", "HEAD", cwd=repo), marker


def _original(commit: str, *, metrics: dict[str, float] | None = None, **tags: str) -> str:
    """A FINISHED launcher-style train_sklearn run at ``commit`` with ``tags`` on top, logging
    ``metrics`` (default: a test_accuracy)."""
    base = {
        "mlflow.source.git.commit": commit,
        "git_dirty": "false",
        "mlflow.project.entryPoint": "train_sklearn",
    }
    with mlflow.start_run(tags={**base, **tags}) as run:
        mlflow.log_metrics({"test_accuracy": 0.9} if metrics is None else metrics)
    return run.info.run_id


def _refusal(capsys) -> tuple[str, object]:
    err = capsys.readouterr().err
    (run,) = all_runs("tags.entry_point = 'reproduce'")
    assert run.info.status == "FAILED"
    return err, run


@pytest.mark.parametrize("tag", ["project_repo", "mlflow.source.git.repoURL"])
def test_a_repository_named_by_a_tag_is_shown_not_cloned(attacker_repo, tag, capsys):
    repo, commit, marker = attacker_repo
    original = _original(commit, **{tag: str(repo)})
    assert reproduce.main(["--run-id", original]) == 2
    err, _ = _refusal(capsys)
    assert f"commit {commit} could not be checked out from '" in err
    assert f"records its code at '{repo}'" in err
    assert "if you trust that, pass it as repo=<location>" in err
    assert not marker.exists()


@pytest.mark.parametrize(
    "repo_text", ["--upload-pack=touch {marker}", "--config=core.sshCommand=touch {marker}"]
)
def test_a_repository_that_looks_like_a_git_option_is_a_path(attacker_repo, repo_text, capsys):
    _, commit, marker = attacker_repo
    original = _original(commit)
    argv = ["--run-id", original, "--repo", repo_text.format(marker=marker)]
    assert reproduce.main(argv) == 2
    err, _ = _refusal(capsys)
    assert "could not be checked out from '--" in err
    assert not marker.exists()


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        ({"project_subdir": "../../elsewhere"}, "project_subdir tag '../../elsewhere'"),
        ({"project_subdir": "/etc"}, "project_subdir tag '/etc'"),
        ({"mlflow.source.git.commit": "--orphan=x"}, "is not a full commit sha"),
        ({"mlflow.source.git.commit": "HEAD"}, "is not a full commit sha"),
        ({"mlflow.project.env": "conda"}, "mlflow.project.env tag 'conda': not an env manager"),
        ({"mlflow.project.env": "bash -c touch"}, "not an env manager this project runs with"),
    ],
)
def test_tags_that_leave_the_checkout_pass_options_or_pick_an_env_are_refused_up_front(
    attacker_repo, tags, message, capsys
):
    repo, commit, marker = attacker_repo
    original = _original(commit, **tags)
    assert reproduce.main(["--run-id", original, "--repo", str(repo)]) == 2
    err, run = _refusal(capsys)
    assert message in err
    assert message in run.data.tags["failure_reason"]
    assert [r for r in all_runs() if r.info.status == "RUNNING"] == []
    assert not marker.exists()


@pytest.mark.parametrize("status", ["FAILED", "RUNNING", "KILLED"])
def test_only_a_finished_run_is_reproduced(attacker_repo, status, capsys):
    _, commit, _ = attacker_repo
    original = _original(commit)
    mlflow.tracking.MlflowClient().set_terminated(original, status)
    assert reproduce.main(["--run-id", original]) == 2
    err, _ = _refusal(capsys)
    assert f"is {status}: only a FINISHED run has results to reproduce" in err


@pytest.mark.parametrize("metrics", [{}, {"scoring_seconds": 1.5}])
def test_a_run_without_metrics_to_compare_is_refused_in_one_line(attacker_repo, metrics, capsys):
    _, commit, _ = attacker_repo
    assert reproduce.main(["--run-id", _original(commit, metrics=metrics)]) == 2
    err, _ = _refusal(capsys)
    assert "has no metrics to compare a rerun with" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("value", ["'3", '"unclosed'])
def test_a_logged_parameter_the_launcher_never_wrote_is_one_line(attacker_repo, value, capsys):
    repo, commit, _ = attacker_repo
    original = _original(commit)
    mlflow.tracking.MlflowClient().log_param(original, "n_estimators", value)
    assert reproduce.main(["--run-id", original, "--repo", str(repo)]) == 2
    err, _ = _refusal(capsys)
    assert "is not shell-quoted" in err
    assert "Traceback" not in err
    assert [r for r in all_runs() if r.info.status == "RUNNING"] == []
