"""Configuration: defaults, a TOML file, and MINWON__SECTION__KEY overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hub.config import (
    DEFAULTS,
    PROVIDER_SETTINGS,
    Config,
    ConfigError,
    Settings,
    deep_merge,
    env_overrides,
    load_config,
)
from hub.ledger import ledger_from_config
from hub.templates.errors import OrgNotConfigured

FILE = """
[broker]
url = "amqp://guest:guest@rabbit:5672/minwon"
prefetch = 64

[retry]
tiers = ["5s", "30s"]

[orgs.gumi]
name = "구미시"
callcenter = "054-480-2114"
"""


@pytest.fixture
def toml_file(tmp_path: Path) -> Path:
    path = tmp_path / "minwon.toml"
    path.write_text(FILE, "utf-8")
    return path


@pytest.fixture
def no_local_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in an empty folder, so ./minwon.toml is absent."""
    folder = tmp_path / "empty"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


def test_without_file_or_environment_the_defaults_apply(no_local_file: Path) -> None:
    config = load_config(environ={})
    assert config.data == DEFAULTS
    assert config.source is None
    assert config.broker_url == ""
    assert config["retry"]["tiers"] == ["10s", "1m", "10m", "1h"]


def test_the_defaults_are_not_changed_by_a_load(toml_file: Path) -> None:
    before = deep_merge(DEFAULTS, {})
    config = load_config(toml_file, environ={"MINWON__BROKER__PREFETCH": "1"})
    config.data["broker"]["prefetch"] = 2
    assert before == DEFAULTS


def test_the_file_is_merged_over_the_defaults(toml_file: Path) -> None:
    # When a file sets some keys of some sections
    config = load_config(toml_file, environ={})
    # Then those keys change, and every other key of the same section keeps its default
    assert config.source == toml_file
    assert config["broker"] == {
        **DEFAULTS["broker"],
        "url": "amqp://guest:guest@rabbit:5672/minwon",
        "prefetch": 64,
    }
    assert config["broker"]["heartbeat"] == 30
    assert config["retry"]["tiers"] == ["5s", "30s"]
    assert config["retry"]["max_attempts"] == 6
    assert config["channels"] == DEFAULTS["channels"]
    assert config.org("gumi")["name"] == "구미시"


@pytest.mark.parametrize(
    ("name", "raw", "path", "value"),
    [
        ("MINWON__BROKER__PREFETCH", "8", ("broker", "prefetch"), 8),
        ("MINWON__RETRY__QUICK_WAIT", "0.05", ("retry", "quick_wait"), 0.05),
        ("MINWON__RETRY__TIERS", '["1s", "2s"]', ("retry", "tiers"), ["1s", "2s"]),
        ("MINWON__LEDGER__STORE_RAW_ADDRESS", "true", ("ledger", "store_raw_address"), True),
        ("MINWON__BROKER__URL", "amqp://u:p@h:5672/v", ("broker", "url"), "amqp://u:p@h:5672/v"),
        ("MINWON__TEMPLATES__DIR", "/srv/templates", ("templates", "dir"), "/srv/templates"),
        ("MINWON__POLICY__QUIET_HOURS", "", ("policy", "quiet_hours"), ""),
        ("MINWON__ORGS__GUMI__SMS_SENDER", "0544802114", ("orgs", "gumi", "sms_sender"),
         "0544802114"),
        ("MINWON__PROVIDERS__OUTBOX__DIR", "/tmp/out", ("providers", "outbox", "dir"), "/tmp/out"),
        ("MINWON__PROVIDERS__NHN__APP_KEY", "k-123", ("providers", "nhn", "app_key"), "k-123"),
        ("MINWON__CHANNELS__SMS__PROVIDERS", '["nhn", "outbox"]',
         ("channels", "sms", "providers"), ["nhn", "outbox"]),
        ("minwon__broker__prefetch", "8", ("broker", "prefetch"), 256),  # prefix is case-sensitive
    ],
)
def test_environment_overrides_are_typed_and_nested(
    no_local_file: Path, name: str, raw: str, path: tuple[str, ...], value: Any
) -> None:
    # When one variable is set
    config = load_config(environ={name: raw})
    # Then the key it names has the value, read as TOML when it parses as TOML
    assert config.get(*path) == value
    assert type(config.get(*path)) is type(value)


