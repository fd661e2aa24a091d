"""Follow-ups: an agent schedules a message to the customer, or a reminder to themself.

Jobs live in the database (``qandu.storage.followups``), so they survive restarts and any
node may fire them.  The scheduler sleeps until the next job is due (at most
``[lifecycle] followup_poll``; scheduling an earlier job wakes it), claims the due jobs
transactionally and fires each: a message is posted as the agent with ``followup-<id>`` as
its ``client_msg_id`` and a reminder is stored as a notification keyed by the job, so even
a job retried after a crash takes effect exactly once.  Only the node whose claim is still
current when it marks the job done announces it (``followup.fired``), so a slow node whose
lease ran out while another node re-fired the job does not announce it a second time.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import TYPE_CHECKING

import trio

from qandu.domain import Content, User, utcnow
from qandu.errors import Conflict, Forbidden, InvalidRequest, QanduError
from qandu.storage import followups as jobs
from qandu.storage import notes
from qandu.teamwork.types import Followup

if TYPE_CHECKING:
    from qandu.teamwork.service import Teamwork

log = logging.getLogger("qandu.teamwork.followups")

#: Farthest ahead a follow-up may be scheduled.
MAX_AHEAD = dt.timedelta(days=366)
#: Wait before retrying a job that failed for a passing reason (storage trouble).
RETRY_AFTER = dt.timedelta(seconds=30)


class Followups:
    """Scheduling and firing of follow-ups (``teamwork.followups``)."""

    def __init__(self, teamwork: Teamwork) -> None:
        self.teamwork = teamwork
        self.node = uuid.uuid4().hex
        """This process's identity in job claims."""
        self._wake = trio.Event()
        self.fired = 0

    # -- API ---------------------------------------------------------------------------------

    async def schedule(
        self, user: User, conversation_id: str, *, at: dt.datetime, kind: str, text: str | None
    ) -> Followup:
        """Schedule a ``message`` to the customer or a ``reminder`` for ``user`` at ``at``."""
        chat = self.teamwork.chat
        chat.require_staff(user)
        conversation = await chat.readable(user, conversation_id)
        if conversation.status == "archived":
            raise Conflict("conversation is archived", field="conversationId")
        now = utcnow()
        if at <= now:
            raise InvalidRequest("at: must be in the future", field="at")
        if at > now + MAX_AHEAD:
            raise InvalidRequest(f"at: at most {MAX_AHEAD.days} days ahead", field="at")
        if kind == "message" and not (text and text.strip()):
            raise InvalidRequest("text: a follow-up message needs a text", field="text")
        job = await self.teamwork.store.run_write(
            jobs.create, conversation_id, kind=kind, text=text, due_at=at, by=user.id
        )
        self._wake.set()
        return job

    async def of_conversation(self, user: User, conversation_id: str) -> list[Followup]:
        self.teamwork.chat.require_staff(user)
        await self.teamwork.chat.readable(user, conversation_id)
        return await self.teamwork.store.run_read(jobs.of_conversation, conversation_id)

    async def cancel(self, user: User, followup_id: str) -> Followup:
        """Cancel a job that has not fired (its author or an admin)."""
        self.teamwork.chat.require_staff(user)
        job = await self.teamwork.store.run_read(jobs.get, followup_id)
        if job.created_by != user.id and user.role != "admin":
            raise Forbidden("only its author or an admin may cancel a follow-up", field="followupId")
        return await self.teamwork.store.run_write(jobs.cancel, followup_id)

    # -- the scheduler -----------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Fire due jobs until cancelled (starting with any that fell due while stopped)."""
        task_status.started()
        while True:
            self._wake = trio.Event()
            try:
                await self.fire_due()
                next_due = await self.teamwork.store.run_read(jobs.next_due)
            except Exception:
                log.exception("follow-up scheduler failed; retrying")
                next_due = None
            wait = self.teamwork.config.followup_poll
            if next_due is not None:
                wait = min(wait, max((next_due - utcnow()).total_seconds(), 0.0) + 0.01)
            with trio.move_on_after(wait):
                await self._wake.wait()

    async def fire_due(self) -> int:
        """Claim every due job and fire it; return how many fired."""
        config = self.teamwork.config
        fired = 0
        while True:
            claimed = await self.teamwork.store.run_write(
                jobs.claim_due, node=self.node, now=utcnow(), lease=config.followup_lease
            )
            for job in claimed:
                fired += await self._fire(job)
            if len(claimed) < 50:
                self.fired += fired
                return fired

    async def _fire(self, job: Followup) -> int:
        store = self.teamwork.store
        try:
            user = await store.get_user(job.created_by)
            if user is None or not user.is_staff:
                raise Forbidden("the agent who scheduled it no longer exists")
            message_id = await (self._send(job, user) if job.kind == "message" else self._remind(job, user))
        except QanduError as exc:
            log.warning("follow-up %s cannot fire: %s", job.id, exc.message)
            await store.run_write(jobs.fail, job.id, node=self.node, error=exc.message, retry_at=None)
            return 0
        except Exception as exc:
            log.exception("follow-up %s failed; retrying later", job.id)
            retry_at = utcnow() + RETRY_AFTER
            await store.run_write(jobs.fail, job.id, node=self.node, error=str(exc), retry_at=retry_at)
            return 0
        if not await store.run_write(jobs.finish, job.id, node=self.node, message_id=message_id):
            # Another node re-claimed it after the lease ran out; its (idempotent) firing announces it.
            log.warning("follow-up %s: the claim expired while it fired", job.id)
            return 0
        await self.teamwork.emit(
            "followup.fired",
            job.conversation_id,
            followupId=job.id,
            kind=job.kind,
            agentId=job.created_by,
            messageId=message_id,
        )
        return 1

    async def _send(self, job: Followup, user: User) -> str:
        message, _ = await self.teamwork.chat.send_message(
            user,
            conversation_id=job.conversation_id,
            client_msg_id=f"followup-{job.id}",
            content=Content(text=job.text),
        )
        return message.id

    async def _remind(self, job: Followup, user: User) -> None:
        notification, created = await self.teamwork.store.run_write(
            notes.add_notification,
            user_id=user.id,
            kind="reminder",
            dedupe_key=f"followup:{job.id}",
            conversation_id=job.conversation_id,
            data={"followupId": job.id, "text": job.text, "at": job.to_wire()["at"]},
        )
        if created:
            self.teamwork.push_notification(notification)
        return None
