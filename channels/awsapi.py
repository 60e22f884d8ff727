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
from botocore.parsers import ResponseParserError

from channels.base import (
    CredentialsError,
    PermanentError,
    Provider,
    SendError,
    TransientError,
)
from channels.httpapi import DEFAULT_POOL_SIZE, scrub
from channels.results import CREDENTIALS, PERMANENT, TRANSIENT, CodeTable, Outcome

DEFAULT_REGION = "ap-northeast-2"

#: Errors every AWS API may answer (AWS common errors).
_COMMON: list[tuple[str, Outcome, str]] = [
    ("InvalidClientTokenId", CREDENTIALS, "The access key ID does not exist"),
    ("UnrecognizedClientException", CREDENTIALS, "The security token is invalid"),
    ("SignatureDoesNotMatch", CREDENTIALS, "The request signature does not match"),
    ("IncompleteSignature", CREDENTIALS, "The request signature is incomplete"),
    ("MissingAuthenticationToken", CREDENTIALS, "No access key ID or certificate"),
    ("ExpiredToken", CREDENTIALS, "The security token has expired"),
    ("ExpiredTokenException", CREDENTIALS, "The security token has expired"),
    ("AccessDenied", CREDENTIALS, "Not authorized for this action"),
    ("AccessDeniedException", CREDENTIALS, "Not authorized for this action"),
    ("OptInRequired", CREDENTIALS, "The account is not subscribed to the service"),
    ("Throttling", TRANSIENT, "Request denied due to request throttling"),
    ("ThrottlingException", TRANSIENT, "Request denied due to request throttling"),
    ("RequestLimitExceeded", TRANSIENT, "Request rate limit exceeded"),
    ("InternalFailure", TRANSIENT, "Unknown error, exception or failure"),
    ("ServiceUnavailable", TRANSIENT, "The request failed due to a temporary failure"),
    ("ServiceUnavailableException", TRANSIENT, "The request failed due to a temporary failure"),
    ("RequestTimeout", TRANSIENT, "The request timed out"),
    ("RequestTimeoutException", TRANSIENT, "The request timed out"),
]

_AWS_UNLISTED = "Codes not listed: HTTP 401/403 credentials, anything else transient."

#: Amazon SNS ``Publish`` (SMS and mobile push), ``CreatePlatformEndpoint``,
#: ``GetSMSAttributes``.
SNS_CODES = CodeTable(
    "Amazon SNS",
    "Amazon SNS API Reference, `Publish` and `CreatePlatformEndpoint` Errors; "
    "AWS common errors",
    [
        ("AuthorizationError", CREDENTIALS, "Not authorized to access the resource"),
        ("InvalidSecurity", CREDENTIALS, "The credential signature isn't valid"),
        ("KMSAccessDenied", CREDENTIALS, "The KMS key's access was denied"),
        ("KMSDisabled", CREDENTIALS, "The KMS key is disabled"),
        ("KMSInvalidState", CREDENTIALS, "The KMS key is not in a valid state"),
        ("KMSNotFound", CREDENTIALS, "The KMS key was not found"),
        ("KMSOptInRequired", CREDENTIALS, "The account is not subscribed to KMS"),
        ("KMSThrottling", TRANSIENT, "KMS throttled the request"),
        ("PlatformApplicationDisabled", CREDENTIALS,
         "The platform application is disabled (FCM/APNs rejected its credentials)"),
        ("EndpointDisabled", PERMANENT, "The endpoint is disabled (the device token is gone)"),
        ("NotFound", PERMANENT, "The requested resource (endpoint) does not exist"),
        ("InvalidParameter", PERMANENT, "A parameter is invalid (not a phone number)"),
        ("InvalidParameterValue", PERMANENT, "A parameter value is invalid"),
        ("ValidationException", PERMANENT, "The message is invalid"),
        ("InternalError", TRANSIENT, "An internal service error"),
        ("Throttled", TRANSIENT, "The rate at which requests are sent is too high"),
        *_COMMON,
    ],
    unlisted=_AWS_UNLISTED,
)

