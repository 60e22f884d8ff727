"""The domain catalogue: each fact from its one source, and a new event type without code.

The last test copies the hub's code untouched into a temporary folder, adds the event
type ``case.reopened`` by editing only the schema, the rules, the templates and their
samples, and runs the real router and template checker there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from channels import CHANNEL_NAMES, get_channel
from hub import catalogue
from hub.rules import load_rules
from hub.templates.context import sample_recipients

ROOT = Path(__file__).resolve().parents[2]


def test_event_types_are_the_schema_enum() -> None:
    schema = json.loads((ROOT / "hub/schemas/event.schema.json").read_text("utf-8"))
    assert tuple(schema["properties"]["type"]["enum"]) == catalogue.EVENT_TYPES
    assert "case.received" in catalogue.EVENT_TYPES


def test_payload_fields_come_from_the_per_type_branches() -> None:
    assert catalogue.payload_fields("case.extended") == ("org", "case", "citizen", "extension")
    assert catalogue.payload_fields("case.flagged") == ("org", "case", "flag")
    assert catalogue.payload_fields("case.received") == ("org", "case", "citizen")


def test_recipient_roles_come_from_the_rules() -> None:
    raw = tomllib.loads((ROOT / "hub/rules.toml").read_text("utf-8"))
    roles = catalogue.recipient_roles()
    assert set(roles) == set(catalogue.EVENT_TYPES)
    for entry in raw["rules"]:
        assert entry["recipient"] in roles[entry["event"]]
    assert roles["case.assigned"] == ("citizen", "officer")
    assert roles["case.flagged"] == ("supervisors",)


def test_address_fields_come_from_the_channel_specs() -> None:
    fields = catalogue.address_fields()
    assert tuple(fields) == CHANNEL_NAMES
    for name, field in fields.items():
        assert field == get_channel(name).address_field


def test_channels_an_upstream_may_list_include_every_channel_the_hub_has() -> None:
    schema = catalogue.event_schema()
    listed = schema["definitions"]["citizen"]["properties"]["channels"]["items"]["enum"]
    assert set(CHANNEL_NAMES) <= set(listed)


def test_people_follow_the_rules_paths_and_other_rules_change_them() -> None:
    event = {"type": "case.flagged", "data": {
        "case": {"officer": {"name": "김담당"}},
        "flag": {"supervisors": [{"name": "박과장", "email": "p@x.kr"}, {"name": "최팀장"}]},
    }}
    assert [(r["role"], r["name"]) for r in sample_recipients(event, "email")] == [
        ("supervisors", "박과장")]
    assert list(catalogue.people(event["data"], "supervisors", "flag.supervisors")) == [
        ("supervisors:0", {"name": "박과장", "email": "p@x.kr"}),
        ("supervisors:1", {"name": "최팀장"})]
    from hub.rules import parse_rules

    other = parse_rules({"recipients": {"officer": "case.officer"}, "rules": [
        {"event": "case.flagged", "recipient": "officer", "channels": ["email"]}]})
    assert [r["role"] for r in sample_recipients(event, "email", other)] == ["officer"]


def test_a_rules_file_with_a_bad_recipient_path_is_refused() -> None:
    from hub.rules import RulesError, parse_rules

    with pytest.raises(RulesError, match=r"\[recipients\] officer must be a dotted path"):
        parse_rules({"recipients": {"officer": "case..officer"}, "rules": []})


def test_a_rules_file_naming_an_unknown_type_lists_the_schema_types() -> None:
    from hub.rules import RulesError, parse_rules

    with pytest.raises(RulesError, match=r"unknown event type 'case\.reopened'.*case\.received"):
        parse_rules({"recipients": {"citizen": "citizen"}, "rules": [
            {"event": "case.reopened", "recipient": "citizen", "channels": ["sms"]}]})
    assert load_rules().for_event("case.received")


# -- a new event type: schema, rules, templates, samples; nothing else -----------------------

NEW_TYPE = "case.reopened"

REOPENED_SCHEMA_BRANCH = {
    "if": {"properties": {"type": {"const": NEW_TYPE}}},
    "then": {"properties": {"data": {"required": ["reopen"], "properties": {"reopen": {
        "type": "object", "required": ["reason"],
        "properties": {"reason": {"type": "string", "minLength": 1}}}}}}},
}

REOPENED_RULES = f"""
[[rules]]
event = "{NEW_TYPE}"
recipient = "citizen"
channels = ["sms", "email", "push"]

[[rules]]
event = "{NEW_TYPE}"
recipient = "officer"
channels = ["email"]
"""

CONTACT = "담당: {{ case.department }} {{ case.officer.name }} {{ org.callcenter|phone }}"
TEMPLATES = {  # what 시행령 §31 asks of every notice: the unit, the official, a contact
    "sms.j2": "{% block body %}[{{ org.name }}] 민원({{ case.id }})이 다시 열렸습니다. "
              "사유: {{ reopen.reason }} " + CONTACT + "{% endblock %}",
    "email.j2": "{% block subject %}민원 재개 ({{ case.id }}){% endblock %}"
                "{% block text %}{{ recipient.name }}님, 사유: {{ reopen.reason }} "
                + CONTACT + "{% endblock %}",
    "push.j2": "{% block title %}민원 재개{% endblock %}"
               "{% block body %}{{ reopen.reason }}{% endblock %}",
}

ROUTE = f"""
import json, sys
from hub.catalogue import address_fields, payload_fields, recipient_roles
from hub.events import EventRejected
from hub.router import Router
from hub.rules import load_rules

