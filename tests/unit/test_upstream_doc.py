"""docs/upstream.md shows the example files as they are (the Python and Node.js ones run
against a real RabbitMQ in tests/integration), and the Java example uses the Spring AMQP
calls the contract needs and parses with javac. It is compiled when Spring AMQP's jars
are at hand (Maven Central is not reachable here: set MINWON_SPRING_AMQP_CLASSPATH)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "upstream.md").read_text("utf-8")
JAVA = ROOT / "clients" / "java" / "CaseEventPublisher.java"


@pytest.mark.parametrize(("path", "lang"), [
    ("clients/python/examples/publish.py", "python"),
    ("clients/java/CaseEventPublisher.java", "java"),
    ("clients/node/publish.mjs", "javascript"),
])
def test_the_guide_shows_each_example_file_verbatim(path: str, lang: str) -> None:
    text = (ROOT / path).read_text("utf-8")
    assert f"```{lang}\n{text}```" in DOC, f"docs/upstream.md is out of step with {path}"


def test_the_java_example_publishes_as_the_contract_asks() -> None:
    java = JAVA.read_text("utf-8")
    for needed in [
        "ConfirmType.CORRELATED",  # publisher confirms, per message
        "setPublisherReturns(true)", "setMandatory(true)",  # unroutable comes back
        "correlation.getFuture().get(", "confirm.isAck()", "correlation.getReturned()",
        "MessageDeliveryMode.PERSISTENT",
        '"minwon.events"',
        '.setContentType("application/json")', '.setContentType("application/cloudevents+json")',
        '"ce-specversion", "1.0"', '"ce-id", id', '"ce-source"', '"ce-type"',
        "template.send(EXCHANGE, routingKey, message, correlation)",
        ".setMessageId(id)",
    ]:
        assert needed in java, needed
    # balanced braces and parentheses, one public class named as its file
    code = re.sub(r'"(?:[^"\\]|\\.)*"', '""', re.sub(r"//[^\n]*", "", java))
    assert code.count("{") == code.count("}") and code.count("(") == code.count(")")
    assert re.findall(r"public (?:final )?class (\w+)", code) == [JAVA.stem]


@pytest.mark.skipif(shutil.which("javac") is None, reason="javac is needed")
def test_the_java_example_parses_with_javac(tmp_path: Path) -> None:
    # javac's own parser, stopping before it would look for Spring's classes
    stop = ["-XDshould-stop.ifError=PARSE", "-XDshould-stop.ifNoError=PARSE"]
    done = subprocess.run(["javac", *stop, "-d", str(tmp_path), str(JAVA)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    broken = tmp_path / JAVA.name
    broken.write_text(JAVA.read_text("utf-8").replace("String id,", "String id,,", 1), "utf-8")
    done = subprocess.run(["javac", *stop, "-d", str(tmp_path), str(broken)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "illegal start of type" in done.stderr


def _spring_classpath() -> str | None:
    given = os.environ.get("MINWON_SPRING_AMQP_CLASSPATH")
    if given:
        return given
    m2 = Path.home() / ".m2" / "repository"
    jars = [*m2.glob("org/springframework/amqp/spring-rabbit/*/*.jar"),
            *m2.glob("org/springframework/amqp/spring-amqp/*/*.jar")]
    return os.pathsep.join(map(str, jars)) if len(jars) >= 2 else None


@pytest.mark.skipif(shutil.which("javac") is None or _spring_classpath() is None,
                    reason="javac and Spring AMQP's jars are needed to compile the example")
def test_the_java_example_compiles(tmp_path: Path) -> None:
    done = subprocess.run(["javac", "-d", str(tmp_path), "-cp", str(_spring_classpath()),
                           str(JAVA)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
