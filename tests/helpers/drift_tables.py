"""Tables for monitoring tests: a training table, and batches drawn like it or drifted on
purpose (one number shifted by about one standard deviation, one category's share changed,
labels shuffled)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SHIFTED, CHANGED = "income", "city"
CITIES = ("north", "south", "east")
SHARES = (0.5, 0.3, 0.2)


def table(
    rows: int,
    seed: int,
    *,
    task: str = "classification",
    shift: float = 0.0,
    shares: tuple[float, ...] = SHARES,
    shuffle: bool = False,
) -> pd.DataFrame:
    """``rows`` rows: income (number, sd 10), age (whole numbers with gaps), city (category),
    member (yes/no), signup (a day-first date), and the label ``churned`` (classification) or
    ``spend`` (regression), both depending on income, age and city."""
    rng = np.random.default_rng(seed)
    income = rng.normal(50, 10, rows) + shift * 10
    age = rng.integers(18, 80, rows).astype(float)
    age[rng.random(rows) < 0.05] = np.nan
    city = rng.choice(CITIES, rows, p=list(shares))
    member = rng.choice(["yes", "no"], rows)
    days = pd.to_timedelta(rng.integers(0, 365, rows), unit="D")
    signup = (pd.Timestamp("2025-01-01") + days).strftime("%d/%m/%Y")
    ages = np.nan_to_num(age, nan=50.0)
    score = 0.08 * (income - 50) + 0.03 * (ages - 50) + (city == "north") + rng.normal(0, 1, rows)
    frame = pd.DataFrame(
        {"income": income, "age": age, "city": city, "member": member, "signup": signup}
    )
    if task == "classification":
        label = (score > 0.5).astype(int)
        frame["churned"] = rng.permutation(label) if shuffle else label
    else:
        spend = 100 + 20 * score
        frame["spend"] = rng.permutation(spend) if shuffle else spend
    return frame


def target_of(task: str) -> str:
    return "churned" if task == "classification" else "spend"


def write(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path
