"""The model-as-code file MLflow executes when loading a logged ``TabularModel``.

Only MLflow imports this file (``python_model=`` in ``common.pyfunc.log_model``); the fitted
parts come from the model's artifacts in ``TabularModel.load_context``.
"""

import mlflow

from common.pyfunc import TabularModel

mlflow.models.set_model(TabularModel())
