"""The ``autoreply`` plugin: the bot's replies, actions, handoffs and agent suggestions."""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

import trio

from qandu import Action, ActionResult, Conversation, Message, Reply, Suggestion, hookimpl
from qandu_autoreply import orders
from qandu_autoreply.actions import ActionRegistry
from qandu_autoreply.config import AutoReplyConfig
from qandu_autoreply.knowledge import KnowledgeIndex, build_indexes
from qandu_autoreply.llm import LlmClient
from qandu_autoreply.policy import BotData, Responder
from qandu_autoreply.responses import Responses
from qandu_autoreply.suggest import suggest

if TYPE_CHECKING:
    from qandu.app import App
    from qandu.bots import Bot

log = logging.getLogger("qandu_autoreply")

#: Share of ``[dispatch] hook_timeout`` the LLM request may use at most.
LLM_SHARE_OF_HOOK_TIMEOUT = 0.8


class AutoReply:
    """Answer customers from the bot's templates, knowledge base and actions; hand off to people."""

    Config = AutoReplyConfig
    requires = ()

    def __init__(self, config: AutoReplyConfig) -> None:
        self.config = config
        self.responder: Responder | None = None
        self._orders: dict[str, orders.OrderBook] = {}

    # -- lifecycle -------------------------------------------------------------------------

    @hookimpl
    async def qandu_startup(self, app: App) -> None:
        """Index every bot's knowledge base (per language) and load templates and actions."""
        llm = None
        if self.config.llm.enabled:
            timeout = min(
                self.config.llm.timeout, app.config.dispatch.hook_timeout * LLM_SHARE_OF_HOOK_TIMEOUT
            )
            if timeout < self.config.llm.timeout:
                log.warning(
                    "plugins.autoreply.llm.timeout %.1fs is too close to [dispatch] hook_timeout: "
                    "using %.1fs",
                    self.config.llm.timeout,
                    timeout,
                )
            llm = LlmClient(self.config.llm, timeout=timeout)
        responder = Responder(self.config, app.pm, app.store, llm)
        for bot in app.bots.values():
            indexes, responses = await trio.to_thread.run_sync(self._prepare, bot)
            actions = [a for group in app.pm.hook.qandu_register_actions(bot=bot) if group for a in group]
            log.info(
                "bot %s: %d passages (%s), %d actions",
                bot.name,
                sum(len(index.passages) for index in indexes.values()),
                ", ".join(sorted(indexes)) or "no knowledge base",
                len(actions),
            )
            responder.bots[bot.name] = BotData(indexes, responses, ActionRegistry(actions))
        self.responder = responder

    def _prepare(self, bot: Bot) -> tuple[dict[str, KnowledgeIndex], Responses]:
        """Load one bot's data (in a worker thread: file reads and index building)."""
        indexes = build_indexes(bot.path / "knowledge", bot.default_language)
        responses = Responses.load(bot.path / "responses.toml", bot.default_language)
        orders_path = bot.path / self.config.orders_file if self.config.orders_file else None
        if orders_path is not None and orders_path.is_file():
            today = dt.date.fromisoformat(self.config.orders_today) if self.config.orders_today else None
            self._orders[bot.name] = orders.OrderBook.load(
                orders_path, responses, today=today, return_days=self.config.return_days
            )
        return indexes, responses

    @hookimpl
    async def qandu_shutdown(self) -> None:
        if self.responder is not None and self.responder.llm is not None:
            await self.responder.llm.aclose()

    # -- answering -------------------------------------------------------------------------

    @hookimpl
    async def qandu_reply(
        self, message: Message, conversation: Conversation, annotations: dict[str, Any], bot: Bot
    ) -> Reply | None:
        if self.responder is None:
            return None
        return await self.responder.reply(message, conversation, annotations, bot)

    @hookimpl
    async def qandu_suggest_replies(
        self,
        conversation: Conversation,
        messages: list[Message],
        annotations: dict[str, Any],
        bot: Bot | None,
    ) -> list[Suggestion] | None:
        if self.responder is None:
            return None
        return await suggest(self.responder, conversation, messages, annotations, bot)

    # -- the demo order actions ----------------------------------------------------------

    @hookimpl
    def qandu_register_actions(self, bot: Bot) -> list[Action] | None:
        if bot.name in self._orders:
            return list(orders.ACTIONS)
        return None

    @hookimpl
    async def qandu_run_action(
        self, action: Action, args: dict[str, str], bot: Bot, language: str
    ) -> ActionResult | None:
        book = self._orders.get(bot.name)
        return book.run(action.name, args, language) if book is not None else None
