"""Templates, slash commands, the dialogue state and the demo order actions, without a server."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qandu.errors import ConfigError
from qandu.testing import DEMO_BOT
from qandu_autoreply import AutoReplyConfig
from qandu_autoreply.actions import ActionRegistry, parse_command
from qandu_autoreply.orders import ACTIONS, OrderBook, normalize_order_number
from qandu_autoreply.responses import Responses
from qandu_autoreply.state import METADATA_KEY, Pending, State

RESPONSES = Responses.load(DEMO_BOT / "responses.toml", "en")
REGISTRY = ActionRegistry(list(ACTIONS))


def book(today: str = "2026-12-01") -> OrderBook:
    return OrderBook.load(
        DEMO_BOT / "orders.json", RESPONSES, today=dt.date.fromisoformat(today), return_days=30
    )


def test_templates_fill_slots_and_fall_back_to_the_default_language():
    text = RESPONSES.render("order_status.verify_email", "de", {"order_number": "NL-1"})
    assert text is not None and "NL-1" in text and "E-Mail-Adresse" in text
    assert RESPONSES.render("order_status.verify_email", "en", {}) is None  # slot missing
    assert RESPONSES.missing("order_status.verify_email", "en", {}) == {"order_number"}
    assert RESPONSES.render("greeting", "fr", {}) in RESPONSES.variants("greeting", "en")
    assert RESPONSES.render("no_such_intent", "en", {}) is None


def test_invalid_responses_file_is_a_config_error(tmp_path):
    path = tmp_path / "responses.toml"
    path.write_text("[greeting\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"responses\.toml: not valid TOML"):
        Responses.load(path, "en")
    assert Responses.load(tmp_path / "missing.toml", "en").variants("greeting", "en") == []


def test_slash_commands_parse_and_fill_arguments_by_pattern_then_position():
    assert parse_command("/order NL-48213 a@b.example") is not None
    assert parse_command("/ order") is None and parse_command("hello /order") is None
    command = parse_command("/ORDER a@b.example 48213")
    assert command is not None and command.name == "order"
    action = REGISTRY.commands["order"]
    assert REGISTRY.command_args(action, command.words) == {"order_number": "48213", "email": "a@b.example"}
    assert REGISTRY.fill(action, {"email": "a@b.example"}) == ({"email": "a@b.example"}, ["order_number"])
    assert REGISTRY.intents["order_status"].name == "order_status"
    assert any(line.startswith("/return <order_number> [email]") for line in REGISTRY.help_lines())


@given(st.from_regex(r"(?i)(nl-?)?\d{5}", fullmatch=True))
def test_order_numbers_are_normalised(raw):
    number = normalize_order_number(raw)
    assert number.startswith("NL-") and len(number) == 8 and number[3:].isdigit()


def test_order_status_needs_the_orders_email_before_showing_anything():
    orders = book()
    assert orders.run("order_status", {"order_number": "NL-99999"}, "en").template == "order_status.not_found"
    ask = orders.run("order_status", {"order_number": "48213"}, "en")
    assert (ask.template, ask.ask, ask.data) == ("order_status.verify_email", "email", None)
    wrong = orders.run("order_status", {"order_number": "NL-48213", "email": "x@example.com"}, "en")
    assert (wrong.template, wrong.ask, wrong.data) == ("order_status.not_verified", "email", None)
    found = orders.run("order_status", {"order_number": "NL-48213", "email": "Jana.Weber@example.com"}, "de")
    assert found.template == "order_status.found"
    assert found.slots["status_text"].startswith("Sie ist mit DHL unterwegs! Deine Sendungsnummer ist 00340")
    assert orders.run("something_else", {"order_number": "NL-48213"}, "en") is None


@pytest.mark.parametrize(
    ("number", "email", "today", "template", "eligible"),
    [
        ("NL-49310", "l.meyer@example.org", "2026-12-01", "return_item.eligible", True),
        ("NL-49310", "l.meyer@example.org", "2026-12-25", "return_item.expired", False),
        ("NL-48213", "jana.weber@example.com", "2026-12-01", "return_item.not_delivered", False),
        ("NL-47302", "p.novak@example.com", "2026-12-01", "return_item.closed", False),
    ],
)
def test_return_eligibility(number, email, today, template, eligible):
    result = book(today).run("return_eligibility", {"order_number": number, "email": email}, "en")
    assert result.template == template
    assert result.data["eligible"] is eligible
    assert RESPONSES.render(template, "de", result.slots) is not None  # every slot is provided


def test_state_round_trips_through_reply_metadata_and_ignores_garbage():
    state = State(slots={"order_number": "NL-1"}, pending=Pending("order_status", "email", {"x": "1"}, 2))
    state = State(state.slots, state.pending, fallbacks=1, language="de")
    assert State.from_metadata({METADATA_KEY: {"state": state.to_wire()}}) == state
    for junk in (None, {}, {METADATA_KEY: "x"}, {METADATA_KEY: {"state": {"pending": {"action": 1}}}}):
        assert State.from_metadata(junk).pending is None


def test_config_defaults_and_validation():
    config = AutoReplyConfig()
    assert config.llm.enabled is False and "human_handoff" in config.handoff_intents
    with pytest.raises(ValueError):
        AutoReplyConfig(orders_today="first of December")
