"""Loading plugins from entry points, their configs, order, and the async call layer."""

from __future__ import annotations

import time

import attrs
import pluggy
import pytest
import trio

from qandu import Reply, hookimpl
from qandu.errors import ConfigError, PluginError
from qandu.plugins import PluginManager, can_suspend

PLUGIN_SOURCE = """
import time

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


async def test_notify_runs_every_implementation_in_turn_despite_failures_and_hangs():
    seen = []

    def plugin(tag: str, action: str) -> object:
        class P:
            @hookimpl
            async def qandu_message_stored(self, message):
                seen.append(tag)
                if action == "hang":
                    await trio.sleep_forever()
                if action == "raise":
                    raise ValueError("bad plugin")

        return P()

    pm = PluginManager(hook_timeout=0.1)
    # registered last = called first: hang, hang (two deadlines in a row), raise, ok
    for tag, action in (("ok", "ok"), ("raises", "raise"), ("hangs2", "hang"), ("hangs1", "hang")):
        pm.add(plugin(tag, action), tag)
    with trio.fail_after(5):
        await pm.notify("qandu_message_stored", message=1, conversation=None, annotations={})
    assert seen == ["hangs1", "hangs2", "raises", "ok"]
    stats = pm.statistics()
    assert stats.timeouts == {"hangs1": 1, "hangs2": 1} and stats.failures == {"raises": 1}
    assert stats.calls == 4


async def test_each_implementation_gets_the_whole_deadline():
    """The deadline is per implementation: two that each take most of it both finish."""

    class Slow:
        def __init__(self, tag: str) -> None:
            self.tag = tag

        @hookimpl
        async def qandu_analyze_message(self, message):
            await trio.sleep(0.3)
            return {self.tag: True}

    pm = PluginManager(hook_timeout=0.5)
    pm.add(Slow("a"), "a")
    pm.add(Slow("b"), "b")
    results = await pm.call_all("qandu_analyze_message", message=1, conversation=None)
    assert sorted(name for name, _ in results) == ["a", "b"]
    assert pm.statistics().timeouts == {}


async def test_call_chain_passes_the_value_on_past_a_hung_implementation():
    class Upper:
        @hookimpl(trylast=True)
        async def qandu_message_incoming(self, draft):
            return draft.upper()

    class Hangs:
        @hookimpl
        async def qandu_message_incoming(self, draft):
            await trio.sleep_forever()

    class Exclaim:
        @hookimpl(tryfirst=True)
        async def qandu_message_incoming(self, draft):
            return draft + "!"

    pm = PluginManager(hook_timeout=0.1)
    for name, plugin in (("upper", Upper()), ("hangs", Hangs()), ("exclaim", Exclaim())):
        pm.add(plugin, name)
    with trio.fail_after(5):
        assert await pm.call_chain("qandu_message_incoming", "draft", draft="hi") == "HI!"
    pm.remove("exclaim")  # the call order is rebuilt after (un)registration
    assert await pm.call_chain("qandu_message_incoming", "draft", draft="hi") == "HI"


async def test_an_outer_cancellation_is_not_taken_for_a_plugin_timeout():
    class Waits:
        @hookimpl
        async def qandu_message_stored(self, message):
            await trio.sleep_forever()

    pm = PluginManager(hook_timeout=10)
    pm.add(Waits(), "waits")
    with trio.move_on_after(0.1) as outer:
        await pm.notify("qandu_message_stored", message=1, conversation=None, annotations={})
    assert outer.cancelled_caught
    assert pm.statistics().timeouts == {}


def test_only_implementations_that_never_await_are_called_without_a_deadline_scope():
    async def awaits():
        await trio.sleep(0)

    async def enters():
        async with trio.open_nursery():
            pass

    async def iterates(items):
        async for _ in items:
            pass

    async def comprehends(items):
        return [item async for item in items]

    async def plain(x):
        return x + 1

    class Callable:
        async def __call__(self):
            return None

    assert [can_suspend(f) for f in (awaits, enters, iterates, comprehends, Callable())] == [True] * 5
    assert can_suspend(plain) is False
    assert can_suspend(PluginManager().add) is True  # not a coroutine function: assume it may


async def test_a_hang_among_implementations_that_never_await_is_still_cut_off():
    order = []

    class Quick:
        def __init__(self, tag: str) -> None:
            self.tag = tag

        @hookimpl
        async def qandu_message_stored(self, message):
            order.append(self.tag)

    class Hangs:
        @hookimpl
        async def qandu_message_stored(self, message):
            order.append("hangs")
            await trio.sleep_forever()

    pm = PluginManager(hook_timeout=0.1)
    for name, plugin in (("q3", Quick("q3")), ("hangs", Hangs()), ("q1", Quick("q1"))):
        pm.add(plugin, name)
    with trio.fail_after(5):
        await pm.notify("qandu_message_stored", message=1, conversation=None, annotations={})
    assert order == ["q1", "hangs", "q3"]
    assert pm.statistics().timeouts == {"hangs": 1} and pm.statistics().calls == 3


async def test_a_deadline_that_passed_as_its_implementation_returned_does_not_cut_off_the_next():
    seen = []

    class Late:
        @hookimpl
        async def qandu_message_stored(self, message):
            time.sleep(0.15)  # past its 0.1 s deadline, with no checkpoint to cancel it at
            await trio.lowlevel.cancel_shielded_checkpoint()  # the loop sees the deadline pass
            seen.append("late")

    class Next:
        @hookimpl
        async def qandu_message_stored(self, message):
            await trio.sleep(0)
            seen.append("next")

    pm = PluginManager(hook_timeout=0.1)
    pm.add(Next(), "next")
    pm.add(Late(), "late")  # registered last: called first
    with trio.fail_after(5):
        await pm.notify("qandu_message_stored", message=1, conversation=None, annotations={})
    assert seen == ["late", "next"]
    assert pm.statistics().timeouts == {}
