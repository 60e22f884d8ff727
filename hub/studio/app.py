"""The studio's routes (Starlette). Pages are server-rendered Korean Jinja2 templates
(``hub/studio/templates``); the editor's live preview is a little plain JavaScript
(``static/studio.js``) posting the source to ``…/preview``.

Every page but the sign-in needs a session (a signed cookie: HttpOnly, SameSite=Lax,
Secure with ``studio.secure_cookies``, expiring ``studio.session_minutes`` after
sign-in); every POST carries the session's CSRF token (form field ``csrf`` or header
``X-CSRF-Token``). Permissions are checked on the server for every route
(:class:`hub.studio.accounts.User`); a refusal is a Korean 403 page, a bad request a
Korean 400, an unexpected failure a Korean 500 page with no stack trace (logged).
"""

from __future__ import annotations

import difflib
import logging
import re
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from hub.ledger.privacy import mask_recipient
from hub.masking import mask_text
from hub.optouts import ALL_ORGS, OptOuts
from hub.studio import deliveries
from hub.studio.accounts import ADMIN, DEFAULT_ORG, EDITOR, OPERATOR, Accounts, User
from hub.studio.audit import AuditLog
from hub.studio.preview import FILTERS, MAX_SOURCE_BYTES, Previewer
from hub.studio.security import LoginLimiter, csrf_ok, csrf_token
from hub.templates.database import TemplateDatabase
from hub.templates.environment import make_environments
from hub.templates.filters import WorkingCalendar
from hub.templates.layout import ORGS, parse_path, scan, template_path
from hub.templates.rendering import CHANNELS
from hub.templates.store import fallback_profile

log = logging.getLogger("hub.studio")

HERE = Path(__file__).resolve().parent
ROLE_NAMES = {EDITOR: "편집자", OPERATOR: "운영자", ADMIN: "관리자"}
CHANNEL_NAMES = {"sms": "문자", "email": "메일", "push": "푸시"}
MAX_NOTE = 500
_SEGMENT = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
_HASH = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class StudioContext:
    """What the routes share (built once by :func:`create_app`)."""

    config: Any
    ledger: Any
    directory: Path
    db: TemplateDatabase
    accounts: Accounts
    audit: AuditLog
    optouts: OptOuts
    previewer: Previewer
    limiter: LoginLimiter
    broker_url: str
    timezone: ZoneInfo
    session_minutes: int
    test_sends_per_hour: int
    proxy_user_header: str
    sender_factory: Callable[[str], Any]
    clock: Callable[[], float] = time.time  # seconds: when sessions began and expire

    def org_profile(self, key: str) -> dict[str, Any]:
        configured = self.config.get("orgs", default={}) or {}
        if hasattr(self.config, "org") and key in configured:
            profile: dict[str, Any] = dict(self.config.org(key))
        else:  # preview only: placeholders, never used for sending
            profile = {}
        for name, value in fallback_profile(key).items():
            profile.setdefault(name, value)
        return profile

    def orgs(self) -> list[str]:
        configured = set((self.config.get("orgs", default={}) or {}).keys())
        files, _ = scan(self.directory)
        configured |= {f.org for f in files if f.org}
        configured |= {p.split("/")[1] for p in self.db.paths() if p.startswith(ORGS + "/")}
        return sorted(configured)


# -- helpers ---------------------------------------------------------------------------
class Refused(HTTPException):
    def __init__(self, message: str = "이 작업을 할 권한이 없습니다") -> None:
        super().__init__(403, message)


class BadRequest(HTTPException):
    def __init__(self, message: str) -> None:
        super().__init__(400, message)


def _ctx(request: Request) -> StudioContext:
    ctx: StudioContext = request.app.state.studio
    return ctx


def current_user(request: Request) -> User | None:
    ctx = _ctx(request)
    if ctx.proxy_user_header:
        name = request.headers.get(ctx.proxy_user_header)
        if name:
            return ctx.accounts.get(name)
    name = request.session.get("user")
    signed_in = request.session.get("at")
    if not isinstance(name, str) or not isinstance(signed_in, int | float):
        return None
    age = ctx.clock() - float(signed_in)
    if age < 0 or age > ctx.session_minutes * 60:
        request.session.clear()
        return None
    return ctx.accounts.get(name)


