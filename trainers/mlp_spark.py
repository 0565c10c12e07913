"""The MLP of ``trainers.mlp``, trained on Spark by ``pyspark.ml.torch.distributor``.

The encoded rows are written as Parquet shards, one file per process, chosen by a seeded hash
of each row, into a scratch folder: a local temporary folder by default, or the shared storage
that ``TABULAR_SPARK_SCRATCH`` names (``dbfs:/tmp/...`` or ``/Volumes/<catalog>/<schema>/...``
on a cluster, where the executors cannot see the driver's disk). ``TorchDistributor`` starts one
process per Spark barrier task; each reads only its own shard with pyarrow, and they train the
same network with the same ``Params`` together under ``DistributedDataParallel`` (gloo on CPU,
nccl when Spark tasks are given GPUs). ``batch_size`` stays the global batch: each process
takes its share of it, so a step and an epoch mean what they mean on one node.

Seeded and repeatable for a given seed and process count: every process runs the same number of
steps per epoch (its shard's rows drawn in a per-rank seeded order, cycled to fill them), losses
are sums all-reduced over every process, and early stopping reads the validation loss of all
shards, so all processes stop on the same epoch; the best epoch's weights are kept. Rank 0 logs
each epoch's metrics to the run as it goes (``LOGS_STEPS``). The driver rebuilds the same
``TorchEstimator`` single-node training returns, so the logged model is the same pyfunc.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from common.errors import UserInputError, WorkerError
from trainers import mlp
from trainers.mlp import Params
from trainers.mlp_network import Architecture, TorchEstimator

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from common.step_metrics import StepMetricsLogger

# Rank 0 logs the per-epoch metrics live: jobs.spark_engine must not log them again.
LOGS_STEPS = True
SCRATCH_ENV = "TABULAR_SPARK_SCRATCH"
_SHARD, _KEY = "__shard__", "__key__"


def train(
    frame: DataFrame,
    *,
    features: list[str],
    label: str,
    split: str,
    task: str,
    classes: list | None,
    seed: int,
    params: Params,
    workers: int,
    run_id: str | None = None,
    tracking_uri: str | None = None,
) -> tuple[TorchEstimator, dict[str, list[float]]]:
    """Train the MLP on ``frame``'s rows with ``workers`` processes.

    ``features`` are doubles, ``label`` class codes or values, ``split`` ``train`` or
    ``validation`` (the early-stopping rows). With ``run_id`` and ``tracking_uri``, rank 0 logs
    each epoch's metrics to that run.

    Returns:
        (TorchEstimator on the CPU, {"train_loss": [...], "validation_loss": [...], ...})
    """
    from pyspark.ml.torch.distributor import TorchDistributor

    spark = frame.sparkSession
    use_gpu = _use_gpu(spark, params.device)
    scratch = _scratch_folder(spark)
    folder = f"{scratch}/rows"
    try:
        counts = _write_shards(frame, folder, features, label, split, seed, workers)
        n_train = sum(c.get("train", 0) for c in counts)
        _check_counts(counts, n_train, params, workers)
        n_outputs = len(classes) if classes is not None else 1
        architecture = Architecture(
            task, len(features), tuple(params.hidden_sizes), n_outputs, params.dropout
        )
        mlp._check_memory(architecture, params)
        spec = {
            "folder": _local_path(folder), "features": features, "label": label,
            "split": split, "task": task, "n_outputs": n_outputs, "seed": seed,
            "params": asdict(params), "n_train": n_train, "workers": workers,
            "threads": int(spark.conf.get("spark.task.cpus", "1")),
            "run_id": run_id, "tracking_uri": tracking_uri,
            "errors": _local_path(f"{scratch}/errors"),
        }  # fmt: skip
        distributor = TorchDistributor(num_processes=workers, local_mode=False, use_gpu=use_gpu)
        # Its INFO lines (start, finish) would add nothing to the run's own output.
        distributor.logger.setLevel(logging.WARNING)
        try:
            result, failure = distributor.run(_rank_entry(), spec), None
        except Exception:
            failure = _first_failure(spec["errors"])
            if failure is None:
                raise
    finally:
        shutil.rmtree(_local_path(scratch), ignore_errors=True)
    if failure is not None:
        # Raised outside the handler, so no Spark exception is chained to it: Spark's own
        # message is only "TorchDistributor failed during training" (torchrun's wrapper exits 0).
        raise failure
    return _estimator(architecture, result), result["history"]


def fit_report(estimator: TorchEstimator, history=None) -> tuple[dict[str, float], str]:
    """What ``trainers.mlp.fit_report`` reports: epochs run, the best epoch (1-based)."""
    return mlp.fit_report(estimator)


def autolog_params(estimator: TorchEstimator) -> dict[str, object]:
    """PyTorch has no MLflow autologging here (single node neither): nothing to add."""
    return {}


def _estimator(architecture, result: dict) -> TorchEstimator:
    """The ``TorchEstimator`` of single-node training, from rank 0's weights and target scale."""
    architecture = replace(architecture, y_mean=result["y_mean"], y_std=result["y_std"])
    module = architecture.build()
    module.load_state_dict(result["state"])
    estimator = TorchEstimator(module, architecture)
    estimator.best_epoch, estimator.epochs_run = result["best_epoch"], result["epochs_run"]
    return estimator


