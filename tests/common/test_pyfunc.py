from __future__ import annotations

import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import FunctionTransformer

from common import data
from common.pyfunc import ModelSpec, TabularModel, save_preprocessor
from entrypoints import train_sklearn


def _double(x):
    return 2 * x


def test_preprocessor_with_a_type_outside_the_allowlist_is_refused(tmp_path):
    odd = ColumnTransformer([("double", FunctionTransformer(_double), ["x"])])
    odd.fit(pd.DataFrame({"x": [1.0, 2.0]}))
    with pytest.raises(TypeError, match="not in PREPROCESSOR_TRUSTED_TYPES"):
        save_preprocessor(odd, tmp_path / "pre.skops")


def test_fitted_preprocessor_uses_only_allowlisted_types(tmp_path, churn_csv):
    table = data.load(str(churn_csv), target="churn")
    preprocessor, _ = train_sklearn.train(
        table.features, table.y, task="classification", seed=0, n_estimators=5
    )
    save_preprocessor(preprocessor, tmp_path / "pre.skops")  # raises if a type is not allowed


def test_predict_maps_codes_back_to_labels_and_names_missing_columns(churn_csv, raw_rows):
    table = data.load(str(churn_csv), target="churn")
    preprocessor, forest = train_sklearn.train(
        table.features, table.y, task="classification", seed=0, n_estimators=5
    )
    spec = ModelSpec(
        task="classification",
        numeric=table.numeric,
        categorical=table.categorical,
        classes=table.classes,
        estimator_loader="entrypoints.train_sklearn:load_estimator",
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
