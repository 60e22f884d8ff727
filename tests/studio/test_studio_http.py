"""The studio's routes over HTTP (Starlette's test client): sign-in, sessions, CSRF,
the login rate limit, permissions of every role on every route, the editor's preview
and byte counter, save / publish / history / diff / roll-back with the audit log,
test sends, deliveries, dead letters (broker down: a Korean message), opt-outs."""

from __future__ import annotations

import re
from typing import Any

import pytest
from starlette.testclient import TestClient

from channels.base import Message, Receipt
from hub.config import Config
from hub.jobs import Job, Recipient
from hub.optouts import OptOuts
from hub.studio.app import create_app
from hub.studio.audit import AuditLog
from hub.templates.database import TemplateDatabase
from tests.studio.conftest import PASSWORD, csrf_of

EDIT = "/templates/gumi/case.received/sms"
DEFAULT = "/templates/_/case.received/sms"
GUMI_PATH = "orgs/gumi/case.received/sms.j2"


class Recorder:
    def __init__(self) -> None:
        self.sent: list[Message] = []

    def send(self, message: Message) -> Receipt:
        self.sent.append(message)
        return Receipt("outbox", f"m-{len(self.sent)}")


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def app(config: Config, ledger: Any, recorder: Recorder) -> Any:
    return create_app(config, ledger=ledger, broker_url="amqp://guest:guest@127.0.0.1:1//",
                      sender_factory=lambda channel: recorder)


def client(app: Any, user: str | None = None, password: str = PASSWORD) -> TestClient:
    c = TestClient(app, base_url="http://studio.test")
    if user is not None:
        page = c.get("/login")
        r = c.post("/login", data={"username": user, "password": password,
                                   "csrf": csrf_of(page.text), "next": "/"},
                   follow_redirects=False)
        assert r.status_code == 303, r.text
    return c


def csrf(c: TestClient, url: str = "/") -> str:
    return csrf_of(c.get(url).text if url != "/" else c.get(EDIT).text)


def body(text: str) -> str:
    return "{% block body %}" + text + "{% endblock %}"


