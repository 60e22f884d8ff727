"""KakaoTalk 알림톡 through NHN Cloud KakaoTalk Bizmessage, AlimTalk API v2.3.

A provider of the **sms** channel (see docs/providers.md for why not a channel of
its own): put it first in ``[channels.sms] providers = ["alimtalk", "nhn"]`` and a
notice goes out as 알림톡, falls back to SMS/LMS inside NHN Cloud when the phone
has no KakaoTalk (``resendParameter``, 대체발송), and falls over to the next
provider of the chain when NHN's AlimTalk API itself fails.

``POST {base_url}/alimtalk/v2.3/appkeys/{app_key}/messages``, header
``X-Secret-Key``, body ``{"senderKey", "templateCode", "recipientList":
[{"recipientNo", "templateParameter": {...}, "resendParameter": {"isResend",
"resendType", "resendTitle"?, "resendContent", "resendSendNo"}}]}``. The answer is
``{"header": {...}, "message": {"requestId", "sendResults": [{"resultCode", ...}]}}``.

Every 알림톡 template is reviewed by Kakao and named by a template code. The code
of a notice comes from ``Message.extra["alimtalk"]["template_code"]``, else from
the ``templates`` setting, keyed by the notice's template name, then by its event
type. Its ``#{variables}`` come from ``Message.extra["alimtalk"]["parameters"]``
(or ``extra["template_parameters"]``), which :meth:`NhnAlimtalk.prepare` fills from
the notice: :data:`STANDARD_VARIABLES`. A notice with no template code is not
accepted (:meth:`accepts` is False) and the chain passes it to the next provider.
The fallback SMS/LMS carries the body our own sms template rendered.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from channels.base import JobContext, Message, PermanentError, Receipt
from channels.httpapi import HttpProvider, digits
from channels.sms.nhn import nhn_error, nhn_header
from channels.sms.sizing import LMS, lms_subject, message_kind

#: The standard ``#{variables}`` every reviewed 알림톡 template of the hub may use.
STANDARD_VARIABLES: tuple[str, ...] = (
    "name", "case_id", "case_title", "department", "officer", "officer_phone", "org",
    "callcenter", "url",
)


def standard_parameters(message: Message, context: JobContext) -> dict[str, str]:
    """The values of :data:`STANDARD_VARIABLES` for one notice (those it has)."""
    case = context.case
    officer = case.get("officer")
    officer = officer if isinstance(officer, Mapping) else {}
    values = {
        "name": message.recipient_name, "case_id": message.case_id,
        "case_title": case.get("title"), "department": case.get("department"),
        "officer": officer.get("name"), "officer_phone": officer.get("phone"),
        "org": context.org.get("name"), "callcenter": context.org.get("callcenter"),
        "url": case.get("url"),
    }
    return {k: str(v) for k, v in values.items() if v}


class NhnAlimtalk(HttpProvider):
    """Settings: ``app_key``, ``secret_key`` (secret:
    ``MINWON__PROVIDERS__ALIMTALK__SECRET_KEY``), ``sender_key`` (the Kakao channel's
    발신 키), ``templates`` (template name or event type → template code), ``resend``
    (SMS/LMS fallback, default true), ``sender`` (fallback sender number), and the
    common ``base_url``, ``pool_size``, ``connect_timeout``, ``read_timeout``."""

    name: ClassVar[str] = "alimtalk"
    default_base_url: ClassVar[str] = "https://api-alimtalk.cloud.toast.com"

    def _extra(self, message: Message) -> Mapping[str, Any]:
        extra = message.extra.get("alimtalk") if message.extra else None
        return extra if isinstance(extra, Mapping) else {}

    def prepare(self, message: Message, context: JobContext) -> Message:
        """The template's ``#{variables}`` from the notice (kept when already set)."""
        current = dict(self._extra(message))
        current.setdefault("parameters", standard_parameters(message, context))
        return message.with_extra(alimtalk=current)

    def template_code(self, message: Message) -> str | None:
        """The Kakao template code for ``message``, or None when it has none."""
        code = self._extra(message).get("template_code")
        if code:
            return str(code)
        templates = self.settings.get("templates") or {}
        for key in (message.template, message.event_type):
            if key and templates.get(key):
                return str(templates[key])
        return None

    def parameters(self, message: Message) -> dict[str, str]:
        params = self._extra(message).get("parameters")
        if params is None and message.extra:
            params = message.extra.get("template_parameters")
        return {str(k): str(v) for k, v in (params or {}).items()}

    def accepts(self, message: Message) -> bool:
        return self.template_code(message) is not None

    def deliver(self, message: Message) -> Receipt:
        code = self.template_code(message)
        if code is None:
            raise PermanentError(
                f"no 알림톡 template code for template {message.template!r}",
                provider=self.name,
                code="NO-TEMPLATE",
            )
        app_key = self.require("app_key")
        secret = self.require("secret_key")
        sender_key = self.require("sender_key")
        recipient: dict[str, Any] = {
            "recipientNo": digits(message.to),
            "templateParameter": self.parameters(message),
            "recipientGroupingKey": message.notification_id,
        }
        sender = message.sender or self.settings.get("sender")
        if self.settings.get("resend", True) and sender:
            kind = message_kind(message)
            resend: dict[str, Any] = {
                "isResend": True,
                "resendType": kind,
                "resendContent": message.body,
                "resendSendNo": digits(str(sender)),
            }
            if kind == LMS:
                resend["resendTitle"] = lms_subject(message)
            recipient["resendParameter"] = resend
        payload = {"senderKey": sender_key, "templateCode": code, "recipientList": [recipient]}
        response = self.post_json(
            f"/alimtalk/v2.3/appkeys/{app_key}/messages", payload, {"X-Secret-Key": secret}
        )
        body = self.json_body(response)
        nhn_header(self.name, response, body)
        answer = body.get("message") or {}
        results = answer.get("sendResults") or []
        result = results[0] if results else {}
        if result.get("resultCode", 0) not in (0, "0", None):
            raise nhn_error(self.name, result.get("resultCode"), result.get("resultMessage"))
        request_id = answer.get("requestId")
        return Receipt(
            self.name,
            str(request_id) if request_id else None,
            {"template_code": code, "recipient_seq": result.get("recipientSeq")},
        )
