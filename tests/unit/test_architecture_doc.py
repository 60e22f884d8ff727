"""docs/architecture.md keeps step with the tree: every module of the hub, its providers and
the light client has its line (by path, or by file name in its package's table), every
path it names exists, and every dependency of pyproject.toml has its one job written."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
PACKAGES = ("hub", "channels", "clients/python/minwon_client")


def modules() -> list[Path]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT)
            if path.name == "__init__.py" and path.parent.name not in ("templates", "ledger"):
                continue  # a package's own docstring; the package has its line
            if "migrations" in rel.parts:
                continue  # Alembic's environment and revisions: `migrations/` has its line
            found.append(rel)
    return found


def test_every_module_has_its_line() -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = [str(m) for m in modules()
               if f"`{m.as_posix()}`" not in text and f"`{m.name}`" not in text]
    assert not missing, f"docs/architecture.md does not describe {missing}"


def test_every_module_path_it_names_exists() -> None:
    text = DOC.read_text(encoding="utf-8")
    named = set(re.findall(r"`((?:hub|channels|clients)/[\w/.-]+\.py)`", text))
    gone = sorted(p for p in named if not (ROOT / p).is_file())
    assert not gone, f"docs/architecture.md names modules that do not exist: {gone}"


def _names(requirements: list[str]) -> set[str]:
    return {re.sub(r"[-_.]+", "-", Requirement(r).name).lower() for r in requirements}


def test_every_dependency_has_its_job() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = _names(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        names |= _names(extra)
    client = tomllib.loads((ROOT / "clients/python/pyproject.toml").read_text(encoding="utf-8"))
    names |= _names(client["project"]["dependencies"])
    for extra in client["project"].get("optional-dependencies", {}).values():
        names |= _names(extra)
    section = DOC.read_text(encoding="utf-8").split("## Dependencies and their one job each")[1]
    section = section.split("\n## ")[0]
    rows = " ".join(line.split("|")[1] for line in section.splitlines()
                    if line.startswith("| ") and not line.startswith("| package"))
    listed = {re.sub(r"[-_.]+", "-", w).lower() for w in re.findall(r"[\w.-]+", rows)}
    missing = sorted(names - listed)
    assert not missing, f"docs/architecture.md gives no job for {missing}"
