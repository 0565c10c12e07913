from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from common import data
from common.errors import UserInputError


def _frame(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "count": rng.integers(0, 5, size=n),
            "color": rng.choice(["red", "blue"], size=n),
            "label": rng.choice(["a", "b"], size=n),
        }
    )


@pytest.mark.parametrize(
    ("name", "task", "n_classes"),
    [
        ("breast_cancer", "classification", 2),
        ("iris", "classification", 3),
        ("wine", "classification", 3),
        ("digits", "classification", 10),
        ("diabetes", "regression", None),
    ],
)
def test_builtin_sets_load_with_the_right_task(name, task, n_classes):
    table = data.load(f"builtin:{name}", target="")
    assert table.task == task
    assert table.source == f"builtin:{name}"
    assert (len(table.classes) if table.classes else None) == n_classes
    assert table.features.dtypes.eq("float64").all()


def test_csv_with_strings_and_missing_values_is_typed_and_encoded(churn_csv):
    table = data.load(str(churn_csv), target="churn")
    assert table.task == "classification"
    assert table.classes == ["no", "yes"]
    assert set(np.unique(table.y)) == {0, 1}
    assert table.categorical == ["customer_plan", "region"]
    assert table.numeric == ["tenure_months", "monthly_charges", "support_tickets"]
    assert table.features["region"].isna().sum() > 0
    assert table.features["tenure_months"].dtype == "float64"


def test_file_uri_and_parquet_give_the_same_table(tmp_path, churn_csv):
    frame = pd.read_csv(churn_csv)
    frame.to_parquet(tmp_path / "churn.parquet")
    from_uri = data.load(churn_csv.as_uri(), target="churn")
    from_parquet = data.load(str(tmp_path / "churn.parquet"), target="churn")
    pd.testing.assert_frame_equal(from_uri.features, from_parquet.features)
    assert from_uri.source == churn_csv.as_uri()


def test_a_folder_of_parquet_files_is_one_table_as_spark_writes_it(tmp_path, churn_csv):
    frame = pd.read_csv(churn_csv)
    folder = tmp_path / "churn"
    folder.mkdir()
    half = len(frame) // 2
    frame.iloc[:half].to_parquet(folder / "part-00000.parquet", index=False)
    frame.iloc[half:].to_parquet(folder / "part-00001.parquet", index=False)
    (folder / "_SUCCESS").write_text("")  # Spark's marker: not a data file
    from_folder = data.load(str(folder), target="churn")
    from_file = data.load(str(churn_csv), target="churn")
    pd.testing.assert_frame_equal(from_folder.features, from_file.features, check_dtype=False)
    assert from_folder.name == "churn"
    assert from_folder.digest == data.load(folder.as_uri(), target="churn").digest


def test_a_folder_without_parquet_files_or_with_clashing_types_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserInputError, match=r"no \.parquet files"):
        data.load(str(tmp_path / "empty"), target="y")
    clash = tmp_path / "clash"
    clash.mkdir()
    pd.DataFrame({"x": [1.0, 2.0], "y": [0, 1]}).to_parquet(clash / "a.parquet")
    pd.DataFrame({"x": ["one", "two"], "y": [1, 0]}).to_parquet(clash / "b.parquet")
    with pytest.raises(UserInputError, match=r"could not read it as parquet") as raised:
        data.load(str(clash), target="y")
    assert "\n" not in str(raised.value)


def test_digest_changes_with_content_and_only_with_content(churn_csv):
    frame = pd.read_csv(churn_csv)
    first = data.prepare(frame, target="churn", task="auto", source="a", name="a").digest
    again = data.prepare(frame.copy(), target="churn", task="auto", source="b", name="b").digest
    changed = frame.copy()
    changed.loc[0, "monthly_charges"] += 1
    other = data.prepare(changed, target="churn", task="auto", source="a", name="a").digest
    assert first == again
    assert first != other


def test_integer_target_with_many_values_is_regression_and_few_is_classification():
    frame = _frame(200)
    frame["many"] = np.arange(200)
    frame["few"] = frame["count"]
    assert (
        data.prepare(frame, target="many", task="auto", source="s", name="n").task == "regression"
    )
    assert data.prepare(frame, target="few", task="auto", source="s", name="n").task == (
        "classification"
    )


