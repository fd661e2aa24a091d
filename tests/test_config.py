"""config.toml validation: every error names its full key path; secrets come from the environment."""

from __future__ import annotations

import typing

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from qandu.config import Config, from_dict, load, to_dict
from qandu.errors import ConfigError

HINTS = typing.get_type_hints(Config)
SECTIONS = {
    field.name: HINTS[field.name]
    for field in attrs.fields(Config)
    if field.name not in ("plugins", "root", "env_paths")
}


def errors_of(raw: dict) -> list[str]:
    with pytest.raises(ConfigError) as excinfo:
        from_dict(raw)
    return excinfo.value.errors


def test_defaults_are_valid():
    config = from_dict({})
    assert config.server.port == 8800 and config.storage.url.startswith("sqlite:///")


def test_the_shipped_config_toml_is_valid():
    config = load("config.toml")
    assert config.bots.default == "support"


@given(
    port=st.integers(min_value=0, max_value=65535),
    host=st.text(min_size=1, max_size=20),
    hook_timeout=st.floats(min_value=0.01, max_value=1e6, allow_nan=False),
)
def test_valid_values_round_trip(port, host, hook_timeout):
    config = from_dict({"server": {"port": port, "host": host}, "dispatch": {"hook_timeout": hook_timeout}})
    assert (config.server.port, config.server.host, config.dispatch.hook_timeout) == (
        port,
        host,
        hook_timeout,
    )


@given(
    section=st.sampled_from(sorted(SECTIONS)),
    key=st.from_regex(r"[a-z][a-z_]{0,15}", fullmatch=True),
)
def test_unknown_key_is_named_with_its_path(section, key):
    known = {f.name for f in attrs.fields(SECTIONS[section])}
    if key in known:
        return
    errors = errors_of({section: {key: 1}})
    assert errors == [f"{section}.{key}: unknown key (known: {', '.join(known_in_order(section))})"]


def known_in_order(section: str) -> list[str]:
    return [f.name for f in attrs.fields(SECTIONS[section])]


WRONG = {int: "8800", float: "fast", str: 5, bool: "yes", list: "not-a-list"}


def scalar_fields():
    pairs = []
    for section, cls in SECTIONS.items():
        for name, tp in typing.get_type_hints(cls).items():
            kind = typing.get_origin(tp) or tp
            if kind in WRONG:
                pairs.append((section, name, kind))
    return pairs


@given(st.sampled_from(scalar_fields()))
def test_wrong_type_is_named_with_its_path(case):
    section, name, kind = case
    errors = errors_of({section: {name: WRONG[kind]}})
    assert len(errors) == 1 and errors[0].startswith(f"{section}.{name}: expected ")


def test_every_error_is_reported_at_once():
    errors = errors_of(
        {"server": {"port": 70000, "log_format": "xml"}, "gateway": {"send_queue": 0}, "nope": 1}
    )
    assert errors == [
        f"nope: unknown key (known: {', '.join(SECTIONS)})",
        "server.port: must be <= 65535: 70000",
        "server.log_format: expected one of 'text', 'json', got 'xml'",
        "gateway.send_queue: must be >= 1: 0",
    ]


def test_nested_tables_name_the_full_path():
    errors = errors_of({"auth": {"sites": {"shop": {"secret": 1, "colour": "red"}}}})
    assert errors == [
        "auth.sites.shop.colour: unknown key (known: secret)",
        "auth.sites.shop.secret: expected a string, got 1",
    ]


def test_secrets_come_from_the_environment_and_are_masked(monkeypatch):
    monkeypatch.setenv("QANDU_TEST_SECRET", "s3cret-value")
    config = from_dict(
        {"auth": {"secret": {"env": "QANDU_TEST_SECRET"}}, "storage": {"url": {"env": "QANDU_TEST_SECRET"}}}
    )
    assert config.auth.secret == "s3cret-value"
    printed = to_dict(config)
    assert printed["auth"]["secret"] == "***" and printed["storage"]["url"] == "***"
    assert "s3cret-value" not in repr(printed)


def test_missing_environment_variable_is_an_error(monkeypatch):
    monkeypatch.delenv("QANDU_NOT_SET", raising=False)
    assert errors_of({"auth": {"secret": {"env": "QANDU_NOT_SET"}}}) == [
        "auth.secret: environment variable QANDU_NOT_SET is not set"
    ]
    assert from_dict({"auth": {"secret": {"env": "QANDU_NOT_SET", "default": "d"}}}).auth.secret == "d"


def test_unreadable_file_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[server\nport = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(bad)
    with pytest.raises(ConfigError, match="file not found"):
        load(tmp_path / "missing.toml")


def test_several_nodes_need_postgresql_and_a_shared_secret():
    with pytest.raises(ConfigError) as excinfo:
        from_dict({"bus": {"backend": "redis"}})
    assert [e.split(":")[0] for e in excinfo.value.errors] == ["storage.url", "auth.secret"]
    config = from_dict(
        {
            "bus": {"backend": "redis", "url": "redis://10.0.0.5:6379/2"},
            "storage": {"url": "postgresql://qandu@db/qandu"},
            "auth": {"secret": "s" * 40},
        }
    )
    assert config.bus.backend == "redis" and config.bus.url == "redis://10.0.0.5:6379/2"
    with pytest.raises(ConfigError, match=r"bus\.backend: expected one of"):
        from_dict({"bus": {"backend": "kafka"}})
