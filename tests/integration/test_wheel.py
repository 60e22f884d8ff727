"""The hub's wheel carries what it needs outside a checkout: the templates and their
samples (hub/notice_templates), the rules, the schemas and the light client; `templates
check`, `templates preview` and `demo` work from it in an empty folder."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, unpacked as an installer would into site-packages."""
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                            str(out), str(ROOT)], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr
    (wheel,) = out.glob("minwon_hub-*.whl")
    site = out / "site"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        archive.extractall(site)
    for needed in ["hub/notice_templates/case.received/sms.j2",
                   "hub/notice_templates/case.received/samples/full.json",
                   "hub/notice_templates/orgs/gumi/case.answered/sms.j2",
                   "hub/rules.toml", "hub/schemas/event.schema.json",
                   "minwon_client/schemas/event.schema.json", "minwon_client/producer.py"]:
        assert needed in names, needed
    return site


def run(site: Path, cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINWON")}
    env["PYTHONPATH"] = str(site)
    return subprocess.run([sys.executable, "-m", "hub.cli", *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_templates_check_and_preview_work_from_the_wheel(installed: Path,
                                                         tmp_path: Path) -> None:
    done = run(installed, tmp_path, "templates", "check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"templates: {installed / 'hub' / 'notice_templates'}" in done.stdout
    assert " 0 with errors" in done.stdout
    done = run(installed, tmp_path, "templates", "preview", "case.received", "sms")
    assert done.returncode == 0, done.stderr
    assert "template: case.received/sms.j2" in done.stdout


def test_demo_works_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    done = run(installed, tmp_path, "demo")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "sms.jsonl:" in done.stdout
    assert list(tmp_path.iterdir()) == []  # nothing left in the folder it ran in
