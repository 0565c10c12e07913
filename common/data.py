"""Loading, validating and splitting tabular data, from scikit-learn's bundled sets or a file.

``data`` is ``builtin:<name>`` or a path/URI to a CSV or Parquet file, or to a folder of Parquet
files (as Spark writes a table): a local path, ``file://...``, or any URI MLflow can download
(``s3://``, ``dbfs:/``, ``runs:/``, ...).
"""

from __future__ import annotations

import csv
import hashlib
import re
import shutil
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common.columns import Roles, decide, split_format
from common.errors import UserInputError, one_line

BUILTIN_DATASETS = ("breast_cancer", "wine", "iris", "digits", "diabetes")
TASKS = ("auto", "classification", "regression")
SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
# An integer-valued target with at most this many distinct values is taken as class labels.
MAX_AUTO_CLASSES = 20
# A CSV's leading rows looked at for number columns written as codes (``_code_columns``).
CODE_SAMPLE_ROWS = 10_000
_CODE = re.compile(r"0\d+")
_DIGITS = re.compile(r"\d+")


@dataclass(frozen=True)
class TabularData:
    """A validated table: the used features normalized for the preprocessor, target encoded.

    For classification ``y`` holds codes 0..K-1 and ``classes`` the original label of each code.
    ``roles`` says what every feature column is (``common.columns``); dropped ones are not in
    ``features``.
    """

    features: pd.DataFrame
    y: np.ndarray
    target: str
    task: str
    classes: list | None
    roles: Roles
    source: str
    name: str
    raw: pd.DataFrame

    @property
    def numeric(self) -> list[str]:
        return list(self.roles.numeric)

    @property
    def categorical(self) -> list[str]:
        return list(self.roles.categorical)

    @cached_property  # hashes the whole table: once, though tags and the gate each ask
    def digest(self) -> str:
        """A content hash of the whole table (values, column names, dtypes), 12 hex chars."""
        return content_digest(self.raw)

    def raw_rows(self, index: pd.Index) -> pd.DataFrame:
        """The original feature rows at ``index``, as a client can send them.

        A model's signature and input example come from these, so it accepts rows as they
        appear in the training data; dropped columns are left out (and ignored if sent). The
        types MLflow's schema cannot carry are widened: nullable integers with a missing value
        become float, nullable booleans Python objects (None where missing), timezone-aware
        datetimes UTC without a zone.
        """
        used = set(self.roles.used)
        rows = self.raw.loc[index, [c for c in self.raw.columns if str(c) in used]]
        # Typed by the whole column, so an example without missing values types like the rest.
        gaps = {name: bool(self.raw[name].isna().any()) for name in rows.columns}
        return pd.DataFrame({name: _servable(col, gaps[name]) for name, col in rows.items()})

    def example_index(self, index: pd.Index, count: int = 5) -> pd.Index:
        """``count`` rows of ``index`` with the fewest missing values: an input example whose
        values show each column's type."""
        missing = self.raw.loc[index].isna().sum(axis=1)
        return missing.sort_values(kind="stable").index[:count]

    @property
    def feature_set(self) -> str:
        """Identifies the feature columns and their roles: ``<n>cols-<hash>``."""
        parts: tuple = (self.numeric, self.categorical)
        if self.roles.boolean or self.roles.datetime:  # tables without them keep their hash
            parts += (list(self.roles.boolean), list(self.roles.datetime))
        spec = repr(parts).encode()
        count = len(self.roles.used)
        return f"{count}cols-{hashlib.sha256(spec).hexdigest()[:8]}"


def content_digest(frame: pd.DataFrame) -> str:
    """A content hash of a table as read (values, column names, dtypes), 12 hex chars: the
    ``data_digest`` tag of every run trained on it."""
    h = hashlib.sha256()
    h.update(pd.util.hash_pandas_object(frame, index=False).values.tobytes())
    h.update(repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode())
    return h.hexdigest()[:12]


def _servable(column: pd.Series, has_gaps: bool) -> pd.Series:
    dtype = column.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        return column.dt.tz_convert("UTC").dt.tz_localize(None)
    if pd.api.types.is_extension_array_dtype(dtype):
        if pd.api.types.is_bool_dtype(dtype):
            return (
                column.astype(object).where(column.notna(), None)
                if has_gaps
                else column.astype(bool)
            )
        if pd.api.types.is_integer_dtype(dtype):
            return column.astype("float64") if has_gaps else column.astype("int64")
    return column


