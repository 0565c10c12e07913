"""Train a tabular MLP with PyTorch and log it to MLflow as a servable model.

    mlflow run . -e train_pytorch --env-manager local -P hidden_sizes=128,64 -P epochs=50
    python -m entrypoints.train_pytorch --hidden-sizes 128,64 --epochs 50

Runs on the GPU when one is present (``--device auto``) and on the CPU otherwise; on the CPU a
fixed seed gives bit-identical metrics.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from common import cli, data, training
from common.errors import UserInputError
from common.preprocessing import build_preprocessor, split_columns
from common.step_metrics import StepMetricsLogger

ENTRY_POINT = "train_pytorch"
ESTIMATOR_FILE = "estimator"  # a folder: weights.pt (state_dict) + architecture.json


def build_parser() -> cli.StrictParser:
    parser = cli.build_parser(__doc__, default_data="builtin:breast_cancer")
    net = parser.add_argument_group("network and optimisation")
    net.add_argument(
        "--hidden-sizes", type=cli.positive_int_list, default=(128, 64), help="default: 128,64"
    )
    net.add_argument(
        "--dropout",
        type=cli.float_in(0.0, 1.0, low_open=False),
        default=0.1,
        help="default: %(default)s",
    )
    net.add_argument(
        "--learning-rate",
        type=cli.float_in(0.0, 1.0),
        default=1e-3,
        help="AdamW (default: %(default)s)",
    )
    net.add_argument(
        "--weight-decay",
        type=cli.float_in(0.0, 1.0, low_open=False),
        default=1e-4,
        help="default: %(default)s",
    )
    net.add_argument(
        "--epochs", type=cli.positive_int, default=100, help="max epochs (default: %(default)s)"
    )
    net.add_argument("--batch-size", type=cli.positive_int, default=64, help="default: %(default)s")
    net.add_argument(
        "--patience",
        type=cli.positive_int,
        default=10,
        help="early-stopping epochs (default: %(default)s)",
    )
    net.add_argument(
        "--validation-fraction",
        type=cli.float_in(0.0, 1.0),
        default=0.15,
        help="of the training split (default: %(default)s)",
    )
    net.add_argument(
        "--device", choices=("auto", "cpu", "cuda"), default="auto", help="default: %(default)s"
    )
    return parser  # fmt: skip


def search_space() -> dict:
    """Hyperopt search space over ``train``'s keyword arguments (used by ``tune``)."""
    from hyperopt import hp

    return {
        "hidden_sizes": hp.choice("hidden_sizes", [(64,), (128, 64), (256, 128), (128, 64, 32)]),
        "dropout": hp.uniform("dropout", 0.0, 0.5),
        "learning_rate": hp.loguniform("learning_rate", np.log(1e-4), np.log(1e-2)),
        "weight_decay": hp.loguniform("weight_decay", np.log(1e-6), np.log(1e-2)),
        "batch_size": hp.choice("batch_size", [32, 64, 128]),
    }


def model_type(task: str) -> str:
    return "mlp_classifier" if task == "classification" else "mlp_regressor"


class MLP(nn.Module):
    """Linear -> ReLU -> Dropout per hidden layer, then a linear output layer."""

    def __init__(self, n_inputs: int, hidden_sizes: Sequence[int], n_outputs: int, dropout: float):
        super().__init__()
        layers: list[nn.Module] = []
        width = n_inputs
        for size in hidden_sizes:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
            width = size
        layers.append(nn.Linear(width, n_outputs))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@dataclass(frozen=True)
class Architecture:
    """Everything needed to rebuild the network and read its outputs; saved as JSON."""

    task: str
    n_inputs: int
    hidden_sizes: tuple[int, ...]
    n_outputs: int
    dropout: float
    y_mean: float = 0.0  # regression targets are standardized for training
    y_std: float = 1.0


