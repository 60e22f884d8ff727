"""RabbitMQ definitions for a deployment: the hub's topology (from
:mod:`hub.topology`, the source of truth) plus the users a deployment starts with.

``deploy/rabbitmq/definitions.json`` is this module's output and a test keeps it so::

    python -m hub.admin.definitions > deploy/rabbitmq/definitions.json

The users carry **development** passwords (``minwon``/``minwon`` for the hub,
``admin``/``admin`` for operators); production sets its own (``rabbitmqctl
change_password``, or definitions generated with ``--password``/``--admin-password``
and kept out of the repository). Hashes use RabbitMQ's
``rabbit_password_hashing_sha256``: base64(salt + SHA-256(salt + password)), with a
salt derived from the user name so the output is reproducible.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
from collections.abc import Sequence
from typing import Any

from hub.config import DEFAULTS, Config
from hub.topology import from_config

HASHING_ALGORITHM = "rabbit_password_hashing_sha256"
DEFAULT_VHOST = "minwon"
HUB_USER = "minwon"
ADMIN_USER = "admin"


def password_hash(password: str, salt: bytes | None = None, *, user: str = "") -> str:
    """RabbitMQ's SHA-256 password hash; ``salt`` (4 bytes) defaults to one derived
    from ``user`` so that generating twice gives the same file."""
    if salt is None:
        salt = hashlib.sha256(f"minwon-hub:{user}".encode()).digest()[:4]
    digest = hashlib.sha256(salt + password.encode()).digest()
    return base64.b64encode(salt + digest).decode()


def check_password(password: str, hashed: str) -> bool:
    """Whether ``hashed`` (RabbitMQ SHA-256 format) is the hash of ``password``."""
    raw = base64.b64decode(hashed)
    salt, digest = raw[:4], raw[4:]
    return hashlib.sha256(salt + password.encode()).digest() == digest


def deployment_definitions(
    config: Config | None = None,
    *,
    vhost: str = DEFAULT_VHOST,
    hub_password: str = HUB_USER,
    admin_password: str = ADMIN_USER,
) -> dict[str, Any]:
    """The topology of ``config`` (default configuration when None) in ``vhost``, with
    the hub's user (``management`` tag, all rights on the vhost) and an operators'
    administrator."""
    config = config or Config(DEFAULTS)
    topo = from_config(config).definitions(vhost)
    users = [
        {
            "name": HUB_USER,
            "password_hash": password_hash(hub_password, user=HUB_USER),
            "hashing_algorithm": HASHING_ALGORITHM,
            "tags": ["management"],
            "limits": {},
        },
        {
            "name": ADMIN_USER,
            "password_hash": password_hash(admin_password, user=ADMIN_USER),
            "hashing_algorithm": HASHING_ALGORITHM,
            "tags": ["administrator"],
            "limits": {},
        },
    ]
    permissions = [
        {"user": user, "vhost": vhost, "configure": ".*", "write": ".*", "read": ".*"}
        for user in (HUB_USER, ADMIN_USER)
    ]
    return {
        "users": users,
        "vhosts": topo["vhosts"],
        "permissions": permissions,
        "exchanges": topo["exchanges"],
        "queues": topo["queues"],
        "bindings": topo["bindings"],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hub.admin.definitions",
        description="Print RabbitMQ definitions (topology + users) for a deployment.",
    )
    parser.add_argument("--vhost", default=DEFAULT_VHOST)
    parser.add_argument("--password", default=HUB_USER, help="the hub user's password")
    parser.add_argument("--admin-password", default=ADMIN_USER)
    parser.add_argument(
        "--config", help="a minwon.toml whose channels and retry tiers to use (default: defaults)"
    )
    args = parser.parse_args(argv)
    config = None
    if args.config:
        from hub.config import load_config

        config = load_config(args.config, environ={})
    defs = deployment_definitions(
        config, vhost=args.vhost, hub_password=args.password, admin_password=args.admin_password
    )
    json.dump(defs, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
