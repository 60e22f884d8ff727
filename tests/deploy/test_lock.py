"""requirements.lock (the image's dependencies, `make lock`): every runtime dependency of
pyproject.toml pinned at a version its bound admits, every pin with hashes."""

from __future__ import annotations

import re
import tomllib

from packaging.requirements import Requirement
from packaging.version import Version

from tests.deploy.conftest import ROOT

PINS = re.compile(r"^([A-Za-z0-9_.-]+)==([^ \\]+)", re.M)


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins() -> dict[str, Version]:
    text = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    return {_name(m.group(1)): Version(m.group(2)) for m in PINS.finditer(text)}


def _runtime_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    return [Requirement(r) for r in [*project["dependencies"], *extras["postgres"],
                                     *extras["redis"]]]


def test_every_runtime_dependency_is_pinned_within_its_bounds() -> None:
    pins = _pins()
    for requirement in _runtime_requirements():
        name = _name(requirement.name)
        assert name in pins, f"{name} is not in requirements.lock: run `make lock`"
        assert pins[name] in requirement.specifier, \
            f"{name}=={pins[name]} is outside {requirement.specifier}: run `make lock`"


def test_every_pin_has_hashes() -> None:
    text = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    blocks = re.split(r"\n(?=[A-Za-z0-9_.-]+==)", text)
    pinned = [b for b in blocks if PINS.match(b)]
    assert pinned
    for block in pinned:
        assert "--hash=sha256:" in block, block.splitlines()[0]
