"""The scoring job's own parts: where predictions may be read from and written to."""

from __future__ import annotations

import pytest

from jobs import scoring


def test_output_and_input_must_be_absolute_under_mlflow_run_and_a_known_format(
    monkeypatch, tmp_path
):
    assert scoring.output_path("") is None
    with pytest.raises(ValueError, match=r"use a \.csv or \.parquet file name"):
        scoring.output_path("/tmp/out.json")
    monkeypatch.setenv("MLFLOW_RUN_ID", "x")
    with pytest.raises(ValueError, match=r"output 'out\.csv' is relative; under 'mlflow run'"):
        scoring.output_path("out.csv")
    with pytest.raises(ValueError, match=r"input 'rows\.csv' is relative; under 'mlflow run'"):
        scoring.input_path("rows.csv")
    with pytest.raises(ValueError, match=r"input '/nowhere/rows\.csv': no such file"):
        scoring.input_path("/nowhere/rows.csv")
