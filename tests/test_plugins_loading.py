"""Loading plugins from entry points, their configs, order, and the async call layer."""

from __future__ import annotations

import attrs
import pluggy
import pytest
import trio

from qandu import Reply, hookimpl
from qandu.errors import ConfigError, PluginError
from qandu.plugins import PluginManager

PLUGIN_SOURCE = """
import attrs
from qandu import hookimpl

@attrs.frozen
class GreeterConfig:
    word: str = "hello"
    times: int = attrs.field(default=1, validator=attrs.validators.ge(1))

class Greeter:
    Config = GreeterConfig
    def __init__(self, config):
        self.config = config
    @hookimpl
    async def qandu_analyze_message(self, message):
        return {"greeting": self.config.word * self.config.times}

class Follower:
    requires = ("greeter",)
    @hookimpl
    async def qandu_message_stored(self, message):
        pass

class Lonely:
    requires = ("missing",)
"""


def install(tmp_path, monkeypatch, entry_points: dict[str, str]) -> None:
    """Make a real installed distribution with ``entry_points`` importable from tmp_path."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "fakeplug.py").write_text(PLUGIN_SOURCE)
    dist = site / "fakeplug-1.2.3.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fakeplug\nVersion: 1.2.3\n")
    lines = "\n".join(f"{name} = {target}" for name, target in entry_points.items())
    (dist / "entry_points.txt").write_text(f"[qandu.plugins]\n{lines}\n")
    monkeypatch.syspath_prepend(str(site))


def loaded(tables: dict | None = None) -> PluginManager:
    pm = PluginManager()
    pm.load_installed(tables or {})
    return pm


def test_entry_point_plugin_is_loaded_with_its_config(tmp_path, monkeypatch):
    install(tmp_path, monkeypatch, {"greeter": "fakeplug:Greeter"})
    pm = loaded({"greeter": {"word": "hi", "times": 2}})
    info = pm.infos["greeter"]
    assert (info.version, info.distribution, info.hooks) == ("1.2.3", "fakeplug", ("qandu_analyze_message",))
    assert pm.get_plugin("greeter").config.word == "hi"


def test_disabled_plugin_is_not_loaded(tmp_path, monkeypatch):
    install(tmp_path, monkeypatch, {"greeter": "fakeplug:Greeter"})
    pm = loaded({"greeter": {"enabled": False, "word": "ignored"}})
    assert "greeter" not in pm.infos
    assert pm.is_blocked("greeter")


def test_bad_plugin_config_names_the_key(tmp_path, monkeypatch):
    install(tmp_path, monkeypatch, {"greeter": "fakeplug:Greeter"})
    with pytest.raises(ConfigError) as excinfo:
        loaded({"greeter": {"wrod": "x", "times": 0}, "nope": {}})
    errors = "\n".join(excinfo.value.errors)
    assert "plugins.greeter.wrod: unknown key (known: word, times)" in errors
    assert "plugins.greeter.times: must be >= 1" in errors
    assert "plugins.nope: no installed plugin of that name" in errors


def test_dependencies_order_activation_and_missing_ones_fail(tmp_path, monkeypatch):
    install(tmp_path, monkeypatch, {"greeter": "fakeplug:Greeter", "a_follower": "fakeplug:Follower"})
    pm = loaded()
    order = [name for name in pm.infos if name in ("greeter", "a_follower")]
    assert order == ["greeter", "a_follower"]  # the dependency first, though it sorts after
    with pytest.raises(PluginError, match="'a_follower' requires plugin 'greeter', which is disabled"):
        loaded({"greeter": {"enabled": False}})


def test_missing_dependency_is_reported(tmp_path, monkeypatch):
    install(tmp_path, monkeypatch, {"lonely": "fakeplug:Lonely"})
    with pytest.raises(PluginError, match="requires plugin 'missing', which is not installed"):
        loaded()


def test_sync_implementation_of_async_hook_is_refused():
    class Wrong:
        @hookimpl
        def qandu_reply(self, message):
            return None

    with pytest.raises(PluginError, match="qandu_reply must be written 'async def'"):
        PluginManager().add(Wrong(), "wrong")


def test_misspelled_hook_is_caught_at_startup():
    class Typo:
        @hookimpl
        async def qandu_replly(self, message):
            return None

    pm = PluginManager()
    pm.add(Typo(), "typo")
    with pytest.raises(pluggy.PluginValidationError):
        pm.check_pending()


@attrs.define
class Recorder:
    calls: list[str] = attrs.Factory(list)


async def test_call_first_skips_raising_and_hanging_plugins_and_falls_back_to_trylast():
    recorder = Recorder()

    class Raises:
        @hookimpl(tryfirst=True)
        async def qandu_reply(self):
            recorder.calls.append("raises")
            raise RuntimeError("boom")

    class Hangs:
        @hookimpl
        async def qandu_reply(self):
            recorder.calls.append("hangs")
            await trio.sleep_forever()

    class Fallback:
        @hookimpl(trylast=True)
        async def qandu_reply(self, message):
            recorder.calls.append("fallback")
            return Reply(text=f"fallback for {message}")

    pm = PluginManager(hook_timeout=0.2)
    pm.add(Fallback(), "fallback")
    pm.add(Hangs(), "hangs")
    pm.add(Raises(), "raises")
    with trio.fail_after(5):
        reply = await pm.call_first("qandu_reply", message="m", conversation=None, annotations={}, bot=None)
    assert reply == Reply(text="fallback for m")
    assert recorder.calls == ["raises", "hangs", "fallback"]
    stats = pm.statistics()
    assert stats.failures == {"raises": 1} and stats.timeouts == {"hangs": 1}


async def test_notify_runs_all_concurrently_despite_failures():
    seen = []

    class A:
        @hookimpl
        async def qandu_message_stored(self, message):
            await trio.sleep(0.05)
            seen.append("a")

    class B:
        @hookimpl
        async def qandu_message_stored(self, message):
            raise ValueError("bad plugin")

    pm = PluginManager(hook_timeout=1)
    pm.add(A(), "a")
    pm.add(B(), "b")
    with trio.fail_after(5):
        await pm.notify("qandu_message_stored", message=1, conversation=None, annotations={})
    assert seen == ["a"]
