"""Shared plumbing of the AWS providers (SNS for SMS and push, SES v2 for e-mail).

One boto3 client per provider instance, created once: boto3 clients are thread-safe
(sessions are not, so each provider makes its own session and never shares it).
The client's connection pool is sized by ``pool_size`` (botocore's
``max_pool_connections``, default 128, the worker's default sends in flight).

botocore's own retries are off by default (``max_attempts = 1``): retries are the
hub's job (quick retries, delay tiers, failover to the next provider), and a
retry hidden inside boto3 would hold a worker slot for seconds.

Settings every AWS provider reads:

``region``
    AWS region (default ``ap-northeast-2``, Seoul).
``endpoint_url``
    another endpoint (tests point it at ``moto_server``); empty for AWS itself.
``aws_access_key_id``, ``aws_secret_access_key``, ``aws_session_token``
    credentials; secrets from the environment. Left out, boto3's default chain
    (instance role, ``AWS_*`` variables, ...) is used.
``pool_size``, ``max_attempts``, ``connect_timeout``, ``read_timeout``
    client tuning (defaults 128, 1, 3 s, 10 s).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from channels.base import (
    CredentialsError,
    PermanentError,
    Provider,
    SendError,
    TransientError,
)
from channels.httpapi import DEFAULT_POOL_SIZE, scrub

DEFAULT_REGION = "ap-northeast-2"

#: Error codes meaning "try again later", whatever the HTTP status says.
TRANSIENT_CODES = frozenset(
    {
        "Throttled",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "LimitExceededException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "RequestTimeout",
        "RequestTimeoutException",
        "KMSThrottling",
    }
)
#: Error codes meaning "our credentials or account cannot send" (alert-worthy; the
#: chain fails over to the next provider).
CREDENTIAL_CODES = frozenset(
    {
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "ExpiredToken",
        "ExpiredTokenException",
        "AccessDenied",
        "AccessDeniedException",
        "AuthorizationError",
        "AuthFailure",
        "OptInRequired",
        "AccountSuspendedException",
        "SendingPausedException",
        "PlatformApplicationDisabled",
    }
)


def make_client(service: str, settings: Mapping[str, Any]) -> Any:
    """A boto3 client for ``service`` configured from a provider's settings."""
    config = BotoConfig(
        max_pool_connections=int(settings.get("pool_size", DEFAULT_POOL_SIZE)),
        retries={"total_max_attempts": int(settings.get("max_attempts", 1)), "mode": "standard"},
        connect_timeout=float(settings.get("connect_timeout", 3.0)),
        read_timeout=float(settings.get("read_timeout", 10.0)),
        tcp_keepalive=True,
    )
    def text(key: str) -> str | None:
        value = settings.get(key)
        return str(value) if value not in (None, "") else None

    session = boto3.session.Session(
        aws_access_key_id=text("aws_access_key_id"),
        aws_secret_access_key=text("aws_secret_access_key"),
        aws_session_token=text("aws_session_token"),
        region_name=str(settings.get("region") or DEFAULT_REGION),
    )
    return session.client(service, endpoint_url=settings.get("endpoint_url") or None, config=config)


def classify_client_error(exc: ClientError, provider: str) -> SendError:
    """An AWS error answer as transient, credentials or permanent."""
    error = exc.response.get("Error", {})
    code = str(error.get("Code") or "")
    message = scrub(error.get("Message") or exc)
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    if code in CREDENTIAL_CODES or status in (401, 403):
        return CredentialsError(message, provider=provider, code=code or status)
    if code in TRANSIENT_CODES or status in (408, 429) or status >= 500:
        return TransientError(message, provider=provider, code=code or status)
    return PermanentError(message, provider=provider, code=code or status)


class AwsProvider(Provider):
    """Base of the AWS providers: one shared client and error classification.
    Subclasses set ``name`` and ``service`` and fill in ``send``."""

    service: ClassVar[str] = ""

    def __init__(self, settings: Mapping[str, Any], *, channel: str) -> None:
        super().__init__(settings, channel=channel)
        self.client = make_client(self.service, self.settings)

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        """Call one API operation; every failure raises a classified :class:`SendError`."""
        try:
            result: dict[str, Any] = getattr(self.client, operation)(**params)
            return result
        except ClientError as exc:
            raise classify_client_error(exc, self.name) from exc
        except (EndpointConnectionError, ConnectTimeoutError, ConnectionClosedError) as exc:
            raise TransientError(
                f"connection failed: {type(exc).__name__}", provider=self.name, code="CONNECTION"
            ) from exc
        except ReadTimeoutError as exc:
            raise TransientError(
                f"timed out: {type(exc).__name__}", provider=self.name, code="TIMEOUT"
            ) from exc
        except (NoCredentialsError, PartialCredentialsError) as exc:
            raise CredentialsError(
                f"no usable AWS credentials: {type(exc).__name__}",
                provider=self.name,
                code="NO-CREDENTIALS",
            ) from exc
        except ParamValidationError as exc:
            raise PermanentError(scrub(exc), provider=self.name, code="INVALID-PARAMETER") from exc
        except BotoCoreError as exc:
            raise TransientError(
                f"AWS client error: {type(exc).__name__}", provider=self.name, code="BOTOCORE"
            ) from exc

    def close(self) -> None:
        self.client.close()
