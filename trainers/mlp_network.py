"""The tabular MLP as a network, apart from the loop that trains it (``trainers.mlp``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


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

    def build(self) -> MLP:
        return MLP(self.n_inputs, self.hidden_sizes, self.n_outputs, self.dropout)


class TorchEstimator:
    """A trained MLP with the ``predict`` / ``predict_proba`` interface the pyfunc expects."""

    def __init__(self, module: MLP, architecture: Architecture, device: str = "cpu"):
        self.module, self.architecture, self.device = module.eval(), architecture, device
        self.best_epoch: int | None = None  # set by training; 0-based
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
