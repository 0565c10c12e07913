"""The pipeline job's own parts: the training step's parameters read against MLproject."""

from __future__ import annotations

import pytest

from jobs import pipeline


def test_train_params_are_parsed_against_the_trainers_mlproject_parameters():
    parsed = pipeline.parse_train_params("n_estimators=5 max_depth='3'", "train_sklearn")
    assert parsed == {"n_estimators": "5", "max_depth": "3"}
    assert pipeline.parse_train_params("hidden_sizes=32,16", "train_pytorch") == {
        "hidden_sizes": "32,16"
    }
    with pytest.raises(ValueError, match="'n_trees=5' is not key=value with a parameter of"):
        pipeline.parse_train_params("n_trees=5", "train_sklearn")
    with pytest.raises(ValueError, match="'seed=1' is not key=value"):  # main's own parameter
        pipeline.parse_train_params("seed=1", "train_sklearn")
    with pytest.raises(ValueError, match="'max_depth' is not key=value"):
        pipeline.parse_train_params("max_depth", "train_sklearn")
