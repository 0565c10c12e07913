"""The project under test, its committed data, and clean git copies of it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CHURN_CSV = PROJECT_ROOT / "data" / "churn_sample.csv"
GIT_IDENTITY = ["-c", "user.name=tests", "-c", "user.email=tests@127.0.0.1"]


def git(*args: str, cwd: Path) -> str:
    """Run git in ``cwd`` with a fixed identity; returns stdout."""
    done = subprocess.run(
        ["git", *GIT_IDENTITY, *args], cwd=cwd, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def snapshot_project(dest: Path, *, repo_root: Path | None = None) -> str:
    """Copy the working tree (tracked and untracked, minus ignored files) to ``dest`` and commit
    it in a fresh git repo at ``repo_root`` (default ``dest``); returns the commit's full sha.

    Tests that need a clean tree at a known commit (step reuse, reproduce, git-URL runs) use it,
    so they test the code as it is now, not the last commit of the checkout.
    """
    listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=PROJECT_ROOT)
    for name in filter(None, listed.split("\0")):
        source = PROJECT_ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    root = repo_root or dest
    git("init", "-q", "-b", "main", cwd=root)
    git("add", "-A", cwd=root)
    git("commit", "-q", "-m", "snapshot for tests", cwd=root)
    return git("rev-parse", "HEAD", cwd=root)
