"""A tabular MLP (PyTorch): the training loop, early stopping, and the saved format.

The network itself is in ``trainers.mlp_network``. Trains on the GPU when one is present
(``device=auto``) and on the CPU otherwise; on the CPU a fixed seed gives bit-identical metrics.
Saved as a state_dict (tensors only, loadable with ``weights_only=True``) plus the architecture
as JSON: no pickle.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from common import data
from common.errors import UserInputError
from common.params import float_in, hyperparameter, positive_int, positive_int_list
from trainers.contract import FitRequest, History, LearningCurve
from trainers.mlp_network import Architecture, TorchEstimator
from trainers.search_space import Choice, Space, Uniform

DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class Params:
    """The network, its optimisation and early stopping."""

    hidden_sizes: tuple[int, ...] = hyperparameter((128, 64), positive_int_list)
    dropout: float = hyperparameter(0.1, float_in(0.0, 1.0, low_open=False))
    learning_rate: float = hyperparameter(1e-3, float_in(0.0, 1.0), "AdamW")
    weight_decay: float = hyperparameter(1e-4, float_in(0.0, 1.0, low_open=False))
    epochs: int = hyperparameter(100, positive_int, "max epochs")
    batch_size: int = hyperparameter(64, positive_int)
    patience: int = hyperparameter(10, positive_int, "early-stopping epochs")
    validation_fraction: float = hyperparameter(0.15, float_in(0.0, 1.0), "of the training split")
    device: str = hyperparameter("auto", str, "auto: cuda when present", choices=DEVICES)


def model_type(task: str) -> str:
    return "mlp_classifier" if task == "classification" else "mlp_regressor"


def search_space() -> Space:
    """What ``tune`` searches over ``Params``' fields (trainers/search_space.py)."""
    return {
        "hidden_sizes": Choice(((64,), (128, 64), (256, 128), (128, 64, 32))),
        "dropout": Uniform(0.0, 0.5),
        "learning_rate": Uniform(1e-4, 1e-2, log=True),
        "weight_decay": Uniform(1e-6, 1e-2, log=True),
        "batch_size": Choice((32, 64, 128)),
    }