Handler = Callable[[Request, User], Awaitable[Response]]


def page(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A route that needs a signed-in user (redirects to the sign-in page) and, for
    POST, the session's CSRF token."""

    async def endpoint(request: Request) -> Response:
        user = current_user(request)
        if user is None:
            if request.method == "GET":
                return RedirectResponse(f"/login?next={request.url.path}", 303)
            raise HTTPException(401, "로그인이 필요합니다 (세션이 만료되었을 수 있습니다)")
        if request.method == "POST":
            given: Any = request.headers.get("x-csrf-token")
            if given is None:
                form = await _form(request)
                given = form.get("csrf")
            if not csrf_ok(request.session, given):
                raise HTTPException(403, "보안 토큰이 맞지 않습니다. 페이지를 새로 고친 뒤 "
                                         "다시 시도하세요")
        return await handler(request, user)

    return endpoint


async def _form(request: Request) -> FormData:
    cached = request.scope.get("studio.form")
    if cached is None:
        cached = await request.form(max_files=0, max_fields=50, max_part_size=256 * 1024)
        request.scope["studio.form"] = cached
    form: FormData = cached
    return form


def _field(form: FormData, name: str, *, limit: int = 200, required: bool = False) -> str:
    value = form.get(name)
    if value is None or not isinstance(value, str):
        if required:
            raise BadRequest(f"'{name}' 값이 없습니다")
        return ""
    if "\x00" in value:
        raise BadRequest(f"'{name}' 에 NUL 문자를 쓸 수 없습니다")
    if len(value) > limit:
        raise BadRequest(f"'{name}' 이(가) 너무 깁니다 (최대 {limit:,}자)")
    return value


def _render(request: Request, name: str, user: User | None, code: int = 200,
            **values: Any) -> Response:
    ctx = _ctx(request)
    values.update(
        user=user, csrf=csrf_token(request.session), role_names=ROLE_NAMES,
        channel_names=CHANNEL_NAMES, tz=ctx.timezone,
    )
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(request, name, values, status_code=code)


def _template_ref(org: str, event_type: str, channel: str) -> str:
    if channel not in CHANNELS or not _SEGMENT.match(event_type) or not (
            org == DEFAULT_ORG or _SEGMENT.match(org)):
        raise HTTPException(404, "그런 템플릿은 없습니다")
    path = template_path(event_type, channel, None if org == DEFAULT_ORG else org)
    if parse_path(path) is None:
        raise HTTPException(404, "그런 템플릿은 없습니다")
    return path


def _default_exists(ctx: StudioContext, event_type: str, channel: str) -> bool:
    path = template_path(event_type, channel)
    return (ctx.directory / path).is_file() or ctx.db.head(path) is not None


def _served_source(ctx: StudioContext, path: str) -> tuple[str | None, int | None]:
    """The source in service for ``path`` (published version, else the folder's file)."""
    head = ctx.db.head(path)
    if head is not None:
        version = ctx.db.version(head.version_id)
        if version is not None:
            return version.source, version.id
    file = ctx.directory / path
    if file.is_file():
        return file.read_text(encoding="utf-8"), None
    return None, None


# -- sign-in ---------------------------------------------------------------------------
def _safe_next(value: str) -> str:
    return value if value.startswith("/") and not value.startswith("//") and \
        "\\" not in value else "/"


async def login_form(request: Request) -> Response:
    if current_user(request) is not None:
        return RedirectResponse("/", 303)
    return _render(request, "login.html", None, next=_safe_next(request.query_params.get(
        "next", "/")))


async def login(request: Request) -> Response:
    ctx = _ctx(request)
    form = await _form(request)
    if not csrf_ok(request.session, form.get("csrf")):
        raise HTTPException(403, "보안 토큰이 맞지 않습니다. 페이지를 새로 고친 뒤 다시 "
                                 "시도하세요")
    name = _field(form, "username", limit=100).strip()
    password = _field(form, "password", limit=1024)
    target = _safe_next(_field(form, "next", limit=300) or "/")
    client = request.client.host if request.client else "?"
    keys = (f"user:{name}", f"addr:{client}")
    wait = ctx.limiter.retry_after(*keys)
    if wait > 0:
        ctx.audit.record(name or "?", "login_limited", f"user:{name}", f"from {client}")
        return _render(request, "login.html", None, 429, next=target, username=name,
                       error=f"로그인 실패가 많습니다. {int(wait) + 1}초 뒤에 다시 "
                             "시도하세요")
    user = await run_in_threadpool(ctx.accounts.verify, name, password)
    if user is None:
        ctx.limiter.failed(*keys)
        ctx.audit.record(name or "?", "login_failed", f"user:{name}", f"from {client}")
        return _render(request, "login.html", None, 401, next=target, username=name,
                       error="사용자 이름 또는 비밀번호가 맞지 않습니다")
    ctx.limiter.succeeded(keys[0])
    request.session.clear()  # a new session (and CSRF token) at every sign-in
    request.session.update(user=user.name, at=ctx.clock(),
                           csrf=secrets.token_urlsafe(32))
    ctx.audit.record(user.name, "login", f"user:{user.name}", f"from {client}")
    return RedirectResponse(target, 303)


async def _logout(request: Request, user: User) -> Response:
    request.session.clear()
    _ctx(request).audit.record(user.name, "logout", f"user:{user.name}")
    return RedirectResponse("/login", 303)


# -- templates -------------------------------------------------------------------------
async def _index(request: Request, user: User) -> Response:
    ctx = _ctx(request)
    if user.role == OPERATOR:
        return RedirectResponse("/deliveries", 303)
    files, _ = scan(ctx.directory)
    event_types = sorted({f.event_type for f in files if f.org is None})
    orgs = ctx.orgs() if user.is_admin else [user.org]
    heads = ctx.db.heads()
    rows = []
    for event_type in event_types:
        for channel in CHANNELS:
            overrides = {
                org: template_path(event_type, channel, org) in heads
                or (ctx.directory / template_path(event_type, channel, org)).is_file()
                for org in orgs
            }
            rows.append({"event_type": event_type, "channel": channel,
                         "default_db": template_path(event_type, channel) in heads,
                         "overrides": overrides})
    return _render(request, "index.html", user, rows=rows, orgs=orgs)


async def _editor(request: Request, user: User) -> Response:
    ctx = _ctx(request)
    org, event_type, channel, path = _template(request, user)
    source, served_id = _served_source(ctx, path)
    copied = False
    if source is None:  # an organisation with no override yet: start from the default
        source, _ = _served_source(ctx, template_path(event_type, channel))
        copied = True
    latest = ctx.db.latest(path)
    draft = None
    if latest is not None and latest.id != served_id and request.query_params.get(
            "served") != "1":
        draft = latest
        source = latest.source
    preview = ctx.previewer.preview(path, source or "")
    return _render(
        request, "editor.html", user, org=org, event_type=event_type, channel=channel,
        path=path, source=source or "", copied=copied, draft=draft, served_id=served_id,
        editable=user.can_edit(org), preview=preview, preview_json=preview.as_json(),
        fields=ctx.previewer.fields(path), filters=FILTERS,
        org_name=ctx.org_profile(org)["name"] if org != DEFAULT_ORG else "기본",
        can_test=bool(user.phone if channel == "sms" else user.email if channel == "email"
                      else False),
        folder_only=ctx.config.get("templates", "source", default="database") == "folder",
    )


def _template(request: Request, user: User, *, edit: bool = False
              ) -> tuple[str, str, str, str]:
    """(org, event type, channel, path) of the route's template, once ``user`` may read
    it (or, with ``edit``, change it); 404 for a template that does not exist."""
    org, event_type, channel = (request.path_params[k] for k in ("org", "event_type",
                                                                  "channel"))
    path = _template_ref(org, event_type, channel)
    if edit and not user.can_edit(org):
        raise Refused("이 템플릿을 바꿀 권한이 없습니다 (자기 기관의 템플릿만 고칠 수 "
                      "있고, 기본 템플릿은 읽기 전용입니다)")
    if not user.can_read_templates(org):
        raise Refused("다른 기관의 템플릿은 볼 수 없습니다")
    if not _default_exists(_ctx(request), event_type, channel):
        raise HTTPException(404, "그런 템플릿은 없습니다")
    return org, event_type, channel, path


async def _source_field(request: Request) -> tuple[str, str]:
    form = await _form(request)
    source = _field(form, "source", limit=MAX_SOURCE_BYTES, required=True)
    note = _field(form, "note", limit=MAX_NOTE).strip()
    return source.replace("\r\n", "\n"), note


async def _preview(request: Request, user: User) -> Response:
    ctx = _ctx(request)
    *_, path = _template(request, user)
    source, _note = await _source_field(request)
    result = ctx.previewer.preview(path, source)
    return JSONResponse(result.as_json())


async def _save(request: Request, user: User) -> Response:
    ctx = _ctx(request)
    org, event_type, channel, path = _template(request, user, edit=True)
    source, note = await _source_field(request)
    form = await _form(request)
    publish = form.get("action") == "publish"
    result = ctx.previewer.preview(path, source)
    if publish and not result.ok:
        return _render(request, "refused.html", user, 422, path=path, org=org,
                       event_type=event_type, channel=channel, problems=result.problems)
    version = ctx.db.save(path, source, author=user.name, note=note)
    ctx.audit.record(user.name, "save", path, f"version {version.id} ({version.version})"
                     + (f": {note}" if note else ""))
    if publish:
        ctx.db.publish(version.id, by=user.name)
        ctx.audit.record(user.name, "publish", path, f"version {version.id}")
    back = f"/templates/{org}/{event_type}/{channel}"
    return RedirectResponse(back + ("?published=" + str(version.id) if publish
                                    else "?saved=" + str(version.id)), 303)


async def _history(request: Request, user: User) -> Response:
    ctx = _ctx(request)
    org, event_type, channel, path = _template(request, user)
    versions = ctx.db.versions(path)
    head = ctx.db.head(path)
    diff_html = None
    a_id, b_id = request.query_params.get("a"), request.query_params.get("b")
    if a_id and b_id:
        try:
            a, b = ctx.db.version(int(a_id)), ctx.db.version(int(b_id))
        except ValueError:
            raise BadRequest("버전 번호가 잘못되었습니다") from None
        if a is None or b is None or a.path != path or b.path != path:
            raise HTTPException(404, "그런 버전은 없습니다")
        diff_html = difflib.HtmlDiff(wrapcolumn=60).make_table(
            a.source.splitlines(), b.source.splitlines(), f"버전 {a.id}", f"버전 {b.id}",
            context=False)
    audit = ctx.audit.recent(50, target_prefix=path)
    return _render(request, "history.html", user, org=org, event_type=event_type,
                   channel=channel, path=path, versions=versions,
                   published_id=head.version_id if head else None, diff_html=diff_html,
                   a=a_id, b=b_id, editable=user.can_edit(org), audit=audit)


async def _rollback(request: Request, user: User) -> Response:
    ctx = _ctx(request)
    org, event_type, channel, path = _template(request, user, edit=True)
    form = await _form(request)
    try:
        version_id = int(_field(form, "version", limit=20, required=True))
    except ValueError:
        raise BadRequest("버전 번호가 잘못되었습니다") from None
    version = ctx.db.version(version_id)
    if version is None or version.path != path:
        raise HTTPException(404, "그런 버전은 없습니다")
    result = ctx.previewer.preview(path, version.source)
    if not result.ok:  # the samples changed since: never publish a failing version
        return _render(request, "refused.html", user, 422, path=path, org=org,
                       event_type=event_type, channel=channel, problems=result.problems)
    ctx.db.publish(version.id, by=user.name)
    ctx.audit.record(user.name, "rollback", path, f"version {version.id}")
    return RedirectResponse(f"/templates/{org}/{event_type}/{channel}/history?"
                            f"published={version.id}", 303)


async def _unpublish(request: Request, user: User) -> Response:
    ctx = _ctx(request)
    org, event_type, channel, path = _template(request, user, edit=True)
    if org == DEFAULT_ORG:
        raise BadRequest("기본 템플릿은 게시를 중단할 수 없습니다. 이전 버전으로 되돌리세요")
    if ctx.db.unpublish(path):
        ctx.audit.record(user.name, "unpublish", path, "back to the default template")
    return RedirectResponse(f"/templates/{org}/{event_type}/{channel}/history?"
                            "unpublished=1", 303)


async def _test_send(request: Request, user: User) -> Response:
    ctx = _ctx(request)
    org, event_type, channel, path = _template(request, user)
    address = {"sms": user.phone, "email": user.email}.get(channel)
    if not address:
        raise BadRequest("시험 발송은 내 휴대폰(문자)이나 메일로만 보낼 수 있습니다. 계정에 "
                         "등록된 연락처가 없습니다")
    since = datetime.now(UTC) - timedelta(hours=1)
    if ctx.audit.count_since(user.name, "test_send", since) >= ctx.test_sends_per_hour:
        raise HTTPException(429, f"시험 발송은 한 시간에 {ctx.test_sends_per_hour}번까지 "
                                 "입니다")
    source, _note = await _source_field(request)
    result = ctx.previewer.preview(path, source)
    if not result.renders:
        raise BadRequest("견본으로 만들 수 있는 알림이 없어 보낼 수 없습니다: "
                         + "; ".join(str(p) for p in result.problems[:3]))
    sent = await run_in_threadpool(deliveries.send_test, ctx, user, org, event_type,
                                   channel, path, result.renders[0], address)
    ctx.audit.record(user.name, "test_send", path,
                     f"{channel} to {mask_recipient(None, address, channel)} ({sent})")
    return JSONResponse({"ok": True, "to": mask_recipient(None, address, channel),
                         "result": sent})


# -- deliveries, dead letters, opt-outs ------------------------------------------------
async def _deliveries(request: Request, user: User) -> Response:
    ctx = _ctx(request)
    if user.role == EDITOR:
        raise Refused("발송 조회는 운영자와 관리자만 할 수 있습니다")
    query = request.query_params.get("q", "").strip()[:300]
    found = None
    if query:
        org = None if user.is_admin else user.org
        found = await run_in_threadpool(deliveries.lookup, ctx, query, org)
        ctx.audit.record(user.name, "lookup", "deliveries",
                         "hash" if _HASH.match(query) else mask_text(query))
    return _render(request, "deliveries.html", user, q=query, found=found)


async def _dead(request: Request, user: User) -> Response:
    ctx = _ctx(request)
    if user.role == EDITOR:
        raise Refused("보관함(dead letter)은 운영자와 관리자만 볼 수 있습니다")
    org = None if user.is_admin else user.org
    try:
        items = await run_in_threadpool(deliveries.dead_letters, ctx, org)
        error = None
    except Exception as exc:
        log.warning("studio: dead letters cannot be listed: %s", exc)
        items, error = [], "메시지 브로커에 연결할 수 없습니다. 잠시 뒤 다시 시도하세요"
    return _render(request, "dead.html", user, items=items, error=error)


async def _dead_replay(request: Request, user: User) -> Response:
    ctx = _ctx(request)
    if user.role == EDITOR:
        raise Refused("재발송은 운영자와 관리자만 할 수 있습니다")
    form = await _form(request)
    notice_id = _field(form, "id", limit=100, required=True)
    org = None if user.is_admin else user.org
    if form.get("confirm") != "yes":
        items = await run_in_threadpool(deliveries.dead_letters, ctx, org, {notice_id})
        if not items:
            raise HTTPException(404, "그 알림은 보관함에 없습니다")
        return _render(request, "dead_confirm.html", user, item=items[0])
    outcome = await run_in_threadpool(deliveries.replay, ctx, notice_id, org)
    ctx.audit.record(user.name, "replay", f"notice:{notice_id}", outcome)
    return _render(request, "dead.html", user, items=await run_in_threadpool(
        deliveries.dead_letters, ctx, org), error=None, replayed=(notice_id, outcome))


async def _optouts(request: Request, user: User) -> Response:
    ctx = _ctx(request)
    if user.role == EDITOR:
        raise Refused("수신거부는 운영자와 관리자만 다룰 수 있습니다")
    message = None
    if request.method == "POST":
        form = await _form(request)
        action = form.get("action")
        if action == "add":
            address = _field(form, "address", limit=300, required=True).strip()
            scope = _field(form, "org", limit=100) or user.org
            if not user.can_operate(None if scope == ALL_ORGS else scope) or (
                    scope == ALL_ORGS and not user.is_admin):
                raise Refused("자기 기관의 수신거부만 등록할 수 있습니다")
            if not deliveries.looks_like_address(address):
                raise BadRequest("휴대폰 번호나 메일 주소를 입력하세요")
            note = _field(form, "note", limit=MAX_NOTE).strip()
            entry = ctx.optouts.add(address, scope, by=user.name, note=note)
            ctx.audit.record(user.name, "optout_add", f"optout:{entry.address_hash[:16]}",
                             f"{entry.masked} org={scope}")
            message = f"{entry.masked} 수신거부를 등록했습니다"
        elif action == "remove":
            digest = _field(form, "hash", limit=64, required=True)
            scope = _field(form, "org", limit=100, required=True)
            if not user.is_admin and scope != user.org:
                raise Refused("자기 기관의 수신거부만 지울 수 있습니다")
            if ctx.optouts.remove(digest, scope):
                ctx.audit.record(user.name, "optout_remove", f"optout:{digest[:16]}",
                                 f"org={scope}")
                message = "수신거부를 해제했습니다"
        else:
            raise BadRequest("알 수 없는 요청입니다")
    entries = ctx.optouts.list(None if user.is_admin else user.org)
    return _render(request, "optouts.html", user, entries=entries, message=message,
                   orgs=ctx.orgs() if user.is_admin else [user.org])


async def _audit(request: Request, user: User) -> Response:
    if user.role != ADMIN:
        raise Refused("감사 기록은 관리자만 볼 수 있습니다")
    return _render(request, "audit.html", user, entries=_ctx(request).audit.recent(500))


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


# -- errors ----------------------------------------------------------------------------
async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else ""
    # Our own refusals are Korean; Starlette's (404, 405) get a Korean line here.
    message = detail if any("\uac00" <= c <= "\ud7a3" for c in detail) else {
        401: "로그인이 필요합니다", 404: "페이지를 찾을 수 없습니다",
        405: "허용되지 않는 요청입니다"}.get(exc.status_code, "요청을 처리할 수 없습니다")
    if request.url.path.endswith(("/preview", "/test")):
        return JSONResponse({"ok": False, "error": message}, exc.status_code)
    return _render(request, "error.html", current_user(request), exc.status_code,
                   status=exc.status_code, message=message)


async def server_error(request: Request, exc: Exception) -> Response:
    ref = uuid.uuid4().hex[:8]
    log.error("studio: %s %s failed (ref %s)", request.method, request.url.path, ref,
              exc_info=exc)
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(request, "error.html", {
        "user": None, "csrf": "", "role_names": ROLE_NAMES, "status": 500,
        "message": f"서버에서 문제가 생겼습니다. 관리자에게 참조 번호 {ref} 를 알려 주세요",
    }, status_code=500)


# -- the app ---------------------------------------------------------------------------
T = "/templates/{org}/{event_type}/{channel}"

#: Sent with every response: no framing by other sites, no sniffing, no referrer to
#: other sites, scripts only from the studio itself (the e-mail preview's HTML sits in a
#: sandboxed ``srcdoc`` frame, so it runs nothing and loads no remote images).
SECURITY_HEADERS = [
    (b"content-security-policy",
     b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
     b"img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]


class SecurityHeaders:
    """ASGI middleware adding :data:`SECURITY_HEADERS` to every HTTP response."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(config: Any, *, ledger: Any = None, broker_url: str | None = None,
               sender_factory: Callable[[str], Any] | None = None,
               clock: Callable[[], float] = time.time) -> Starlette:
    """The studio for ``config`` (its ledger database, templates folder, orgs)."""
    from hub.config import DEFAULT_AMQP_URL

    if ledger is None:
        from hub.ledger.shared import shared_ledger

        ledger = shared_ledger(config)
    engine = getattr(ledger, "engine", None)
    if engine is None:
        raise ValueError("the studio needs a SQL ledger (ledger.url = sqlite:///... or "
                         "postgresql://...)")
    studio = config.get("studio", default={}) or {}
    directory = Path(config.get("templates", "dir")).resolve()
    extra = config.get("calendar", "extra_holidays", default=[]) or []
    envs = make_environments(WorkingCalendar(
        datetime.fromisoformat(str(d)).date() for d in extra))
    secret = str(studio.get("secret_key") or "") or secrets.token_urlsafe(32)
    if not studio.get("secret_key"):
        log.warning("studio.secret_key is not set: a random key signs sessions "
                    "(everyone signs in again after a restart); set "
                    "MINWON__STUDIO__SECRET_KEY")

    def default_sender(channel: str) -> Any:
        from hub.app import build_sender

        return build_sender(channel, config)

    ctx = StudioContext(
        config=config, ledger=ledger, directory=directory, db=TemplateDatabase(engine),
        accounts=Accounts(engine), audit=AuditLog(engine),
        optouts=OptOuts(engine, ledger.hash_key), previewer=None,  # type: ignore[arg-type]
        limiter=LoginLimiter(int(studio.get("login_attempts", 5)),
                             float(studio.get("login_window", 300))),
        broker_url=broker_url or config.broker_url or DEFAULT_AMQP_URL,
        timezone=ZoneInfo(str(config.get("policy", "timezone", default="Asia/Seoul"))),
        session_minutes=int(studio.get("session_minutes", 480)),
        test_sends_per_hour=int(studio.get("test_sends_per_hour", 10)),
        proxy_user_header=str(studio.get("proxy_user_header") or ""),
        sender_factory=sender_factory or default_sender, clock=clock,
    )
    ctx.previewer = Previewer(directory, envs, ctx.org_profile)
    routes = [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", page(_logout), methods=["POST"]),
        Route("/", page(_index), methods=["GET"]),
        Route(T, page(_editor), methods=["GET"]),
        Route(T + "/preview", page(_preview), methods=["POST"]),
        Route(T + "/save", page(_save), methods=["POST"]),
        Route(T + "/history", page(_history), methods=["GET"]),
        Route(T + "/rollback", page(_rollback), methods=["POST"]),
        Route(T + "/test", page(_test_send), methods=["POST"]),
        Route(T + "/unpublish", page(_unpublish), methods=["POST"]),
        Route("/deliveries", page(_deliveries), methods=["GET"]),
        Route("/dead", page(_dead), methods=["GET"]),
        Route("/dead/replay", page(_dead_replay), methods=["POST"]),
        Route("/optouts", page(_optouts), methods=["GET", "POST"]),
        Route("/audit", page(_audit), methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    middleware = [Middleware(SecurityHeaders), Middleware(
        SessionMiddleware, secret_key=secret, session_cookie="minwon_studio",
        max_age=ctx.session_minutes * 60, same_site="lax",
        https_only=bool(studio.get("secure_cookies", False)),
    )]
    app = Starlette(routes=routes, middleware=middleware, exception_handlers={
        HTTPException: http_error, Exception: server_error})
    app.state.studio = ctx
    app.state.templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.state.templates.env.filters["local"] = lambda moment: "" if moment is None else \
        moment.astimezone(ctx.timezone).strftime("%Y-%m-%d %H:%M:%S")
    return app