@dataclass(frozen=True)
class Split:
    """Train and test parts of a TabularData, stratified for classification."""

    X_train: pd.DataFrame
    X_test: pd.DataFrame
    y_train: np.ndarray
    y_test: np.ndarray


def read_table(data: str, *, text: Collection[str] = ()) -> tuple[pd.DataFrame, str, str]:
    """Read ``data`` into a frame; return (frame, source URI, short name).

    A CSV column of whole numbers written with leading zeros (zip codes ``02134``, account
    numbers ``007``) is a code, not a quantity: it is read as text, as written, when a value in
    its first ``CODE_SAMPLE_ROWS`` rows starts with a zero. ``text`` names more CSV columns to
    read as text (those a model was trained on as text).

    Raises:
        UserInputError: unknown builtin, missing file, unsupported suffix or unreadable content.
    """
    if data.startswith("builtin:"):
        return _read_builtin(data.removeprefix("builtin:"))
    path = localize(data)
    if path.is_dir():  # a table as Spark writes it: its Parquet files read as one
        kind = "parquet"
        if not any(SUFFIXES.get(p.suffix.lower()) == kind for p in path.rglob("*")):
            raise UserInputError(f"data '{data}': a folder, but with no .parquet files in it")
    else:
        kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise UserInputError(
            f"data '{data}': unsupported file type '{path.suffix}'; expected one of "
            f"{', '.join(SUFFIXES)}"
        )
    try:
        if kind == "csv":
            header = _csv_header(path)
            as_text = {c for c in text if c in header} | set(_code_columns(path))
            frame = pd.read_csv(path, dtype=dict.fromkeys(as_text, str) or None)
        else:
            frame = pd.read_parquet(path)
            header = [str(c) for c in frame.columns]
    except Exception as exc:  # pandas raises many types; the user needs the file named
        reason = one_line(exc)
        raise UserInputError(f"data '{data}': could not read it as {kind}: {reason}") from exc
    # pandas renames a repeated CSV header to 'x.1' without a word: refuse it instead.
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise UserInputError(f"data '{data}': column name(s) repeated: {', '.join(repeated)}")
    source = data if "://" in data else path.resolve().as_uri()
    return frame, source, table_name(data)


def _code_columns(path: Path) -> list[str]:
    """The CSV's columns that its leading rows write as codes: digits only, one of them with a
    leading zero (pandas would read ``02134`` as the number 2134). Decided on the sample, so the
    file itself is read once, with these columns as text."""
    written = pd.read_csv(path, dtype=str, nrows=CODE_SAMPLE_ROWS)
    codes = []
    for name in written.columns:
        values = written[name].dropna().str.strip()
        if values.str.fullmatch(_CODE).any() and values.str.fullmatch(_DIGITS).all():
            codes.append(name)
    return codes


def table_name(data: str) -> str:
    """The table's name, which runs and models are named after: a builtin set's name or the
    file's stem (of a path or any URI), known before anything is read."""
    if data.startswith("builtin:"):
        return data.removeprefix("builtin:")
    if "://" in data or data.startswith(("dbfs:", "runs:", "models:")):
        return Path(urllib.parse.unquote(urllib.parse.urlparse(data).path)).stem
    return Path(data).stem


def _csv_header(path: Path) -> list[str]:
    """The CSV's column names as written (pandas renames repeated ones)."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return next(csv.reader(handle), [])


def _read_builtin(name: str) -> tuple[pd.DataFrame, str, str]:
    if name not in BUILTIN_DATASETS:
        raise UserInputError(
            f"data 'builtin:{name}': unknown builtin dataset; choose one of "
            + ", ".join(f"builtin:{n}" for n in BUILTIN_DATASETS)
        )
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")(as_frame=True)
    return bunch.frame, f"builtin:{name}", name


def localize(data: str) -> Path:
    """A local file or folder for ``data``: a path, a ``file://`` URI, or any URI MLflow
    downloads."""
    parsed = urllib.parse.urlparse(data)
    if parsed.scheme == "file":
        path = Path(urllib.parse.unquote(parsed.path))
    elif parsed.scheme in ("http", "https"):
        print(f"downloading {data}", flush=True)
        path = _download(data, parsed)
    elif "://" in data or parsed.scheme in ("dbfs", "runs", "models"):
        import mlflow

        print(f"downloading {data}", flush=True)
        try:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=data, dst_path=tempfile.mkdtemp(prefix="data-")
            )
        except Exception as exc:
            raise UserInputError(f"data '{data}': could not download it: {exc}") from exc
        path = Path(local)
    else:
        path = Path(data).expanduser()
    if not path.exists():
        raise UserInputError(f"data '{data}': no such file ({path.resolve()})")
    return path


def _download(url: str, parsed: urllib.parse.ParseResult) -> Path:
    """Fetch an http(s) URL to a temporary file named like the URL's last path segment."""
    name = Path(urllib.parse.unquote(parsed.path)).name
    if Path(name).suffix.lower() not in SUFFIXES:
        raise UserInputError(
            f"data '{url}': the URL's file name must end in one of {', '.join(SUFFIXES)}"
        )
    path = Path(tempfile.mkdtemp(prefix="data-")) / name
    try:
        with urllib.request.urlopen(url, timeout=60) as response, path.open("wb") as out:
            shutil.copyfileobj(response, out)
    except (OSError, ValueError) as exc:  # URLError, HTTPError, timeouts are OSErrors
        raise UserInputError(f"data '{url}': could not download it: {exc}") from exc
    return path


