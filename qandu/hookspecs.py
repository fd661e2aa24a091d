"""Every ``qandu_*`` hook a plugin can implement, in the order the server calls them.

Hooks written ``async def`` are *async hooks*: implementations must be ``async def`` too.
The core calls them itself (``qandu.plugins.PluginManager.call_first/call_all/notify``),
each implementation under ``[dispatch] hook_timeout`` and inside an error boundary: an
implementation that raises or times out is logged, counted and skipped.  Sync hooks are
called once while the app is assembled.  Implementations may accept fewer arguments than
the spec lists.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from qandu.app import App
    from qandu.bots import Bot
    from qandu.domain import Conversation, Message, StatusChange, User
    from qandu.pipeline import Reply
    from qandu.plugins import Service
    from qandu.storage import MessageDraft

hookspec = pluggy.HookspecMarker("qandu")

# == 1. Registration (sync, while the app is assembled) =====================================


@hookspec
def qandu_register_services(app: App) -> list[Service] | None:
    """Return long-running services to start in the server's root nursery.

    A service is ``async def run(app, *, task_status)``; it calls ``task_status.started()``
    once it is ready and runs until cancelled at shutdown.

    :param app: The application being assembled.
    :returns: A list of :class:`qandu.plugins.Service`, or ``None``.
    """


@hookspec
def qandu_register_routes(app: App) -> list[Any] | None:
    """Return extra HTTP routes (Starlette ``Route`` objects) to mount in the API.

    :param app: The application being assembled.
    :returns: A list of routes, or ``None``.
    """


@hookspec
def qandu_register_commands(cli: click.Group) -> None:
    """Add sub-commands to the ``qandu`` command line.

    :param cli: The root ``click`` group; call ``cli.add_command(...)``.
    """


# == 2. Lifecycle (async) ===================================================================


@hookspec
async def qandu_startup(app: App) -> None:
    """Prepare the plugin once storage is open, before the server accepts connections.

    An exception here is logged and the plugin's other hooks still run; a plugin that
    cannot work without its start-up should raise in its constructor instead.

    :param app: The running application (config, storage, bots).
    """


@hookspec
async def qandu_shutdown(app: App) -> None:
    """Release what ``qandu_startup`` acquired; called once connections are closed.

    :param app: The running application.
    """


# == 3. Inbound pipeline (async) ============================================================


@hookspec
async def qandu_message_incoming(draft: MessageDraft, conversation: Conversation, user: User) -> Any:
    """Inspect a message before it is stored: accept, transform or reject it.

    Called in order for every implementation; each sees the draft the previous one returned.
    Runs on the sender's hot path, so keep it fast.  A failing implementation is skipped
    (the message is kept as it was).

    :param draft: The message as the client sent it.
    :param conversation: Its conversation.
    :param user: The sender.
    :returns: ``None`` to accept unchanged, a new ``MessageDraft`` to replace it, or
        ``qandu.Reject(reason)`` to refuse it (the client gets a ``rejected`` error).
    """


@hookspec
async def qandu_analyze_message(message: Message, conversation: Conversation) -> dict[str, Any] | None:
    """Annotate a stored message (intent, entities, sentiment, language...).

    All results are merged into one dictionary (later plugins win on equal keys) and
    handed to ``qandu_message_stored`` and ``qandu_reply``.

    :param message: The stored message.
    :param conversation: Its conversation.
    :returns: A dictionary of annotations, or ``None``.
    """


@hookspec
async def qandu_message_stored(
    message: Message, conversation: Conversation, annotations: dict[str, Any]
) -> None:
    """React to a message that was stored and delivered (tagging, analytics, routing).

    :param message: The stored message.
    :param conversation: Its conversation.
    :param annotations: The merged results of ``qandu_analyze_message``.
    """


@hookspec(firstresult=True)
async def qandu_reply(
    message: Message, conversation: Conversation, annotations: dict[str, Any], bot: Bot
) -> Reply | None:
    """Answer a customer's message on behalf of ``bot``, or return ``None`` to pass.

    Called only while the bot owns the conversation (status ``active``, no assigned agent).
    If no implementation answers, the core hands the conversation to the human queue.

    Stops at first non-None result.

    :param message: The customer's stored message.
    :param conversation: Its conversation.
    :param annotations: The merged results of ``qandu_analyze_message``.
    :param bot: The bot serving the conversation.
    :returns: A :class:`qandu.Reply` (``handoff=True`` to pass to a person), or ``None``.
    """


# == 4. Conversations (async) ===============================================================


@hookspec
async def qandu_conversation_started(conversation: Conversation, bot: Bot | None) -> None:
    """React to a new conversation (after the bot's greeting was stored).

    :param conversation: The new conversation.
    :param bot: The bot serving it, if any.
    """


@hookspec
async def qandu_conversation_status_changed(conversation: Conversation, change: StatusChange) -> None:
    """React to a status change (active, pending, resolved, archived).

    :param conversation: The conversation after the change.
    :param change: Who changed it, from what to what, when and why.
    """
