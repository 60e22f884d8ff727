"""Studio accounts: local users with a role and an organisation, passwords hashed
with argon2 (argon2-cffi's defaults, RFC 9106).

Roles:

* ``editor``: edits the templates of their organisation (its overrides), reads the
  default templates, sends tests to themself;
* ``operator``: looks up deliveries, replays dead letters and records opt-outs for
  their organisation;
* ``admin``: everything, for every organisation, including the default templates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError

from hub.ledger.schema import studio_users

EDITOR, OPERATOR, ADMIN = "editor", "operator", "admin"
ROLES = (EDITOR, OPERATOR, ADMIN)
DEFAULT_ORG = "_"  # the default templates in URLs
MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # argon2 hashes anything; a megabyte password is an attack

_NAME = re.compile(r"^[A-Za-z0-9._@-]{1,100}$")
_ORG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")

_hasher = PasswordHasher()
#: Verified against when the user does not exist, so that a wrong name takes as long
#: as a wrong password (no user enumeration by timing).
_DUMMY_HASH = _hasher.hash("minwon-studio-no-such-user")


@dataclass(frozen=True)
class User:
    name: str
    org: str
    role: str
    phone: str | None = None
    email: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN

    def can_edit(self, org: str) -> bool:
        """May change the templates of ``org`` (``_``: the defaults)."""
        if self.role == ADMIN:
            return True
        return self.role == EDITOR and org == self.org

    def can_read_templates(self, org: str) -> bool:
        if self.role == ADMIN:
            return True
        return self.role == EDITOR and org in (self.org, DEFAULT_ORG)

    def can_operate(self, org: str | None) -> bool:
        """Deliveries, dead letters, opt-outs of ``org`` (None: of every org)."""
        if self.role == ADMIN:
            return True
        return self.role == OPERATOR and org == self.org


class AccountError(ValueError):
    """A bad account request, said in Korean for the person at the terminal."""


def valid_name(name: str) -> bool:
    return bool(_NAME.match(name))


def valid_org(org: str) -> bool:
    return bool(_ORG.match(org))


class Accounts:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, name: str, password: str, *, org: str, role: str,
            phone: str | None = None, email: str | None = None) -> User:
        if not valid_name(name):
            raise AccountError("사용자 이름은 영문, 숫자, . _ @ - 로 100자 이내여야 합니다")
        if role not in ROLES:
            raise AccountError(f"역할은 {', '.join(ROLES)} 중 하나여야 합니다")
        if not valid_org(org):
            raise AccountError("기관 키는 영문 소문자, 숫자, _ - 로 씁니다 (예: gumi)")
        check_password(password)
        try:
            with self.engine.begin() as conn:
                conn.execute(studio_users.insert().values(
                    name=name, password_hash=_hasher.hash(password), org=org, role=role,
                    phone=phone or None, email=email or None, created_at=datetime.now(UTC)))
        except IntegrityError:
            raise AccountError(f"사용자 {name} 이(가) 이미 있습니다") from None
        return User(name, org, role, phone or None, email or None)

    def set_password(self, name: str, password: str) -> None:
        check_password(password)
        with self.engine.begin() as conn:
            if not conn.execute(update(studio_users).where(studio_users.c.name == name)
                                .values(password_hash=_hasher.hash(password))).rowcount:
                raise AccountError(f"사용자 {name} 이(가) 없습니다")

    def get(self, name: str) -> User | None:
        with self.engine.connect().execution_options(ledger_read=True) as conn:
            row = conn.execute(select(studio_users).where(studio_users.c.name == name)).first()
        if row is None:
            return None
        return User(row.name, row.org, row.role, row.phone, row.email)

    def verify(self, name: str, password: str) -> User | None:
        """The user when ``password`` is theirs, else None (same work either way)."""
        if len(password) > MAX_PASSWORD:
            return None
        with self.engine.connect().execution_options(ledger_read=True) as conn:
            row = conn.execute(select(studio_users).where(studio_users.c.name == name)).first()
        try:
            _hasher.verify(row.password_hash if row is not None else _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None:
            return None
        if _hasher.check_needs_rehash(row.password_hash):
            self.set_password(name, password)
        return User(row.name, row.org, row.role, row.phone, row.email)

    def all(self) -> list[User]:
        with self.engine.connect().execution_options(ledger_read=True) as conn:
            rows = conn.execute(select(studio_users).order_by(studio_users.c.name)).all()
        return [User(r.name, r.org, r.role, r.phone, r.email) for r in rows]


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"비밀번호는 {MIN_PASSWORD}자 이상이어야 합니다")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"비밀번호는 {MAX_PASSWORD}자 이하여야 합니다")
    if "\x00" in password:
        raise AccountError("비밀번호에 NUL 문자를 쓸 수 없습니다")
