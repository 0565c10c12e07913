"""skops imported without torch still trusts the same scikit-learn types."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.helpers.project import PROJECT_ROOT

SCRIPT = """
import json, sys
{setup}
import numpy as np
from sklearn.ensemble import RandomForestClassifier
from common.skops_import import skops_io
skops = skops_io()
forest = RandomForestClassifier(3, random_state=0).fit(np.eye(4), [0, 1, 0, 1])
skops.dump(forest, sys.argv[1])
trusted = skops.get_untrusted_types(file=sys.argv[1])
print(json.dumps({{"torch": "torch" in sys.modules, "untrusted": trusted,
                   "known": len(skops._trusted_types.SKLEARN_ESTIMATOR_TYPE_NAMES)}}))
"""


def _run(setup: str, path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(setup=setup), str(path)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(done.stdout.splitlines()[-1])


def test_skops_loads_without_torch_and_trusts_what_it_trusts_with_it(tmp_path):
    hidden = _run("", tmp_path / "a.skops")
    loaded = _run("import torch", tmp_path / "b.skops")
    assert hidden["torch"] is False
    assert loaded["torch"] is True
    assert hidden["known"] == loaded["known"] > 100
    assert hidden["untrusted"] == loaded["untrusted"] == ["sklearn.tree._tree.Tree"]
