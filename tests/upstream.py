"""Helpers for the tests of the upstream contract: the Node.js examples' packages."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NODE_DIR = ROOT / "clients" / "node"


def node_modules() -> Path:
    """clients/node with its npm packages installed (``npm ci`` from the lock file when
    they are missing or older than it). Node.js and npm must be installed."""
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, "Node.js and npm are needed (Debian: apt-get install nodejs npm)"
    modules = NODE_DIR / "node_modules"
    stamp = modules / ".package-lock.json"
    lock = NODE_DIR / "package-lock.json"
    if not stamp.exists() or stamp.stat().st_mtime < lock.stat().st_mtime:
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                              cwd=NODE_DIR, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
    return modules
