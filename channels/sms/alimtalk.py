"""KakaoTalk 알림톡 through NHN Cloud KakaoTalk Bizmessage, AlimTalk API v2.3.

A provider of the **sms** channel (see docs/providers.md for why not a channel of
its own): put it first in ``[channels.sms] providers = ["alimtalk", "nhn"]`` and a
notice goes out as 알림톡, falls back to SMS/LMS inside NHN Cloud when the phone
has no KakaoTalk (``resendParameter``, 대체발송), and falls over to the next
provider of the chain when NHN's AlimTalk API refuses the template or our profile,
or fails itself.

``POST {base_url}/alimtalk/v2.3/appkeys/{app_key}/messages``, headers
``X-Secret-Key`` and ``X-NC-API-IDEMPOTENCY-KEY`` (the notification id: NHN refuses
a repeat within 10 minutes with -1005, which therefore means *already accepted*),
body ``{"senderKey", "templateCode", "senderGroupingKey", "recipientList":
[{"recipientNo", "templateParameter": {...}, "recipientGroupingKey",
"resendParameter": {"isResend", "resendType", "resendTitle"?, "resendContent",
"resendSendNo"}}]}``. The answer is ``{"header": {...}, "message": {"requestId",
"sendResults": [{"resultCode", ...}]}}``.

Every 알림톡 template is reviewed by Kakao and named by a template code. The code
of a notice comes from ``Message.extra["alimtalk"]["template_code"]``, else from
the ``templates`` setting, keyed by the notice's template name, then by its event
type. Its ``#{variables}`` come from ``Message.extra["alimtalk"]["parameters"]``
(or ``extra["template_parameters"]``), which :meth:`NhnAlimtalk.prepare` fills from
the notice: :data:`STANDARD_VARIABLES`. A notice with no template code is not
accepted (:meth:`accepts` is False) and the chain passes it to the next provider.
The fallback SMS/LMS carries the body our own sms template rendered.

Outcomes: :data:`ALIMTALK_CODES`, AlimTalk's own published table (not the SMS one).
Template and sender-profile refusals fail over (the next SMS provider delivers the
same text); only an invalid recipient number stops the chain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from channels.base import (
    JobContext,
    LookupResult,
    Message,
    PermanentError,
    Receipt,
    SendError,
)
from channels.httpapi import HttpProvider, digits
from channels.results import CREDENTIALS, PERMANENT, SENT, TRANSIENT, CodeTable, Row
from channels.sms.nhn import kst_range, nhn_error, nhn_header
from channels.sms.sizing import LMS, lms_subject, message_kind

DEFAULT_BASE_URL = "https://kakaotalk-bizmessage.api.nhncloudservice.com"
OLD_BASE_URL = "https://api-alimtalk.cloud.toast.com"
IDEMPOTENCY_HEADER = "X-NC-API-IDEMPOTENCY-KEY"
DUPLICATE_REQUEST = "-1005"
ALL_RECIPIENTS_FAILED = "-1031"
#: Template status "approved" (API v2.3 guide, "Single Query for Template": TSC03).
TEMPLATE_APPROVED = "TSC03"


def _template(code: int, meaning: str) -> Row:
    """A refusal of this notice's 알림톡 template: SMS would still carry the text."""
    return Row(str(code), CREDENTIALS, meaning, notice_scoped=True)


