"""The script a user would write instead of our run: the peer ``benchmarks/scale.py`` measures
``train_xgboost`` and ``train_sklearn`` against, on the same table.

    python benchmarks/scale_peer.py --data table.csv --target churned --model xgboost

pandas ``read_csv``; the ID column dropped, the date as days since 1970, text columns as pandas
categoricals (XGBoost's native categoricals; the forest gets their codes); the same 80/20
stratified split and seed as our run; ``mlflow.xgboost.autolog`` / ``mlflow.sklearn.autolog``
log the parameters, the metrics and the model. XGBoost gets our defaults' booster settings and
early stopping on 15% of the training rows; the forest the trees and depth it is given.
"""

from __future__ import annotations

import argparse

import mlflow
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--model", choices=["xgboost", "forest"], required=True)
    parser.add_argument("--n-estimators", type=int, default=100)
    parser.add_argument("--max-depth", type=int, default=None)
    args = parser.parse_args()

    frame = pd.read_csv(args.data)
    y = frame.pop(args.target).to_numpy()
    frame = frame.drop(columns=["row_id"])
    frame["signup_date"] = (pd.to_datetime(frame["signup_date"]) - pd.Timestamp(0)).dt.days
    for name in [c for c in frame.columns if pd.api.types.is_string_dtype(frame[c])]:
        frame[name] = frame[name].astype("category")
    X_train, X_test, y_train, y_test = train_test_split(
        frame, y, test_size=0.2, random_state=42, stratify=y
    )
    mlflow.set_experiment("bench/scale-peer")
    with mlflow.start_run():
        if args.model == "xgboost":
            import xgboost as xgb

            mlflow.xgboost.autolog()
            fit_X, val_X, fit_y, val_y = train_test_split(
                X_train, y_train, test_size=0.15, random_state=42, stratify=y_train
            )
            model = xgb.XGBClassifier(
                n_estimators=args.n_estimators, max_depth=args.max_depth or 6, learning_rate=0.1,
                subsample=0.8, colsample_bytree=0.8, early_stopping_rounds=30,
                tree_method="hist", enable_categorical=True, random_state=42,
            )  # fmt: skip
            model.fit(fit_X, fit_y, eval_set=[(val_X, val_y)], verbose=False)
        else:
            from sklearn.ensemble import RandomForestClassifier

            mlflow.sklearn.autolog()
            codes = {c: X_train[c].cat.codes for c in X_train.select_dtypes("category")}
            X_train = X_train.assign(**codes)
            X_test = X_test.assign(**{c: X_test[c].cat.codes for c in codes})
            model = RandomForestClassifier(
                n_estimators=args.n_estimators, max_depth=args.max_depth, max_features=0.5,
                random_state=42, n_jobs=-1,
            ).fit(X_train, y_train)  # fmt: skip
        auc = roc_auc_score(y_test, model.predict_proba(X_test)[:, 1])
        mlflow.log_metric("test_roc_auc", auc)
    print(f"test_roc_auc={auc:.4f} rows={len(y)} positives={np.mean(y):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