def _use_gpu(spark, device: str) -> bool:
    """Whether the processes train on GPUs: ``device`` allows it and Spark gives tasks GPUs."""
    amount = float(spark.conf.get("spark.task.resource.gpu.amount", "0") or 0)
    if device == "cuda" and amount < 1:
        raise UserInputError(
            "device 'cuda' with engine=spark: Spark gives its tasks no GPU "
            "(spark.task.resource.gpu.amount is unset or below 1); use device auto or cpu"
        )
    return device != "cpu" and amount >= 1


def _scratch_folder(spark) -> str:
    """A fresh folder for this fit's shards, under ``TABULAR_SPARK_SCRATCH`` when set."""
    root = os.environ.get(SCRATCH_ENV, "")
    if not root:
        if not spark.sparkContext.master.startswith("local"):
            raise UserInputError(
                f"engine=spark on a cluster: set {SCRATCH_ENV} to storage every executor "
                "reads (dbfs:/tmp/tabular or /Volumes/<catalog>/<schema>/<volume>/tmp)"
            )
        return tempfile.mkdtemp(prefix="tabular-shards-")
    return f"{root.rstrip('/')}/shards-{uuid.uuid4().hex}"


def _local_path(folder: str) -> str:
    """The path pyarrow and shutil use for ``folder`` (``dbfs:/x`` is mounted at ``/dbfs/x``)."""
    if folder.startswith("dbfs:/"):
        return "/dbfs/" + folder.removeprefix("dbfs:/").lstrip("/")
    return folder.removeprefix("file:")


def _write_shards(
    frame: DataFrame,
    folder: str,
    features: list[str],
    label: str,
    split: str,
    seed: int,
    workers: int,
) -> list[dict[str, int]]:
    """Write the rows as ``folder/__shard__=<rank>/`` (one Parquet file each), by a seeded hash
    of each row, sorted by that hash; returns each shard's row count per split."""
    from pyspark.sql import functions as sf

    key = sf.xxhash64(*[sf.col(c) for c in [*features, label, split]], sf.lit(seed))
    (
        frame.select(*features, label, split)
        .withColumn(_KEY, key)
        .withColumn(_SHARD, sf.pmod(sf.col(_KEY), sf.lit(workers)).cast("int"))
        # One Spark partition holds all of a shard, so partitionBy writes one file per shard.
        .repartition(workers, _SHARD)
        .sortWithinPartitions(_SHARD, _KEY)
        .write.partitionBy(_SHARD)
        .parquet(folder)
    )
    written = frame.sparkSession.read.parquet(folder).groupBy(_SHARD, split).count().collect()
    counts: list[dict[str, int]] = [{} for _ in range(workers)]
    for row in written:
        counts[row[_SHARD]][row[split]] = row["count"]
    return counts


def _check_counts(counts: list[dict[str, int]], n_train: int, params: Params, workers: int):
    """Refuse shards a process could not train on, and a batch larger than the rows."""
    if params.batch_size > n_train:
        raise UserInputError(
            f"batch_size={params.batch_size} is larger than the {n_train} training rows (after "
            "the test and validation splits); use a smaller batch_size"
        )
    if not sum(c.get("validation", 0) for c in counts):
        raise UserInputError(
            "no validation rows for early stopping: raise validation_fraction or add rows"
        )
    empty = [rank for rank, c in enumerate(counts) if not c.get("train")]
    if empty:
        raise UserInputError(
            f"num_processes={workers}: {len(empty)} of the {workers} shards hold no training "
            "rows; use fewer processes or more rows"
        )


