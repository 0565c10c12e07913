"""The pinned environment and the one list of the code a model and a Spark job ship."""

from __future__ import annotations

import zipfile

from common import environment, pyfunc


def test_a_model_ships_the_one_listed_code_and_a_job_adds_the_run_layer():
    assert pyfunc.SERVING_CODE == environment.MODEL_PACKAGES == ("common", "trainers")
    assert environment.JOB_PACKAGES == ("common", "trainers", "jobs")


def test_the_code_archive_holds_every_python_file_of_the_packages_sub_packages_too(tmp_path):
    archive = environment.write_code_archive(tmp_path / "code.zip", environment.JOB_PACKAGES)
    names = set(zipfile.ZipFile(archive).namelist())
    root = environment.PROJECT_ROOT
    expected = {
        p.relative_to(root).as_posix()
        for package in environment.JOB_PACKAGES
        for p in (root / package).rglob("*.py")
    }
    assert names == expected
    assert {"jobs/tuning.py", "trainers/contract.py", "common/pyfunc.py"} <= names
    assert not any("__pycache__" in name or name.startswith("entrypoints/") for name in names)


def test_model_requirements_pin_the_base_packages_and_the_framework_from_the_lock():
    pins = environment.locked_versions()
    requirements = environment.model_requirements("xgboost-cpu")
    assert f"mlflow=={pins['mlflow']}" in requirements
    assert f"xgboost-cpu=={pins['xgboost-cpu']}" in requirements
    assert requirements[-1] == f"-c {environment.LOCK_FILE}"