def resolve_device(device: str) -> str:
    """``auto`` picks CUDA when available; asking for CUDA without one is an error."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise UserInputError("device 'cuda' requested but no CUDA device is available")
    return device


def device_name(device: str) -> str:
    """What the run's ``device`` tag says: the GPU's name, or ``cpu``."""
    resolved = resolve_device(device)
    return torch.cuda.get_device_name() if resolved == "cuda" else "cpu"


class _Targets:
    """Turns raw rows and labels into tensors: encoded features; class codes or scaled values."""

    def __init__(self, preprocessor, task: str, y_train: np.ndarray):
        self.preprocessor, self.classify = preprocessor, task == "classification"
        self.y_mean, self.y_std = (
            (0.0, 1.0) if self.classify else (float(y_train.mean()), float(y_train.std() or 1.0))
        )

    def tensors(self, frame: pd.DataFrame, target: np.ndarray) -> tuple[torch.Tensor, ...]:
        features = torch.as_tensor(self.preprocessor.transform(frame), dtype=torch.float32)
        if self.classify:
            return features, torch.as_tensor(target, dtype=torch.long)
        scaled = (target - self.y_mean) / self.y_std
        return features, torch.as_tensor(scaled, dtype=torch.float32)[:, None]


class _EarlyStopping:
    """Keeps the weights of the epoch with the lowest validation loss; says when to stop."""

    def __init__(self, patience: int):
        self.patience, self.best_loss, self.best_state, self.best_epoch = patience, np.inf, None, 0
        self.stale = 0

    def should_stop(self, epoch: int, loss: float, module: nn.Module) -> bool:
        if loss < self.best_loss:
            self.best_loss, self.best_epoch, self.stale = loss, epoch, 0
            self.best_state = copy.deepcopy(module.state_dict())
            return False
        self.stale += 1
        return self.stale >= self.patience


def _check_memory(architecture: Architecture, params: Params) -> None:
    """Refuse a network whose weights and optimiser state could not fit in this machine."""
    widths = [architecture.n_inputs, *architecture.hidden_sizes, architecture.n_outputs]
    weights = sum(a * b + b for a, b in itertools.pairwise(widths))
    # float32 weights, gradients, AdamW's two moments and the best epoch's copy.
    needed = weights * 4 * 5
    available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if needed > available / 2:
        raise UserInputError(
            f"hidden_sizes={','.join(map(str, params.hidden_sizes))}: {weights:,} weights need "
            f"~{needed / 2**30:.1f} GiB for training; this machine has {available / 2**30:.1f} "
            "GiB: use smaller layers"
        )


class _Steps:
    """Training steps on rows chosen by index from ``X``/``y``, which stay on the device."""

    def __init__(self, module: nn.Module, optimizer, loss_fn, X: torch.Tensor, y: torch.Tensor):
        self.module, self.optimizer, self.loss_fn, self.X, self.y = module, optimizer, loss_fn, X, y
        # The epoch's sum of loss x rows, kept on the device so a step never waits for the GPU.
        self.total = torch.zeros((), dtype=torch.float64, device=X.device)

    def step(self, indices: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        self._update(indices)

    def _update(self, indices: torch.Tensor) -> None:
        outputs = self.module(self.X.index_select(0, indices))
        loss = self.loss_fn(outputs, self.y.index_select(0, indices))
        loss.backward()
        self.optimizer.step()
        self.total += loss.detach().double() * len(indices)


class _GraphedSteps(_Steps):
    """Full batches replay one training step captured as a CUDA graph.

    A step at a tabular batch size is ~100 tiny kernels: launched one by one from Python, a CUDA
    epoch is bound by launches and was measured slower than the CPU's. The first ``WARMUP`` full
    batches run eagerly on a side stream (CUDA graphs need that), the next is captured (gather,
    forward, loss, backward, AdamW: the optimizer is ``capturable``), and every later full batch
    copies its indices into the graph's input and replays it. An epoch's last, shorter batch runs
    eagerly. Replays are deterministic, so a seed still gives bit-identical CUDA runs.
    """

    WARMUP = 3

    def __init__(self, *args, batch_size: int):
        super().__init__(*args)
        self.index = torch.zeros(batch_size, dtype=torch.long, device=self.X.device)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.warm = 0

    def step(self, indices: torch.Tensor) -> None:
        if len(indices) != len(self.index):
            return super().step(indices)
        self.index.copy_(indices)
        if self.graph is not None:
            self.graph.replay()
        elif self.warm < self.WARMUP:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                super().step(self.index)
            torch.cuda.current_stream().wait_stream(side)
            self.warm += 1
        else:
            self.optimizer.zero_grad(set_to_none=True)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                self._update(self.index)
            self.graph = graph
            graph.replay()


# Benchmarks switch this off to time the eager CUDA loop against the graphed one.
CUDA_GRAPHS = True


def _train_epoch(steps: _Steps, n_rows: int, batch_size: int, order: torch.Generator) -> float:
    """One pass over the rows in a fresh shuffled order; returns the mean training loss per row.

    A batch is an index slice of one permutation of the rows, which stay on the training device:
    no DataLoader, no per-batch copies, no ``.item()`` sync. The permutation is drawn on the CPU
    from the seeded ``order``, so CPU and CUDA runs see the same batches.
    """
    steps.module.train()
    steps.total.zero_()
    for indices in torch.randperm(n_rows, generator=order).to(steps.X.device).split(batch_size):
        steps.step(indices)
    return steps.total.item() / n_rows


@torch.no_grad()
def _validate(module, X_val, y_val, loss_fn, targets: _Targets) -> dict[str, float]:
    """Validation loss plus accuracy (classifiers) or RMSE in the target's units."""
    module.eval()
    outputs = module(X_val)
    scores = {"validation_loss": loss_fn(outputs, y_val).item()}
    if targets.classify:
        scores["validation_accuracy"] = (outputs.argmax(1) == y_val).float().mean().item()
    else:
        rmse = ((outputs - y_val) ** 2).mean().sqrt().item()
        scores["validation_rmse"] = float(rmse * targets.y_std)
    return scores