def _first_failure(folder: str) -> Exception | None:
    """The error of the rank that failed first (the others then lose their peers), or None."""
    reports = [json.loads(path.read_text()) for path in Path(folder).glob("rank-*.json")]
    if not reports:
        return None
    first = min(reports, key=lambda r: r["time"])
    if first["type"] == "UserInputError":
        return UserInputError(first["message"])
    line = f"{first['type']}: {first['message']}".strip().splitlines()[0][:300]
    return WorkerError(f"a Spark worker failed: rank {first['rank']}: {line}")


def _rank_entry():
    """The function ``TorchDistributor`` pickles: it imports this module in the process (the
    spec it is given holds plain values only, for the same reason).

    Nested, so cloudpickle ships it by value: on a cluster the processes torchrun starts do not
    see the code ``common.spark.session.ship_code`` gave Spark's own Python workers, so it adds
    that archive (in the executor's working folder, where Spark puts added files) to the path.
    """
    from common.spark.session import CODE_ARCHIVE  # a string in ``run``'s closure, shipped with it

    def run(spec: dict) -> dict:
        import importlib
        import os
        import sys

        archive = os.path.abspath(CODE_ARCHIVE)
        if os.path.exists(archive) and archive not in sys.path:
            sys.path.insert(0, archive)
        return importlib.import_module("trainers.mlp_spark")._train_reporting(spec)

    return run


def _read_shard(spec: dict, rank: int):
    """This process's rows as tensors (train X, y; validation X, y), in the shard's hash order."""
    import pyarrow.parquet as pq

    table = pq.read_table(os.path.join(spec["folder"], f"{_SHARD}={rank}"))
    order = np.argsort(table.column(_KEY).to_numpy(), kind="stable")
    X = np.column_stack([table.column(c).to_numpy() for c in spec["features"]])[order]
    y = table.column(spec["label"]).to_numpy()[order]
    in_train = (table.column(spec["split"]).to_numpy(zero_copy_only=False) == "train")[order]
    X = torch.as_tensor(X, dtype=torch.float32)
    y = torch.as_tensor(y, dtype=torch.float64)
    return X[in_train], y[in_train], X[~in_train], y[~in_train]


def _train_reporting(spec: dict) -> dict:
    """``_train_rank`` in the process group; a failing rank leaves its error where the driver
    finds it (``_first_failure``) before it leaves the group and its peers fail too."""
    # TorchDistributor hides the GPUs unless Spark gave its tasks some.
    if torch.cuda.is_available():
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", device_id=device)
    else:
        dist.init_process_group("gloo")
    try:
        result = _train_rank(spec, dist.get_rank())
        # Without it a rank could tear gloo down while a peer still talks (SIGABRT at exit).
        dist.barrier()
        return result
    except Exception as exc:
        rank = dist.get_rank()
        os.makedirs(spec["errors"], exist_ok=True)
        report = {"time": time.time(), "rank": rank, "type": type(exc).__name__}
        with open(os.path.join(spec["errors"], f"rank-{rank}.json"), "w") as out:
            json.dump({**report, "message": str(exc)}, out)
        raise
    finally:
        dist.destroy_process_group()