#: Amazon SES API v2 ``SendEmail`` and ``GetAccount``. ``MessageRejected not verified``
#: is a ``MessageRejected`` whose message says an address is not verified: the
#: from-identity, or a recipient while the account is in the sandbox.
SES_CODES = CodeTable(
    "Amazon SES v2",
    "Amazon SES API v2 Reference, `SendEmail` Errors; SES Developer Guide, "
    "\"Verified identities\" and \"Request production access (sandbox)\"; AWS common errors",
    [
        ("AccountSuspendedException", CREDENTIALS,
         "The account's ability to send email has been permanently restricted"),
        ("SendingPausedException", CREDENTIALS,
         "The account's ability to send email is currently paused"),
        ("MailFromDomainNotVerifiedException", CREDENTIALS,
         "The sending (MAIL FROM) domain isn't verified"),
        ("MessageRejected not verified", CREDENTIALS,
         "Email address is not verified (our from-identity, or the sandbox)"),
        ("MessageRejected", PERMANENT, "The message contains invalid content"),
        ("NotFoundException", CREDENTIALS,
         "A resource we named doesn't exist (configuration set)"),
        ("LimitExceededException", CREDENTIALS, "A limit of the account was exceeded"),
        ("BadRequestException", PERMANENT, "The input you provided is invalid"),
        ("TooManyRequestsException", TRANSIENT, "Too many requests have been made"),
        *_COMMON,
    ],
    unlisted=_AWS_UNLISTED,
)


def make_client(service: str, settings: Mapping[str, Any], region: str | None = None) -> Any:
    """A boto3 client for ``service`` configured from a provider's settings (in
    ``region``, default the ``region`` setting, else :data:`DEFAULT_REGION`)."""
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
        region_name=region or str(settings.get("region") or DEFAULT_REGION),
    )
    return session.client(service, endpoint_url=settings.get("endpoint_url") or None, config=config)


def classify_client_error(exc: ClientError, provider: str, table: CodeTable) -> SendError:
    """An AWS error answer as its row of ``table`` says; an unlisted code by its HTTP
    status (401/403 credentials, anything else transient)."""
    error = exc.response.get("Error", {})
    code = str(error.get("Code") or "")
    message = scrub(error.get("Message") or exc)
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    key = code
    if code == "MessageRejected" and "not verified" in message.lower():
        key = "MessageRejected not verified"
    if table.row(key) is None:
        if status in (401, 403):
            return CredentialsError(message, provider=provider, code=code or status)
        return TransientError(
            f"{message} (code not in the published table)", provider=provider,
            code=code or status,
        )
    found = table.error(provider, key, message)
    if found is None:  # pragma: no cover - no AWS error code means "sent"
        return TransientError(message, provider=provider, code=code)
    found.code = code or str(status)
    return found


class AwsProvider(Provider):
    """Base of the AWS providers: one shared client and error classification.
    Subclasses set ``name`` and ``service`` and fill in ``send``."""

    service: ClassVar[str] = ""
    codes: ClassVar[CodeTable] = SNS_CODES

    def __init__(self, settings: Mapping[str, Any], *, channel: str) -> None:
        super().__init__(settings, channel=channel)
        self.region = self.region_setting()
        self.client = make_client(self.service, self.settings, self.region)

    def region_setting(self) -> str:
        """The region this provider's client talks to (the ``region`` setting)."""
        return str(self.settings.get("region") or DEFAULT_REGION)

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        """Call one API operation; every failure raises a classified :class:`SendError`."""
        try:
            result: dict[str, Any] = getattr(self.client, operation)(**params)
            return result
        except ClientError as exc:
            raise classify_client_error(exc, self.name, self.codes) from exc
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
        except (BotoCoreError, ResponseParserError) as exc:
            raise TransientError(
                f"AWS client error: {type(exc).__name__}", provider=self.name, code="BOTOCORE"
            ) from exc

    def close(self) -> None:
        self.client.close()
