"""Each trainer's estimator survives its own safe format: reloaded, it predicts the same."""

from __future__ import annotations

import numpy as np
import pytest

import trainers
from common import data, preprocessing
from tests.helpers.project import CHURN_CSV
from tests.helpers.runs import quick_params


def test_reloaded_estimator_predicts_like_the_trained_one(trainer, tmp_path):
    table = data.load("builtin:breast_cancer", target="")
    split = data.split(table, test_size=0.2, seed=0)
    preprocessor, estimator = trainer.fit(
        split.X_train, split.y_train, task="classification", seed=0, params=quick_params(trainer)
    )
    encoded = preprocessor.transform(split.X_test)
    saved = tmp_path / trainer.estimator_file
    trainer.module.save_estimator(estimator, saved)
    reloaded = trainers.get(trainer.name).load_estimator(str(saved), "classification")
    np.testing.assert_array_equal(reloaded.predict_proba(encoded), estimator.predict_proba(encoded))


@pytest.mark.parametrize(
    ("target", "task"), [("churn", "classification"), ("support_tickets", "regression")]
)
def test_xgboost_splits_on_categories_with_gaps_and_reloads_them(target, task, tmp_path):
    """XGBoost gets the native columns (gaps kept, category codes it splits as categories); its
    JSON keeps the feature types, so the reloaded model predicts the same from the same rows,
    and TreeSHAP gives one contribution per encoded feature."""
    trainer = trainers.TRAINERS["xgboost"]
    table = data.load(str(CHURN_CSV), target=target, task=task)
    split = data.split(table, test_size=0.25, seed=0)
    preprocessor, estimator = trainer.fit(
        split.X_train, split.y_train, task=task, seed=0, params=quick_params(trainer),
        roles=table.roles,
    )  # fmt: skip
    types = preprocessing.feature_types(preprocessor)
    assert "c" in types
    assert estimator.get_booster().feature_types == types
    encoded = preprocessor.transform(split.X_test)
    assert np.isnan(encoded).any()  # the table's gaps reach the booster
    saved = tmp_path / trainer.estimator_file
    trainer.module.save_estimator(estimator, saved)
    reloaded = trainers.get("xgboost").load_estimator(str(saved), task)
    np.testing.assert_array_equal(reloaded.predict(encoded), estimator.predict(encoded))
    shap = trainer.module.contributions(reloaded, encoded)
    assert shap.shape == encoded.shape
    assert np.isfinite(shap).all()
    assert shap.sum() > 0
