"""The reproduction job's own parts: how a rerun's metrics are judged."""

from __future__ import annotations

from jobs import reproduction


def test_compare_judges_every_metric_but_timings_and_the_gates_baseline():
    table, failed = reproduction.compare(
        {"test_r2": 0.5, "rows_per_second": 10.0, "only_before": 1.0, "baseline_test_r2": 0.0},
        {"test_r2": 0.5, "rows_per_second": 99.0, "only_after": 2.0},
        tolerance=0.0,
    )
    assert failed == ["only_after", "only_before"]
    assert not table.set_index("metric").loc["baseline_test_r2", "judged"]
    assert table.set_index("metric").loc["rows_per_second", "difference"] == 89.0
    assert not table.set_index("metric").loc["rows_per_second", "judged"]
    assert reproduction.compare({"m": 1.0}, {"m": 1.0 + 1e-9}, tolerance=0.0)[1] == ["m"]
    assert reproduction.compare({"m": 1.0}, {"m": 1.0 + 1e-9}, tolerance=1e-6)[1] == []
