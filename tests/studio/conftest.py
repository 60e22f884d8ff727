"""Shared set-up of the studio tests: a ledger database in a temporary folder, a copy
of the shipped templates, and accounts of every role."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from hub.config import DEFAULTS, Config, deep_merge
from hub.ledger import open_ledger
from hub.ledger.privacy import DEV_HASH_KEY
from hub.studio.accounts import Accounts

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"
USERS = {
    # name: (org, role, phone, email)
    "kim": ("gumi", "editor", "010-1111-2222", "kim@gumi.go.kr"),
    "park": ("seoul", "editor", None, None),
    "lee": ("gumi", "operator", None, None),
    "root": ("gumi", "admin", None, None),
}


def studio_config(tmp_path: Path, **extra: Any) -> Config:
    templates = tmp_path / "templates"
    if not templates.exists():
        shutil.copytree(ROOT / "templates", templates)
    data = deep_merge(DEFAULTS, {
        "ledger": {"url": f"sqlite:///{tmp_path / 'ledger.db'}"},
        "templates": {"dir": str(templates)},
        "orgs": {"gumi": {"name": "구미시", "callcenter": "054-480-2114"},
                 "seoul": {"name": "서울시", "callcenter": "02-120"}},
        "studio": {"secret_key": "test-secret-key-0123456789"},
        "providers": {"outbox": {"dir": str(tmp_path / "outbox")}},
    })
    return Config(deep_merge(data, extra))


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return studio_config(tmp_path)


@pytest.fixture
def ledger(config: Config) -> Any:
    with open_ledger(config.get("ledger", "url"), hash_key=DEV_HASH_KEY) as led:
        accounts = Accounts(led.engine)
        for name, (org, role, phone, email) in USERS.items():
            accounts.add(name, PASSWORD, org=org, role=role, phone=phone, email=email)
        yield led


_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2's production cost (64 MiB, 3 passes) per sign-in would make these tests
    slow on a shared machine; the tests check behaviour, not the cost."""
    from argon2 import PasswordHasher

    from hub.studio import accounts

    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024,
                                                            parallelism=1))