class TorchEstimator:
    """A trained MLP with the ``predict`` / ``predict_proba`` interface the pyfunc expects."""

    def __init__(self, module: MLP, architecture: Architecture, device: str = "cpu"):
        self.module, self.architecture, self.device = module.eval(), architecture, device
        self.best_epoch: int | None = None  # set by train(); 0-based
        self.epochs_run: int | None = None

    @torch.no_grad()
    def _outputs(self, X: np.ndarray) -> np.ndarray:
        tensor = torch.as_tensor(np.asarray(X, dtype="float32"), device=self.device)
        return self.module(tensor).cpu().numpy().astype("float64")

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return torch.softmax(torch.from_numpy(self._outputs(X)), dim=1).numpy()

    def predict(self, X: np.ndarray) -> np.ndarray:
        if self.architecture.task == "classification":
            return self.predict_proba(X).argmax(axis=1)
        return self._outputs(X)[:, 0] * self.architecture.y_std + self.architecture.y_mean


def resolve_device(device: str) -> str:
    """``auto`` picks CUDA when available; asking for CUDA without one is an error."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise UserInputError("device 'cuda' requested but no CUDA device is available")
    return device


def train(
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    task: str,
    seed: int,
    hidden_sizes: Sequence[int] = (128, 64),
    dropout: float = 0.1,
    learning_rate: float = 1e-3,
    weight_decay: float = 1e-4,
    epochs: int = 100,
    batch_size: int = 64,
    patience: int = 10,
    validation_fraction: float = 0.15,
    device: str = "auto",
    on_epoch: Callable[[int, Mapping[str, float]], None] | None = None,
):
    """Fit the preprocessor, then the MLP with early stopping; the best epoch's weights win.

    Returns:
        (preprocessor, TorchEstimator)
    """
    device = resolve_device(device)
    part = data.holdout(X, y, fraction=validation_fraction, seed=seed, stratify=task)
    if batch_size > len(part.y_train):
        raise UserInputError(
            f"batch_size={batch_size} is larger than the {len(part.y_train)} training rows "
            "(after the test and validation splits); use a smaller batch_size"
        )
    preprocessor = build_preprocessor(*split_columns(X)).fit(part.X_train)
    classify = task == "classification"
    n_outputs = int(y.max()) + 1 if classify else 1
    y_mean, y_std = (
        (0.0, 1.0) if classify else (float(part.y_train.mean()), float(part.y_train.std() or 1.0))
    )

    def tensors(frame: pd.DataFrame, target: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        features = torch.as_tensor(preprocessor.transform(frame), dtype=torch.float32)
        if classify:
            return features, torch.as_tensor(target, dtype=torch.long)
        return features, torch.as_tensor((target - y_mean) / y_std, dtype=torch.float32)[:, None]

    X_fit, y_fit = tensors(part.X_train, part.y_train)
    X_val, y_val = (t.to(device) for t in tensors(part.X_test, part.y_test))
    torch.manual_seed(seed)  # weight init and dropout, so train() alone is repeatable too
    architecture = Architecture(
        task, X_fit.shape[1], tuple(hidden_sizes), n_outputs, dropout, y_mean, y_std
    )
    module = MLP(architecture.n_inputs, hidden_sizes, n_outputs, dropout).to(device)
    optimizer = torch.optim.AdamW(module.parameters(), lr=learning_rate, weight_decay=weight_decay)
    loss_fn = nn.CrossEntropyLoss() if classify else nn.MSELoss()
    batches = DataLoader(
        TensorDataset(X_fit, y_fit),
        batch_size=batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
    )
    best_loss, best_state, best_epoch, stale = float("inf"), None, 0, 0
    for epoch in range(epochs):
        module.train()
        total = 0.0
        for xb, yb in batches:
            xb, yb = xb.to(device), yb.to(device)
            optimizer.zero_grad()
            loss = loss_fn(module(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(xb)
        module.eval()
        with torch.no_grad():
            outputs = module(X_val)
            val_loss = loss_fn(outputs, y_val).item()
        if classify:
            quality = {"validation_accuracy": (outputs.argmax(1) == y_val).float().mean().item()}
        else:
            quality = {
                "validation_rmse": float(((outputs - y_val) ** 2).mean().sqrt().item() * y_std)
            }
        if on_epoch:
            on_epoch(
                epoch, {"train_loss": total / len(X_fit), "validation_loss": val_loss, **quality}
            )
        if val_loss < best_loss:
            best_loss, best_epoch, stale = val_loss, epoch, 0
            best_state = copy.deepcopy(module.state_dict())
        else:
            stale += 1
            if stale >= patience:
                break
    module.load_state_dict(best_state)
    estimator = TorchEstimator(module, architecture, device)
    estimator.best_epoch, estimator.epochs_run = best_epoch, epoch + 1
    return preprocessor, estimator


def save_estimator(estimator: TorchEstimator, path: Path) -> None:
    """A state_dict (tensors only, loadable with weights_only=True) plus the architecture."""
    path.mkdir()
    state = {k: v.detach().cpu() for k, v in estimator.module.state_dict().items()}
    torch.save(state, path / "weights.pt")
    (path / "architecture.json").write_text(json.dumps(asdict(estimator.architecture)))


def load_estimator(path: str, task: str) -> TorchEstimator:
    """Loader named in the model's config: rebuild the MLP from code, then load its weights."""
    folder = Path(path)
    spec = json.loads((folder / "architecture.json").read_text())
    architecture = Architecture(**{**spec, "hidden_sizes": tuple(spec["hidden_sizes"])})
    module = MLP(
        architecture.n_inputs,
        architecture.hidden_sizes,
        architecture.n_outputs,
        architecture.dropout,
    )
    module.load_state_dict(torch.load(folder / "weights.pt", weights_only=True, map_location="cpu"))
    return TorchEstimator(module, architecture)


