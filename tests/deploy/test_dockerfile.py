"""Dockerfile and .dockerignore: parsed by BuildKit's own parser (the `dockerfile`
package) and checked: slim multi-stage build, non-root user, health check, templates
in the image, `minwon-hub` as the entrypoint."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.deploy.conftest import ROOT

dockerfile = pytest.importorskip("dockerfile", reason="the `dockerfile` parser (dev extra)")

DOCKERFILE = ROOT / "Dockerfile"


@pytest.fixture(scope="module")
def commands() -> list[Any]:
    return list(dockerfile.parse_file(str(DOCKERFILE)))


def _stages(commands: list[Any]) -> list[list[Any]]:
    stages: list[list[Any]] = []
    for cmd in commands:
        if cmd.cmd == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(cmd)
    return stages


def _final(commands: list[Any], name: str) -> Any:
    found = [c for c in _stages(commands)[-1] if c.cmd == name]
    assert found, f"the final stage has no {name}"
    return found[-1]


def test_multi_stage_build_on_python_slim(commands: list[Any]) -> None:
    stages = _stages(commands)
    assert len(stages) >= 2
    args = {c.value[0].split("=")[0]: c.value[0].split("=")[1] for c in commands
            if c.cmd == "ARG" and "=" in c.value[0]}
    for stage in stages:
        image = stage[0].value[0].replace("${PYTHON_VERSION}", args.get("PYTHON_VERSION", ""))
        assert image == "python:3.11-slim", image
    # the final stage copies the built environment, not the build tools
    copies = [c for c in stages[-1] if c.cmd == "COPY"]
    assert any("--from=build" in c.flags for c in copies)


def test_runs_as_a_non_root_user(commands: list[Any]) -> None:
    user = _final(commands, "USER").value[0]
    name, _, group = user.partition(":")
    assert name not in {"root", "0", ""}
    assert group not in {"root", "0"}


def test_has_a_healthcheck_on_the_readiness_endpoint(commands: list[Any]) -> None:
    check = _final(commands, "HEALTHCHECK")
    assert check.value[0] == "CMD"
    assert "/readyz" in " ".join(check.value)
    assert any(f.startswith("--interval=") for f in check.flags)


def test_entrypoint_is_the_console_script(commands: list[Any]) -> None:
    entry = _final(commands, "ENTRYPOINT")
    assert entry.json and list(entry.value) == ["minwon-hub"]
    cmd = _final(commands, "CMD")
    assert list(cmd.value) == ["run"]


def test_templates_are_in_the_image_where_the_config_points(commands: list[Any]) -> None:
    copies = [c for c in _stages(commands)[-1] if c.cmd == "COPY"]
    assert any(list(c.value) == ["templates", "/app/templates"] for c in copies)
    env = _final(commands, "ENV").value
    pairs = dict(zip(env[::2], env[1::2], strict=True))
    assert pairs["MINWON__TEMPLATES__DIR"] == "/app/templates"


def test_copied_sources_exist(commands: list[Any]) -> None:
    for cmd in commands:
        if cmd.cmd == "COPY" and not any(f.startswith("--from") for f in cmd.flags):
            for source in cmd.value[:-1]:
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"


def test_healthcheck_in_exec_form_is_valid_python(commands: list[Any]) -> None:
    check = _final(commands, "HEALTHCHECK")
    argv = list(check.value[1:])
    assert argv[:2] == ["python", "-c"]
    compile(argv[2], "<healthcheck>", "exec")


@pytest.mark.parametrize("pattern", [".git", ".venv", "tests", "**/__pycache__", "*.db", ".env"])
def test_dockerignore_keeps_out(pattern: str) -> None:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert pattern in lines


def test_dockerignore_keeps_what_the_build_copies(commands: list[Any]) -> None:
    ignored = {
        line.strip() for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for cmd in commands:
        if cmd.cmd == "COPY" and not any(f.startswith("--from") for f in cmd.flags):
            for source in cmd.value[:-1]:
                assert source not in ignored, f"{source} is copied but ignored"


def test_compose_healthcheck_agrees_with_the_image() -> None:
    # The compose file repeats the image's check (port fixed to 9108 there).
    from tests.deploy.conftest import DEPLOY, load_yaml

    router = load_yaml(DEPLOY / "compose.yaml")["services"]["router"]
    assert "9108/readyz" in json.dumps(router["healthcheck"]["test"])


def test_the_image_runs_in_production_mode(commands: list[Any]) -> None:
    env = " ".join(" ".join(c.value) for c in _stages(commands)[-1] if c.cmd == "ENV")
    assert "MINWON__HUB__ENVIRONMENT production" in env or \
        "MINWON__HUB__ENVIRONMENT=production" in env


def test_dependencies_come_from_the_lock_file_with_hashes(commands: list[Any]) -> None:
    runs = [" ".join(c.value) for c in _stages(commands)[0] if c.cmd == "RUN"]
    assert any("--require-hashes" in r and "-r requirements.lock" in r for r in runs)
    assert any("pip install --no-deps ." in r for r in runs)  # the hub adds no other
