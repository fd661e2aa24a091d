"""The conversation status machine, driven at random against the real store on a SQLite file.

Each rule runs its async code with ``trio.run`` (hypothesis-trio does not import with current
hypothesis), opening the store for that step: every step also proves the data survives a reopen.
"""

from __future__ import annotations

import pathlib
import tempfile
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import trio
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from qandu.domain import CONVERSATION_STATUSES
from qandu.errors import InvalidTransition
from qandu.lifecycle import TRANSITIONS
from qandu.storage import Store

T = TypeVar("T")
TARGETS = st.sampled_from([*CONVERSATION_STATUSES, "closed"])


class ConversationStatusMachine(RuleBasedStateMachine):
    """Model: the current status and the number of successful transitions."""

    def __init__(self) -> None:
        super().__init__()
        self.directory = tempfile.TemporaryDirectory()
        self.model_status = "active"
        self.transitions = 0
        self.conversation_id = ""

    def run(self, step: Callable[[Store], Awaitable[T]]) -> T:
        async def main() -> T:
            store = Store.from_url("sqlite:///status.sqlite3", data_dir=pathlib.Path(self.directory.name))
            async with store:
                return await step(store)

        return trio.run(main)

    @initialize()
    def start_conversation(self) -> None:
        async def create(store: Store) -> str:
            customer = await store.create_user(kind="user", role="customer", name="Model")
            return (await store.create_conversation(customer=customer, bot_user=None)).id

        self.conversation_id = self.run(create)

    @rule(status=TARGETS, by=st.sampled_from([None, "agent-1"]))
    def change_status(self, status: str, by: str | None) -> None:
        allowed = status in TRANSITIONS[self.model_status]

        async def change(store: Store) -> Any:
            try:
                return await store.set_status(self.conversation_id, status, by=by, reason="model")
            except InvalidTransition:
                return None

        result = self.run(change)
        assert (result is not None) == allowed, (self.model_status, status)
        if allowed:
            conversation, change_record = result
            assert (change_record.from_status, change_record.to_status, conversation.status) == (
                self.model_status,
                status,
                status,
            )
            self.model_status = status
            self.transitions += 1

    @invariant()
    def stored_state_matches_model(self) -> None:
        if not self.conversation_id:
            return

        async def load(store: Store) -> tuple[str, int]:
            conversation = await store.get_conversation(self.conversation_id)
            assert conversation is not None
            return conversation.status, len(await store.status_history(self.conversation_id))

        assert self.run(load) == (self.model_status, self.transitions)

    def teardown(self) -> None:
        self.directory.cleanup()


def test_status_machine_against_sqlite_store() -> None:
    run_state_machine_as_test(
        ConversationStatusMachine,
        settings=settings(max_examples=15, stateful_step_count=12, deadline=None),
    )