#: NHN Cloud AlimTalk v2.3 result codes (header and per recipient).
ALIMTALK_CODES = CodeTable(
    "NHN Cloud AlimTalk v2.3",
    "TOAST-DOCS/Alimtalk `en/error-code.md` (\"API Response Code\"), commit 8dc8f5c, 2026-06-23",
    [
        (0, SENT, "Success"),
        (4, CREDENTIALS, "Parameter verification failed (our request's shape)"),
        (-1000, CREDENTIALS, "Invalid appKey"),
        (-1001, CREDENTIALS, "Invalid secretKey"),
        (-1002, CREDENTIALS, "Invalid SMS appkey (fallback)"),
        (-1003, CREDENTIALS, "Invalid SMS sender number (fallback)"),
        (-1005, SENT, "Same X-NC-API-IDEMPOTENCY-KEY within 10 minutes: already accepted"),
        (-1006, CREDENTIALS, "The outgoing profile has no sender key"),
        (-1014, CREDENTIALS, "The outgoing profile is not activated"),
        (-1019, CREDENTIALS, "Invalid fallback 080 opt-out number"),
        (-1020, CREDENTIALS, "Invalid UUID"),
        (-1024, CREDENTIALS, "Outgoing profile group cannot send"),
        (-1027, CREDENTIALS, "The outgoing profile is blocked"),
        _template(-1028, "Template variables differ by over 14 characters (first-time limit)"),
        (-1031, TRANSIENT, "All recipients failed (the recipient's own code decides)"),
        (-2000, CREDENTIALS, "Specified field value is too long"),
        (-2001, CREDENTIALS, "Specified field value is empty"),
        (-2002, CREDENTIALS, "Specified field value is NULL"),
        (-2003, CREDENTIALS, "Field value is less than the minimum"),
        (-2004, CREDENTIALS, "Field value is longer than the maximum length"),
        (-2005, CREDENTIALS, "Field value is not within a limited range"),
        (-2017, CREDENTIALS, "No outgoing profile found"),
        _template(-2018, "Invalid button parameter"),
        _template(-2019, "Template body exceeds 1,300 characters after substitution"),
        (-2025, CREDENTIALS, "The scheduled date is in the past"),
        (-2027, CREDENTIALS, "Parsing error due to different date format"),
        _template(-2032, "Template title exceeds 50 characters after substitution"),
        _template(-2035, "Template header exceeds 16 characters after substitution"),
        (-2502, CREDENTIALS, "Fallback requested without a delivery failure configuration"),
        _template(-3000, "Web Link button requires linkMo"),
        (-3002, CREDENTIALS, "The required request body content cannot be read"),
        _template(-3003, "The template does not exist"),
        _template(-3004, "Template parameter error"),
        _template(-3005, "Template status error (request before approval)"),
        _template(-3010, "Does not match the registered template body"),
        _template(-3011, "Does not match the registered template button"),
        _template(-3033, "Button or quick reply is not registered in the template"),
        _template(-3042, "templateHeader does not match the template"),
        _template(-3043, "templateItem or templateItemHighlight does not match the template"),
        _template(-3046, "templateRepresentLink does not match the template"),
        _template(-3048, "Template parameter cannot exceed 1,300 characters"),
        _template(-3049, "The template parameter does not match the template"),
        _template(-3324, "Invalid template variable"),
        (-3301, PERMANENT, "Includes users who have opted out"),
        (-4000, CREDENTIALS, "Invalid parameter"),
        (-4003, CREDENTIALS, "The search range exceeds one month (look-ups)"),
        (-4004, CREDENTIALS, "Appkey does not exist"),
        (-4005, CREDENTIALS, "Appkey is disabled"),
        (-4017, CREDENTIALS, "Messages older than 90 days cannot be viewed (look-ups)"),
        (-4019, PERMANENT, "Invalid recipient number"),
        (-4029, CREDENTIALS, "M/N type messaging is not enabled for the profile"),
        (-4103, CREDENTIALS, "Invalid request ID or request dates (look-ups)"),
        (-4200, CREDENTIALS, "Invalid fallback message"),
        (-5000, PERMANENT, "Invalid receiving number"),
        (-7000, TRANSIENT, "Vendor (Kakao) request API failed"),
        _template(-8008, "The message content has banned words (Kakao)"),
        (-9992, CREDENTIALS, "Faded-out API called"),
        (-9993, CREDENTIALS, "Required request part is missing"),
        (-9994, CREDENTIALS, "Method argument type differs from what was expected"),
        (-9996, CREDENTIALS, "The content-type is not application/json"),
        (-9997, CREDENTIALS, "Failure due to inappropriate request"),
        (-9998, CREDENTIALS, "API does not exist"),
        (-9999, TRANSIENT, "System error"),
    ],
)

#: ``messageStatus`` values of a listed message that mean the message was not taken.
NOT_ACCEPTED = frozenset({"FAILED", "CANCEL"})
#: ``resendStatus`` values meaning the SMS/LMS fallback took over (target, in progress,
#: succeeded): the citizen got, or is getting, the notice.
RESENDING = frozenset({"RSC02", "RSC03", "RSC04"})


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


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


