from __future__ import annotations

import random
import subprocess
import sys

import numpy as np
import torch

from common.seeding import seed_everything
from tests.helpers.project import PROJECT_ROOT


def _draw():
    return random.random(), np.random.rand(), torch.rand(1).item()


def test_same_seed_same_draws_other_seed_other_draws():
    seed_everything(7)
    first = _draw()
    seed_everything(7)
    assert _draw() == first
    seed_everything(8)
    assert _draw() != first


def test_deterministic_algorithms_are_switched_on():
    seed_everything(0)
    assert torch.are_deterministic_algorithms_enabled()


def test_seeding_leaves_torch_alone_in_a_run_that_does_not_use_it():
    script = (
        "import sys; from common.seeding import seed_everything; seed_everything(1); "
        "print('torch' in sys.modules, 'torch._dynamo' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["False", "False"]
