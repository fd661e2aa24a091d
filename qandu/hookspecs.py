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
    from pathlib import Path

    import click

    from qandu.analysis import Analysis
    from qandu.app import App
    from qandu.assist import Action, ActionResult, Suggestion
    from qandu.bots import Bot
    from qandu.domain import Conversation, Message, StatusChange, User
    from qandu.events import Event
    from qandu.files import Upload, Verdict
    from qandu.pipeline import Reply
    from qandu.plugins import Service
    from qandu.routing import Candidate, PriorityAssessment, RouteDecision
    from qandu.storage import MessageDraft

hookspec = pluggy.HookspecMarker("qandu")

# == 1. Registration (sync, while the app is assembled) =====================================


@hookspec
def qandu_register_services(app: App) -> list[Service] | None:
    """Return long-running services to start in the server's root nursery.

    A service is ``async def run(app, *, task_status)``; it calls ``task_status.started()``
    once it is ready and runs until cancelled at shutdown.  ``Service(..., singleton=True)``
    runs on one node of the cluster at a time (its ``run`` may take a ``lease`` keyword).

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
async def qandu_analyze_message(
    message: Message, conversation: Conversation
) -> dict[str, Any] | Analysis | None:
    """Annotate a stored message (intent, entities, sentiment, language...).

    All results are merged into one dictionary (later plugins win on equal keys) and
    handed to ``qandu_message_stored`` and ``qandu_reply``.  An :class:`qandu.Analysis` also
    carries changes to the conversation's context, stored in the same transaction as the
    annotations and the automatic tags.  Called again when the message is
    edited (``message.edited_at`` set, same ``seq``): the new results replace the stored ones
    and are sent to staff; nothing else runs for an edit (the bot does not answer again).

    :param message: The stored message.
    :param conversation: Its conversation.
    :returns: A dictionary of annotations, an :class:`qandu.Analysis`, or ``None``.
    """


@hookspec
async def qandu_message_stored(
    message: Message, conversation: Conversation, annotations: dict[str, Any]
) -> None:
    """React to a message that was stored, delivered, analysed and routed (analytics counts it).

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


# == 5. Routing (async): priority, queue, assignment =========================================


@hookspec
async def qandu_assess_priority(
    conversation: Conversation, message: Message | None, annotations: dict[str, Any]
) -> PriorityAssessment | None:
    """Assess how urgent a conversation is (low, medium or high) and say why.

    Called when a conversation starts (``message`` is ``None``; the ``initialize`` context,
    such as the customer's plan, is in ``conversation.context``) and for every customer
    message after it was analysed.  The highest assessment of all implementations wins
    (the first one on equal levels); an automatic assessment only ever raises a
    conversation's priority, and its reason is recorded with it.

    :param conversation: The conversation as it is now (priority, context, tags, team).
    :param message: The customer's stored message, or ``None`` at the start.
    :param annotations: The merged results of ``qandu_analyze_message`` (empty at the start).
    :returns: A :class:`qandu.routing.PriorityAssessment`, or ``None`` for no opinion.
    """


@hookspec(firstresult=True)
async def qandu_route_conversation(
    conversation: Conversation, candidates: list[Candidate]
) -> RouteDecision | None:
    """Pick the agent who should take a conversation waiting in the queue.

    Called when the queue is drained, once per waiting conversation in queue order
    (priority, then waiting time).  ``candidates`` are the agents who are online, present
    and below their limit of concurrent chats; the core then assigns atomically, checking
    the agent's load again, and asks again if that agent filled up meanwhile.

    Stops at first non-None result.

    :param conversation: The waiting conversation (priority, team, context, tags).
    :param candidates: Available agents with their load, limit, skills, languages and teams.
    :returns: A :class:`qandu.routing.RouteDecision` naming one candidate, or ``None`` to
        leave the conversation waiting.
    """


# == 6. Events (async) ======================================================================


@hookspec
async def qandu_event(event: Event) -> None:
    """Observe something that happened (assignment, queueing, SLA breach, agent status...).

    All implementations run, one after another, each under the hook deadline; keep them short
    and hand long work to a service.  ``qandu.events.CORE_EVENTS`` lists the core's events.

    :param event: The :class:`qandu.events.Event` (name, conversation id, time, data).
    """


# == 7. Bot assistance: actions and reply suggestions =======================================


