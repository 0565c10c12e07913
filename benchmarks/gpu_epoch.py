"""train_pytorch's epoch on CUDA against the same machine's CPU, and CUDA's determinism.

    python -m benchmarks.gpu_epoch [--rows 100000] [--epochs 8] [--batch-size 64]

Fits ``trainers.mlp`` (no MLflow run) on a seeded table of ``--rows`` x 43 columns (40 numeric
with some missing values, 3 categorical, 3 classes) with every epoch run (no early stop): twice
on CUDA as train_pytorch does (graphed steps), once on CUDA with eager steps, once on the CPU.
Prints the median epoch time of each (the first interval also holds preprocessing and CUDA's
start-up: left out), the ratios against the CPU (goal: <= 0.2), whether the two graphed CUDA
fits have bit-identical weights, and whether the CUDA-trained model predicts on the CPU like on
the GPU. Without CUDA only the CPU line is printed.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd
import torch

from common import seeding
from trainers import get, mlp

SEED = 7


def table(rows: int, seed: int = SEED) -> tuple[pd.DataFrame, np.ndarray]:
    """Numeric columns (3% missing in every 4th), three string columns, a 3-class label."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 40))
    frame = pd.DataFrame(X, columns=[f"x{i:02d}" for i in range(40)])
    score = X[:, :10] @ rng.normal(size=10) + 0.8 * X[:, 10] * X[:, 11]
    for name, size in (("region", 8), ("plan", 4), ("channel", 5)):
        codes = rng.integers(0, size, size=rows)
        score += rng.normal(scale=0.7, size=size)[codes]
        frame[name] = pd.Series([f"{name}{c}" for c in codes], dtype=object)
    for j in range(0, 40, 4):
        frame.loc[rng.random(rows) < 0.03, f"x{j:02d}"] = np.nan
    score += rng.normal(size=rows)
    return frame, np.digitize(score, np.quantile(score, [1 / 3, 2 / 3])).astype("int64")


def fit(X: pd.DataFrame, y: np.ndarray, device: str, epochs: int, batch_size: int):
    """(estimator, preprocessor, seconds per epoch) of one seeded fit on ``device``."""
    mlp.CUDA_GRAPHS = device != "cuda-eager"
    device = device.removesuffix("-eager")
    seeding.seed_everything(SEED)
    stamps = [time.perf_counter()]
    trainer = get("pytorch")
    params = trainer.params(epochs=epochs, patience=epochs, batch_size=batch_size, device=device)
    preprocessor, estimator = trainer.fit(
        X, y, task="classification", seed=SEED, params=params,
        on_step=lambda step, values: stamps.append(time.perf_counter()),
    )  # fmt: skip
    return estimator, preprocessor, np.diff(stamps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    X, y = table(args.rows)
    threads = torch.get_num_threads()
    print(f"{args.rows} rows x {X.shape[1]} columns, batch size {args.batch_size}, "
          f"{args.epochs} epochs; torch {torch.__version__}, {threads} CPU threads")  # fmt: skip
    runs = {}
    devices = ["cuda", "cuda", "cuda-eager", "cpu"] if torch.cuda.is_available() else ["cpu"]
    for i, device in enumerate(devices):
        estimator, preprocessor, epochs = fit(X, y, device, args.epochs, args.batch_size)
        median = statistics.median(epochs[1:] if len(epochs) > 1 else epochs)
        runs.setdefault(device, []).append((estimator, preprocessor, median))
        name = torch.cuda.get_device_name() if device != "cpu" else "cpu"
        print(f"run {i + 1} {device} ({name}): median epoch {median:.3f} s "
              f"(epochs: {' '.join(f'{e:.2f}' for e in epochs)})")  # fmt: skip
    if "cuda" not in runs:
        print("no CUDA device: nothing to compare")
        return
    (first, prep, gpu_epoch), (second, _, _) = runs["cuda"]
    eager_epoch, cpu_epoch = runs["cuda-eager"][0][2], runs["cpu"][0][2]
    identical = all(
        torch.equal(a, b)
        for a, b in zip(
            first.module.state_dict().values(), second.module.state_dict().values(), strict=True
        )
    )
    rows = prep.transform(X.head(2000))
    on_cpu = first.predict_proba(rows)  # training hands the model back on the CPU
    first.module.to("cuda")
    first.device = "cuda"
    on_gpu = first.predict_proba(rows)
    print(f"epoch ratio cuda/cpu: {gpu_epoch / cpu_epoch:.3f} (goal <= 0.2); "
          f"eager cuda/cpu: {eager_epoch / cpu_epoch:.3f}")  # fmt: skip
    print(f"two CUDA fits bit-identical: {identical}")
    print(
        f"CUDA-trained model on the CPU: max |p_cpu - p_gpu| = {np.abs(on_cpu - on_gpu).max():.2e}"
        f", same class for {np.mean(on_cpu.argmax(1) == on_gpu.argmax(1)):.4%} of 2000 rows"
    )


if __name__ == "__main__":
    main()
