"""The async ``Store``: every method runs a storage operation in the store's own threads."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import pathlib
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any, Literal, TypeVar

import peewee

from qandu.domain import Conversation, Message, Reaction, Receipt, StatusChange, User
from qandu.storage import analysis, annotations, conversations, messages, receipts, users
from qandu.storage.drafts import UNSET, MessageDraft, Unset
from qandu.storage.lanes import Lanes, LaneStatistics, StoreClosed
from qandu.storage.migrations import apply_migrations
from qandu.storage.models import bind
from qandu.storage.urls import Backend, StorageTarget, make_database, parse_url, prepare_target

T = TypeVar("T")
Cursor = str | tuple[dt.datetime | str, str]


class Store:
    """QanDu's storage: users, conversations, messages, reactions, receipts.

    Use as ``async with Store.from_url(url, data_dir=...) as store:``.  Opening starts the
    database threads and applies pending migrations; closing commits every queued write,
    then stops the threads and closes their connections.  Writes return only once committed.
    """

    def __init__(self, target: StorageTarget, *, readers: int = 2, batch_cap: int = 256) -> None:
        self.target = target
        self._database = make_database(target)
        self._db = bind(self._database, target.backend)
        self._readers = readers
        self._batch_cap = batch_cap
        self._lanes: Lanes | None = None

    @classmethod
    def from_url(cls, url: str, *, data_dir: pathlib.Path, **options: Any) -> Store:
        """Build a store for ``sqlite:///path`` or ``postgresql://...[?schema=name]`` (not opened)."""
        return cls(parse_url(url, data_dir=data_dir), **options)

    @property
    def backend(self) -> Backend:
        return self.target.backend

    def statistics(self) -> LaneStatistics:
        """Group-commit counters of the writer thread."""
        return self._lanes.statistics() if self._lanes is not None else LaneStatistics()

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        """Start the threads and migrate the schema."""
        if self._lanes is not None:
            raise RuntimeError("the store is already open")
        lanes = Lanes(
            self._database,
            write_transaction=self._write_transaction,
            setup_reader=self._setup_reader,
            readers=self._readers,
            batch_cap=self._batch_cap,
        )
        await lanes.start(self._migrate)
        self._lanes = lanes

    async def aclose(self) -> None:
        """Commit queued writes, stop the threads, close the connections."""
        lanes, self._lanes = self._lanes, None
        if lanes is not None:
            await lanes.aclose()

    async def __aenter__(self) -> Store:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _migrate(self) -> None:
        prepare_target(self.target, self._database)
        apply_migrations(self._database, self.backend)

    def _write_transaction(self) -> Any:
        if self.backend == "sqlite":
            return self._database.atomic(lock_type="IMMEDIATE")
        return self._database.atomic()

    def _setup_reader(self) -> None:
        if self.backend == "sqlite":
            self._database.execute_sql("PRAGMA query_only = 1")
        else:
            self._database.execute_sql("SET default_transaction_read_only = on")

    async def _write(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        return await self._require_open().write(functools.partial(fn, self._db, *args, **kwargs))

    async def _read(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        return await self._require_open().read(functools.partial(fn, self._db, *args, **kwargs))

    def _require_open(self) -> Lanes:
        if self._lanes is None:
            raise StoreClosed("the store is not open")
        return self._lanes

    # -- users -------------------------------------------------------------------------------

    async def create_user(
        self,
        *,
        kind: str,
        role: str,
        name: str,
        email: str | None = None,
        external_id: str | None = None,
        password_hash: str | None = None,
        avatar: str | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> User:
        """Create a user; ``Conflict`` if the email or external id is taken."""
        return await self._write(
            users.create_user,
            kind=kind,
            role=role,
            name=name,
            email=email,
            external_id=external_id,
            password_hash=password_hash,
            avatar=avatar,
            attributes=attributes,
        )

    async def get_user(self, user_id: str) -> User | None:
        return await self._read(users.get_user, user_id)

    async def get_users(self, ids: Iterable[str]) -> dict[str, User]:
        return await self._read(users.get_users, list(ids))

    async def list_users(self, role: str | None = None) -> list[User]:
        return await self._read(users.list_users, role)

    async def find_login(self, email: str) -> tuple[User, str | None] | None:
        """Return the user with ``email`` (case-insensitive) and their password hash."""
        return await self._read(users.find_login, email)

    async def get_or_create_external_user(
        self, external_id: str, *, name: str, email: str | None = None
    ) -> User:
        """Return the site-verified customer ``external_id``, creating it on first sight."""
        user = await self._read(users.find_external_user, external_id)
        if user is not None:
            return user
        return await self._write(users.get_or_create_external_user, external_id, name=name, email=email)

    async def ensure_bot_user(self, bot_name: str, *, display_name: str, avatar: str | None = None) -> User:
        """Create or refresh the user ``bot:<bot_name>`` (kind and role ``ai``)."""
        return await self._write(users.ensure_bot_user, bot_name, display_name=display_name, avatar=avatar)

    async def set_password(self, user_id: str, password_hash: str | None) -> None:
        await self._write(users.set_password, user_id, password_hash)

    async def get_user_attributes(self, user_id: str) -> dict[str, Any]:
        """Extension data of a user (for example an agent's skills)."""
        return await self._read(users.get_attributes, user_id)

    async def update_user_attributes(self, user_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Merge ``changes`` into the user's attributes (``None`` removes a key); return them all."""
        return await self._write(users.update_attributes, user_id, changes)

    # -- conversations -----------------------------------------------------------------------

    async def create_conversation(
        self,
        *,
        customer: User,
        bot_user: User | None,
        source: str = "api",
        context: dict[str, Any] | None = None,
        custom_fields: dict[str, Any] | None = None,
        priority: str = "medium",
    ) -> Conversation:
        """Start an active conversation: the customer, plus the bot as an ``ai`` participant."""
        return await self._write(
            conversations.create_conversation,
            customer=customer,
            bot_user=bot_user,
            source=source,
            context=context,
            custom_fields=custom_fields,
            priority=priority,
        )

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        return await self._read(conversations.get_conversation, conversation_id)

    async def list_conversations(
        self,
        *,
        participant_id: str | None = None,
        status: str | Sequence[str] | None = None,
        assignee_id: str | None = None,
        unassigned: bool = False,
        limit: int = 50,
        before: Cursor | None = None,
        tag: str | None = None,
    ) -> list[Conversation]:
        """Newest activity first.  Next page: ``before=conversation_cursor(page[-1])``.

        ``participant_id`` matches current participants only (``left_at`` unset); ``tag``
        keeps conversations that have that (active) tag.
        """
        return await self._read(
            conversations.list_conversations,
            participant_id=participant_id,
            status=status,
            assignee_id=assignee_id,
            unassigned=unassigned,
            limit=limit,
            before=before,
            tag=tag,
        )

    async def add_participant(self, conversation_id: str, user: User) -> Conversation:
        return await self._write(conversations.add_participant, conversation_id, user)

    async def remove_participant(self, conversation_id: str, user_id: str) -> Conversation:
        return await self._write(conversations.remove_participant, conversation_id, user_id)

    async def set_status(
        self, conversation_id: str, status: str, *, by: str | None, reason: str | None = None
    ) -> tuple[Conversation, StatusChange]:
        """Change status as ``qandu.lifecycle`` allows (else ``InvalidTransition``); keep history."""
        return await self._write(conversations.set_status, conversation_id, status, by=by, reason=reason)

    async def status_history(self, conversation_id: str) -> list[StatusChange]:
        return await self._read(conversations.status_history, conversation_id)

    async def update_context(self, conversation_id: str, changes: dict[str, Any]) -> Conversation:
        """Merge ``changes`` into the conversation's context (a ``None`` value removes a key).

        Done in the writer thread, so concurrent updates of different keys never lose
        each other (unlike reading the context and writing it back whole).
        """
        return await self._write(conversations.update_context, conversation_id, changes)

    async def update_conversation(
        self,
        conversation_id: str,
        *,
        priority: str | Unset = UNSET,
        tags: Sequence[str] | Unset = UNSET,
        assignee_id: str | Unset | None = UNSET,
        context: dict[str, Any] | Unset | None = UNSET,
        custom_fields: dict[str, Any] | Unset | None = UNSET,
    ) -> Conversation:
        """Change only the fields given."""
        return await self._write(
            conversations.update_conversation,
            conversation_id,
            priority=priority,
            tags=tags,
            assignee_id=assignee_id,
            context=context,
            custom_fields=custom_fields,
        )

    # -- messages ----------------------------------------------------------------------------

    async def append_message(
        self, draft: MessageDraft, *, on_commit: Callable[[tuple[Message, bool]], None] | None = None
    ) -> tuple[Message, bool]:
        """Store a message with the conversation's next seq; ``(stored, False)`` for a repeat.

        ``on_commit((message, created))`` runs in the trio thread right after the commit, in
        seq order across concurrent appends (the gateway publishes from it).
        """
        return await self._require_open().write(
            functools.partial(messages.append_message, self._db, draft), on_commit=on_commit
        )

    async def append_messages(self, drafts: Sequence[MessageDraft]) -> list[tuple[Message, bool]]:
        """Append several drafts in one job: all are stored, or none."""
        return await self._write(messages.append_messages, list(drafts))

    async def get_message(self, message_id: str) -> Message | None:
        return await self._read(messages.get_message, message_id)

    async def edit_message(self, message_id: str, *, text: str, editor_id: str) -> Message:
        return await self._write(messages.edit_message, message_id, text=text, editor_id=editor_id)

    async def delete_message(self, message_id: str, *, by_id: str, allow_any: bool = False) -> Message:
        return await self._write(messages.delete_message, message_id, by_id=by_id, allow_any=allow_any)

    async def history(
        self,
        conversation_id: str,
        *,
        before_seq: int | None = None,
        after_seq: int | None = None,
        limit: int = 50,
        include_private: bool = True,
        with_annotations: bool = False,
    ) -> list[Message]:
        """A page of messages in ascending seq (see :func:`qandu.storage.messages.history`).

        ``with_annotations`` attaches each message's stored annotations (for staff only).
        """
        return await self._read(
            annotations.history_with_annotations if with_annotations else messages.history,
            conversation_id,
            before_seq=before_seq,
            after_seq=after_seq,
            limit=limit,
            include_private=include_private,
        )

    async def save_annotations(self, message_id: str, values: dict[str, Any]) -> None:
        """Store (or replace) what the analysers found in a message (JSON-serialisable)."""
        await self._write(annotations.save_annotations, message_id, values)

    async def save_analysis(
        self,
        message_id: str,
        conversation_id: str,
        *,
        annotations: dict[str, Any],
        context: dict[str, Any] | None = None,
        tags: Sequence[str] = (),
    ) -> tuple[Conversation, list[str]]:
        """Store a message's analysis in one transaction: its annotations (if any), changes to
        the conversation's context (a ``None`` value removes a key) and automatic ``tags``.

        Returns the conversation afterwards and the tags that were new.
        """
        return await self._write(
            analysis.save_analysis,
            message_id,
            conversation_id,
            annotations=annotations,
            context=context or {},
            tags=list(tags),
        )

    async def get_annotations(self, message_id: str) -> dict[str, Any] | None:
        """The stored annotations of one message, or ``None``."""
        found = await self._read(annotations.load_annotations, [message_id])
        return found.get(message_id)

    async def add_reaction(
        self, message_id: str, *, user_id: str, emoji: str
    ) -> tuple[Message, Reaction, bool]:
        return await self._write(messages.add_reaction, message_id, user_id=user_id, emoji=emoji)

    async def remove_reaction(self, message_id: str, *, user_id: str, emoji: str) -> tuple[Message, bool]:
        return await self._write(messages.remove_reaction, message_id, user_id=user_id, emoji=emoji)

    # -- receipts ----------------------------------------------------------------------------

    async def record_receipt(
        self, conversation_id: str, *, user_id: str, status: Literal["delivered", "read"], seq: int
    ) -> tuple[Receipt, bool]:
        """Raise a participant's delivered/read mark (monotonic, clamped to the last seq)."""
        return await self._write(
            receipts.record_receipt, conversation_id, user_id=user_id, status=status, seq=seq
        )

    async def receipts(self, conversation_id: str) -> list[Receipt]:
        return await self._read(receipts.load_receipts, conversation_id)

    # -- core modules with their own tables (files...) ---------------------------------------

    async def run_write(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run ``fn(db, *args, **kwargs)`` as a job of the writer thread; return once committed.

        ``fn`` must be pure database work (a failed batch is replayed job by job).
        """
        return await self._write(fn, *args, **kwargs)

    async def run_read(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run ``fn(db, *args, **kwargs)`` in a reader thread."""
        return await self._read(fn, *args, **kwargs)

    async def migrate_plugin(self, plugin: str, migrations: Sequence[Callable[[Any], None]]) -> int:
        """Apply a plugin's pending schema migrations (see :mod:`qandu.storage.plugin_schema`)."""
        from qandu.storage.plugin_schema import apply_plugin_migrations

        return await self._write(apply_plugin_migrations, plugin, list(migrations))


@contextlib.asynccontextmanager
async def open_store(url: str, *, data_dir: pathlib.Path, **options: Any) -> AsyncIterator[Store]:
    """Open a store for the duration of the ``async with`` block."""
    async with Store.from_url(url, data_dir=data_dir, **options) as store:
        yield store


def migrate(url: str, *, data_dir: pathlib.Path) -> int:
    """Apply pending migrations synchronously (for ``qandu migrate``); return the schema version."""
    target = parse_url(url, data_dir=data_dir)
    database = make_database(target)
    try:
        prepare_target(target, database)
        return apply_migrations(database, target.backend)
    finally:
        with contextlib.suppress(peewee.PeeweeException):
            database.close()
