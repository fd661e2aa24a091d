"""QanDu storage: peewee on SQLite (WAL) or PostgreSQL, behind an async, group-committing ``Store``."""

from qandu.storage.conversations import conversation_cursor as conversation_cursor
from qandu.storage.drafts import UNSET as UNSET
from qandu.storage.drafts import MessageDraft as MessageDraft
from qandu.storage.lanes import CommitFailed as CommitFailed
from qandu.storage.lanes import LaneStatistics as LaneStatistics
from qandu.storage.lanes import StorageError as StorageError
from qandu.storage.lanes import StoreClosed as StoreClosed
from qandu.storage.migrations import LATEST_VERSION as LATEST_VERSION
from qandu.storage.store import Store as Store
from qandu.storage.store import migrate as migrate
from qandu.storage.store import open_store as open_store
from qandu.storage.urls import StorageTarget as StorageTarget
from qandu.storage.urls import parse_url as parse_url

__all__ = [
    "LATEST_VERSION",
    "UNSET",
    "CommitFailed",
    "LaneStatistics",
    "MessageDraft",
    "StorageError",
    "StorageTarget",
    "Store",
    "StoreClosed",
    "conversation_cursor",
    "migrate",
    "open_store",
    "parse_url",
]
