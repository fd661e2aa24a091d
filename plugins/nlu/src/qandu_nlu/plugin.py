"""The ``nlu`` plugin: annotate every customer message; keep the models trained.

spaCy takes seconds to import, so the heavy modules are imported when the server starts,
not when ``qandu`` loads its plugins (``qandu --help`` stays fast).
"""

from __future__ import annotations

import functools
import logging
import shutil
import subprocess
import sys
import zoneinfo
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import trio

from qandu import Analysis, Service, hookimpl
from qandu.errors import ConfigError
from qandu_nlu.config import NluConfig

if TYPE_CHECKING:
    import click

    from qandu import Conversation, Message
    from qandu.app import App
    from qandu.bots import Bot
    from qandu_nlu.analyzer import BotAnalyzer
    from qandu_nlu.data import BotData

log = logging.getLogger("qandu_nlu")

MAX_CHARS = 5000
"""Only the first this many characters of a message are analysed (bounds the latency)."""


class Nlu:
    """Intent, entities, sentiment and language of every customer message (spaCy)."""

    Config = NluConfig
    requires = ()

    def __init__(self, config: NluConfig | None = None) -> None:
        self.config = config if config is not None else NluConfig()
        problems = self.config.problems()
        try:
            self.timezone = zoneinfo.ZoneInfo(self.config.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            problems.append(f"plugins.nlu.timezone: unknown time zone {self.config.timezone!r}")
        if problems:
            raise ConfigError(problems)
        self.analyzers: dict[str, BotAnalyzer] = {}
        self.data: dict[str, BotData] = {}
        self.cache_dir: Path | None = None
        self._settled: dict[str, trio.Event] = {}
        self._trained = trio.Event()
        self._limiter = trio.CapacityLimiter(1)
        self._wait = self.config.model_wait
        self._wait_until = 0.0
        self._app: App | None = None

    # -- registration ----------------------------------------------------------------------

    @hookimpl
    def qandu_register_services(self, app: App) -> list[Service]:
        return [Service("nlu-models", self._run_models)]

    @hookimpl
    def qandu_register_routes(self, app: App) -> list[Any]:
        from qandu_nlu.status import routes

        return routes(self, app)

    @hookimpl
    def qandu_register_commands(self, cli: click.Group) -> None:
        from qandu_nlu.cli import add_commands

        add_commands(cli)

    # -- lifecycle -------------------------------------------------------------------------

    @hookimpl
    async def qandu_startup(self, app: App) -> None:
        """Remember the app; the models are prepared by the ``nlu-models`` service."""
        self._app = app
        self._wait = min(self.config.model_wait, app.config.dispatch.hook_timeout / 2)
        self._wait_until = trio.current_time() + self._wait
        self.cache_dir = self.model_cache(app)
        self._settled = {name: trio.Event() for name in app.bots}
        self._trained = trio.Event()

    def model_cache(self, app: App) -> Path:
        """Where trained models are kept."""
        if self.config.cache_dir:
            return app.config.path(self.config.cache_dir)
        return app.config.data_dir / "nlu"

    def prepare(self, bots: list[Bot]) -> None:
        """Load each bot's data and build its analyser (blocking: run it in a thread)."""
        from qandu_nlu.builder import build_analyzer
        from qandu_nlu.data import DataError, load_bot_data

        for bot in bots:
            try:
                data = load_bot_data(bot.name, bot.path, bot.languages)
            except DataError as exc:
                log.error("bot %s has invalid NLU data; no intents for it:\n  %s", bot.name,
                          "\n  ".join(exc.errors))  # fmt: skip
                data = None
            if data is not None:
                self.data[bot.name] = data
            self.analyzers[bot.name] = build_analyzer(bot, data, self.config)

    async def _run_models(self, app: App, *, task_status: trio.TaskStatus[None]) -> None:
        """Prepare analysers and models in the background; the server does not wait for them.

        Cached models are loaded first (seconds, mostly importing spaCy), then missing or
        stale ones are trained (a stale model, if any, answers meanwhile).  Messages wait for
        missing models only until ``model_wait`` seconds after the start (so a backlog cannot
        build up); later ones are annotated without intent until the models are there.
        """
        task_status.started()
        from qandu_nlu.builder import plan_models

        try:
            await trio.to_thread.run_sync(self.prepare, list(app.bots.values()), abandon_on_cancel=True)
            assert self.cache_dir is not None, "qandu_startup did not run"
            plans = plan_models(self.data, self.config, self.cache_dir)
            unusable = [plan for plan in plans if plan.load_from is not None and not await self._load(plan)]
            self._settle()
            await trio.to_thread.run_sync(self._warm_up, limiter=self._limiter)
            for plan in plans:
                if not plan.fresh or plan in unusable:
                    await self._train(plan)
        except Exception:
            log.exception("preparing the models failed")
        finally:
            self._settle(force=True)
            self._trained.set()
        await trio.sleep_forever()

    def _warm_up(self) -> None:
        for analyzer in self.analyzers.values():
            analyzer.guesser.warm_up()

    async def _load(self, plan: Any) -> bool:
        """Load the plan's saved model; ``False`` if it is unreadable (it is then trained again)."""
        from qandu_nlu.models import load

        analyzer = self.analyzers[plan.bot]
        try:
            model = await trio.to_thread.run_sync(
                load, plan.load_from, plan.lang, analyzer.builtins, abandon_on_cancel=True
            )
        except Exception:
            log.exception("cannot load %s; it will be trained again", plan.load_from)
            if plan.load_from == plan.target:
                await trio.to_thread.run_sync(shutil.rmtree, plan.target, True)
            return False
        analyzer.models[plan.lang] = model
        state = "" if plan.fresh else " (stale: used until the new one is trained)"
        log.info("loaded %s/%s from %s%s", plan.bot, plan.lang, plan.load_from, state)
        return True

    async def _train(self, plan: Any) -> None:
        """Train in a child process (no GIL contention with the gateway), then load the model."""
        from qandu_nlu.train import job

        if not self.config.train_on_start:
            log.warning("the %s/%s model is missing or stale; run 'qandu bot train %s'",
                        plan.bot, plan.lang, plan.bot)  # fmt: skip
            return
        assert self._app is not None
        bot = self._app.bots[plan.bot]
        spec = job(bot.name, bot.path, bot.languages, plan.lang, plan.target, self.config)
        log.info("training %s/%s (%s)", plan.bot, plan.lang, plan.reason)
        errors = bytearray()
        async with trio.open_nursery() as nursery:
            process = await nursery.start(
                functools.partial(
                    trio.run_process,
                    [sys.executable, "-m", "qandu_nlu.train", spec],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    check=False,
                )
            )
            nursery.start_soon(_collect, process.stderr, errors)
            async for line in _lines(process.stdout):
                done, _, total = line.removeprefix("epoch ").partition("/")
                if done.isdigit() and total.isdigit() and (int(done) % 10 == 0 or done == total):
                    log.info("training %s/%s: epoch %s/%s", plan.bot, plan.lang, done, total)
        if process.returncode != 0:
            tail = errors.decode(errors="replace").strip().splitlines()[-5:]
            log.error("training %s/%s failed (exit %s):\n  %s", plan.bot, plan.lang,
                      process.returncode, "\n  ".join(tail))  # fmt: skip
            return
        await self._load(attrs.evolve(plan, fresh=True, load_from=plan.target))
        self._settle()

    def _settle(self, *, force: bool = False) -> None:
        """Release analyses waiting for a bot whose languages all have a model (or never will)."""
        for name, event in self._settled.items():
            analyzer, data = self.analyzers.get(name), self.data.get(name)
            ready = analyzer is not None and (data is None or set(data.examples) <= set(analyzer.models))
            if force or ready:
                event.set()

    async def wait_ready(self, bot: str) -> None:
        """Wait until ``bot``'s models are loaded or trained (tests and tools use it)."""
        await self._settled[bot].wait()

    @property
    def trained(self) -> bool:
        """Whether every missing or stale model was trained (or its training failed)."""
        return self._trained.is_set()

    async def wait_trained(self) -> None:
        """Wait until every missing or stale model was trained (or its training failed)."""
        await self._trained.wait()

    # -- analysis --------------------------------------------------------------------------

    @hookimpl
    async def qandu_analyze_message(self, message: Message, conversation: Conversation) -> Analysis | None:
        """Annotate a customer's text message; remember its slots in the conversation.

        The new state goes back to the core as a context change, stored in the same
        transaction as the annotations (only when slots, intent name or language changed).
        """
        text = (message.content.text or "").strip()
        if message.sender.type != "user" or not text or self._app is None:
            return None
        bot = conversation.bot if conversation.bot in self._settled else self._app.default_bot
        settled = self._settled.get(bot or "")
        if settled is None:
            return None
        if not settled.is_set():  # only the first moments after start wait: a backlog never grows
            with trio.move_on_at(self._wait_until):
                await settled.wait()
        analyzer = self.analyzers.get(bot or "")
        if analyzer is None:
            log.warning("message %s not analysed: the NLU is still starting", message.id)
            return None
        today = message.timestamp.astimezone(self.timezone).date()
        annotations, state = await trio.to_thread.run_sync(
            analyzer.analyze,
            text[:MAX_CHARS],
            conversation.context,
            today,
            message.seq,
            limiter=self._limiter,
        )
        from qandu_nlu.context import CONTEXT_KEY, State

        if state is not None and not state.same(State.from_context(conversation.context)):
            return Analysis(annotations, {CONTEXT_KEY: state.to_json()})
        return Analysis(annotations)


async def _lines(stream: Any) -> AsyncIterator[str]:
    """The lines a child process writes to ``stream``."""
    buffer = b""
    while chunk := await stream.receive_some(65536):
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        for line in complete:
            yield line.decode(errors="replace").strip()
    if buffer:
        yield buffer.decode(errors="replace").strip()


async def _collect(stream: Any, into: bytearray, limit: int = 65536) -> None:
    """Keep the last ``limit`` bytes of ``stream``."""
    while chunk := await stream.receive_some(65536):
        into += chunk
        del into[:-limit]
