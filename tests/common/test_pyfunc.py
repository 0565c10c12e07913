"""The servable model: safe formats, label mapping, and a config that cannot choose code."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import FunctionTransformer

import trainers
from common import data
from common.pyfunc import ModelSpec, TabularModel, save_preprocessor

SKLEARN = trainers.get("sklearn")
FIVE_TREES = SKLEARN.params(n_estimators=5)


def _double(x):
    return 2 * x


def test_preprocessor_with_a_type_outside_the_allowlist_is_refused(tmp_path):
    odd = ColumnTransformer([("double", FunctionTransformer(_double), ["x"])])
    odd.fit(pd.DataFrame({"x": [1.0, 2.0]}))
    with pytest.raises(TypeError, match="not in PREPROCESSOR_TRUSTED_TYPES"):
        save_preprocessor(odd, tmp_path / "pre.skops")


def test_fitted_preprocessor_uses_only_allowlisted_types(tmp_path, churn_csv):
    table = data.load(str(churn_csv), target="churn")
    preprocessor, _ = SKLEARN.fit(
        table.features, table.y, task="classification", seed=0, params=FIVE_TREES
    )
    save_preprocessor(preprocessor, tmp_path / "pre.skops")  # raises if a type is not allowed


def test_predict_maps_codes_back_to_labels_and_names_missing_columns(churn_csv, raw_rows):
    table = data.load(str(churn_csv), target="churn")
    preprocessor, forest = SKLEARN.fit(
        table.features, table.y, task="classification", seed=0, params=FIVE_TREES
    )
    spec = ModelSpec(
        task="classification",
        numeric=table.numeric,
        categorical=table.categorical,
        classes=table.classes,
        trainer="sklearn",
        estimator_file="estimator.skops",
    )
    model = TabularModel(spec, preprocessor, forest)
    out = model.predict(None, raw_rows)
    assert list(out.columns) == ["prediction", "probability_no", "probability_yes"]
    assert out["prediction"].isin(["no", "yes"]).all()
    with pytest.raises(ValueError, match="missing feature column"):
        model.predict(None, raw_rows.drop(columns=["region"]))
    with pytest.raises(ValueError, match="non-numeric value in a numeric column"):
        model.predict(None, raw_rows.assign(tenure_months=["a", "b", "c"]))


CONFIG = {
    "task": "classification",
    "numeric": ["x"],
    "categorical": ["c"],
    "classes": ["no", "yes"],
    "trainer": "sklearn",
    "estimator_file": "estimator.skops",
}


def test_config_of_a_model_logged_before_the_registry_maps_to_its_trainer():
    legacy = {k: v for k, v in CONFIG.items() if k != "trainer"}
    legacy["estimator_loader"] = "entrypoints.train_xgboost:load_estimator"
    assert ModelSpec.from_config(legacy).trainer == "xgboost"
    assert ModelSpec.from_config(CONFIG) == ModelSpec(**CONFIG)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"estimator_loader": "joblib:load"}, "unknown estimator_loader 'joblib:load'"),
        ({"trainer": "joblib"}, "trainer 'joblib': expected one of pytorch, sklearn, xgboost"),
        ({"trainer": ["sklearn"]}, "trainer ['sklearn']"),
        ({"task": "/tmp/x"}, "task '/tmp/x' is not one of"),
        ({"estimator_file": "../estimator.skops"}, "estimator_file '../estimator.skops'"),
        ({"numeric": "x"}, "must be lists of columns"),
        ({"classes": None}, "classes must be a list exactly for classification"),
        ({"loader": "os:system"}, "unexpected keyword argument 'loader'"),
    ],
)
def test_a_config_naming_code_or_odd_values_is_refused(change, message):
    config = {**CONFIG, **change}
    if "estimator_loader" in change:
        del config["trainer"]
    with pytest.raises(ValueError, match=re.escape(message)):
        ModelSpec.from_config(config)