def test_split_is_stratified_and_repeatable():
    table = data.load("builtin:breast_cancer", target="")
    first = data.split(table, test_size=0.25, seed=3)
    second = data.split(table, test_size=0.25, seed=3)
    assert first.X_test.index.equals(second.X_test.index)
    assert abs(first.y_test.mean() - table.y.mean()) < 0.02
    assert len(first.X_test) == pytest.approx(0.25 * len(table.y), abs=1)


@pytest.mark.parametrize(
    ("change", "target", "task", "message"),
    [
        (lambda f: f, "nope", "auto", "target column 'nope' not found"),
        (lambda f: f.iloc[:0], "label", "auto", "has no rows"),
        (lambda f: f[["label"]], "label", "auto", "no feature columns"),
        (lambda f: f.assign(label="a"), "label", "auto", "single class 'a'"),
        (
            lambda f: f.assign(label=[None] + ["a"] * 39),
            "label",
            "auto",
            r"missing in 1 of 40 rows",
        ),
        (lambda f: f.assign(label=None), "label", "auto", "is empty: every value is missing"),
        (lambda f: f, "label", "regression", "non-numeric value"),
        (lambda f: f.assign(x=[np.inf] + [0.0] * 39), "x", "regression", "infinite value"),
        (lambda f: f.assign(label=["c"] + ["a"] * 39), "label", "auto", "class 'c' has only 1 row"),
        (lambda f: f, "label", "clustering", "task 'clustering'"),
    ],
    ids=[
        "missing-target",
        "empty",
        "no-features",
        "single-class",
        "nan-target",
        "all-nan-target",
        "string-regression",
        "inf-target",
        "rare-class",
        "bad-task",
    ],
)
def test_bad_tables_are_refused_with_a_message_naming_the_problem(change, target, task, message):
    with pytest.raises(UserInputError, match=message):
        data.prepare(change(_frame()), target=target, task=task, source="s", name="n")


def test_missing_file_unknown_builtin_and_unsupported_type_are_refused(tmp_path):
    with pytest.raises(UserInputError, match="no such file"):
        data.load(str(tmp_path / "absent.csv"), target="y")
    with pytest.raises(UserInputError, match="unknown builtin dataset"):
        data.load("builtin:mnist", target="")
    (tmp_path / "table.xlsx").write_text("x")
    with pytest.raises(UserInputError, match=r"unsupported file type '\.xlsx'"):
        data.load(str(tmp_path / "table.xlsx"), target="y")
    with pytest.raises(UserInputError, match="target is required"):
        data.load(str(tmp_path / "table.xlsx"), target="")


def test_split_refuses_a_test_size_too_small_for_the_classes():
    table = data.load("builtin:iris", target="")
    with pytest.raises(UserInputError, match=r"test_size=0\.01"):
        data.split(table, test_size=0.01, seed=0)


@pytest.mark.parametrize("flag", ["drop", "numeric", "categorical"])
def test_an_override_naming_the_target_is_refused_as_such(flag):
    with pytest.raises(UserInputError, match=f"{flag}= names the target column 'label'"):
        data.prepare(
            _frame(), target="label", task="auto", source="s", name="n",
            overrides={flag: ("label",)},
        )  # fmt: skip


def test_numbers_written_with_leading_zeros_are_read_as_the_codes_they_are(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("zip,amount,count,label\n02134,1.5,0,a\n90210,2.5,10,b\n,4.0,3,a\n")
    frame, _, _ = data.read_table(str(path))
    assert frame["zip"].tolist()[:2] == ["02134", "90210"]
    assert frame["zip"].isna().iloc[2]
    assert pd.api.types.is_float_dtype(frame["amount"])
    assert pd.api.types.is_integer_dtype(frame["count"])  # a lone 0 is a number
    # Columns a model knows as text are read as written, leading zeros or not.
    frame, _, _ = data.read_table(str(path), text=["count", "absent"])
    assert frame["count"].tolist() == ["0", "10", "3"]
