"""Databricks Runtime 16.4 LTS ML emulated here: its pyspark, the bundle's install, then the jobs'
code training, tuning and scoring on that Spark (tests/helpers/databricks_runtimes.py)."""

from __future__ import annotations

import pytest

from tests.helpers.databricks_runtimes import emulated_runtime, train_tune_and_score

pytestmark = [pytest.mark.slow, pytest.mark.runtime]


def test_runtime_16_4_lts_ml_installs_trains_tunes_and_scores_on_its_own_spark(tmp_path):
    with emulated_runtime("16.4 LTS ML", tmp_path) as (python, _costs):
        train_tune_and_score(python, tmp_path)