def test_an_environment_override_keeps_the_rest_of_its_section(toml_file: Path) -> None:
    config = load_config(toml_file, environ={"MINWON__BROKER__PREFETCH": "8",
                                             "MINWON__PROVIDERS__NHN__APP_KEY": "k"})
    assert config["broker"]["url"] == "amqp://guest:guest@rabbit:5672/minwon"  # from the file
    assert config["broker"]["prefetch"] == 8  # environment over file
    assert config["broker"]["heartbeat"] == 30  # default
    assert config["providers"] == {
        "outbox": {"dir": "outbox", "simulated_recipients": True},
        "nhn": {"app_key": "k", "simulated_recipients": True},
    }


def test_minwon_config_names_the_file(toml_file: Path, no_local_file: Path) -> None:
    config = load_config(environ={"MINWON_CONFIG": str(toml_file)})
    assert config.source == toml_file
    assert config["broker"]["prefetch"] == 64


def test_an_explicit_path_wins_over_minwon_config(toml_file: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.toml"
    other.write_text("[broker]\nprefetch = 3\n", "utf-8")
    config = load_config(other, environ={"MINWON_CONFIG": str(toml_file)})
    assert config["broker"]["prefetch"] == 3


def test_a_minwon_toml_in_the_working_folder_is_read(no_local_file: Path) -> None:
    (no_local_file / "minwon.toml").write_text("[worker]\nconcurrency = 7\n", "utf-8")
    config = load_config(environ={})
    assert config["worker"]["concurrency"] == 7
    assert config.source == Path("minwon.toml")


@pytest.mark.parametrize("how", ["path", "env"])
def test_a_missing_file_is_an_error(no_local_file: Path, how: str) -> None:
    missing = no_local_file / "nope.toml"
    with pytest.raises(FileNotFoundError, match=r"nope\.toml does not exist"):
        if how == "path":
            load_config(missing, environ={})
        else:
            load_config(environ={"MINWON_CONFIG": str(missing)})


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, {}),
        ({"PATH": "/bin", "MINWON_CONFIG": "x.toml"}, {}),
        ({"MINWON__": "1"}, {}),
        ({"MINWON__A__B__C": "1"}, {"a": {"b": {"c": 1}}}),
        ({"MINWON__A____B": "x"}, {"a": {"b": "x"}}),
        ({"MINWON__A__B": "1", "MINWON__A__C": "two"}, {"a": {"b": 1, "c": "two"}}),
        ({"MINWON__ORGS__GUMI": "{name = '구미시'}"}, {"orgs": {"gumi": {"name": "구미시"}}}),
    ],
)
def test_env_overrides_builds_the_tree(environ: dict[str, str], expected: Any) -> None:
    assert env_overrides(environ) == expected


def test_a_name_that_is_both_a_value_and_a_table_is_refused() -> None:
    with pytest.raises(ValueError, match="'a' is both a value and a table"):
        env_overrides({"MINWON__A": "1", "MINWON__A__B": "2"})


def test_the_conflict_is_refused_whatever_the_order() -> None:
    with pytest.raises(ValueError, match="both a value and a table"):
        env_overrides({"MINWON__A__B": "2", "MINWON__A": "1"})


@pytest.mark.parametrize(
    ("base", "extra", "expected"),
    [
        ({"a": {"b": 1, "c": 2}}, {"a": {"b": 3}}, {"a": {"b": 3, "c": 2}}),
        ({"a": {"b": {"c": 1, "d": 2}}}, {"a": {"b": {"d": 5}}}, {"a": {"b": {"c": 1, "d": 5}}}),
        ({"a": [1, 2]}, {"a": [3]}, {"a": [3]}),  # lists replace
        ({"a": 1}, {"a": {"b": 2}}, {"a": {"b": 2}}),
        ({"a": {"b": 1}}, {"a": "flat"}, {"a": "flat"}),
        ({}, {"new": {"x": 1}}, {"new": {"x": 1}}),
    ],
)
def test_deep_merge(base: dict[str, Any], extra: dict[str, Any], expected: Any) -> None:
    snapshot = deep_merge(base, {})
    assert deep_merge(base, extra) == expected
    assert base == snapshot  # the base is copied, never changed