def train(request: FitRequest, params: Params) -> tuple:
    """Fit the preprocessor, then the MLP with early stopping; the best epoch's weights win.

    ``request.threads`` sets torch's intra-op threads (a process-wide setting; None leaves it);
    ``request.on_step`` gets each epoch's losses and validation score.

    Returns:
        (preprocessor, TorchEstimator on the CPU, where it is evaluated and served)
    """
    device, seed, on_step = resolve_device(params.device), request.seed, request.on_step
    if request.threads is not None:
        torch.set_num_threads(request.threads)
    part = data.holdout(
        request.X, request.y, fraction=params.validation_fraction, seed=seed, stratify=request.task
    )
    if params.batch_size > len(part.y_train):
        raise UserInputError(
            f"batch_size={params.batch_size} is larger than the {len(part.y_train)} training "
            "rows (after the test and validation splits); use a smaller batch_size"
        )
    preprocessor = request.preprocessor().fit(part.X_train)
    targets = _Targets(preprocessor, request.task, part.y_train)
    X_fit, y_fit = (t.to(device) for t in targets.tensors(part.X_train, part.y_train))
    X_val, y_val = (t.to(device) for t in targets.tensors(part.X_test, part.y_test))
    torch.manual_seed(seed)  # weight init and dropout, so train() alone is repeatable too
    n_outputs = int(request.y.max()) + 1 if targets.classify else 1
    architecture = Architecture(
        request.task, X_fit.shape[1], tuple(params.hidden_sizes), n_outputs, params.dropout,
        targets.y_mean, targets.y_std,
    )  # fmt: skip
    _check_memory(architecture, params)
    module = architecture.build().to(device)
    graphed = device == "cuda" and CUDA_GRAPHS
    # On CUDA the fused kernel updates every parameter in one launch (deterministic too).
    optimizer = torch.optim.AdamW(
        module.parameters(), lr=params.learning_rate, weight_decay=params.weight_decay,
        fused=device == "cuda", capturable=graphed,
    )  # fmt: skip
    loss_fn = nn.CrossEntropyLoss() if targets.classify else nn.MSELoss()
    steps = (
        _GraphedSteps(module, optimizer, loss_fn, X_fit, y_fit, batch_size=params.batch_size)
        if graphed
        else _Steps(module, optimizer, loss_fn, X_fit, y_fit)
    )
    order = torch.Generator().manual_seed(seed)  # the batches' shuffling, per epoch
    stopping = _EarlyStopping(params.patience)
    for epoch in range(params.epochs):
        train_loss = _train_epoch(steps, len(y_fit), params.batch_size, order)
        scores = _validate(module, X_val, y_val, loss_fn, targets)
        if on_step:
            on_step(epoch, {"train_loss": train_loss, **scores})
        if stopping.should_stop(epoch, scores["validation_loss"], module):
            break
    if stopping.best_state is None:
        raise UserInputError(
            "the validation loss was never finite (NaN or inf from the first epoch on): "
            "check the table for huge values, or lower learning_rate"
        )
    module.load_state_dict(stopping.best_state)
    estimator = TorchEstimator(module.cpu(), architecture)
    estimator.best_epoch, estimator.epochs_run = stopping.best_epoch, epoch + 1
    return preprocessor, estimator


def fit_report(
    estimator: TorchEstimator, history: History | None = None
) -> tuple[dict[str, float], str]:
    """Epochs run and the best epoch (1-based), and a summary line."""
    best, ran = estimator.best_epoch + 1, estimator.epochs_run
    return {"best_epoch": best, "epochs_run": ran}, f"stopped after {ran} epochs; best epoch {best}"


def learning_curve(estimator: TorchEstimator) -> LearningCurve:
    """Train and validation loss per epoch, the best (kept) epoch marked."""
    return LearningCurve(
        best_step=estimator.best_epoch, metrics=("train_loss", "validation_loss"), ylabel="loss"
    )


def run_tags(params: Params) -> dict[str, str]:
    """The device the network trains on, as ``device_name`` tells it."""
    return {"device": device_name(params.device)}


def importances(estimator: TorchEstimator) -> None:
    """An MLP has no per-feature importances of its own."""
    return None


def contributions(estimator: TorchEstimator, encoded: np.ndarray) -> None:
    """No per-row contributions of its own (the permutation importances cover it)."""
    return None


def save_estimator(estimator: TorchEstimator, path: Path) -> None:
    """A state_dict (tensors only) plus the architecture, in the folder ``path``."""
    path.mkdir()
    state = {k: v.detach().cpu() for k, v in estimator.module.state_dict().items()}
    torch.save(state, path / "weights.pt")
    (path / "architecture.json").write_text(json.dumps(asdict(estimator.architecture)))


def load_estimator(path: str, task: str) -> TorchEstimator:
    """Rebuild the MLP from code and the architecture JSON, then load its weights."""
    folder = Path(path)
    spec = json.loads((folder / "architecture.json").read_text())
    architecture = Architecture(**{**spec, "hidden_sizes": tuple(spec["hidden_sizes"])})
    module = architecture.build()
    module.load_state_dict(torch.load(folder / "weights.pt", weights_only=True, map_location="cpu"))
    return TorchEstimator(module, architecture)
