"""Per-step (epoch, boosting round) metrics: buffered into MLflow and echoed as progress.

One ``log_metric`` call costs ~12 ms against a sqlite store, so logging a 300-round loop call by
call adds seconds; buffering and sending ``log_batch`` requests keeps the overhead to a few
batched writes (see ``benchmarks/step_logging.py``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

# log_batch accepts at most 1000 metrics per request.
MAX_BATCH = 1000


class StepMetricsLogger:
    """Collects ``{name: value}`` per step and writes them to a run in batches.

    Also prints a progress line about ten times over ``total_steps`` (and at the last step), so
    a long run shows where it is without a line per step.

    Args:
        run_id: The run to log to.
        total_steps: Planned number of steps, for the progress lines.
        label: What a step is called in progress lines ("epoch", "round").
        flush_every_s: Send buffered metrics at least this often.
        quiet: Print no progress lines.
    """

    def __init__(
        self,
        run_id: str,
        *,
        total_steps: int,
        label: str = "step",
        flush_every_s: float = 10.0,
        quiet: bool = False,
    ):
        self.run_id, self.total_steps, self.label = run_id, total_steps, label
        self.flush_every_s, self.quiet = flush_every_s, quiet
        self._client = MlflowClient()
        self._buffer: list[Metric] = []
        self.history: dict[str, list[tuple[int, float]]] = {}  # name -> [(step, value)]
        self._last_flush = time.monotonic()
        self._print_every = max(1, total_steps // 10)

    def __call__(self, step: int, metrics: Mapping[str, float]) -> None:
        """Record the metrics of ``step`` (0-based)."""
        timestamp = int(time.time() * 1000)
        for name, value in metrics.items():
            self.history.setdefault(name, []).append((step, float(value)))
            self._buffer.append(Metric(name, float(value), timestamp, step))
        if (
            len(self._buffer) >= MAX_BATCH
            or time.monotonic() - self._last_flush > self.flush_every_s
        ):
            self.flush()
        if not self.quiet and ((step + 1) % self._print_every == 0 or step + 1 == self.total_steps):
            shown = " ".join(f"{k}={v:.4g}" for k, v in metrics.items())
            print(f"{self.label} {step + 1}/{self.total_steps} {shown}", flush=True)

    def flush(self) -> None:
        """Send everything buffered so far."""
        while self._buffer:
            batch, self._buffer = self._buffer[:MAX_BATCH], self._buffer[MAX_BATCH:]
            self._client.log_batch(self.run_id, metrics=batch)
        self._last_flush = time.monotonic()

    def __enter__(self) -> StepMetricsLogger:
        return self

    def __exit__(self, *exc_info) -> None:
        self.flush()
