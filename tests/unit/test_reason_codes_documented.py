"""Every reason code the hub can write on a rejected event or a parked notice is explained
where an operator looks: the "Reason codes" section of docs/operations.md.

The codes are read from the code that writes them (not from a list kept beside it), so a
new code without its line in the runbook fails here."""

from __future__ import annotations

import re
from pathlib import Path

from hub.templates import errors

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = ROOT / "docs" / "operations.md"


def _source(path: str) -> str:
    return (ROOT / path).read_text(encoding="utf-8")


def rejection_codes() -> set[str]:
    """Codes of `hub.rejected`: every `EventRejected("code", …)` the router's modules raise,
    and the contract check's `InvalidEvent("code", …)` (the router passes its code on)."""
    codes: set[str] = set()
    for path in ("hub/events.py", "hub/binding.py", "hub/router.py",
                 "clients/python/minwon_client/schema.py"):
        codes |= set(re.findall(r'(?:EventRejected|InvalidEvent)\(\s*"([a-z0-9_]+)"',
                                _source(path)))
    return codes


def parking_codes() -> set[str]:
    """Codes of `hub.dead`: the template errors' `code`, and the literal codes the worker
    parks with (`_dead(d, "code", …)`, `Outcome(DEAD, …, code="code")`, the parking of a
    delivery it could not read: `…, headers, "code", f"…"`)."""
    codes = {cls.code for cls in _subclasses(errors.TemplateError)} | {errors.TemplateError.code}
    worker = _source("hub/worker.py")
    codes |= set(re.findall(r'_dead\(d, "([a-z0-9_]+)"', worker))
    codes |= set(re.findall(r'Outcome\(DEAD\b[^)]*?code="([a-z0-9_]+)"', worker, re.S))
    codes |= set(re.findall(r'headers, "([a-z0-9_]+)", f"', worker))
    return codes


def _subclasses(cls: type) -> set[type]:
    found: set[type] = set()
    for sub in cls.__subclasses__():
        found |= {sub} | _subclasses(sub)
    return found


def runbook_section() -> str:
    text = RUNBOOK.read_text(encoding="utf-8")
    match = re.search(r"^## Reason codes\n(.*?)(?=^## )", text, re.M | re.S)
    assert match, "docs/operations.md has no '## Reason codes' section"
    return match.group(1)


def test_the_scan_finds_the_codes_it_is_meant_to_find() -> None:
    # Given the code as it is, Then the scan sees codes of every kind (a scan that finds
    # nothing would make the test below pass vacuously)
    assert {"too_large", "not_utf8", "bad_json", "too_deep", "bad_number", "bad_text",
            "not_an_object", "unknown_type", "invalid", "internal"} <= rejection_codes()
    assert {"permanent", "credentials", "attempts_exhausted", "template_error",
            "template_budget", "org_not_configured", "missing_fact", "malformed_job",
            "internal", "redelivered_dead"} <= parking_codes()


def test_every_reason_code_has_its_line_in_the_runbook() -> None:
    section = runbook_section()
    documented = set(re.findall(r"`([a-z0-9_]+)`", section))
    missing = (rejection_codes() | parking_codes()) - documented
    assert not missing, f"docs/operations.md, Reason codes, does not explain {sorted(missing)}"


def test_every_rejection_code_is_explained_under_its_alert() -> None:
    # the MinwonEventsRejected table says what was wrong for each code
    text = RUNBOOK.read_text(encoding="utf-8")
    section = text.split("### MinwonEventsRejected", 1)[1].split("\n### ", 1)[0]
    rows = set(re.findall(r"^\| `([a-z0-9_]+)` \|", section, re.M))
    assert rejection_codes() <= rows, sorted(rejection_codes() - rows)


def test_every_parking_code_is_explained_under_its_alert() -> None:
    text = RUNBOOK.read_text(encoding="utf-8")
    section = text.split("### MinwonParkingLotGrowing", 1)[1].split("\n### ", 1)[0]
    items = set(re.findall(r"^\s+- `([a-z0-9_]+)`", section, re.M))
    assert parking_codes() <= items, sorted(parking_codes() - items)