# -- sign-in, sessions, CSRF -------------------------------------------------------------
def test_pages_need_a_session_and_the_login_form_has_the_agreed_fields(app: Any) -> None:
    c = client(app)
    r = c.get(EDIT, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    page = c.get("/login").text
    assert 'name="username"' in page and 'name="password"' in page and "로그인" in page
    assert c.post(EDIT + "/preview", data={"source": "x"}).status_code == 401


def test_the_session_cookie_is_httponly_samesite_and_secure_when_configured(
    config: Config, ledger: Any
) -> None:
    plain = client(create_app(config, ledger=ledger)).get("/login")
    cookie = plain.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    secure = create_app(config.with_overrides({"studio": {"secure_cookies": True}}),
                        ledger=ledger)
    cookie = client(secure).get("/login").headers["set-cookie"].lower()
    assert "secure" in cookie


def test_every_response_carries_the_security_headers(app: Any) -> None:
    c = client(app, "kim")
    for r in (c.get("/login"), c.get(EDIT), c.get("/static/studio.js"), c.get("/nope")):
        assert r.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert "script-src 'self'" in r.headers["content-security-policy"]
        assert r.headers["x-content-type-options"] == "nosniff"


def test_wrong_password_is_a_korean_message_and_the_limit_stops_guessing(app: Any) -> None:
    c = client(app)
    token = csrf_of(c.get("/login").text)
    for _ in range(5):
        r = c.post("/login", data={"username": "kim", "password": "wrong", "csrf": token})
        assert r.status_code == 401 and "비밀번호가 맞지 않습니다" in r.text
    r = c.post("/login", data={"username": "kim", "password": PASSWORD, "csrf": token})
    assert r.status_code == 429 and "초 뒤에 다시" in r.text
    actions = [e.action for e in app.state.studio.audit.recent()]
    assert actions.count("login_failed") == 5 and "login_limited" in actions
    # Another user from the same address (a shared proxy) may still sign in
    r = c.post("/login", data={"username": "lee", "password": PASSWORD, "csrf": token},
               follow_redirects=False)
    assert r.status_code == 303


def test_many_names_from_one_address_are_stopped_too(app: Any) -> None:
    c = client(app)
    token = csrf_of(c.get("/login").text)
    for i in range(50):
        r = c.post("/login", data={"username": f"guess{i}", "password": "x", "csrf": token})
        assert r.status_code == 401
    r = c.post("/login", data={"username": "kim", "password": PASSWORD, "csrf": token})
    assert r.status_code == 429


def test_login_without_the_csrf_token_is_refused(app: Any) -> None:
    c = client(app)
    c.get("/login")
    r = c.post("/login", data={"username": "kim", "password": PASSWORD})
    assert r.status_code == 403 and "보안 토큰" in r.text


def test_posts_without_the_sessions_csrf_token_are_refused(app: Any) -> None:
    c = client(app, "kim")
    for data in ({"source": body("x")}, {"source": body("x"), "csrf": "forged" * 8}):
        r = c.post(EDIT + "/save", data=data)
        assert r.status_code == 403 and "보안 토큰" in r.text
    assert TemplateDatabase(app.state.studio.ledger.engine).versions(GUMI_PATH) == []


def test_an_open_redirect_after_login_is_not_followed(app: Any) -> None:
    c = client(app)
    token = csrf_of(c.get("/login").text)
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        r = c.post("/login", data={"username": "kim", "password": PASSWORD, "csrf": token,
                                   "next": target}, follow_redirects=False)
        assert r.headers["location"] == "/"
        c.post("/logout", data={"csrf": csrf_of(c.get("/").text)})
        token = csrf_of(c.get("/login").text)


def test_sessions_expire(config: Config, ledger: Any) -> None:
    now = [1_000_000.0]
    app = create_app(config.with_overrides({"studio": {"session_minutes": 30}}),
                     ledger=ledger, clock=lambda: now[0])
    c = client(app, "kim")
    now[0] += 29 * 60
    assert c.get(EDIT, follow_redirects=False).status_code == 200
    now[0] += 2 * 60
    assert c.get(EDIT, follow_redirects=False).status_code == 303


def test_logout_ends_the_session(app: Any) -> None:
    c = client(app, "kim")
    assert c.post("/logout", data={"csrf": csrf(c)}, follow_redirects=False).status_code == 303
    assert c.get(EDIT, follow_redirects=False).status_code == 303


def test_a_trusted_proxy_header_signs_in_only_when_configured(config: Config,
                                                             ledger: Any) -> None:
    plain = TestClient(create_app(config, ledger=ledger))
    assert plain.get(EDIT, headers={"X-Remote-User": "kim"},
                     follow_redirects=False).status_code == 303
    sso = TestClient(create_app(config.with_overrides(
        {"studio": {"proxy_user_header": "X-Remote-User"}}), ledger=ledger))
    assert sso.get(EDIT, headers={"X-Remote-User": "kim"}).status_code == 200
    assert sso.get(EDIT, headers={"X-Remote-User": "nobody"},
                   follow_redirects=False).status_code == 303


# -- permissions -------------------------------------------------------------------------
@pytest.mark.parametrize(("user", "url", "status"), [
    ("kim", EDIT, 200),
    ("kim", DEFAULT, 200),
    ("kim", "/templates/seoul/case.received/sms", 403),
    ("park", EDIT, 403),
    ("lee", EDIT, 403),
    ("root", "/templates/seoul/case.received/sms", 200),
    ("kim", "/deliveries", 403),
    ("lee", "/deliveries", 200),
    ("kim", "/optouts", 403),
    ("lee", "/optouts", 200),
    ("kim", "/audit", 403),
    ("lee", "/audit", 403),
    ("root", "/audit", 200),
    ("kim", "/dead", 403),
    ("kim", EDIT + "/history", 200),
    ("park", EDIT + "/history", 403),
    ("kim", "/templates/gumi/no.such.event/sms", 404),
    ("kim", "/templates/gumi/case.received/fax", 404),
    ("kim", "/templates/gumi/..%2F..%2Fetc/sms", 404),
])
def test_who_may_open_what(app: Any, user: str, url: str, status: int) -> None:
    r = client(app, user).get(url)
    assert r.status_code == status
    if status == 403:
        assert "권한" in r.text or "볼 수 없습니다" in r.text or "만 " in r.text
        assert "Traceback" not in r.text


@pytest.mark.parametrize(("user", "url", "status"), [
    ("kim", DEFAULT + "/save", 403),  # an editor reads the defaults only
    ("park", EDIT + "/save", 403),  # another organisation's editor
    ("lee", EDIT + "/save", 403),  # an operator
    ("root", DEFAULT + "/save", 303),  # an admin may change the defaults
    ("kim", EDIT + "/save", 303),
])
def test_who_may_change_what(app: Any, user: str, url: str, status: int) -> None:
    c = client(app, user)
    r = c.post(url, data={"source": body("새 문구 {{ case.id }}"), "csrf": csrf(c),
                          "action": "save"}, follow_redirects=False)
    assert r.status_code == status


# -- the editor ------------------------------------------------------------------------
def test_an_org_without_an_override_opens_on_a_copy_of_the_default(app: Any) -> None:
    page = client(app, "kim").get(EDIT).text
    assert '<textarea name="source"' in page
    assert "기본 템플릿을 복사해" in page
    assert "민원이 접수되었습니다" in page
    assert "case.officer.name" in page and "|josa" in page  # fields and filters


def test_the_editor_warns_when_the_hub_reads_templates_from_the_folder_only(
    config: Config, ledger: Any
) -> None:
    folder = create_app(config.with_overrides({"templates": {"source": "folder"}}),
                        ledger=ledger)
    assert "발송에 쓰이지 않습니다" in client(folder, "kim").get(EDIT).text
    assert 'id="folder-only"' not in client(create_app(config, ledger=ledger), "kim").get(
        EDIT).text


def test_the_default_is_read_only_for_an_editor(app: Any) -> None:
    page = client(app, "kim").get(DEFAULT).text
    assert "readonly" in page and 'value="publish"' not in page


@pytest.mark.parametrize(("text", "expected"), [
    ("똠" * 45, "90바이트 · SMS"),
    ("똠" * 46, "92바이트 · LMS"),
    ("가" * 1000, "2000바이트 · LMS"),
])
def test_preview_counts_cp949_bytes(app: Any, text: str, expected: str) -> None:
    c = client(app, "kim")
    data = c.post(EDIT + "/preview", data={"source": body(text)},
                  headers={"X-CSRF-Token": csrf(c)}).json()
    assert data["ok"] and data["counter"]["text"] == expected
    assert {r["sample"] for r in data["renders"]} >= {"minimal.json", "full.json"}


def test_preview_flags_what_sms_cannot_carry_and_too_long_bodies(app: Any) -> None:
    c = client(app, "kim")
    token = csrf(c)
    data = c.post(EDIT + "/preview", data={"source": body("접수 완료 😀\n다음 줄")},
                  headers={"X-CSRF-Token": token}).json()
    assert not data["ok"]
    assert data["unsafe"] == [{"char": "😀", "codepoint": "U+1F600", "line": 1,
                               "column": 23}]
    assert any("보낼 수 없는 글자" in p["message"] for p in data["problems"])
    data = c.post(EDIT + "/preview", data={"source": body("가" * 1001)},
                  headers={"X-CSRF-Token": token}).json()
    assert not data["ok"] and "2002바이트" in data["problems"][0]["text"]


@pytest.mark.parametrize(("source", "korean"), [
    ("{% block body %}\n{{ case.nope }}\n{% endblock %}", "2번째 줄"),
    ("{% block body %}{{ unknown_thing }}{% endblock %}", "알 수 없는 변수 'unknown_thing'"),
    ("{% block body %}{% if x %}{% endblock %}", "문법 오류"),
    ("{% block body %}{{ case.id|nofilter }}{% endblock %}", "'nofilter' 라는 필터가 없습니다"),
    ("hello", "블록이 없습니다"),
    ("{% block body %}{{ ''.__class__ }}{% endblock %}", "보안상 허용되지 않는"),
    ("{% block body %}{% include 'x' %}{% endblock %}", "include"),
])
def test_errors_are_korean_with_the_line(app: Any, source: str, korean: str) -> None:
    c = client(app, "kim")
    data = c.post(EDIT + "/preview", data={"source": source},
                  headers={"X-CSRF-Token": csrf(c)}).json()
    assert not data["ok"]
    assert any(korean in p["text"] for p in data["problems"]), data["problems"]


@pytest.mark.parametrize("source", [
    b"source=%00", b"source=" + b"a" * 70_000, b"source=%ED%A0%80", b"source=%FF%FE",
    b"source=" + b"%7B%25+if+x+%25%7D" * 5000,
])
def test_hostile_sources_get_a_clear_answer(app: Any, source: bytes) -> None:
    c = client(app, "kim")
    r = c.post(EDIT + "/preview", content=source, headers={
        "X-CSRF-Token": csrf(c), "Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code in (200, 400)
    assert "Traceback" not in r.text
    assert r.json().get("ok") is False


# -- save, publish, history, roll-back -----------------------------------------------------
def test_save_publish_history_diff_rollback_and_audit(app: Any) -> None:
    c = client(app, "kim")
    db = app.state.studio.db
    token = csrf(c)
    # Save a draft: a version, not published
    r = c.post(EDIT + "/save", data={"source": body("첫 문구 {{ case.id }}"), "csrf": token,
                                     "note": "초안", "action": "save"})
    assert "임시 저장했습니다" in r.text and "첫 문구" in r.text
    assert db.head(GUMI_PATH) is None
    # Publish a second version
    r = c.post(EDIT + "/save", data={"source": body("둘째 문구 {{ case.id }}"),
                                     "csrf": token, "note": "게시", "action": "publish"})
    assert "게시했습니다" in r.text
    second = db.head(GUMI_PATH).version_id
    # A failing version is refused and the published one stays
    r = c.post(EDIT + "/save", data={"source": body("{{ case.nope.x }}"), "csrf": token,
                                     "action": "publish"})
    assert r.status_code == 422 and "게시할 수 없습니다" in r.text
    assert db.head(GUMI_PATH).version_id == second
    # History lists both, with who and why; a side-by-side diff of the two
    versions = db.versions(GUMI_PATH)
    first = versions[-1].id
    page = c.get(f"{EDIT}/history?a={first}&b={second}").text
    assert "초안" in page and "게시 중" in page and 'class="diff"' in page
    assert ">첫</span>&nbsp;문구" in page and ">둘째</span>&nbsp;문구" in page
    # Roll back to the first in one click
    r = c.post(EDIT + "/rollback", data={"version": str(first), "csrf": token})
    assert r.status_code == 200 and "되돌렸습니다" in r.text
    assert db.head(GUMI_PATH).version_id == first
    # Every action is in the audit log
    actions = [e.action for e in AuditLog(db.engine).recent()]
    assert {"save", "publish", "rollback", "login"} <= set(actions)
    # Another organisation's editor cannot roll back
    other = client(app, "park")
    r = other.post(EDIT + "/rollback", data={"version": str(second),
                                             "csrf": csrf_of(other.get(
                                                 "/templates/seoul/case.received/sms").text)})
    assert r.status_code == 403


def test_unpublishing_an_override_goes_back_to_the_default(app: Any) -> None:
    c = client(app, "kim")
    token = csrf(c)
    c.post(EDIT + "/save", data={"source": body("구미 {{ case.id }}"), "csrf": token,
                                 "action": "publish"})
    db = app.state.studio.db
    assert db.head(GUMI_PATH) is not None
    assert 'id="unpublish"' in c.get(EDIT + "/history").text
    r = c.post(EDIT + "/unpublish", data={"csrf": token})
    assert "게시를 중단했습니다" in r.text
    assert db.head(GUMI_PATH) is None and len(db.versions(GUMI_PATH)) == 1
    assert "unpublish" in [e.action for e in app.state.studio.audit.recent()]
    admin = client(app, "root")
    r = admin.post(DEFAULT + "/unpublish", data={"csrf": csrf(admin)})
    assert r.status_code == 400 and "기본 템플릿은 게시를 중단할 수 없습니다" in r.text


def test_rollback_to_a_version_of_another_template_is_refused(app: Any) -> None:
    c = client(app, "root")
    token = csrf(c)
    c.post("/templates/seoul/case.received/sms/save",
           data={"source": body("서울 {{ case.id }}"), "csrf": token, "action": "save"})
    other = app.state.studio.db.versions("orgs/seoul/case.received/sms.j2")[0].id
    r = c.post(EDIT + "/rollback", data={"version": str(other), "csrf": token})
    assert r.status_code == 404
    r = c.post(EDIT + "/rollback", data={"version": "abc", "csrf": token})
    assert r.status_code == 400 and "버전 번호" in r.text


# -- send a test to me ---------------------------------------------------------------------
def test_a_test_goes_to_the_users_own_phone_only_marked_and_rate_limited(
    config: Config, ledger: Any, recorder: Recorder
) -> None:
    app = create_app(config.with_overrides({"studio": {"test_sends_per_hour": 2}}),
                     ledger=ledger, sender_factory=lambda channel: recorder)
    c = client(app, "kim")
    token = csrf(c)
    data = {"source": body("시험 {{ case.id }}"), "to": "010-9999-9999"}
    for _ in range(2):
        r = c.post(EDIT + "/test", data=data, headers={"X-CSRF-Token": token})
        assert r.status_code == 200 and r.json()["to"] == "010-****-2222"
    assert [m.to for m in recorder.sent] == ["010-1111-2222"] * 2
    assert recorder.sent[0].body.startswith("[시험] 시험 ")
    r = c.post(EDIT + "/test", data=data, headers={"X-CSRF-Token": token})
    assert r.status_code == 429 and "한 시간에 2번" in r.json()["error"]
    story = ledger.case_story("studio-test")
    assert len(story.notices) == 2 and story.notices[0].status == "sent"
    # A user with no registered number cannot send
    p = client(app, "park")
    r = p.post("/templates/seoul/case.received/sms/test", data=data,
               headers={"X-CSRF-Token": csrf_of(p.get(
                   "/templates/seoul/case.received/sms").text)})
    assert r.status_code == 400 and "등록된 연락처" in r.json()["error"]


# -- deliveries, dead letters, opt-outs ----------------------------------------------------
def _job(org: str = "gumi", case: str = "2026-0001234") -> Job:
    return Job(notification_id=f"n-{org}", event_id=f"e-{org}", event_type="case.received",
               case_id=case, org=org, channel="sms", template="case.received",
               critical=False, recipient=Recipient("citizen", "citizen", "홍길동",
                                                   "010-3333-4444"),
               event={"id": f"e-{org}"}, data={})


def test_deliveries_show_a_case_masked_and_only_the_operators_org(app: Any,
                                                                 ledger: Any) -> None:
    ledger.record_event({"id": "e-gumi", "type": "case.received", "source": "/gumi",
                         "data": {"org": "gumi", "case": {"id": "2026-0001234"}}})
    ledger.record(_job(), "sent", attempt=1, provider="outbox", message_id="m-1")
    ledger.record(_job("seoul"), "sent", attempt=1, provider="outbox")
    page = client(app, "lee").get("/deliveries?q=2026-0001234").text
    assert "민원 2026-0001234" in page and "홍*동" in page and "010-****-4444" in page
    assert "3333" not in page and "홍길동" not in page
    assert page.count("<tr class=\"status-sent\">") == 1  # the seoul notice is not shown
    admin = client(app, "root").get("/deliveries?q=2026-0001234").text
    assert admin.count("<tr class=\"status-sent\">") == 2
    # By address and by its keyed hash
    by_phone = client(app, "lee").get("/deliveries?q=010-3333-4444").text
    assert "이 주소로 간 알림 1건" in by_phone
    digest = OptOuts(ledger.engine, ledger.hash_key).digest("01033334444")
    assert "이 주소로 간 알림 1건" in client(app, "lee").get(f"/deliveries?q={digest}").text
    assert "원장에 이 민원의 기록이 없습니다" in client(app, "lee").get(
        "/deliveries?q=nothing").text


def test_dead_letters_with_the_broker_down_say_so_in_korean(app: Any) -> None:
    r = client(app, "lee").get("/dead")
    assert r.status_code == 200 and "메시지 브로커에 연결할 수 없습니다" in r.text


def test_opt_outs_are_added_listed_removed_and_audited(app: Any, ledger: Any) -> None:
    c = client(app, "lee")
    token = csrf_of(c.get("/optouts").text)
    r = c.post("/optouts", data={"action": "add", "address": "010-5555-6666", "org": "gumi",
                                 "note": "전화 요청", "csrf": token})
    assert "010-****-6666 수신거부를 등록했습니다" in r.text and "5555" not in r.text
    optouts = OptOuts(ledger.engine, ledger.hash_key, refresh=0)
    assert optouts.blocks("01055556666", "gumi")
    # An operator cannot act for another organisation or for all
    for org in ("seoul", "*"):
        r = c.post("/optouts", data={"action": "add", "address": "010-5555-6666",
                                     "org": org, "csrf": token})
        assert r.status_code == 403
    r = c.post("/optouts", data={"action": "add", "address": "not an address",
                                 "org": "gumi", "csrf": token})
    assert r.status_code == 400 and "휴대폰 번호나 메일 주소" in r.text
    digest = re.search(r'name="hash" value="([0-9a-f]{64})"', c.get("/optouts").text)
    assert digest is not None
    r = c.post("/optouts", data={"action": "remove", "hash": digest.group(1), "org": "gumi",
                                 "csrf": token})
    assert "해제했습니다" in r.text
    assert not optouts.blocks("01055556666", "gumi")
    actions = [e.action for e in AuditLog(ledger.engine).recent()]
    assert "optout_add" in actions and "optout_remove" in actions
    assert all("5555" not in (e.detail or "") for e in AuditLog(ledger.engine).recent())


def test_unknown_pages_and_methods_are_korean(app: Any) -> None:
    c = client(app, "kim")
    r = c.get("/no/such/page")
    assert r.status_code == 404 and "찾을 수 없습니다" in r.text
    r = c.put(EDIT)
    assert r.status_code == 405 and "허용되지 않는" in r.text


def test_an_unexpected_failure_is_a_korean_page_without_a_stack_trace(app: Any) -> None:
    c = TestClient(app, raise_server_exceptions=False)
    page = c.get("/login")
    c.post("/login", data={"username": "root", "password": PASSWORD,
                           "csrf": csrf_of(page.text)})

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals")

    app.state.studio.audit.recent = boom
    r = c.get("/audit")
    assert r.status_code == 500 and "참조 번호" in r.text
    assert "secret internals" not in r.text and "Traceback" not in r.text


def test_email_and_push_previews_have_their_parts(app: Any) -> None:
    c = client(app, "kim")
    token = csrf(c)
    email = c.post("/templates/gumi/case.received/email/preview",
                   data={"source": _served("case.received/email.j2", app)},
                   headers={"X-CSRF-Token": token}).json()
    first = email["renders"][0]
    assert email["ok"], email["problems"]
    assert first["channel"] == "email" and first["subject"] and first["body"]
    assert first["html"].lower().startswith("<!doctype html>")
    push = c.post("/templates/gumi/case.received/push/preview",
                  data={"source": _served("case.received/push.j2", app)},
                  headers={"X-CSRF-Token": token}).json()
    assert push["renders"][0]["channel"] == "push" and push["renders"][0]["body"]
    assert push["counter"] is None  # bytes are counted for SMS only


def _served(path: str, app: Any) -> str:
    return (app.state.studio.directory / path).read_text(encoding="utf-8")


def test_a_hostile_draft_cannot_break_out_of_the_page(app: Any) -> None:
    c = client(app, "kim")
    evil = "{% block body %}</textarea><script>alert(1)</script>{{ case.id }}{% endblock %}"
    c.post(EDIT + "/save", data={"source": evil, "csrf": csrf(c), "action": "save"})
    page = c.get(EDIT).text
    assert "</textarea><script>alert(1)" not in page
    assert "&lt;/textarea&gt;&lt;script&gt;alert(1)" in page
    assert "<script>alert(1)</script>" not in page.split('id="initial">')[1]
