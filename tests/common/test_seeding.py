from __future__ import annotations

import random

import numpy as np
import torch

from common.seeding import seed_everything


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