def _check_features(features: pd.DataFrame, source: str) -> None:
    """Refuse feature values no preprocessor can take: nested values and infinities."""

    def is_nested(value) -> bool:
        return isinstance(value, (list, tuple, dict, np.ndarray))

    # Parquet's nested types arrive as object columns of arrays or dicts, row after row.
    nested = [
        str(name)
        for name, column in features.items()
        if column.dtype == object and column.dropna().head(1000).map(is_nested).any()
    ]
    if nested:
        raise UserInputError(
            f"data '{source}': column(s) {', '.join(nested)} hold nested values (lists, maps, "
            "structs); flatten them into plain columns, or drop= them"
        )
    numbers = features.select_dtypes("number")
    infinite = [str(c) for c in numbers.columns if np.isinf(numbers[c].to_numpy("float64")).any()]
    if infinite:
        raise UserInputError(
            f"data '{source}': column(s) {', '.join(infinite)} hold infinite values; replace "
            "them with a number or leave them empty (missing values are imputed)"
        )


def resolve_target(data: str, target: str) -> str:
    """The label column: ``target``, or ``target`` for builtin sets when none is named."""
    if target:
        return target
    if not data.startswith("builtin:"):
        raise UserInputError(f"target is required for data '{data}': name the label column")
    return "target"


def check_task(task: str) -> None:
    if task not in TASKS:
        raise UserInputError(f"task '{task}': expected one of {', '.join(TASKS)}")


def check_columns(columns: Sequence, target: str, source: str) -> None:
    """Refuse a table without its target column or without a feature column besides it."""
    if target not in columns:
        shown = ", ".join(map(str, list(columns)[:30]))
        raise UserInputError(f"target column '{target}' not found in {source}; columns: {shown}")
    if len(columns) < 2:
        raise UserInputError(f"data '{source}' has no feature columns besides '{target}'")


def check_rows(rows: int, source: str) -> None:
    if rows == 0:
        raise UserInputError(f"data '{source}' has no rows")


def check_labelled(rows: int, labelled: int, target: str, *, first_missing=None) -> None:
    """Refuse a target with missing labels: such rows can neither train nor be scored."""
    if labelled == 0:
        raise UserInputError(f"target column '{target}' is empty: every value is missing")
    if labelled < rows:
        where = "" if first_missing is None else f" (first at row {first_missing})"
        raise UserInputError(
            f"target column '{target}' is missing in {rows - labelled} of {rows} rows{where}; "
            "rows without a label can neither train nor be scored: drop them or fill them in"
        )


def check_classes(counts: Mapping[Any, int], target: str) -> None:
    """Refuse a classification target with one class, or a class too small to stratify."""
    if len(counts) < 2:
        raise UserInputError(
            f"target column '{target}' has a single class {next(iter(counts))!r}; "
            "classification needs at least two"
        )
    rare, count = min(counts.items(), key=lambda item: item[1])
    if count < 2:
        raise UserInputError(
            f"target column '{target}': class {rare!r} has only {count} row; "
            "each class needs at least 2 for a stratified split"
        )