body = open(sys.argv[1], "rb").read()
router = Router(load_rules(), address_fields(), max_event_bytes=1 << 20)
keys = sorted((p.routing_key, json.loads(p.body)["recipient"]["role"])
              for p in router.route(body))
event = json.loads(body)
del event["data"]["reopen"]
try:
    router.route(json.dumps(event).encode())
    rejected = None
except EventRejected as exc:
    rejected = exc.reason
print(json.dumps({{"keys": keys, "rejected": rejected,
                  "payload": payload_fields("{NEW_TYPE}"),
                  "roles": recipient_roles()["{NEW_TYPE}"]}}))
"""


def _copy_hub(dest: Path) -> None:
    for name in ("hub", "channels"):
        shutil.copytree(ROOT / name, dest / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copytree(ROOT / "templates", dest / "templates")
    # the light client reads the schema through its link to hub/schemas: keep the link
    shutil.copytree(ROOT / "clients" / "python", dest / "clients" / "python", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))


def test_a_new_event_type_needs_only_schema_rules_templates_and_samples(tmp_path: Path) -> None:
    _copy_hub(tmp_path)
    before = {p.relative_to(tmp_path): p.read_bytes()
              for p in tmp_path.rglob("*") if p.is_file() and not p.is_symlink()}
    # 1. the schema: the type in the enum, and a branch for its payload
    schema_path = tmp_path / "hub/schemas/event.schema.json"
    schema = json.loads(schema_path.read_text("utf-8"))
    schema["properties"]["type"]["enum"].append(NEW_TYPE)
    schema["allOf"][0]["if"]["properties"]["type"]["enum"].append(NEW_TYPE)  # needs a citizen
    schema["allOf"].append(REOPENED_SCHEMA_BRANCH)
    schema_path.write_text(json.dumps(schema, ensure_ascii=False, indent=2), "utf-8")
    # 2. the rules
    rules_path = tmp_path / "hub/rules.toml"
    rules_path.write_text(rules_path.read_text("utf-8") + REOPENED_RULES, "utf-8")
    # 3. templates and a sample
    folder = tmp_path / "templates" / NEW_TYPE
    (folder / "samples").mkdir(parents=True)
    for name, text in TEMPLATES.items():
        (folder / name).write_text(text, "utf-8")
    sample = json.loads((ROOT / "templates/case.extended/samples/full.json").read_text("utf-8"))
    sample["type"], sample["id"] = NEW_TYPE, "sample-reopened"
    del sample["data"]["extension"]
    sample["data"]["reopen"] = {"reason": "보완 서류가 접수되었습니다."}
    sample_path = folder / "samples/full.json"
    sample_path.write_text(json.dumps(sample, ensure_ascii=False), "utf-8")

    changed = {p.relative_to(tmp_path) for p in tmp_path.rglob("*")
               if p.is_file() and not p.is_symlink()
               and before.get(p.relative_to(tmp_path)) != p.read_bytes()}
    assert {p.parts[0] if p.parts[0] == "templates" else str(p) for p in changed} == {
        "templates", "hub/schemas/event.schema.json", "hub/rules.toml"}

    env = {**os.environ, "MINWON_CONFIG": "",
           "PYTHONPATH": os.pathsep.join([str(tmp_path), str(tmp_path / "clients/python")])}
    env.pop("PYTHONSAFEPATH", None)
    routed = subprocess.run([sys.executable, "-c", ROUTE, str(sample_path)], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=120)
    assert routed.returncode == 0, routed.stderr
    result = json.loads(routed.stdout)
    assert result["keys"] == [["email", "citizen"], ["email", "officer"], ["push", "citizen"],
                              ["sms", "citizen"]]
    assert result["rejected"] == "structured mode: data: must contain ['reopen'] properties"
    assert result["payload"] == ["org", "case", "citizen", "reopen"]
    assert result["roles"] == ["citizen", "officer"]

    check = subprocess.run(
        [sys.executable, "-m", "hub.cli", "templates", "check", "--dir",
         str(tmp_path / "templates")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"{NEW_TYPE}/sms.j2" in check.stdout

    preview = subprocess.run(
        [sys.executable, "-m", "hub.cli", "templates", "preview", NEW_TYPE, "email", "--dir",
         str(tmp_path / "templates")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert preview.returncode == 0, preview.stderr
    assert "to:       citizen 홍길동" in preview.stdout
    assert "to:       officer 김담당" in preview.stdout
    assert "사유: 보완 서류가 접수되었습니다." in preview.stdout
