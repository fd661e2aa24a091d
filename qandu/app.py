"""The application object and :func:`serve`, the server's one root nursery."""

from __future__ import annotations

import functools
import logging
import signal
from typing import Any

import attrs
import trio

from qandu.auth import Auth
from qandu.bots import Bot, load_bots
from qandu.bus import Bus
from qandu.chat import ChatService
from qandu.cluster import Cluster, Lease, accepts_lease, default_node_id
from qandu.config import Config
from qandu.files.service import FileService
from qandu.pipeline import Dispatcher
from qandu.plugins import PluginManager
from qandu.routing.service import RoutingService
from qandu.storage import Store
from qandu.teamwork import Teamwork

log = logging.getLogger("qandu")


@attrs.frozen
class Endpoints:
    """Where a running server listens (ports are real even when 0 was configured)."""

    http_url: str
    ws_url: str
    http_port: int
    ws_port: int


@attrs.define
class App:
    """Everything one server needs, built from a validated :class:`Config`.

    Built by :meth:`create`; tests build one per test (there is no global app).
    """

    config: Config
    pm: PluginManager
    store: Store
    bus: Bus
    bots: dict[str, Bot]
    auth: Auth
    chat: ChatService
    endpoints: Endpoints | None = None
    state: dict[str, Any] = attrs.Factory(dict)
    """Scratch space for plugins (keyed by plugin name)."""

    @classmethod
    def create(cls, config: Config, *, pm: PluginManager | None = None, load_plugins: bool = True) -> App:
        """Assemble an app: load plugins and bots, prepare (not open) storage."""
        if pm is None:
            pm = PluginManager(hook_timeout=config.dispatch.hook_timeout)
            if load_plugins:
                pm.load_installed(config.plugins)
        bots = load_bots([config.path(p) for p in config.bots.paths])
        store = Store.from_url(config.storage.url, data_dir=config.data_dir)
        bus = make_bus(config)
        chat = ChatService(store, bus, pm, bots)
        auth = Auth(config.auth, config.data_dir)
        chat.files = FileService(config.files, config.data_dir, store, bus, pm, auth)
        chat.files.chat = chat
        chat.teamwork.config = config.lifecycle
        chat.cluster.node = default_node_id(config.bus.node_id)  # lease holders named like the bus node
        return cls(config=config, pm=pm, store=store, bus=bus, bots=bots, auth=auth, chat=chat)

    @property
    def files(self) -> FileService:
        """Uploads, scanning, attachments and downloads (see :mod:`qandu.files`)."""
        assert self.chat.files is not None
        return self.chat.files

    @property
    def cluster(self) -> Cluster:
        """This node's cluster leases: exclusive work and singleton services (see :mod:`qandu.cluster`)."""
        return self.chat.cluster

    @property
    def routing(self) -> RoutingService:
        """Queue, assignment, priority, SLA and presence mechanisms (see :mod:`qandu.routing`)."""
        return self.chat.routing

    @property
    def teamwork(self) -> Teamwork:
        """Tags, notes, canned responses, CSAT, follow-ups, archive (see :mod:`qandu.teamwork`)."""
        return self.chat.teamwork

    @property
    def default_bot(self) -> str | None:
        name = self.config.bots.default
        return name if name in self.bots else next(iter(self.bots), None)


async def serve(app: App, *, task_status: trio.TaskStatus[Endpoints] = trio.TASK_STATUS_IGNORED) -> None:
    """Run the server until cancelled or signalled; ``task_status`` gets the bound endpoints.

    Lifetimes nest: storage outlives the dispatcher, which outlives plugin services,
    which outlive the gateway and HTTP listeners.  On SIGTERM/SIGINT the listeners stop,
    open sockets close with 1001, the pipeline drains and pending writes are committed.
    """
    from qandu.gateway.server import Gateway
    from qandu.http.server import serve_http

    app.config.data_dir.mkdir(parents=True, exist_ok=True)
    async with app.store:
        for bot in app.bots.values():
            await app.store.ensure_bot_user(bot.name, display_name=bot.display_name, avatar=bot.avatar)
        await app.files.open()
        await app.pm.call_all("qandu_startup", app=app)
        dispatcher = Dispatcher(
            app.chat, app.pm, workers=app.config.dispatch.workers, queue_size=app.config.dispatch.queue_size
        )
        app.chat.dispatcher = dispatcher
        try:
            async with trio.open_nursery() as fan_out:
                await fan_out.start(app.bus.run)
                async with trio.open_nursery() as pipeline_nursery:
                    await pipeline_nursery.start(dispatcher.run)
                    async with trio.open_nursery() as services:
                        await services.start(app.chat.routing.presence.run)
                        await services.start(app.chat.teamwork.run)  # follow-ups, auto-archive
                        await services.start(app.files.run)  # clean-up of unused uploads
                        for service in app.pm.services(app):
                            await services.start(_run_service, app, service)
                        gateway = Gateway(app)
                        async with trio.open_nursery() as listeners:
                            ws_port = await listeners.start(gateway.serve)
                            http_port = await listeners.start(serve_http, app, gateway)
                            app.endpoints = _endpoints(app, http_port, ws_port)
                            log.info(
                                "serving HTTP on %s and the gateway on %s",
                                app.endpoints.http_url,
                                app.endpoints.ws_url,
                            )
                            stop = trio.Event()
                            listeners.start_soon(_stop_on_signal, stop)
                            task_status.started(app.endpoints)
                            try:
                                await stop.wait()
                            finally:
                                with trio.CancelScope(shield=True):
                                    await gateway.drain(app.config.server.drain_timeout)
                                listeners.cancel_scope.cancel()
                        services.cancel_scope.cancel()
                    app.chat.dispatcher = None
                    with trio.CancelScope(shield=True):
                        await dispatcher.close()
                fan_out.cancel_scope.cancel()  # after the pipeline drained
        finally:
            with trio.CancelScope(shield=True):
                await app.pm.notify("qandu_shutdown", app=app)
    log.info("stopped")


def make_bus(config: Config) -> Bus:
    """The in-process bus, or the Redis-backed one when several nodes share the work."""
    if config.bus.backend == "redis":
        from qandu.redis_bus import RedisBus

        return RedisBus(config.bus)
    return Bus()


async def _run_service(app: App, service: Any, *, task_status: trio.TaskStatus[None]) -> None:
    try:
        if getattr(service, "singleton", False):  # on one node of the cluster at a time
            run = functools.partial(_run_singleton, app, service)
            await app.cluster.run_singleton(f"service:{service.name}", run, task_status=task_status)
        else:
            await service.run(app, task_status=task_status)
    except Exception:
        log.exception("plugin service %s failed", service.name)


async def _run_singleton(app: App, service: Any, lease: Lease) -> None:
    extra = {"lease": lease} if accepts_lease(service.run) else {}
    await service.run(app, task_status=trio.TASK_STATUS_IGNORED, **extra)


async def _stop_on_signal(stop: trio.Event) -> None:
    try:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for signum in signals:
                log.info("received %s: draining", signal.Signals(signum).name)
                stop.set()
                return
    except (ValueError, RuntimeError):  # not in the main thread: no signal handling
        await trio.sleep_forever()


def _endpoints(app: App, http_port: int, ws_port: int) -> Endpoints:
    server = app.config.server
    host = server.host if server.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    http_url = server.public_url or f"http://{host}:{http_port}"
    ws_url = server.public_ws_url or f"ws://{host}:{ws_port}/ws"
    return Endpoints(http_url=http_url.rstrip("/"), ws_url=ws_url, http_port=http_port, ws_port=ws_port)
