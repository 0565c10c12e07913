"""Importing skops (the safe format of scikit-learn objects) without importing PyTorch.

At import, skops lists the scikit-learn types it trusts with sklearn's ``all_estimators()``,
which walks every sklearn package, ``sklearn.externals.array_api_compat.torch`` included: with
torch installed that imports all of torch (~1 s measured here, in every scikit-learn and XGBoost
run and every model load, for a framework they never use). The walk skips packages that fail to
import and lists no class from ``externals``, so hiding torch while skops is imported gives the
same trusted list (208 types, checked by tests/common/test_skops_import.py) without it.
"""

from __future__ import annotations

import importlib.abc
import sys
from types import ModuleType


class _HideTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"{name} is hidden while skops is imported")
        return None


def skops_io() -> ModuleType:
    """``skops.io``, imported without importing torch unless torch is already loaded."""
    hide = "skops.io" not in sys.modules and "torch" not in sys.modules
    finder = _HideTorch()
    if hide:
        sys.meta_path.insert(0, finder)
    try:
        import skops.io
    finally:
        if hide:
            sys.meta_path.remove(finder)
    return skops.io
