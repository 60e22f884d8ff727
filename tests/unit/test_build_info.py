"""minwon_build_info says which build runs, on every process's /metrics."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata

from prometheus_client import REGISTRY, generate_latest


def test_build_info_names_version_revision_and_python() -> None:
    import hub.metrics  # noqa: F401 - registers it

    text = generate_latest(REGISTRY).decode()
    line = next(x for x in text.splitlines() if x.startswith("minwon_build_info{"))
    assert f'version="{metadata.version("minwon-hub")}"' in line
    assert f'python="{platform.python_version()}"' in line
    assert line.endswith(" 1.0")


def test_the_revision_comes_from_the_environment() -> None:
    code = ("import hub.metrics\nfrom prometheus_client import generate_latest\n"
            "print(generate_latest().decode())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "MINWON_REVISION": "5fbe489"}, timeout=120).stdout
    assert 'revision="5fbe489"' in out
