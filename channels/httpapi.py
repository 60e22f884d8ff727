"""Shared plumbing of the providers that speak JSON over HTTPS (NHN Cloud, Naver SENS).

One :class:`requests.Session` per provider instance, with a keep-alive pool sized by
the ``pool_size`` setting (default 128, the worker's default sends in flight), so no
message pays for a TCP or TLS handshake. urllib3's pool is thread-safe; the session
holds no per-request state that the providers mutate.

Settings every HTTP provider reads:

``base_url``
    the API's address; tests point it at a local server.
``pool_size``
    keep-alive connections kept per host (default 128).
``connect_timeout`` / ``read_timeout``
    seconds (defaults 3 and 10). A timeout is a transient failure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from channels.base import (
    CredentialsError,
    PermanentError,
    Provider,
    SendError,
    TransientError,
)
from hub.masking import mask_text

DEFAULT_POOL_SIZE = 128
_MAX_REASON = 300


def scrub(text: object) -> str:
    """A provider's own message, made safe for logs and headers: phone numbers and
    e-mail addresses masked, cut to a few hundred characters."""
    return mask_text(str(text))[:_MAX_REASON]


def digits(phone: str) -> str:
    """``010-1234-5678`` → ``01012345678``; ``+82 10-1234-5678`` → ``01012345678``
    (Korean providers take national numbers)."""
    raw = re.sub(r"\D", "", phone)
    if phone.strip().startswith("+82") and raw.startswith("82"):
        raw = "0" + raw[2:]
    return raw


def error_for_status(
    status: int, *, provider: str, code: str | int | None, message: str
) -> SendError:
    """The error an HTTP status means: 401/403 credentials, 408/425/429/5xx
    transient, any other 4xx permanent."""
    text = scrub(message)
    if status in (401, 403):
        return CredentialsError(text, provider=provider, code=code if code is not None else status)
    if status in (408, 425, 429) or status >= 500:
        return TransientError(text, provider=provider, code=code if code is not None else status)
    return PermanentError(text, provider=provider, code=code if code is not None else status)


class HttpProvider(Provider):
    """Base of the JSON-over-HTTP providers: a pooled session, timeouts, and network
    failures turned into :class:`TransientError`. Subclasses set ``name`` and
    ``default_base_url`` and fill in ``send``."""

    default_base_url: ClassVar[str] = ""

    def __init__(self, settings: Mapping[str, Any], *, channel: str) -> None:
        super().__init__(settings, channel=channel)
        self.base_url = str(self.settings.get("base_url") or self.default_base_url).rstrip("/")
        self.host = urlsplit(self.base_url).netloc or self.base_url
        self.timeout = (
            float(self.settings.get("connect_timeout", 3.0)),
            float(self.settings.get("read_timeout", 10.0)),
        )
        pool_size = int(self.settings.get("pool_size", DEFAULT_POOL_SIZE))
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)

    def require(self, key: str) -> str:
        """A required setting, or :class:`CredentialsError` naming the missing key
        (a provider without its account settings cannot send anything)."""
        value = self.settings.get(key)
        if value in (None, ""):
            raise CredentialsError(
                f"setting providers.{self.name}.{key} is missing",
                provider=self.name,
                code="CONFIG",
            )
        return str(value)

    def post_json(
        self, path: str, payload: Mapping[str, Any], headers: Mapping[str, str]
    ) -> requests.Response:
        """POST ``payload`` as UTF-8 JSON to ``base_url + path``. Timeouts and
        connection failures raise :class:`TransientError`."""
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        return self._request("POST", path, headers, data=body)

    def get_json(
        self, path: str, params: Mapping[str, Any], headers: Mapping[str, str]
    ) -> requests.Response:
        """GET ``base_url + path`` with the query ``params`` (look-ups, checks)."""
        return self._request("GET", path, headers, params=dict(params))

    def _request(
        self, method: str, path: str, headers: Mapping[str, str], **kwargs: Any
    ) -> requests.Response:
        all_headers = {"Content-Type": "application/json;charset=UTF-8", **headers}
        try:
            return self.session.request(
                method, self.base_url + path, headers=all_headers, timeout=self.timeout,
                **kwargs,
            )
        except requests.Timeout as exc:
            raise TransientError(
                f"{self.host} timed out: {type(exc).__name__}", provider=self.name,
                code="TIMEOUT",
            ) from exc
        except requests.ConnectionError as exc:
            raise TransientError(
                f"connection to {self.host} failed: {type(exc).__name__}", provider=self.name,
                code="CONNECTION",
            ) from exc
        except requests.RequestException as exc:
            raise TransientError(
                f"request failed: {type(exc).__name__}", provider=self.name, code="HTTP"
            ) from exc

    @staticmethod
    def json_body(response: requests.Response) -> dict[str, Any]:
        """The answer's JSON object, or an empty dict when it is not JSON."""
        try:
            body = response.json()
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}

    def close(self) -> None:
        self.session.close()