def prepare(
    frame: pd.DataFrame,
    *,
    target: str,
    task: str,
    source: str,
    name: str,
    overrides: Mapping[str, Iterable[str]] | None = None,
) -> TabularData:
    """Validate ``frame``, decide its columns' roles and split it into features and target.

    Args:
        overrides: Column roles the user set (``common.columns.decide``).

    Raises:
        UserInputError: empty table, missing target column, bad target values, unknown task,
            fewer than two classes, a class too small to stratify, or a column problem.
    """
    check_task(task)
    check_rows(len(frame), source)
    check_columns(frame.columns, target, source)
    raw_y = frame[target]
    missing = raw_y.isna()
    first = missing.idxmax() if missing.any() else None
    check_labelled(len(raw_y), len(raw_y) - int(missing.sum()), target, first_missing=first)
    resolved = infer_task(raw_y) if task == "auto" else task
    if resolved == "regression":
        y, classes = _regression_target(raw_y, target), None
    else:
        y, classes = _classification_target(raw_y, target)
    for flag, names in (overrides or {}).items():
        if flag == "datetime":  # an entry may carry a format: column:format
            names = [split_format(n, map(str, frame.columns))[0] for n in names]
        if target in names:
            raise UserInputError(
                f"{flag}= names the target column '{target}': the target is never a feature; "
                f"take it out of {flag}="
            )
    features = frame.drop(columns=[target])
    unwanted = [c for c in (overrides or {}).get("drop", ()) if c in features.columns]
    _check_features(features.drop(columns=unwanted), source)
    roles = decide(features, overrides)
    from common.preprocessing import normalize_features  # sklearn: only once a table is read

    features = normalize_features(features, roles)
    return TabularData(features, y, target, resolved, classes, roles, source, name, frame)


def infer_task(y: pd.Series) -> str:
    """``task=auto``: classification for labels that are not numbers, booleans, or integers with
    at most ``MAX_AUTO_CLASSES`` distinct values; regression otherwise."""
    if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
        return "classification"
    values = y.to_numpy(dtype="float64")
    integral = np.all(np.isfinite(values)) and np.all(values == np.round(values))
    return "classification" if integral and y.nunique() <= MAX_AUTO_CLASSES else "regression"


def _regression_target(y: pd.Series, target: str) -> np.ndarray:
    numbers = pd.to_numeric(y, errors="coerce")
    bad = y[numbers.isna()]
    if len(bad):
        raise UserInputError(
            f"target column '{target}' has non-numeric value(s) such as {bad.iloc[0]!r}, "
            "but the task is regression (use task=classification for labels)"
        )
    values = numbers.to_numpy(dtype="float64")
    if not np.all(np.isfinite(values)):
        raise UserInputError(f"target column '{target}' has infinite value(s)")
    return values


def _classification_target(y: pd.Series, target: str) -> tuple[np.ndarray, list]:
    if pd.api.types.is_float_dtype(y) and not np.all(np.isfinite(y.to_numpy())):
        raise UserInputError(f"target column '{target}' has infinite value(s)")
    codes, uniques = pd.factorize(y, sort=True)
    classes = [plain_label(v) for v in uniques]
    check_classes(dict(zip(classes, np.bincount(codes).tolist(), strict=True)), target)
    return codes.astype("int64"), classes


def plain_label(value):
    """A JSON-friendly Python scalar for a label (NumPy ints and floats become int/float)."""
    return value.item() if isinstance(value, np.generic) else value


def load(
    data: str,
    *,
    target: str,
    task: str = "auto",
    overrides: Mapping[str, Iterable[str]] | None = None,
) -> TabularData:
    """Read and validate ``data``; ``target`` may be empty for builtin sets (column 'target').

    ``overrides`` set column roles (``common.columns.decide``).
    """
    target = resolve_target(data, target)
    frame, source, name = read_table(data)
    return prepare(frame, target=target, task=task, source=source, name=name, overrides=overrides)


def split(table: TabularData, *, test_size: float, seed: int) -> Split:
    """Hold out ``test_size`` of the rows, stratified by class for classification."""
    try:
        return holdout(table.features, table.y, fraction=test_size, seed=seed, stratify=table.task)
    except UserInputError as exc:
        raise UserInputError(f"test_size={test_size}: {exc} ('{table.name}')") from exc


def holdout(X: pd.DataFrame, y: np.ndarray, *, fraction: float, seed: int, stratify: str) -> Split:
    """Split off ``fraction`` of the rows (e.g. a validation set for early stopping).

    Args:
        stratify: The task; classification splits keep the class proportions.
    """
    from sklearn.model_selection import train_test_split  # not for commands that only name data

    try:
        X_a, X_b, y_a, y_b = train_test_split(
            X,
            y,
            test_size=fraction,
            random_state=seed,
            stratify=y if stratify == "classification" else None,
        )
    except ValueError as exc:
        raise UserInputError(f"cannot hold out {fraction} of {len(y)} rows: {exc}") from exc
    return Split(X_a, X_b, y_a, y_b)