def test_with_overrides_returns_a_new_config() -> None:
    config = Config(DEFAULTS)
    changed = config.with_overrides({"broker": {"url": "memory://"}})
    assert changed.broker_url == "memory://"
    assert changed["broker"]["prefetch"] == 256
    assert config.broker_url == ""


@pytest.mark.parametrize(
    ("path", "default", "expected"),
    [
        (("broker", "prefetch"), None, 256),
        (("broker", "nope"), "d", "d"),
        (("broker", "prefetch", "deeper"), "d", "d"),
        (("providers", "outbox", "dir"), None, "outbox"),
        (("nope",), None, None),
    ],
)
def test_get_walks_a_path(path: tuple[str, ...], default: Any, expected: Any) -> None:
    assert Config(DEFAULTS).get(*path, default=default) == expected


@pytest.mark.parametrize(
    ("orgs", "key", "expected"),
    [
        ({"gumi": {"name": "구미시", "callcenter": "054-480-2114"}}, "gumi",
         {"key": "gumi", "name": "구미시", "callcenter": "054-480-2114", "url": ""}),
        ({"gumi": {"url": "https://gumi.go.kr", "sms_sender": "0544802114"}}, "gumi",
         {"key": "gumi", "url": "https://gumi.go.kr", "sms_sender": "0544802114"}),
    ],
)
def test_an_org_profile_is_what_is_configured_and_nothing_more(
    orgs: dict[str, Any], key: str, expected: dict[str, Any]
) -> None:
    config = Config(deep_merge(DEFAULTS, {"orgs": orgs}))
    profile = config.org(key)
    assert profile == expected  # no name, no call centre made up
    profile["name"] = "changed"
    assert config.org(key).get("name") == expected.get("name")  # a copy


@pytest.mark.parametrize("orgs", [{}, {"gumi": {"name": "구미시"}}])
def test_an_org_that_is_not_configured_is_refused_with_its_reason(
    orgs: dict[str, Any],
) -> None:
    config = Config(deep_merge(DEFAULTS, {"orgs": orgs}))
    with pytest.raises(OrgNotConfigured) as info:
        config.org("pohang")
    assert info.value.code == "org_not_configured"
    assert "[orgs.pohang]" in info.value.reason


def test_a_numeric_hash_key_from_the_environment_is_used_as_text(no_local_file: Path) -> None:
    # Given a secret of digits in the environment
    config = load_config(environ={"MINWON__LEDGER__URL": "memory://",
                                  "MINWON__LEDGER__HASH_KEY": "20261124"})
    # When the ledger is opened
    ledger = ledger_from_config(config)
    # Then its key is those digits, not 20 million zero bytes
    assert ledger.hash_key == b"20261124"


# -- the schema: mistakes are refused, one line each, naming the key and its origin -------
def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "minwon.toml"
    path.write_text(text, "utf-8")
    return path


def problems(path: Path | None, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, environ=environ or {})
    return info.value.problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[brokr]\nurl = 'x'\n", "unknown section brokr ({path}): did you mean 'broker'?"),
        ("[channels.sms]\nprovders = ['nhn']\n",
         "unknown key channels.sms.provders ({path}): did you mean 'providers'?"),
        ("[broker]\nprefech = 3\n",
         "unknown key broker.prefech ({path}): did you mean 'prefetch'?"),
        ("[channels.smss]\nproviders = ['outbox']\n",
         "unknown channel channels.smss ({path}): did you mean 'sms'?"),
        ("[providers.nhn]\napp_kye = 'k'\n",
         "unknown key providers.nhn.app_kye ({path}): did you mean 'app_key'?"),
        ("[providers.backup]\ntype = 'nhm'\n",
         "providers.backup.type ({path}): no provider type 'nhm' (did you mean 'nhn'?)"),
        ("[orgs.gumi]\nsms_sendr = '0544802114'\n",
         "unknown key orgs.gumi.sms_sendr ({path}): did you mean 'sms_sender'?"),
    ],
)
def test_an_unknown_name_is_refused_with_the_nearest_known_one(
    no_local_file: Path, text: str, expected: str
) -> None:
    path = write(no_local_file, text)
    (line,) = problems(path)
    assert line.startswith(expected.format(path=path))


