"""peewee models, built per database so that several stores can live in one process.

The tables themselves are created by :mod:`qandu.storage.migrations`; these classes map onto
them (a test checks that every model column exists in the migrated schema).
"""

from __future__ import annotations

from typing import Any

import attrs
import peewee

from qandu.storage.fields import JSONField, UtcDateTimeField
from qandu.storage.rawsql import TableSql


@attrs.frozen
class Models:
    """The model classes bound to one database."""

    User: Any
    Conversation: Any
    Participant: Any
    Message: Any
    Reaction: Any
    Receipt: Any
    StatusChange: Any

    def all(self) -> list[type[peewee.Model]]:
        return [getattr(self, field.name) for field in attrs.fields(Models)]


def define_models(database: peewee.Database, *, text_types: bool) -> Models:
    """Return model classes bound to ``database``.

    :param text_types: store timestamps and JSON as text (SQLite) rather than
        ``TIMESTAMPTZ``/``JSONB`` (PostgreSQL).
    """

    def ts(**kwargs: Any) -> UtcDateTimeField:
        return UtcDateTimeField(as_text=text_types, **kwargs)

    def js(**kwargs: Any) -> JSONField:
        return JSONField(as_text=text_types, **kwargs)

    class Base(peewee.Model):
        class Meta:
            database = None
            legacy_table_names = False

    Base._meta.set_database(database)

    class User(Base):
        id = peewee.TextField(primary_key=True)
        kind = peewee.TextField()
        role = peewee.TextField()
        name = peewee.TextField()
        email = peewee.TextField(null=True, unique=True)
        external_id = peewee.TextField(null=True, unique=True)
        password_hash = peewee.TextField(null=True)
        avatar = peewee.TextField(null=True)
        attributes = js()
        created_at = ts()

        class Meta:
            table_name = "users"

    class Conversation(Base):
        id = peewee.TextField(primary_key=True)
        status = peewee.TextField()
        priority = peewee.TextField()
        source = peewee.TextField()
        context = js(null=True)
        custom_fields = js(null=True)
        tags = js()
        bot = peewee.TextField(null=True)
        assignee_id = peewee.TextField(null=True)
        last_seq = peewee.BigIntegerField(default=0)
        started_at = ts()
        last_message_at = ts()
        updated_at = ts()
        # routing (see qandu.storage.routing)
        priority_reason = peewee.TextField(null=True)
        team_id = peewee.TextField(null=True)
        queued_at = ts(null=True)
        first_response_at = ts(null=True)
        first_response_due = ts(null=True)
        next_response_due = ts(null=True)
        first_response_breached = peewee.BooleanField(default=False)
        next_response_breached = peewee.BooleanField(default=False)

        class Meta:
            table_name = "conversations"

    class Participant(Base):
        id = peewee.AutoField()
        conversation = peewee.ForeignKeyField(Conversation, column_name="conversation_id")
        user = peewee.ForeignKeyField(User, column_name="user_id")
        type = peewee.TextField()
        role = peewee.TextField()
        joined_at = ts()
        left_at = ts(null=True)

        class Meta:
            table_name = "participants"

    class Message(Base):
        id = peewee.TextField(primary_key=True)
        conversation = peewee.ForeignKeyField(Conversation, column_name="conversation_id")
        seq = peewee.BigIntegerField()
        client_msg_id = peewee.TextField(null=True)
        sender_id = peewee.TextField()
        sender_type = peewee.TextField()
        sender_name = peewee.TextField()
        sender_avatar = peewee.TextField(null=True)
        content_type = peewee.TextField()
        text = peewee.TextField(null=True)
        file_url = peewee.TextField(null=True)
        metadata = js(null=True)
        reply_to = peewee.TextField(null=True)
        attachments = js()
        private = peewee.BooleanField(default=False)
        created_at = ts()
        edited_at = ts(null=True)
        deleted_at = ts(null=True)

        class Meta:
            table_name = "messages"

    class Reaction(Base):
        id = peewee.AutoField()
        message = peewee.ForeignKeyField(Message, column_name="message_id")
        user_id = peewee.TextField()
        emoji = peewee.TextField()
        created_at = ts()

        class Meta:
            table_name = "reactions"

    class Receipt(Base):
        id = peewee.AutoField()
        conversation = peewee.ForeignKeyField(Conversation, column_name="conversation_id")
        user_id = peewee.TextField()
        delivered_seq = peewee.BigIntegerField(default=0)
        read_seq = peewee.BigIntegerField(default=0)

        class Meta:
            table_name = "receipts"

    class StatusChange(Base):
        id = peewee.AutoField()
        conversation = peewee.ForeignKeyField(Conversation, column_name="conversation_id")
        from_status = peewee.TextField()
        to_status = peewee.TextField()
        changed_by = peewee.TextField(null=True)
        reason = peewee.TextField(null=True)
        changed_at = ts()

        class Meta:
            table_name = "status_changes"

    return Models(
        User=User,
        Conversation=Conversation,
        Participant=Participant,
        Message=Message,
        Reaction=Reaction,
        Receipt=Receipt,
        StatusChange=StatusChange,
    )


@attrs.frozen
class Db:
    """What every storage operation needs: the database, its models and its backend.

    ``messages``, ``reactions``, ``receipts``, ``conversations``, ``participants`` and
    ``users`` carry hand-written SQL for the hot paths.
    """

    database: peewee.Database
    m: Models
    backend: str
    messages: TableSql
    reactions: TableSql
    receipts: TableSql
    conversations: TableSql
    participants: TableSql
    users: TableSql

    @property
    def is_postgresql(self) -> bool:
        return self.backend == "postgresql"

    def sql(self, statement: str, params: tuple[Any, ...] = ()) -> Any:
        """Execute raw SQL written with ``?`` placeholders; return the cursor."""
        if self.database.param != "?":
            statement = statement.replace("?", self.database.param)
        return self.database.execute_sql(statement, params)


def bind(database: peewee.Database, backend: str) -> Db:
    """Build the models for ``database`` and bundle them into a :class:`Db`."""
    models = define_models(database, text_types=backend == "sqlite")
    param = database.param
    return Db(
        database=database,
        m=models,
        backend=backend,
        messages=TableSql(models.Message, param),
        reactions=TableSql(models.Reaction, param),
        receipts=TableSql(models.Receipt, param),
        conversations=TableSql(models.Conversation, param),
        participants=TableSql(models.Participant, param),
        users=TableSql(models.User, param),
    )