def _train_rank(spec: dict, rank: int) -> dict:
    """One process of the fit; every rank returns the same weights and history."""
    params = Params(**spec["params"])
    seed, workers, classify = spec["seed"], spec["workers"], spec["task"] == "classification"
    cuda = torch.cuda.is_available()
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(spec["threads"])
    device = torch.device("cuda", torch.cuda.current_device()) if cuda else torch.device("cpu")
    X_fit, y_fit, X_val, y_val = _read_shard(spec, rank)
    y_mean, y_std = (0.0, 1.0) if classify else _target_scale(y_fit, device)
    X_fit, X_val = X_fit.to(device), X_val.to(device)
    y_fit, y_val = (
        (y.long() if classify else ((y - y_mean) / y_std).float()[:, None]).to(device)
        for y in (y_fit, y_val)
    )
    torch.manual_seed(seed)  # the same initial weights as a single-node run
    architecture = Architecture(
        spec["task"], X_fit.shape[1], tuple(params.hidden_sizes), spec["n_outputs"],
        params.dropout, y_mean, y_std,
    )  # fmt: skip
    module = architecture.build().to(device)
    model = DistributedDataParallel(module, device_ids=[device.index] if cuda else None)
    torch.manual_seed(seed + 1 + rank)  # each rank its own dropout masks
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=params.learning_rate, weight_decay=params.weight_decay
    )
    loss_fn = nn.CrossEntropyLoss() if classify else nn.MSELoss()
    steps = mlp._Steps(model, optimizer, loss_fn, X_fit, y_fit)
    batch = math.ceil(params.batch_size / workers)
    per_epoch = math.ceil(spec["n_train"] / (batch * workers))
    order = torch.Generator().manual_seed(seed * 1000 + rank)
    logger = _epoch_logger(spec, rank)
    stopping, history = mlp._EarlyStopping(params.patience), {}
    for epoch in range(params.epochs):
        scores = _epoch(steps, per_epoch, batch, order)
        scores.update(_validate(model, X_val, y_val, classify, y_std))
        for name, value in scores.items():
            history.setdefault(name, []).append(value)
        if logger:
            logger(epoch, scores)
        if stopping.should_stop(epoch, scores["validation_loss"], module):
            break
    if logger:
        logger.flush()
    if stopping.best_state is None:
        raise UserInputError(
            "the validation loss was never finite (NaN or inf from the first epoch on): "
            "check the table for huge values, or lower learning_rate"
        )
    return {
        "state": {k: v.detach().cpu() for k, v in stopping.best_state.items()},
        "history": history, "best_epoch": stopping.best_epoch, "epochs_run": epoch + 1,
        "y_mean": y_mean, "y_std": y_std,
    }  # fmt: skip


def _all_sum(values: list[float], device) -> list[float]:
    """``values`` summed over every process (float64, so the order of ranks barely matters)."""
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def _target_scale(y, device) -> tuple[float, float]:
    """Mean and population std of the training targets of every shard (as single node has)."""
    count, total = _all_sum([len(y), float(y.sum())], device)
    mean = total / count
    (squares,) = _all_sum([float(((y - mean) ** 2).sum())], device)
    return mean, math.sqrt(squares / count) or 1.0


def _epoch(steps, per_epoch: int, batch: int, order) -> dict[str, float]:
    """``per_epoch`` steps of ``batch`` rows, drawn from fresh permutations of the shard, cycled
    to fill them; returns the mean training loss per row over every process."""
    n_rows = len(steps.y)
    needed = per_epoch * batch
    draws = [torch.randperm(n_rows, generator=order) for _ in range(-(-needed // n_rows))]
    indices = torch.cat(draws)[:needed].to(steps.X.device)
    steps.module.train()
    steps.total.zero_()
    for chunk in indices.split(batch):
        steps.step(chunk)
    total, rows = _all_sum([steps.total.item(), needed], steps.X.device)
    return {"train_loss": total / rows}


def _validate(model, X_val, y_val, classify: bool, y_std: float) -> dict[str, float]:
    """Validation loss over every shard, plus accuracy (classifiers) or RMSE in target units."""
    model.eval()
    with torch.no_grad():
        outputs = model.module(X_val)
        if classify:
            loss = nn.functional.cross_entropy(outputs, y_val, reduction="sum").item()
            extra = (outputs.argmax(1) == y_val).sum().item()
        else:
            loss = nn.functional.mse_loss(outputs, y_val, reduction="sum").item()
            extra = loss
    loss, extra, rows = _all_sum([loss, extra, len(y_val)], X_val.device)
    if classify:
        return {"validation_loss": loss / rows, "validation_accuracy": extra / rows}
    return {"validation_loss": loss / rows, "validation_rmse": math.sqrt(extra / rows) * y_std}


def _epoch_logger(spec: dict, rank: int) -> StepMetricsLogger | None:
    """Rank 0's step-metrics logger into the run (and the run's ``device`` tag), or None."""
    if rank != 0 or not spec["run_id"]:
        return None
    import mlflow

    from common.step_metrics import StepMetricsLogger

    mlflow.set_tracking_uri(spec["tracking_uri"])
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    mlflow.MlflowClient().set_tag(spec["run_id"], "device", device)
    return StepMetricsLogger(spec["run_id"], total_steps=spec["params"]["epochs"], label="epoch")