def log_model(
    table: data.TabularData, split: data.Split, preprocessor, estimator: TorchEstimator
) -> dict[str, float]:
    """Evaluate and log the trained MLP as the run's model (used by ``tune`` too)."""
    estimator.module.cpu()
    estimator.device = "cpu"
    return training.log_trained_model(
        table,
        split,
        preprocessor=preprocessor,
        estimator=estimator,
        loader=f"entrypoints.{ENTRY_POINT}:load_estimator",
        estimator_file=ESTIMATOR_FILE,
        save_estimator=save_estimator,
        extra_requirements=("torch",),
    )


def main(argv: Sequence[str] | None = None) -> int:
    return cli.run_main(lambda: _run(build_parser().parse_args(argv)))


def _run(args) -> int:
    with training.entry_point_run(ENTRY_POINT, args) as run:
        device = resolve_device(args.device)
        mlflow.set_tag("device", torch.cuda.get_device_name() if device == "cuda" else "cpu")
        table, split = training.load_data(args, model_type)
        with StepMetricsLogger(run.info.run_id, total_steps=args.epochs, label="epoch") as steps:
            preprocessor, estimator = train(
                split.X_train, split.y_train, task=table.task, seed=args.seed, device=device,
                on_epoch=steps, **training.hyperparameters(train, args, exclude=("device",)),
            )  # fmt: skip
        mlflow.log_metrics(
            {"best_epoch": estimator.best_epoch + 1, "epochs_run": estimator.epochs_run}
        )
        print(f"stopped after {estimator.epochs_run} epochs; best epoch {estimator.best_epoch + 1}")
        _log_learning_curve(steps.history)
        log_model(table, split, preprocessor, estimator)
    return 0


def _log_learning_curve(history: Mapping[str, list[tuple[int, float]]]) -> None:
    """Plot per-epoch train and validation loss."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    for name in ("train_loss", "validation_loss"):
        points = history.get(name, [])
        ax.plot([step + 1 for step, _ in points], [value for _, value in points], label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend()
    ax.set_title("Learning curve")
    fig.tight_layout()
    mlflow.log_figure(fig, "plots/learning_curve.png")


if __name__ == "__main__":
    raise SystemExit(main())
