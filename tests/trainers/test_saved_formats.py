"""Each trainer's estimator survives its own safe format: reloaded, it predicts the same."""

from __future__ import annotations

import numpy as np

import trainers
from common import data
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
