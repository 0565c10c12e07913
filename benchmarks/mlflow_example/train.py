"""MLflow's sklearn_elasticnet_wine example, as published, on a CSV whose last column is y."""

import sys

import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
from mlflow.models import infer_signature
from sklearn.linear_model import ElasticNet
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import train_test_split


def eval_metrics(actual, pred):
    rmse = np.sqrt(mean_squared_error(actual, pred))
    mae = mean_absolute_error(actual, pred)
    r2 = r2_score(actual, pred)
    return rmse, mae, r2


if __name__ == "__main__":
    np.random.seed(40)
    data = pd.read_csv(sys.argv[1])
    train, test = train_test_split(data)
    train_x, test_x = train.drop(["y"], axis=1), test.drop(["y"], axis=1)
    train_y, test_y = train[["y"]], test[["y"]]
    alpha, l1_ratio = float(sys.argv[2]), float(sys.argv[3])
    with mlflow.start_run():
        lr = ElasticNet(alpha=alpha, l1_ratio=l1_ratio, random_state=42)
        lr.fit(train_x, train_y)
        predicted = lr.predict(test_x)
        rmse, mae, r2 = eval_metrics(test_y, predicted)
        print(f"Elasticnet model (alpha={alpha:f}, l1_ratio={l1_ratio:f}):")
        print(f"  RMSE: {rmse}  MAE: {mae}  R2: {r2}")
        mlflow.log_param("alpha", alpha)
        mlflow.log_param("l1_ratio", l1_ratio)
        mlflow.log_metric("rmse", rmse)
        mlflow.log_metric("r2", r2)
        mlflow.log_metric("mae", mae)
        signature = infer_signature(train_x, lr.predict(train_x))
        mlflow.sklearn.log_model(lr, name="model", signature=signature, input_example=train_x[:5])