@hookspec
def qandu_register_actions(bot: Bot) -> list[Action] | None:
    """Return the actions (automated tasks) a bot can run, such as an order lookup.

    Called once per bot at start-up by the plugin that answers for bots.  An action runs
    when the customer's intent is one of ``Action.intents`` and its required arguments are
    known, or when the customer types its slash command (``/order NL-48213``).

    :param bot: The bot the actions are for (its folder holds the bot's data files).
    :returns: A list of :class:`qandu.assist.Action`, or ``None``.
    """


@hookspec(firstresult=True)
async def qandu_run_action(
    action: Action,
    args: dict[str, str],
    conversation: Conversation,
    message: Message,
    bot: Bot,
    language: str,
) -> ActionResult | None:
    """Run ``action`` with ``args``; return ``None`` if it is not one of yours.

    Stops at first non-None result.

    :param action: The action, as registered with ``qandu_register_actions``.
    :param args: Argument values by name (the required ones are always present).
    :param conversation: The conversation the customer asked in.
    :param message: The customer's message that triggered the action.
    :param bot: The bot serving the conversation.
    :param language: The language to answer in (``en``, ``de``...).
    :returns: A :class:`qandu.assist.ActionResult`, or ``None``.
    """


@hookspec
async def qandu_suggest_replies(
    conversation: Conversation, messages: list[Message], annotations: dict[str, Any], bot: Bot | None
) -> list[Suggestion] | None:
    """Suggest replies an agent could send to the customer's latest message.

    Called while a person handles the conversation: after each customer message (pushed to
    the agents as a ``suggestions`` frame) and for ``GET /api/conversations/{id}/suggestions``.
    The suggestions of all implementations are merged and ranked by score.

    :param conversation: The conversation.
    :param messages: Its recent public messages, oldest first; the last customer message is
        the one to answer.
    :param annotations: The merged results of ``qandu_analyze_message`` for that message.
    :param bot: The conversation's bot (its knowledge and templates), if any.
    :returns: A list of :class:`qandu.assist.Suggestion` (score in [0, 1]), or ``None``.
    """


# == 8. Files (async): upload limits and scanning ===========================================


@hookspec
async def qandu_limit_upload(user: User, conversation: Conversation) -> int | None:
    """Return the largest file, in bytes, that ``user`` may upload to ``conversation``.

    Called before the body of an upload is read; the smallest answer and ``[files]
    max_bytes`` win, and the upload is cut off with 413 as soon as it passes that size.

    :param user: Who is uploading (``user.role``: customer, support, admin).
    :param conversation: Where the file will be shared.
    :returns: A limit in bytes, or ``None`` for no opinion.
    """


@hookspec
async def qandu_scan_file(upload: Upload, path: Path, user: User) -> Verdict | None:
    """Judge an uploaded file before anyone else can see it: clean, or reject it.

    Called for every upload once it is completely received, before it is stored or
    offered to anyone; every implementation is called, the verdicts are recorded with the
    upload, and any rejection wins: the file is quarantined (kept for admins, never served
    to others) and the uploader gets a ``rejected`` error with the reason.  Each
    implementation runs under ``[files] scan_timeout``; one that raises or times out counts
    as a rejection unless ``[files] scan_failure = "accept"``.  Do CPU-heavy work in a
    thread (``trio.to_thread.run_sync``).

    :param upload: The upload: sanitised name, sniffed ``mime_type``, the client's
        ``declared_type``, ``size``, ``sha256``, ``status`` ``pending``.
    :param path: The received file on local disk (valid only during the call; do not keep it).
    :param user: The uploader.
    :returns: A :class:`qandu.files.Verdict` (``Verdict.accept(...)`` or
        ``Verdict.reject(reason, ...)``), or ``None`` if the file is none of your business.
    """


# == 9. Tags (async) ========================================================================


@hookspec
async def qandu_tag_conversation(
    conversation: Conversation, message: Message, annotations: dict[str, Any]
) -> list[str] | None:
    """Return tags a stored message earns its conversation (automatic tagging).

    Called in the post-store pipeline for every public customer and agent message, after
    ``qandu_analyze_message``.  The tags of all implementations are merged, normalised
    (lower case, inner spaces as ``-``) and added with source ``auto``; a tag an agent
    removed is never added back automatically, and invalid tags are logged and dropped.

    :param conversation: The conversation as it is now (its current ``tags`` included).
    :param message: The stored message.
    :param annotations: The merged results of ``qandu_analyze_message`` (intent, entities,
        sentiment, language...).
    :returns: A list of tags to add, or ``None``.
    """
