"""A logged model's data files never choose what code runs when it is loaded."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import mlflow
import pytest

import trainers
from tests.helpers.runs import only_run, train_main

pytestmark = pytest.mark.adversarial


class _Payload:
    """Unpickling this creates ``path``: the marker that code from the artifact ran."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


@pytest.fixture
def model_dir(churn_csv, tmp_path) -> Path:
    """A freshly logged churn model, downloaded to a folder the test may tamper with."""
    argv = ["--data", str(churn_csv), "--target", "churn", "--autolog", "false"]
    assert train_main(trainers.get("sklearn"), *argv) == 0
    uri = f"runs:/{only_run().info.run_id}/model"
    return Path(mlflow.artifacts.download_artifacts(uri, dst_path=str(tmp_path / "download")))


def _tamper(model_dir: Path, marker: Path, **config_changes) -> None:
    """Swap the estimator for a pickle that creates ``marker`` and edit config.json."""
    artifacts = model_dir / "artifacts"
    (artifacts / "estimator.skops").write_bytes(pickle.dumps(_Payload(marker)))
    config = json.loads((artifacts / "config.json").read_text())
    for key, value in config_changes.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    (artifacts / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"trainer": None, "estimator_loader": "joblib:load"}, "unknown estimator_loader"),
        ({"trainer": None, "estimator_loader": "pickle:load"}, "unknown estimator_loader"),
        ({"trainer": "joblib"}, "trainer 'joblib': expected one of"),
        ({"task": "/tmp"}, "task '/tmp' is not one of"),
    ],
)
def test_a_config_naming_another_loader_is_refused_and_the_pickle_never_runs(
    model_dir, tmp_path, changes, message
):
    marker = tmp_path / "code-ran"
    _tamper(model_dir, marker, **changes)
    with pytest.raises(Exception, match=message):
        mlflow.pyfunc.load_model(str(model_dir))
    assert not marker.exists()


def test_a_pickle_in_place_of_the_estimator_is_refused_by_the_safe_loader(model_dir, tmp_path):
    marker = tmp_path / "code-ran"
    _tamper(model_dir, marker)  # config untouched: the registry's skops loader reads it
    with pytest.raises(Exception):  # noqa: B017, PT011  skops refuses a non-skops file
        mlflow.pyfunc.load_model(str(model_dir))
    assert not marker.exists()


def test_a_preprocessor_with_untrusted_types_is_refused(model_dir, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(model_dir, other)
    marker = tmp_path / "code-ran"
    (other / "artifacts" / "preprocessor.skops").write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(Exception):  # noqa: B017, PT011
        mlflow.pyfunc.load_model(str(other))
    assert not marker.exists()
