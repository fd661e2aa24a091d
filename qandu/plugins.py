"""The plugin manager: pluggy for registration, QanDu's own trio layer for async calls.

Plugins are installed distributions with an entry point in the group ``qandu.plugins``;
the entry point's name is the plugin's name and the key of its ``[plugins.<name>]`` table.
The target is a class with optional ``Config`` (an attrs class) and ``requires`` (names of
plugins it needs) attributes; it is constructed with its validated config.
"""

from __future__ import annotations

import contextlib
import dis
import graphlib
import inspect
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from importlib import metadata
from typing import Any

import attrs
import pluggy
import trio

from qandu import hookspecs
from qandu.config import structure
from qandu.errors import ConfigError, PluginError

log = logging.getLogger("qandu.plugins")

ENTRY_POINT_GROUP = "qandu.plugins"
hookimpl = pluggy.HookimplMarker("qandu")


@attrs.frozen
class Service:
    """A long-running task a plugin asks the core to run: ``await run(app, task_status=...)``.

    ``singleton=True``: run it on one node of the cluster at a time (see :mod:`qandu.cluster`);
    its ``run`` may take a ``lease`` keyword to fence its writes (``await lease.write(fn)``).
    """

    name: str
    run: Callable[..., Awaitable[None]]
    singleton: bool = False


@attrs.frozen
class PluginInfo:
    """What ``qandu plugins`` shows about one loaded plugin."""

    name: str
    version: str
    distribution: str
    hooks: tuple[str, ...]
    config: Any = None


@attrs.frozen
class PluginStatistics:
    calls: int
    failures: dict[str, int]
    timeouts: dict[str, int]