class NhnAlimtalk(HttpProvider):
    """Settings: ``app_key``, ``secret_key`` (secret:
    ``MINWON__PROVIDERS__ALIMTALK__SECRET_KEY``), ``sender_key`` (the Kakao channel's
    발신 키), ``templates`` (template name or event type → template code), ``resend``
    (SMS/LMS fallback, default true), ``sender`` (fallback sender number), and the
    common ``base_url``, ``pool_size``, ``connect_timeout``, ``read_timeout``."""

    name: ClassVar[str] = "alimtalk"
    default_base_url: ClassVar[str] = DEFAULT_BASE_URL
    supports_lookup: ClassVar[bool] = True
    codes: ClassVar[CodeTable] = ALIMTALK_CODES

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

    def _auth(self) -> tuple[str, dict[str, str]]:
        return self.require("app_key"), {"X-Secret-Key": self.require("secret_key")}

    def deliver(self, message: Message) -> Receipt:
        code = self.template_code(message)
        if code is None:
            raise PermanentError(
                f"no 알림톡 template code for template {message.template!r}",
                provider=self.name,
                code="NO-TEMPLATE",
            )
        app_key, headers = self._auth()
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
        payload = {
            "senderKey": sender_key,
            "templateCode": code,
            "senderGroupingKey": message.notification_id,
            "recipientList": [recipient],
        }
        headers[IDEMPOTENCY_HEADER] = message.notification_id
        response = self.post_json(f"/alimtalk/v2.3/appkeys/{app_key}/messages", payload, headers)
        body = self.json_body(response)
        header = _mapping(body.get("header"))
        answer = _mapping(body.get("message"))
        results = answer.get("sendResults") or []
        result = results[0] if results and isinstance(results[0], Mapping) else {}
        header_code = str(header.get("resultCode", ""))
        if response.status_code < 400 and header_code == DUPLICATE_REQUEST:
            return self._duplicate(message, code)
        if header_code == ALL_RECIPIENTS_FAILED and result.get("resultCode") not in (None, 0):
            error = nhn_error(self.codes, self.name, result.get("resultCode"),
                              result.get("resultMessage"))
            if error is not None:
                raise error
        nhn_header(self.codes, self.name, response, body)
        error = nhn_error(self.codes, self.name, result.get("resultCode", 0),
                          result.get("resultMessage"))
        if error is not None:
            raise error
        request_id = answer.get("requestId")
        return Receipt(
            self.name,
            str(request_id) if request_id else None,
            {"template_code": code, "recipient_seq": result.get("recipientSeq")},
        )

    def _duplicate(self, message: Message, code: str) -> Receipt:
        """-1005: NHN took this notice within the last 10 minutes (a retry after a lost
        answer). Its request id comes from a look-up when NHN answers one."""
        detail: dict[str, Any] = {"template_code": code, "duplicate": True}
        try:
            found = self.lookup(message.notification_id,
                                datetime.now(UTC) - timedelta(minutes=15))
        except SendError:
            found = None
        return Receipt(self.name, found.message_id if found and found.accepted else None,
                       detail)

    def lookup(self, notification_id: str, sent_after: datetime) -> LookupResult | None:
        """The 알림톡 sent for ``notification_id`` (``recipientGroupingKey``)."""
        app_key, headers = self._auth()
        start, end = kst_range(sent_after, fmt="%Y-%m-%d %H:%M", days=30)
        response = self.get_json(
            f"/alimtalk/v2.3/appkeys/{app_key}/messages",
            {
                "recipientGroupingKey": notification_id,
                "startRequestDate": start,
                "endRequestDate": end,
                "pageSize": 100,
            },
            headers,
        )
        body = self.json_body(response)
        nhn_header(self.codes, self.name, response, body)
        found = body.get("messageSearchResultResponse") or {}
        messages = [
            m for m in found.get("messages") or []
            if isinstance(m, Mapping) and m.get("recipientGroupingKey") == notification_id
        ]
        for item in messages:
            status = str(item.get("messageStatus") or "")
            if status not in NOT_ACCEPTED or str(item.get("resendStatus")) in RESENDING:
                return LookupResult(
                    True,
                    self.name,
                    str(item.get("requestId") or "") or None,
                    {"message_status": status, "resend_status": item.get("resendStatus")},
                )
        return LookupResult(False, self.name, None, {"failed": len(messages)})

    def check(self, senders: Sequence[str]) -> str:
        """``providers check``: the sender profile (발신 프로필) and its fallback."""
        app_key, headers = self._auth()
        sender_key = self.require("sender_key")
        response = self.get_json(f"/alimtalk/v2.3/appkeys/{app_key}/senders/{sender_key}", {},
                                 headers)
        body = self.json_body(response)
        nhn_header(self.codes, self.name, response, body)
        profile = _mapping(body.get("sender"))
        if profile.get("status") != "YSC03":
            return f"sender profile is not registered yet (status {profile.get('status')})"
        if profile.get("block") or profile.get("kakaoStatus") == "S":
            return "sender profile is blocked"
        if profile.get("dormant"):
            return "sender profile is dormant"
        if profile.get("kakaoProfileStatus") not in (None, "A"):
            return f"Kakao channel is not active (status {profile.get('kakaoProfileStatus')})"
        missing = [
            c for c in sorted({str(v) for v in (self.settings.get("templates") or {}).values()})
            if not self._template_approved(app_key, sender_key, c, headers)
        ]
        if missing:
            return f"templates not approved or missing: {', '.join(missing)}"
        return f"OK (profile {profile.get('plusFriendId') or sender_key[:6] + '…'})"

    def _template_approved(
        self, app_key: str, sender_key: str, code: str, headers: Mapping[str, str]
    ) -> bool:
        response = self.get_json(
            f"/alimtalk/v2.3/appkeys/{app_key}/senders/{sender_key}/templates/{code}", {},
            headers,
        )
        body = self.json_body(response)
        if response.status_code >= 400 or not (body.get("header") or {}).get("isSuccessful"):
            return False
        found = _mapping(body.get("templates"))
        return str(found.get("status")) == TEMPLATE_APPROVED
