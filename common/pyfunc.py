"""The one MLflow model every trainer logs: preprocessor + framework model + label mapping.

It serves on raw feature rows (strings, missing values, unseen categories) exactly as the
training data looked, and is logged as code (``common/serving_model.py``) with its artifacts in
safe formats: the preprocessor via skops with an explicit allowlist, the estimator in whatever
safe format its trainer chose (skops, XGBoost JSON, a torch state_dict). The model ships
``common/`` and ``trainers/`` as its code; ``config.json`` names its trainer, and the estimator is
loaded by that trainer's code from the ``trainers`` registry, never by a function the file names.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.types.schema import AnyType, ColSpec, Schema

import trainers
from common.columns import Roles
from common.environment import MODEL_PACKAGES, PROJECT_ROOT, model_requirements
from common.errors import printable
from common.metrics import as_probabilities
from common.preprocessing import normalize_features
from common.profile import FILE_NAME as PROFILE_FILE
from common.profile import Profile
from common.skops_import import skops_io

MODEL_NAME = "model"
MODEL_CODE = Path(__file__).with_name("serving_model.py")
# What a logged model needs to load and predict (the one list, in common.environment).
SERVING_CODE = MODEL_PACKAGES
SERVED_TASKS = ("classification", "regression")
# Types inside a fitted common.preprocessing ColumnTransformer that skops does not trust by
# default. Anything else found at save time is refused rather than silently trusted.
# CategoryCodes, DateParts and Float32 are this project's own (common/preprocessing.py, shipped
# with the model).
PREPROCESSOR_TRUSTED_TYPES = [
    "builtins.str",
    "builtins.float",
    "numpy.dtype",
    "common.preprocessing.CategoryCodes",
    "common.preprocessing.DateParts",
    "common.preprocessing.Float32",
]


@dataclass(frozen=True)
class ModelSpec:
    """What the pyfunc needs to rebuild predictions; saved as ``config.json`` in the model."""

    task: str
    numeric: list[str]
    categorical: list[str]
    classes: list | None
    trainer: str  # a name in the trainers registry, whose code loads the estimator
    estimator_file: str
    # Absent from models logged before column roles: read as empty.
    boolean: list[str] = field(default_factory=list)
    datetime: list[str] = field(default_factory=list)

    @property
    def roles(self) -> Roles:
        return Roles(
            numeric=tuple(self.numeric), categorical=tuple(self.categorical),
            boolean=tuple(self.boolean), datetime=tuple(self.datetime),
        )  # fmt: skip

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ModelSpec:
        """Read and check a model's ``config.json`` (also the form logged before trainers/).

        Raises:
            ValueError: a field is missing, unknown or of the wrong kind.
        """
        config = dict(config)
        if "estimator_loader" in config:  # logged before the registry: a known loader only
            loader = config.pop("estimator_loader")
            if loader not in trainers.LEGACY_LOADERS:
                raise ValueError(f"model config: unknown estimator_loader {loader!r}")
            config["trainer"] = trainers.LEGACY_LOADERS[loader]
        try:
            spec = cls(**config)
        except TypeError as exc:
            raise ValueError(f"model config: {exc}") from None
        if not isinstance(spec.trainer, str):
            raise ValueError(f"model config: trainer {spec.trainer!r}")
        trainers.get(spec.trainer)  # a registered trainer, or a ValueError naming the known ones
        groups = (spec.numeric, spec.categorical, spec.boolean, spec.datetime)
        if not all(isinstance(group, list) for group in groups):
            raise ValueError(
                "model config: numeric, categorical, boolean and datetime must be lists of columns"
            )
        columns = [column for group in groups for column in group]
        if spec.task not in SERVED_TASKS:
            raise ValueError(f"model config: task {spec.task!r} is not one of {SERVED_TASKS}")
        if not all(isinstance(c, str) for c in columns) or len(set(columns)) != len(columns):
            raise ValueError("model config: feature columns must be distinct strings")
        if (spec.task == "classification") != isinstance(spec.classes, list):
            raise ValueError("model config: classes must be a list exactly for classification")
        name = spec.estimator_file
        if not isinstance(name, str) or name in ("", ".", "..") or Path(name).name != name:
            raise ValueError(f"model config: estimator_file {spec.estimator_file!r}")
        return spec


class InputError(MlflowException, ValueError):
    """Rows this model cannot score (a column missing, text in a number column): the client's
    error, answered with HTTP 400 by ``mlflow models serve``, one line everywhere."""

    def __init__(self, message: str):
        super().__init__(printable(message), error_code=INVALID_PARAMETER_VALUE)


def _not_numeric(rows: pd.DataFrame, roles: Roles) -> str:
    """The first number column of ``rows`` holding a value that is not a number, and that value
    (numbers come as any dtype: the signature types them ``any``)."""
    for name in roles.numeric:
        column = rows[name]
        numbers = pd.to_numeric(column, errors="coerce")
        bad = column[numbers.isna() & column.notna()]
        if len(bad):
            return f"column '{name}' holds {str(bad.iloc[0])[:60]!r} (row {bad.index[0]!r})"
    return "a value that is not a number"


class TabularModel(mlflow.pyfunc.PythonModel):
    """Predicts from raw rows: normalize dtypes -> preprocessor -> estimator -> original labels.

    Output columns: ``prediction``, plus ``probability_<class>`` per class for classifiers.
    """

    def __init__(self, spec: ModelSpec | None = None, preprocessor=None, estimator=None):
        self.spec, self.preprocessor, self.estimator = spec, preprocessor, estimator

    def load_context(self, context) -> None:
        skops = skops_io()

        config = json.loads(Path(context.artifacts["config"]).read_text())
        self.spec = ModelSpec.from_config(config)
        self.preprocessor = skops.load(
            context.artifacts["preprocessor"], trusted=PREPROCESSOR_TRUSTED_TYPES
        )
        trainer = trainers.get(self.spec.trainer)
        self.estimator = trainer.load_estimator(context.artifacts["estimator"], self.spec.task)

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        spec = self.spec
        if not isinstance(model_input, pd.DataFrame):
            model_input = pd.DataFrame(model_input)
        roles = spec.roles
        missing = [c for c in roles.used if c not in model_input.columns]
        if missing:
            raise InputError(f"input is missing feature column(s): {', '.join(missing)}")
        try:
            features = normalize_features(model_input, roles)
        except (TypeError, ValueError) as exc:
            where = _not_numeric(model_input, roles)
            raise InputError(f"input has a non-numeric value in a numeric column: {where}") from exc
        encoded = self.preprocessor.transform(features)
        if spec.task == "regression":
            prediction = np.asarray(self.estimator.predict(encoded), dtype="float64").ravel()
            return pd.DataFrame({"prediction": prediction}, index=model_input.index)
        proba = as_probabilities(self.estimator.predict_proba(encoded))
        labels = np.asarray(spec.classes, dtype=object)[proba.argmax(axis=1)]
        out = {"prediction": pd.Series(labels, index=model_input.index).infer_objects()}
        for i, label in enumerate(spec.classes):
            out[f"probability_{label}"] = proba[:, i]
        return pd.DataFrame(out, index=model_input.index)


def _input_schema(inferred: Schema, rows: pd.DataFrame, roles: Roles) -> Schema:
    """Every feature column required (a missing column is an error, not a column of missing
    values; MLflow marks one optional when the rows it saw had gaps). A number column accepts any
    type: MLflow's ``long`` refuses float64, so a whole-number column could not be scored once a
    batch holds a missing value (the preprocessor imputes it), and ``double`` refuses int64, so
    a column with gaps in training refused a batch without any; the model converts numbers
    itself and refuses text in one line. A text or boolean column with gaps accepts any type: a
    batch where it is all missing arrives as float NaN, which MLflow would refuse to convert to
    string or boolean. A date column accepts any type: text in any spelling, naive or zoned
    datetimes (MLflow refuses zoned ones); the model parses them."""
    numeric, dates = set(roles.numeric), set(roles.datetime)
    columns = []
    for spec in inferred.inputs:
        gaps = bool(rows[spec.name].isna().any())
        loose = spec.name in dates or spec.name in numeric or gaps
        columns.append(ColSpec(AnyType() if loose else spec.type, spec.name, required=True))
    return Schema(columns)


def save_preprocessor(preprocessor, path: Path) -> None:
    """Dump a fitted preprocessor with skops, refusing types outside the allowlist."""
    skops = skops_io()

    skops.dump(preprocessor, path)
    unknown = sorted(set(skops.get_untrusted_types(file=path)) - set(PREPROCESSOR_TRUSTED_TYPES))
    if unknown:
        raise TypeError(f"preprocessor holds types not in PREPROCESSOR_TRUSTED_TYPES: {unknown}")


def log_model(
    *,
    spec: ModelSpec,
    preprocessor,
    estimator,
    save_estimator: Callable[[Any, Path], None],
    example: pd.DataFrame,
    schema_rows: pd.DataFrame | None = None,
    extra_requirements: tuple[str, ...] = (),
    reference: Profile | None = None,
) -> mlflow.models.model.ModelInfo:
    """Log the pyfunc under the name ``model`` with signature, input example and pinned env.

    Args:
        spec: Task, columns, classes and how to load the estimator back.
        preprocessor: The fitted ColumnTransformer.
        estimator: The fitted framework model, saved by ``save_estimator(estimator, path)``.
        example: A few raw feature rows with the training data's dtypes: the input example, and
            the signature's outputs (from predicting on them).
        schema_rows: The rows the signature's input types come from (default: ``example``):
            many, so a column that is missing in the first rows is still typed by its values.
        extra_requirements: Framework packages the estimator needs (e.g. ``"torch"``).
        reference: The training table's profile, saved as the artifact ``profile``
            (``artifacts/profile.json``) for ``monitor``; loading the model ignores it.
    """
    model = TabularModel(spec, preprocessor, estimator)
    with warnings.catch_warnings(), tempfile.TemporaryDirectory() as tmp:
        # The hint about integer columns concerns the output's class labels, never missing.
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        inputs = example if schema_rows is None else schema_rows
        signature = infer_signature(inputs, model.predict(None, example))
        signature.inputs = _input_schema(signature.inputs, inputs, spec.roles)
        tmp_path = Path(tmp)
        (tmp_path / "config.json").write_text(json.dumps(asdict(spec), indent=2))
        save_preprocessor(preprocessor, tmp_path / "preprocessor.skops")
        save_estimator(estimator, tmp_path / spec.estimator_file)
        artifacts = {
            "config": str(tmp_path / "config.json"),
            "preprocessor": str(tmp_path / "preprocessor.skops"),
            "estimator": str(tmp_path / spec.estimator_file),
        }
        if reference is not None:
            (tmp_path / PROFILE_FILE).write_text(reference.dumps())
            artifacts["profile"] = str(tmp_path / PROFILE_FILE)
        return mlflow.pyfunc.log_model(
            name=MODEL_NAME,
            python_model=str(MODEL_CODE),
            artifacts=artifacts,
            code_paths=[str(PROJECT_ROOT / folder) for folder in SERVING_CODE],
            signature=signature,
            input_example=example,
            pip_requirements=model_requirements(*extra_requirements),
        )