class PluginManager(pluggy.PluginManager):
    """pluggy's manager plus config-aware loading and trio-native async hook calls."""

    def __init__(self, *, hook_timeout: float = 5.0) -> None:
        super().__init__("qandu")
        self.add_hookspecs(hookspecs)
        self.hook_timeout = hook_timeout
        self.infos: dict[str, PluginInfo] = {}
        self._calls = 0
        self._failures: Counter[str] = Counter()
        self._timeouts: Counter[str] = Counter()
        self._dispatch: dict[str, tuple[tuple[pluggy.HookImpl, bool], ...]] = {}

    # -- loading ---------------------------------------------------------------------------

    def load_installed(self, tables: dict[str, dict[str, Any]]) -> None:
        """Load every installed plugin, honouring ``enabled = false`` and ``requires``.

        Raises :class:`ConfigError` listing every bad or unknown plugin table, and
        :class:`PluginError` when a required plugin is missing or disabled.
        """
        found = {ep.name: ep for ep in sorted(entry_points(), key=lambda ep: ep.name)}
        errors = [
            f"plugins.{name}: no installed plugin of that name (installed: {', '.join(found) or 'none'})"
            for name in tables
            if name not in found
        ]
        for name, table in tables.items():
            enabled = table.get("enabled", True)
            if not isinstance(enabled, bool):
                errors.append(f"plugins.{name}.enabled: expected true or false, got {enabled!r}")
            elif not enabled:
                self.set_blocked(name)
        classes = {name: ep.load() for name, ep in found.items() if not self.is_blocked(name)}
        for name in self._dependency_order(classes):
            table = {k: val for k, val in tables.get(name, {}).items() if k != "enabled"}
            config = build_config(classes[name], table, f"plugins.{name}", errors)
            if errors:
                continue
            dist = found[name].dist
            self.add(
                classes[name](config) if config is not None else classes[name](),
                name,
                version=dist.version if dist else "",
                distribution=dist.name if dist else "",
                config=config,
            )
        if errors:
            raise ConfigError(errors)
        self.check_pending()

    def _dependency_order(self, classes: dict[str, type]) -> list[str]:
        graph = {}
        for name, cls in classes.items():
            requires = tuple(getattr(cls, "requires", ()))
            for dep in requires:
                if dep not in classes:
                    state = "disabled" if self.is_blocked(dep) else "not installed"
                    raise PluginError(f"plugin {name!r} requires plugin {dep!r}, which is {state}")
            graph[name] = requires
        try:
            return list(graphlib.TopologicalSorter(graph).static_order())
        except graphlib.CycleError as exc:
            raise PluginError(f"plugins require each other in a cycle: {exc.args[1]}") from None

    def add(
        self, plugin: object, name: str, *, version: str = "", distribution: str = "", config: Any = None
    ) -> None:
        """Register ``plugin`` (checking that async hooks are implemented ``async def``)."""
        self.register(plugin, name=name)
        hooks = []
        for impl_name in dir(plugin):
            if not impl_name.startswith("qandu_"):
                continue
            spec = getattr(self.hook, impl_name, None)
            impl = getattr(plugin, impl_name)
            if spec is None or spec.spec is None:
                continue
            if inspect.iscoroutinefunction(spec.spec.function) != inspect.iscoroutinefunction(impl):
                self.unregister(name=name)
                kind = "async def" if inspect.iscoroutinefunction(spec.spec.function) else "def"
                raise PluginError(f"plugin {name!r}: {impl_name} must be written '{kind}' like its spec")
            hooks.append(impl_name)
        self.infos[name] = PluginInfo(name, version, distribution, tuple(sorted(hooks)), config)

    def remove(self, name: str) -> None:
        """Unregister the plugin called ``name`` (tests use it for throwaway plugins)."""
        self.unregister(name=name)
        self.infos.pop(name, None)

    def services(self, app: Any) -> list[Service]:
        """Collect the services every plugin registers."""
        return [s for group in self.hook.qandu_register_services(app=app) if group for s in group]

    # -- async calls -----------------------------------------------------------------------
    #
    # Every implementation runs under its own deadline, but not in a cancel scope of its own
    # (entering and leaving a trio cancel scope costs as much as a short hook, and the
    # post-store pipeline makes several hook calls per message).  A deadline can only fire
    # where an implementation suspends; one that never awaits runs with no scope at all, and
    # the others of one hook call share a scope whose deadline moves before each of them.
    # When it fires, the implementation running then is the one that hung; the rest of the
    # hook call goes on in a fresh scope.

    def register(self, plugin: object, name: str | None = None) -> str | None:
        self._dispatch.clear()
        return super().register(plugin, name)

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any:
        self._dispatch.clear()
        return super().unregister(plugin, name)

    def _impls(self, name: str) -> tuple[tuple[pluggy.HookImpl, bool], ...]:
        """Hook ``name``'s implementations in call order, each with whether it can suspend
        (cached until a plugin is registered or unregistered)."""
        impls = self._dispatch.get(name)
        if impls is None:
            found = reversed(getattr(self.hook, name).get_hookimpls())
            impls = self._dispatch[name] = tuple((impl, can_suspend(impl.function)) for impl in found)
        return impls

    async def _invoke(self, name: str, impl: pluggy.HookImpl, kwargs: dict[str, Any]) -> tuple[bool, Any]:
        """Call one implementation inside the error boundary: ``(ok, result)``."""
        self._calls += 1
        try:
            return True, await impl.function(**{arg: kwargs[arg] for arg in impl.argnames})
        except Exception:
            self._failures[impl.plugin_name] += 1
            log.exception("plugin %s failed in %s", impl.plugin_name, name)
            return False, None

    async def _run(
        self,
        name: str,
        kwargs: dict[str, Any],
        each: Callable[[pluggy.HookImpl, bool, Any], bool],
        timeout: float | None = None,
    ) -> None:
        """Call the implementations one after another, each inside its deadline and error
        boundary; ``each(impl, ok, result)`` sees every outcome and returns True to stop."""
        impls = self._impls(name)
        timeout = self.hook_timeout if timeout is None else timeout
        index = 0
        while index < len(impls):
            scope = trio.CancelScope() if any(suspends for _, suspends in impls[index:]) else None
            with scope or contextlib.nullcontext():
                while index < len(impls):
                    impl, suspends = impls[index]
                    if suspends:
                        assert scope is not None
                        if scope.cancel_called:  # the last deadline passed as its owner returned
                            break  # (a cancelled scope stays cancelled): go on in a fresh one
                        scope.deadline = trio.current_time() + timeout
                    index += 1
                    if each(impl, *await self._invoke(name, impl, kwargs)):
                        return
            if scope is not None and scope.cancelled_caught:  # impls[index - 1] hung
                hung = impls[index - 1][0]
                self._timeouts[hung.plugin_name] += 1
                log.error("plugin %s timed out in %s after %.1fs", hung.plugin_name, name, timeout)
                if each(hung, False, None):
                    return

    async def call_each(
        self, name: str, *, timeout: float | None = None, **kwargs: Any
    ) -> list[tuple[str, bool, Any]]:
        """Call implementations one after another; return ``(plugin, ok, result)`` for every one.

        Unlike :meth:`call_all`, failures are reported (``ok=False``), so that a caller can
        fail closed; ``timeout`` overrides ``hook_timeout`` for these calls.
        """
        results: list[tuple[str, bool, Any]] = []

        def each(impl: pluggy.HookImpl, ok: bool, result: Any) -> bool:
            results.append((impl.plugin_name, ok, result))
            return False

        await self._run(name, kwargs, each, timeout)
        return results

    async def call_first(self, name: str, **kwargs: Any) -> Any:
        """Call implementations in pluggy's order; return the first non-None result."""
        found: list[Any] = []

        def each(impl: pluggy.HookImpl, ok: bool, result: Any) -> bool:
            if ok and result is not None:
                found.append(result)
                return True
            return False

        await self._run(name, kwargs, each)
        return found[0] if found else None

    async def call_all(self, name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call implementations one after another; return ``(plugin, result)`` for each success."""
        results: list[tuple[str, Any]] = []

        def each(impl: pluggy.HookImpl, ok: bool, result: Any) -> bool:
            if ok and result is not None:
                results.append((impl.plugin_name, result))
            return False

        await self._run(name, kwargs, each)
        return results

    async def call_chain(self, name: str, value_arg: str, **kwargs: Any) -> Any:
        """Pass ``kwargs[value_arg]`` through every implementation; a non-None result replaces it.

        An implementation may return a value of another type to stop the chain (for
        example a rejection); the caller decides what it means.
        """
        start = kwargs[value_arg]
        outcome: list[Any] = []

        def each(impl: pluggy.HookImpl, ok: bool, result: Any) -> bool:
            if not ok or result is None:
                return False
            if not isinstance(result, type(start)):
                outcome.append(result)
                return True
            kwargs[value_arg] = result  # the next implementation sees it
            return False

        await self._run(name, kwargs, each)
        return outcome[0] if outcome else kwargs[value_arg]

    async def notify(self, name: str, **kwargs: Any) -> None:
        """Call every implementation, one after another; results and failures are only logged."""
        await self._run(name, kwargs, lambda impl, ok, result: False)

    def statistics(self) -> PluginStatistics:
        return PluginStatistics(self._calls, dict(self._failures), dict(self._timeouts))


#: Instructions where a coroutine can give control back to the event loop (``await``,
#: ``async with``, ``async for`` all compile to them).
_SUSPENDING = frozenset({"GET_AWAITABLE", "SEND", "YIELD_VALUE"})


def can_suspend(function: Callable[..., Any]) -> bool:
    """Whether calling ``function`` may suspend: anything but a plain ``async def`` whose own
    code never awaits counts as suspending (a decorated one, a callable object...)."""
    code = getattr(getattr(function, "__func__", function), "__code__", None)
    if code is None or not inspect.iscoroutinefunction(function):
        return True
    return any(instruction.opname in _SUSPENDING for instruction in dis.get_instructions(code))


def entry_points() -> Iterable[metadata.EntryPoint]:
    """The installed entry points of the ``qandu.plugins`` group."""
    return metadata.entry_points(group=ENTRY_POINT_GROUP)


def build_config(cls: type, table: dict[str, Any], path: str, errors: list[str]) -> Any:
    """Validate a plugin's table against its ``Config`` class (``None`` if it has none)."""
    config_cls = getattr(cls, "Config", None)
    if config_cls is None:
        errors.extend(f"{path}.{key}: unknown key (this plugin takes no settings)" for key in table)
        return None
    return structure(config_cls, table, path, errors)