def test_a_chain_naming_an_unknown_provider_is_refused(no_local_file: Path) -> None:
    path = write(no_local_file, "[channels.sms]\nproviders = ['nhm']\n")
    (line,) = problems(path)
    assert line.startswith(f"channels.sms.providers ({path}): sms has no provider 'nhm' "
                           "(did you mean 'nhn'?)")


def test_a_provider_of_another_channel_is_refused(no_local_file: Path) -> None:
    (line,) = problems(write(no_local_file, "[channels.sms]\nproviders = ['ses']\n"))
    assert "sms has no provider 'ses'" in line


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"MINWON__WORKER__CONCURRENCY": "abc"},
         "worker.concurrency = 'abc' (MINWON__WORKER__CONCURRENCY): Input should be a valid "
         "integer"),
        ({"MINWON__BROKER__PREFETCH": "0"},
         "broker.prefetch = 0 (MINWON__BROKER__PREFETCH): Input should be greater than or "
         "equal to 1"),
        ({"MINWON__PROVIDERS__SMTP__SECURITY": "plain"},
         "providers.smtp.security = 'plain' (MINWON__PROVIDERS__SMTP__SECURITY): plain SMTP "
         "(no TLS) is written 'none'"),
        ({"MINWON__RETRY__TIERS": '["10s", "soon"]'},
         "retry.tiers.1 = 'soon' (MINWON__RETRY__TIERS): not a duration"),
        ({"MINWON__POLICY__TIMEZONE": "Seoul"},
         "policy.timezone = 'Seoul' (MINWON__POLICY__TIMEZONE): unknown time zone"),
        ({"MINWON__BROKER__URL": "amqp://h:5672/a/b"},
         "broker.url = 'amqp://h:5672/a/b' (MINWON__BROKER__URL): amqp://h:5672/a/b: the "
         "vhost 'a/b' holds an unencoded '/'"),
        ({"MINWON__LEDGER__URL": "mysql://x"},
         "ledger.url = 'mysql://x' (MINWON__LEDGER__URL): not a ledger URL"),
        ({"MINWON__HUB__ENVIRONMENT": "prod"},
         "hub.environment = 'prod' (MINWON__HUB__ENVIRONMENT): Input should be 'development' "
         "or 'production'"),
        ({"MINWON__LEDGER__HASH_KEY": "1.5"},
         "ledger.hash_key = '***' (MINWON__LEDGER__HASH_KEY): must be text, not float"),
    ],
)
def test_a_wrong_type_names_key_value_and_variable(
    no_local_file: Path, environ: dict[str, str], expected: str
) -> None:
    (line,) = problems(None, environ)
    assert line.startswith(expected)


def test_a_wrong_type_in_the_file_names_the_file(no_local_file: Path) -> None:
    path = write(no_local_file, "[worker]\nconcurrency = 'many'\n")
    (line,) = problems(path)
    assert line.startswith(f"worker.concurrency = 'many' ({path}): ")


def test_a_huge_value_is_cut_in_the_message(no_local_file: Path) -> None:
    (line,) = problems(None, {"MINWON__WORKER__CONCURRENCY": "x" * 5000})
    assert len(line) < 300


@pytest.mark.parametrize(
    ("text", "variable"),
    [
        ("[ledger]\nhash_key = 'k'\n", "MINWON__LEDGER__HASH_KEY"),
        ("[providers.nhn]\napp_key = 'a'\nsecret_key = 's'\n",
         "MINWON__PROVIDERS__NHN__SECRET_KEY"),
        ("[providers.smtp]\npassword = 'p'\n", "MINWON__PROVIDERS__SMTP__PASSWORD"),
        ("[providers.ses]\naws_secret_access_key = 'x'\n",
         "MINWON__PROVIDERS__SES__AWS_SECRET_ACCESS_KEY"),
    ],
)
def test_a_secret_in_the_file_is_refused_naming_the_variable(
    no_local_file: Path, text: str, variable: str
) -> None:
    path = write(no_local_file, text)
    (line,) = problems(path)
    assert f"must not be written in {path}: remove it and set {variable}" in line
    assert "'p'" not in line and "'s'" not in line  # the secret itself is never echoed


