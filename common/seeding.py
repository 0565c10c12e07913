"""One call that makes a run's randomness repeatable."""

from __future__ import annotations

import os
import random
import sys

import numpy as np


def seed_everything(seed: int, *, deterministic: bool = True) -> None:
    """Seed Python, NumPy and (when the run uses it) PyTorch, and ask for deterministic kernels.

    PyTorch is seeded only when already imported, i.e. by a trainer that uses it: importing it
    here cost every scikit-learn and XGBoost run ~3 s (use_deterministic_algorithms pulls in
    torch._dynamo). A trainer module imports its framework before the run seeds.

    Args:
        seed: The run's seed; the same seed gives the same model and metrics on CPU.
        deterministic: Also switch PyTorch to deterministic algorithms (slower on GPU).
    """
    random.seed(seed)
    np.random.seed(seed)
    # Hash randomisation only reaches processes started after this point (e.g. Spark workers).
    os.environ["PYTHONHASHSEED"] = str(seed)
    torch = sys.modules.get("torch")
    if torch is None:
        return

    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        # cuBLAS needs this workspace setting before deterministic GEMMs are allowed.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
