"""Shared helpers of the deployment-file tests: the repository's paths, YAML loading,
and the tools (promtool, kubectl) found on PATH or in the virtualenv."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def load_yaml_all(path: Path) -> list[Any]:
    with path.open(encoding="utf-8") as fh:
        return [doc for doc in yaml.safe_load_all(fh) if doc is not None]


def tool(name: str) -> str | None:
    """``name`` on PATH, else next to the running Python (the virtualenv's bin/)."""
    found = shutil.which(name)
    if found:
        return found
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else None


@pytest.fixture(scope="session")
def promtool() -> str:
    path = tool("promtool")
    if path is None:
        pytest.skip(
            "promtool not installed (apt-get install -y --no-install-recommends prometheus)"
        )
    return path