def test_the_same_secret_from_the_environment_is_taken(no_local_file: Path) -> None:
    config = load_config(environ={"MINWON__PROVIDERS__NHN__SECRET_KEY": "s3cret"})
    assert config.get("providers", "nhn", "secret_key") == "s3cret"
    assert config.masked()["providers"]["nhn"]["secret_key"] == "***"


PRODUCTION_OK = {
    "MINWON__HUB__ENVIRONMENT": "production",
    "MINWON__LEDGER__HASH_KEY": "a-long-random-production-key",
    "MINWON__CHANNELS__SMS__PROVIDERS": '["nhn"]',
    "MINWON__CHANNELS__EMAIL__PROVIDERS": '["smtp"]',
    "MINWON__CHANNELS__PUSH__PROVIDERS": '["sns"]',
    "MINWON__PROVIDERS__NHN__APP_KEY": "app",
    "MINWON__PROVIDERS__NHN__SECRET_KEY": "secret",
}


def test_a_production_configuration_with_real_chains_loads(no_local_file: Path) -> None:
    config = load_config(environ=PRODUCTION_OK)
    assert config.production
    # simulated recipients are off in production unless set (and then refused)
    assert config.get("providers", "nhn", "simulated_recipients") is False


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"MINWON__CHANNELS__EMAIL__PROVIDERS": '["smtp", "outbox"]'},
         "channels.email.providers (MINWON__CHANNELS__EMAIL__PROVIDERS): the 'outbox' "
         "provider never reaches a citizen and is refused in production"),
        ({"MINWON__PROVIDERS__NHN__SIMULATED_RECIPIENTS": "true"},
         "providers.nhn.simulated_recipients = true "
         "(MINWON__PROVIDERS__NHN__SIMULATED_RECIPIENTS): simulated recipients are refused"),
        ({"MINWON__LEDGER__HASH_KEY": ""},
         "ledger.hash_key is not set (MINWON__LEDGER__HASH_KEY): production refuses the "
         "development key"),
        ({"MINWON__LEDGER__HASH_KEY": "short"}, "ledger.hash_key (MINWON__LEDGER__HASH_KEY) "
         "is the development key or shorter than 16 characters"),
        ({"MINWON__PROVIDERS__NHN__SECRET_KEY": ""},
         "providers.nhn.secret_key is required by the sms chain "
         "(MINWON__CHANNELS__SMS__PROVIDERS): set MINWON__PROVIDERS__NHN__SECRET_KEY"),
        ({"MINWON__LEDGER__URL": "memory://"}, "ledger.url (MINWON__LEDGER__URL): a ledger "
         "that keeps nothing durable is refused in production"),
    ],
)
def test_production_refuses_what_never_reaches_a_citizen(
    no_local_file: Path, change: dict[str, str], expected: str
) -> None:
    (line,) = problems(None, {**PRODUCTION_OK, **change})
    assert line.startswith(expected)


def test_the_development_hash_key_is_refused_in_production(no_local_file: Path) -> None:
    from hub.ledger.privacy import DEV_HASH_KEY

    (line,) = problems(None, {**PRODUCTION_OK,
                              "MINWON__LEDGER__HASH_KEY": DEV_HASH_KEY.decode()})
    assert "is the development key" in line


def test_production_refuses_a_password_in_the_file(no_local_file: Path) -> None:
    path = write(no_local_file, "[broker]\nurl = 'amqp://minwon:pw@rabbit:5672/minwon'\n")
    (line,) = problems(path, PRODUCTION_OK)
    assert line == (f"broker.url carries a password in {path}: production takes it from the "
                    "environment (MINWON__BROKER__URL)")


def test_every_problem_is_listed(no_local_file: Path) -> None:
    found = problems(None, {"MINWON__HUB__ENVIRONMENT": "production"})
    assert len(found) == 4  # three outbox chains and the hash key
    with pytest.raises(ConfigError, match=r"\(and 3 more: run `minwon-hub config check`\)"):
        load_config(environ={"MINWON__HUB__ENVIRONMENT": "production"})


