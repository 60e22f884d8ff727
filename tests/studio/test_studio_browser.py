"""The issue's "done when", in a real Chromium (Debian's package, driven by Playwright):
a new user starts the studio with ``minwon-hub studio`` against the hub's database,
signs in, edits the SMS wording of ``case.received`` for 구미시, sees the preview and
the byte counter change as they type (45 × 똠 → 90바이트 SMS, 46 → 92바이트 LMS, an
emoji → a warning), publishes, and a running hub (real RabbitMQ, own vhost) sends the
next event with the new wording; they roll back and the next one has the old wording;
an operator looks the case up.

Waits are on conditions (Playwright's auto-waiting ``expect``, the hub's template
status, the outbox), never on sleeps. ``MINWON_STUDIO_SCREENSHOTS=DIR`` keeps
screenshots of the main pages (docs/studio.md uses them).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.config import Config
from hub.templates.database import TemplateDatabase
from tests.conftest import VHost, make_config
from tests.integration.harness import outbox, publish, running_hub, wait_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]
GUMI_SMS = "orgs/gumi/case.received/sms.j2"
EDITOR_PASSWORD = "편집자의 긴 비밀번호 2026"
OPERATOR_PASSWORD = "operator long password"
FIRST = "[{{ org.name }}] {{ recipient.name }}님 민원({{ case.id }}) 접수. 첫 문구"
NEW = ("[{{ org.name }}] {{ recipient.name }}님, 민원({{ case.id }})을 "
       "스튜디오에서 바꾼 문구로 알립니다")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _toml(config: Config, path: Path, port: int) -> None:
    """The configuration file the studio is started with (as an operator writes it)."""
    gumi = config["orgs"]["gumi"]
    lines = [
        "[ledger]", f'url = "{config["ledger"]["url"]}"',
        "[templates]", f'dir = "{config["templates"]["dir"]}"',
        "[broker]", f'url = "{config["broker"]["url"]}"',
        "[providers.outbox]", f'dir = "{config["providers"]["outbox"]["dir"]}"',
        "[studio]", f"port = {port}",
        "[orgs.gumi]", *(f'{k} = "{v}"' for k, v in gumi.items()),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _cli(env: dict[str, str], *args: str, stdin: str = "") -> None:
    subprocess.run([sys.executable, "-m", "hub.cli", *args], input=stdin, text=True,
                   env=env, check=True, capture_output=True, timeout=120)


@pytest.fixture
def studio(vhost: VHost, tmp_path: Path) -> Iterator[tuple[str, Config]]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: scripts/ensure-services.sh installs it")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", templates)
    config = make_config(tmp_path, vhost.url, templates={"dir": str(templates),
                                                         "reload_interval": 0.2})
    port = _free_port()
    config_file = tmp_path / "minwon.toml"
    _toml(config, config_file, port)
    env = {**os.environ, "MINWON_CONFIG": str(config_file)}
    env = {k: v for k, v in env.items() if not k.startswith("MINWON__")}
    # as pytest's pythonpath: also for a venv installed before clients/python existed
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "clients/python")])
    env["MINWON__STUDIO__SECRET_KEY"] = "browser-test-secret-0123456789"  # never in the file
    _cli(env, "templates", "import")
    _cli(env, "studio", "user", "add", "kim", "--org", "gumi", "--role", "editor",
         "--phone", "010-5555-0123", stdin=EDITOR_PASSWORD + "\n")
    _cli(env, "studio", "user", "add", "lee", "--org", "gumi", "--role", "operator",
         stdin=OPERATOR_PASSWORD + "\n")
    server = subprocess.Popen([sys.executable, "-m", "hub.cli", "studio"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        import requests

        def up() -> bool:
            assert server.poll() is None, server.stdout.read() if server.stdout else ""
            try:
                return requests.get(base + "/healthz", timeout=2).status_code == 200
            except requests.ConnectionError:
                return False

        wait_for(up, timeout=60, message="the studio to answer")
        yield base, config
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _shot(page: Any, name: str) -> None:
    folder = os.environ.get("MINWON_STUDIO_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"studio-{name}.png"), full_page=True)


def _event(case_id: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(
        (ROOT / "templates/case.received/samples/full.json").read_text("utf-8"))
    event["id"] = f"browser-{uuid.uuid4().hex}"
    event["data"]["org"] = "gumi"
    event["data"]["case"]["id"] = case_id
    event["data"]["citizen"] = {"name": "홍길동", "phone": "010-2468-1357",
                                "channels": ["sms"]}
    return event


def _sms_to_case(config: Config, case_id: str) -> list[str]:
    return [r["body"] for r in outbox(config, "sms") if r.get("case_id") == case_id]


def _serving(hub: Any, version_id: int) -> bool:
    return hub.store.status().get(GUMI_SMS, {}).get("version_id") == version_id


def _sign_in(page: Any, base: str, name: str, password: str) -> None:
    page.goto(base + "/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


@pytest.mark.timeout(600)  # one long story; a shared machine may make it slow
def test_edit_preview_publish_send_rollback_and_look_up(
    studio: tuple[str, Config], browser: Any
) -> None:
    from playwright.sync_api import expect

    base, config = studio
    # Generous waits: the machine is shared, a preview may take seconds under load
    expect.set_options(timeout=30_000)
    page = browser.new_page(locale="ko-KR", viewport={"width": 1360, "height": 900})
    page.set_default_timeout(30_000)
    with running_hub(config) as hub:
        db = TemplateDatabase(hub.ledger.engine)
        # Sign in (a wrong password first: a Korean message)
        _sign_in(page, base, "kim", "wrong password")
        expect(page.locator(".error")).to_contain_text("비밀번호가 맞지 않습니다")
        _shot(page, "login")
        _sign_in(page, base, "kim", EDITOR_PASSWORD)
        expect(page.locator("h1")).to_have_text("알림 템플릿")
        # Open 구미시's case.received SMS: no override yet, a copy of the default
        page.goto(base + "/templates/gumi/case.received/sms")
        editor = page.locator(".editor")
        expect(editor).to_have_attribute("data-ready", "1")
        expect(page.locator(".status")).to_contain_text("기본 템플릿을 복사해")
        expect(page.locator("#previews .bubble").first).to_contain_text("구미시")
        _shot(page, "editor")
        counter = page.locator("#counter")
        source = page.locator("textarea[name=source]")

        # Type: 45 × 똠 is 90 bytes (SMS); one more is 92 (LMS); an emoji is flagged
        source.fill("{% block body %}\n" + "똠" * 45 + "\n{% endblock %}\n")
        expect(counter).to_have_text("90바이트 · SMS")
        expect(page.locator("#previews .bubble").first).to_have_text("똠" * 45)
        end_of_body = len("{% block body %}\n") + 45
        source.evaluate("(el, at) => el.setSelectionRange(at, at)", end_of_body)
        page.keyboard.type("똠")
        expect(counter).to_have_text("92바이트 · LMS")
        page.keyboard.type("😀")
        expect(page.locator("#unsafe-warning")).to_contain_text("😀")
        expect(page.locator("#unsafe-warning")).to_contain_text("U+1F600")
        expect(page.locator("#problems")).to_contain_text("보낼 수 없는 글자")
        _shot(page, "emoji")

        # A first wording, published
        source.fill("{% block body %}\n" + FIRST + "\n{% endblock %}\n")
        expect(page.locator("#problems .passed")).to_be_visible()
        page.fill("input[name=note]", "첫 게시")
        page.click("#publish")
        expect(page.locator("#flash")).to_contain_text("게시했습니다")
        head = db.head(GUMI_SMS)
        assert head is not None
        first_id = head.version_id

        # Send a test to my own phone, through the real channel chain (the outbox here)
        page.click("#test-send")
        expect(page.locator("#test-result")).to_contain_text("010-****-0123")
        tests = [r for r in outbox(config, "sms") if r.get("case_id") == "studio-test"]
        assert [r["to"] for r in tests] == ["010-5555-0123"]
        assert tests[0]["body"].startswith("[시험] [구미시] 홍길동님")

        # The new wording, published: the running hub sends the next event with it
        source = page.locator("textarea[name=source]")
        source.fill("{% block body %}\n" + NEW + "\n{% endblock %}\n")
        expect(page.locator("#previews .bubble").first).to_contain_text("스튜디오에서 바꾼")
        expect(counter).to_contain_text("바이트 · SMS")
        page.fill("input[name=note]", "문구 개선")
        page.click("#publish")
        expect(page.locator("#flash")).to_contain_text("게시했습니다")
        head = db.head(GUMI_SMS)
        assert head is not None and head.version_id != first_id
        new_id = head.version_id
        wait_for(lambda: _serving(hub, new_id), message="the hub to load the publication")
        publish(config["broker"]["url"], [_event("2026-7770001")])
        wait_for(lambda: bool(_sms_to_case(config, "2026-7770001")), timeout=60,
                 message="the SMS of the first event")
        assert "스튜디오에서 바꾼 문구로 알립니다" in _sms_to_case(config, "2026-7770001")[0]

        # History: both versions, a side-by-side diff, one-click roll-back
        page.goto(base + "/templates/gumi/case.received/sms/history")
        page.check(f"#version-{first_id} input[name=a]")
        page.check(f"#version-{new_id} input[name=b]")
        page.click("button[form=diff-form]")
        expect(page.locator("#diff table.diff")).to_be_visible()
        _shot(page, "history")
        page.click(f"#version-{first_id} button.rollback")
        expect(page.locator("#flash")).to_contain_text("되돌렸습니다")
        wait_for(lambda: _serving(hub, first_id), message="the hub to load the roll-back")
        publish(config["broker"]["url"], [_event("2026-7770002")])
        wait_for(lambda: bool(_sms_to_case(config, "2026-7770002")), timeout=60,
                 message="the SMS of the second event")
        assert _sms_to_case(config, "2026-7770002")[0].endswith("첫 문구")

        # An operator looks the case up: the timeline, masked
        page.click("header form.who button")
        _sign_in(page, base, "lee", OPERATOR_PASSWORD)
        page.fill("input[name=q]", "2026-7770001")
        page.click("form.search button")
        expect(page.locator("#timeline")).to_contain_text("sent")
        expect(page.locator("#notices")).to_contain_text("010-****-1357")
        assert "2468" not in page.content()
        _shot(page, "deliveries")
    page.close()
