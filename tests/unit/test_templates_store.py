"""TemplateStore: rendering, organisation overrides, versions and hot reload."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from hub.templates import (
    Rendered,
    TemplateBudgetError,
    TemplateError,
    TemplateStore,
    context_from_event,
)

EVENT: dict[str, Any] = {
    "specversion": "1.0",
    "id": "evt-1",
    "source": "/gumi/test",
    "type": "case.received",
    "time": "2026-11-24T15:00:00+09:00",
    "datacontenttype": "application/json",
    "data": {
        "org": "gumi",
        "case": {
            "id": "2026-0001234",
            "title": "도로 파손 신고",
            "department": "도로철도과",
            "officer": {"name": "김담당", "phone": "054-480-0000"},
        },
        "citizen": {"name": "홍길동", "phone": "010-0000-0000", "email": "h@example.kr"},
    },
}
ORGS = {"gumi": {"name": "구미시", "callcenter": "054-480-2114", "url": "https://gumi.go.kr"}}

SMS = """{% block body %}
[{{ org.name }}] {{ recipient.name }}님 민원 접수.
{#- joined to the line above -#}
{{ " " }}담당 {{ case.department }} {{ case.officer.name }}
{% endblock %}
"""
EMAIL = """{% block subject %}[{{ org.name }}] 접수 {{ case.id }}{% endblock %}
{% block text %}{{ recipient.name }}님, {{ case.title|josa('이/가') }} 접수되었습니다.{% endblock %}
{% block html %}<p>{{ recipient.name }}님</p>{% endblock %}
"""
PUSH = """{% block title %}접수{% endblock %}
{% block body %}{{ case.title }} / {{ case.department }}{% endblock %}
"""
OVERRIDE = """{% block body %}
[{{ org.name }} 전용] {{ recipient.name }}님 접수. {{ case.department }} {{ case.officer.name }}
{% endblock %}
"""


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def edit(path: Path, text: str) -> None:
    """Write and make sure the mtime moves (coarse filesystem clocks)."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    write(path, text)
    if path.stat().st_mtime_ns == before:
        os.utime(path, ns=(before + 1_000_000, before + 1_000_000))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "templates"
    write(root / "case.received" / "sms.j2", SMS)
    write(root / "case.received" / "email.j2", EMAIL)
    write(root / "case.received" / "push.j2", PUSH)
    write(root / "case.received" / "samples" / "one.json", json.dumps(EVENT, ensure_ascii=False))
    return root


@pytest.fixture
def store(folder: Path) -> Any:
    s = TemplateStore(folder, ORGS, reload_interval=0)
    yield s
    s.close()


def context(channel: str = "sms", org: str = "gumi") -> dict[str, Any]:
    address = {"sms": "phone", "email": "email", "push": "push_token"}[channel]
    return context_from_event(
        EVENT, {"name": "홍길동", "role": "citizen", address: "x"}, {"key": org, **ORGS["gumi"]}
    )


def metric(name: str, template: str) -> float:
    return REGISTRY.get_sample_value(name, {"template": template}) or 0.0


def test_render_gives_what_is_sent_with_kind_size_and_version(
    store: TemplateStore, folder: Path
) -> None:
    rendered = store.render("case.received", "sms", "gumi", context())
    body = "[구미시] 홍길동님 민원 접수. 담당 도로철도과 김담당"
    assert rendered == Rendered(
        channel="sms",
        subject=None,
        body=body,
        html=None,
        kind="SMS",
        byte_length=len(body.encode("cp949")),
        template="case.received/sms.j2",
        version=hashlib.sha256((folder / "case.received/sms.j2").read_bytes()).hexdigest()[:12],
        replaced=0,
    )


def test_email_and_push_parts(store: TemplateStore) -> None:
    email = store.render("case.received", "email", "gumi", context("email"))
    assert (email.subject, email.body, email.html) == (
        "[구미시] 접수 2026-0001234",
        "홍길동님, 도로 파손 신고가 접수되었습니다.",
        "<p>홍길동님</p>",
    )
    assert (email.kind, email.byte_length) == (None, None)
    push = store.render("case.received", "push", "gumi", context("push"))
    assert (push.subject, push.body) == ("접수", "도로 파손 신고 / 도로철도과")


def test_unknown_template_or_channel_is_a_template_error(store: TemplateStore) -> None:
    with pytest.raises(TemplateError, match="no such template"):
        store.render("case.nothing", "sms", "gumi", context())
    with pytest.raises(TemplateError, match="unknown channel"):
        store.render("case.received", "fax", "gumi", context())


def test_missing_data_is_a_template_error_naming_the_field(store: TemplateStore) -> None:
    ctx = context()
    ctx["case"] = {k: v for k, v in ctx["case"].items() if k != "department"}
    with pytest.raises(TemplateError) as info:
        store.render("case.received", "sms", "gumi", ctx)
    assert "department" in info.value.reason
    assert info.value.template == "case.received/sms.j2"


def test_unsafe_characters_from_data_are_replaced_and_counted(store: TemplateStore) -> None:
    before = REGISTRY.get_sample_value("minwon_unsafe_chars_replaced_total", {"channel": "sms"})
    ctx = context()
    ctx["case"] = {**ctx["case"], "department": "도로–철도과😀"}
    rendered = store.render("case.received", "sms", "gumi", ctx)
    assert "도로-철도과 " in rendered.body
    assert rendered.replaced == 2
    after = REGISTRY.get_sample_value("minwon_unsafe_chars_replaced_total", {"channel": "sms"})
    assert (after or 0) - (before or 0) == 2


def test_sms_over_90_bytes_is_lms_with_its_subject_cut_to_40_bytes(folder: Path) -> None:
    edit(
        folder / "case.received" / "sms.j2",
        "{% block subject %}"
        + "긴제목" * 10
        + "{% endblock %}{% block body %}"
        + "가" * 46
        + "{% endblock %}",
    )
    with TemplateStore(folder, ORGS, reload_interval=0) as store:
        rendered = store.render("case.received", "sms", "gumi", context())
    assert (rendered.kind, rendered.byte_length) == ("LMS", 92)
    assert rendered.subject is not None and len(rendered.subject.encode("cp949")) <= 40
    assert rendered.subject.endswith("..")


def test_an_sms_body_never_carries_a_subject(store: TemplateStore, folder: Path) -> None:
    edit(
        folder / "case.received" / "sms.j2",
        "{% block subject %}제목{% endblock %}{% block body %}짧은 문자{% endblock %}",
    )
    store.reload()
    rendered = store.render("case.received", "sms", "gumi", context())
    assert (rendered.kind, rendered.subject) == ("SMS", None)


# ------------------------------------------------------------------ organisation overrides


def test_an_organisation_override_wins_and_others_fall_back(folder: Path) -> None:
    # Given an override for gumi only
    write(folder / "orgs" / "gumi" / "case.received" / "sms.j2", OVERRIDE)
    with TemplateStore(folder, ORGS, reload_interval=0) as store:
        # When gumi and another organisation render the same notice
        gumi = store.render("case.received", "sms", "gumi", context())
        other = store.render("case.received", "sms", "pohang", context())
        gumi_mail = store.render("case.received", "email", "gumi", context("email"))
    # Then gumi gets its override, the other the default, and e-mail (not overridden) the default
    assert gumi.template == "orgs/gumi/case.received/sms.j2"
    assert gumi.body.startswith("[구미시 전용]")
    assert other.template == "case.received/sms.j2"
    assert gumi_mail.template == "case.received/email.j2"


def test_an_override_added_or_removed_at_run_time(store: TemplateStore, folder: Path) -> None:
    override = folder / "orgs" / "gumi" / "case.received" / "sms.j2"
    write(override, OVERRIDE)
    assert "orgs/gumi/case.received/sms.j2" in store.reload()
    assert store.render("case.received", "sms", "gumi", context()).body.startswith("[구미시 전용]")
    override.unlink()
    store.reload()
    assert store.render("case.received", "sms", "gumi", context()).template == (
        "case.received/sms.j2"
    )


def test_a_broken_override_falls_back_to_the_default(folder: Path) -> None:
    write(
        folder / "orgs" / "gumi" / "case.received" / "sms.j2", "{% block body %}{{ x{% endblock %}"
    )
    with TemplateStore(folder, ORGS, reload_interval=0) as store:
        rendered = store.render("case.received", "sms", "gumi", context())
        assert rendered.template == "case.received/sms.j2"
        assert store.status()["orgs/gumi/case.received/sms.j2"]["broken"] is True


# ------------------------------------------------------------------ hot reload


def test_an_edit_takes_effect_with_a_new_version(store: TemplateStore, folder: Path) -> None:
    old = store.render("case.received", "push", "gumi", context("push"))
    edit(
        folder / "case.received" / "push.j2",
        PUSH.replace("{{ case.title }}", "새 문구: {{ case.title }}"),
    )
    assert store.reload() == ["case.received/push.j2"]
    new = store.render("case.received", "push", "gumi", context("push"))
    assert new.body.startswith("새 문구: ")
    assert new.version != old.version


@pytest.mark.parametrize(
    ("broken", "why"),
    [
        ("{% block body %}{{ case.title {% endblock %}", "line 1"),
        ("{% block bdy %}x{% endblock %}", "missing block body"),
        ("{% block body %}{{ case.no_such_field }}{% endblock %}", "no_such_field"),
        ("{% block body %}요금 ₩1,000 {{ case.id }}{% endblock %}", "₩"),
        ("{% block body %}" + "가" * 1001 + "{% endblock %}", "2002 bytes"),
        (b"\xff\xfe{% block body %}x{% endblock %}", "UTF-8"),
        ("{% block body %}{% for a in range(100000) %}{% for b in range(100000) %}"
         "{% endfor %}{% endfor %}x{% endblock %}", "over the template budget"),
    ],
)
def test_a_broken_edit_keeps_the_last_good_version_and_raises_the_metric(
    store: TemplateStore, folder: Path, broken: str | bytes, why: str
) -> None:
    path = folder / "case.received" / "sms.j2"
    label = "case.received/sms.j2"
    good = store.render("case.received", "sms", "gumi", context())
    failures = metric("minwon_template_reload_failures_total", label)
    # When an editor saves a broken version
    if isinstance(broken, bytes):
        path.write_bytes(broken)
        os.utime(path, ns=(time.time_ns() + 5_000_000,) * 2)
    else:
        edit(path, broken)
    store.reload()
    # Then the last good version keeps serving, and the failure shows
    assert store.render("case.received", "sms", "gumi", context()) == good
    status = store.status()[label]
    assert status["broken"] is True and status["serving"] == good.version
    assert why in status["error"]
    assert metric("minwon_template_broken", label) == 1
    assert metric("minwon_template_reload_failures_total", label) == failures + 1
    # And a second look at the same broken file counts no new failure
    store.reload()
    assert metric("minwon_template_reload_failures_total", label) == failures + 1
    # When the editor fixes it, the fix serves and the alert clears
    edit(path, SMS.replace("민원 접수", "민원 접수 완료"))
    store.reload()
    assert "민원 접수 완료" in store.render("case.received", "sms", "gumi", context()).body
    assert metric("minwon_template_broken", label) == 0


def test_a_sample_edit_that_the_template_fails_keeps_it_serving(
    store: TemplateStore, folder: Path
) -> None:
    # Given a new sample that lacks a field the template needs
    sample = json.loads(json.dumps(EVENT))
    sample["data"]["case"]["officer"] = {"name": "김담당"}
    del sample["data"]["case"]["department"]
    write(folder / "case.received" / "samples" / "two.json", json.dumps(sample))
    store.reload()
    # Then the templates are flagged but still serve
    assert store.status()["case.received/sms.j2"]["broken"] is True
    assert store.render("case.received", "sms", "gumi", context()).kind == "SMS"


def test_a_template_broken_from_the_start_is_not_served_until_fixed(folder: Path) -> None:
    path = folder / "case.received" / "push.j2"
    edit(path, "{% block title %}{{ {% endblock %}")
    with TemplateStore(folder, ORGS, reload_interval=0) as store:
        with pytest.raises(TemplateError, match="line 1"):
            store.render("case.received", "push", "gumi", context("push"))
        # the other channels are not affected
        assert store.render("case.received", "sms", "gumi", context()).kind == "SMS"
        edit(path, PUSH)
        store.reload()
        assert store.render("case.received", "push", "gumi", context("push")).subject == "접수"


def test_the_poller_picks_up_an_edit_within_seconds(folder: Path) -> None:
    with TemplateStore(folder, ORGS, reload_interval=0.05) as store:
        edit(folder / "case.received" / "push.j2", PUSH.replace("접수", "접수 완료", 1))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if (
                store.render("case.received", "push", "gumi", context("push")).subject
                == "접수 완료"
            ):
                break
            time.sleep(0.02)
        else:
            pytest.fail("the edit was not picked up within 5 s")


def test_renders_from_many_threads_during_reloads(store: TemplateStore, folder: Path) -> None:
    errors: list[BaseException] = []
    stop = threading.Event()

    def worker() -> None:
        while not stop.is_set():
            try:
                r = store.render("case.received", "sms", "gumi", context())
                assert r.body.startswith("[구미시]")
            except BaseException as exc:  # collected for the assertion below
                errors.append(exc)
                return
            time.sleep(0.001)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(10):
        edit(folder / "case.received" / "sms.j2", SMS.replace("접수", f"접수{i}"))
        store.reload()
    stop.set()
    for t in threads:
        t.join()
    assert errors == []


def test_missing_folder_is_a_template_error(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="does not exist"):
        TemplateStore(tmp_path / "nope")


def test_from_config_reads_folder_orgs_and_extra_holidays(folder: Path) -> None:
    from hub.config import load_config

    config = load_config(
        environ={
            "MINWON__TEMPLATES__DIR": str(folder),
            "MINWON__TEMPLATES__RELOAD_INTERVAL": "0",
            "MINWON__ORGS__GUMI__NAME": "구미시",
            "MINWON__CALENDAR__EXTRA_HOLIDAYS": '["2026-11-25"]',
        }
    )
    with TemplateStore.from_config(config) as store:
        assert store.directory == folder.resolve()
        assert store.org_profile("gumi")["name"] == "구미시"
        assert not store.calendar.is_working_day(__import__("datetime").date(2026, 11, 25))
        assert store._thread is None


def test_a_runaway_template_at_start_up_is_flagged_and_parks_with_template_budget(
        folder: Path) -> None:
    # Given a template that loops forever on every notice, there before the hub starts
    edit(folder / "case.received" / "push.j2", "{% block title %}t{% endblock %}"
         "{% block body %}{% set ns = namespace(s='ab') %}{% for i in range(10 ** 9) %}"
         "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}{% endblock %}")
    # When the store starts (checking it against its samples, within the same budget)
    with TemplateStore(folder, ORGS, reload_interval=0) as store:
        # Then start-up finishes, the template is flagged broken with the budget reason
        status = store.status()["case.received/push.j2"]
        assert status["broken"] is True and "over the template budget" in status["error"]
        # And a notice rendered with it fails with the code the worker parks it under
        with pytest.raises(TemplateBudgetError) as info:
            store.render("case.received", "push", "gumi", context("push"))
        assert info.value.code == "template_budget"
        # And the other channels serve
        assert store.render("case.received", "sms", "gumi", context()).kind == "SMS"