def test_every_provider_of_every_channel_has_a_settings_schema() -> None:
    from channels import CHANNEL_NAMES, get_channel

    for name in CHANNEL_NAMES:
        assert set(get_channel(name).providers) <= set(PROVIDER_SETTINGS), name


def test_every_key_has_a_description() -> None:
    from pydantic import BaseModel

    models: list[type[BaseModel]] = [Settings, *PROVIDER_SETTINGS.values()]
    for model in models:
        for field_name, info in model.model_fields.items():
            annotation = info.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                models.append(annotation)
            elif model is not Settings:
                assert info.description, f"{model.__name__}.{field_name}"


def test_masked_hides_secrets_and_url_passwords(no_local_file: Path) -> None:
    config = load_config(environ={"MINWON__BROKER__URL": "amqp://hub:pw1@a/%2F;amqp://hub:pw2@b",
                                  "MINWON__LEDGER__HASH_KEY": "k" * 20,
                                  "MINWON__PROVIDERS__SMTP__PASSWORD": "pw3"})
    text = repr(config.masked())
    assert not any(secret in text for secret in ("pw1", "pw2", "pw3", "k" * 20))
    assert "amqp://hub:***@a/%2F;amqp://hub:***@b" in text


def test_production_refuses_a_placeholder_left_in_place(no_local_file: Path) -> None:
    (line,) = problems(None, {**PRODUCTION_OK,
                              "MINWON__PROVIDERS__NHN__SECRET_KEY": "CHANGE-ME"})
    assert line == ("providers.nhn.secret_key (MINWON__PROVIDERS__NHN__SECRET_KEY) still "
                    "holds the placeholder CHANGE-ME: set the real value")


def test_relative_folders_in_the_file_are_relative_to_the_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given minwon.example.toml copied to a folder of its own, and a shell somewhere else
    conf = tmp_path / "etc" / "minwon"
    conf.mkdir(parents=True)
    example = Path(__file__).resolve().parents[2] / "minwon.example.toml"
    (conf / "minwon.toml").write_text(
        example.read_text("utf-8") + '\n[router]\nrules = "rules/custom.toml"\n', "utf-8")
    elsewhere = tmp_path / "home"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    # When it is loaded
    cfg = load_config(conf / "minwon.toml", environ={})
    # Then its relative folders are the file's, not the working directory's
    assert cfg["templates"]["dir"] == str(conf / "templates")
    assert cfg["providers"]["outbox"]["dir"] == str(conf / "outbox")
    assert cfg["router"]["rules"] == str(conf / "rules" / "custom.toml")
    # while the environment's stay relative to where the hub is started
    env = load_config(conf / "minwon.toml", environ={"MINWON__TEMPLATES__DIR": "mine"})
    assert env["templates"]["dir"] == "mine"
    # and without a file the shipped templates are used
    assert Path(load_config(environ={})["templates"]["dir"]).joinpath(
        "case.received", "sms.j2").is_file()


@pytest.mark.parametrize(("url", "why"), [
    ("redis:/nohost", "not a Redis URL"),
    ("http://cache:6379/0", "not a Redis URL"),
    ("redis://cache:63 79/0", "port of the Redis URL is not a number"),
    ("unix://", "not a Redis URL"),
])
def test_a_rate_store_typo_is_refused_at_load_naming_the_key(url: str, why: str) -> None:
    # Given a shared rate-limit store URL with a typo / Then loading names key and origin
    with pytest.raises(ConfigError) as caught:
        load_config(environ={"MINWON__POLICY__RATE_STORE": f'"{url}"'})
    assert "policy.rate_store" in str(caught.value)
    assert "MINWON__POLICY__RATE_STORE" in str(caught.value) and why in str(caught.value)


def test_a_rate_store_url_redis_takes_is_accepted() -> None:
    for url in ("", "redis://127.0.0.1:6379/0", "rediss://cache:6380/1", "unix:///run/r.sock"):
        config = load_config(environ={"MINWON__POLICY__RATE_STORE": f'"{url}"'})
        assert config.get("policy", "rate_store") == url
