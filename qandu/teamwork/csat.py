"""The satisfaction survey: sent to the customer on every resolution, answered once (1-5 and a comment).

The survey is a message with ``content.type`` ``action`` and ``metadata.survey`` ``csat``
(the widget shows rating buttons); the answer comes back over the API or the gateway's
``csat.submit`` frame, never as a chat message, so it does not reopen the conversation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qandu.domain import Content, Conversation, Sender, User
from qandu.errors import Forbidden, InvalidRequest
from qandu.gateway.protocol import server_frame
from qandu.storage import MessageDraft
from qandu.storage import csat as store_csat
from qandu.teamwork.types import CsatSurvey

if TYPE_CHECKING:
    from qandu.teamwork.service import Teamwork

SURVEY_SENDER = Sender(id="system", type="system", name="QanDu")
RATING_SCALE = {"min": 1, "max": 5}


class Csat:
    """Sends surveys and records answers (``teamwork.csat``)."""

    def __init__(self, teamwork: Teamwork) -> None:
        self.teamwork = teamwork

    def question(self, conversation: Conversation) -> str:
        bot = self.teamwork.chat.bots.get(conversation.bot or "")
        locale = (conversation.context or {}).get("locale")
        if bot is not None and bot.csat:
            return bot.text("csat", locale)
        return self.teamwork.config.csat_question

    async def send_survey(self, conversation: Conversation) -> CsatSurvey | None:
        """Post the survey to a resolved conversation's customer (if surveys are on)."""
        if not self.teamwork.config.csat_survey or not any(
            p.role == "customer" and p.left_at is None for p in conversation.participants
        ):
            return None
        store = self.teamwork.store
        survey = await store.run_write(
            store_csat.create_survey,
            conversation.id,
            agent_id=conversation.assignee_id,
            team_id=conversation.team_id,
        )
        content = Content(
            type="action",
            text=self.question(conversation),
            metadata={"survey": "csat", "surveyId": survey.id, "scale": RATING_SCALE, "comment": True},
        )
        draft = MessageDraft(conversation.id, SURVEY_SENDER, content, f"csat-{survey.id}")
        message = await self.teamwork.chat._post(draft)
        await store.run_write(store_csat.set_message, survey.id, message.id)
        return survey

    async def answer(
        self,
        user: User,
        conversation_id: str,
        *,
        rating: int,
        comment: str | None = None,
        survey_id: str | None = None,
    ) -> CsatSurvey:
        """Record the customer's rating of the latest (or the given) survey; once per survey."""
        if not 1 <= rating <= 5:
            raise InvalidRequest("rating: must be from 1 to 5", field="rating")
        conversation = await self.teamwork.chat.readable(user, conversation_id)
        if user.role != "customer":
            raise Forbidden("only the customer answers the satisfaction survey", field="rating")
        survey = await self.teamwork.store.run_write(
            store_csat.answer, conversation_id, survey_id, rating=rating, comment=comment, by=user.id
        )
        conversation = await self.teamwork.store.get_conversation(conversation_id) or conversation
        self.teamwork.publish(conversation_id, server_frame("csat.answered", survey=survey.to_wire()))
        await self.teamwork.emit(
            "csat.submitted",
            conversation_id,
            survey.answered_at,
            surveyId=survey.id,
            rating=survey.rating,
            comment=survey.comment,
            agentId=survey.agent_id or conversation.assignee_id,
            teamId=survey.team_id or conversation.team_id,
        )
        return survey

    async def surveys(self, user: User, conversation_id: str) -> list[CsatSurvey]:
        await self.teamwork.chat.readable(user, conversation_id)
        return await self.teamwork.store.run_read(store_csat.surveys_of, conversation_id)
