"""Satisfaction surveys: one per resolution, answered at most once."""

from __future__ import annotations

import uuid
from typing import Any

from qandu.domain import utcnow
from qandu.errors import Conflict, NotFound
from qandu.storage.columns import fetch_dicts, fetch_one, from_db_time, to_db_time
from qandu.storage.models import Db
from qandu.teamwork.types import CsatSurvey


def _survey(db: Db, row: dict[str, Any]) -> CsatSurvey:
    return CsatSurvey(
        id=row["id"],
        conversation_id=row["conversation_id"],
        message_id=row["message_id"],
        agent_id=row["agent_id"],
        team_id=row["team_id"],
        sent_at=from_db_time(db, row["sent_at"]),  # type: ignore[arg-type]
        rating=row["rating"],
        comment=row["comment"],
        answered_by=row["answered_by"],
        answered_at=from_db_time(db, row["answered_at"]),
    )


def create_survey(db: Db, conversation_id: str, *, agent_id: str | None, team_id: str | None) -> CsatSurvey:
    survey_id = uuid.uuid4().hex
    db.sql(
        "INSERT INTO csat_surveys (id, conversation_id, agent_id, team_id, sent_at) VALUES (?, ?, ?, ?, ?)",
        (survey_id, conversation_id, agent_id, team_id, to_db_time(db, utcnow())),
    )
    return get_survey(db, survey_id)


def get_survey(db: Db, survey_id: str) -> CsatSurvey:
    row = fetch_one(db, "SELECT * FROM csat_surveys WHERE id = ?", (survey_id,))
    if row is None:
        raise NotFound(f"no survey {survey_id!r}", field="surveyId")
    return _survey(db, row)


def set_message(db: Db, survey_id: str, message_id: str) -> None:
    db.sql("UPDATE csat_surveys SET message_id = ? WHERE id = ?", (message_id, survey_id))


def surveys_of(db: Db, conversation_id: str) -> list[CsatSurvey]:
    """Every survey of a conversation, oldest first."""
    rows = fetch_dicts(
        db, "SELECT * FROM csat_surveys WHERE conversation_id = ? ORDER BY sent_at, id", (conversation_id,)
    )
    return [_survey(db, row) for row in rows]


def answer(
    db: Db, conversation_id: str, survey_id: str | None, *, rating: int, comment: str | None, by: str
) -> CsatSurvey:
    """Record the answer to ``survey_id`` (default: the conversation's latest survey), once.

    ``NotFound`` if there is no such survey, ``Conflict`` if it was answered already.
    """
    if survey_id is None:
        row = fetch_one(
            db,
            "SELECT * FROM csat_surveys WHERE conversation_id = ? ORDER BY sent_at DESC, id DESC LIMIT 1",
            (conversation_id,),
        )
        if row is None:
            raise NotFound("no satisfaction survey was sent in this conversation", field="surveyId")
        survey_id = row["id"]
    survey = get_survey(db, survey_id)  # type: ignore[arg-type]
    if survey.conversation_id != conversation_id:
        raise NotFound(f"no survey {survey_id!r} in this conversation", field="surveyId")
    changed = db.sql(
        "UPDATE csat_surveys SET rating = ?, comment = ?, answered_by = ?, answered_at = ?"
        " WHERE id = ? AND rating IS NULL",
        (rating, comment, by, to_db_time(db, utcnow()), survey_id),
    ).rowcount
    if not changed:
        raise Conflict("this survey was answered already", field="rating")
    return get_survey(db, survey_id)  # type: ignore[arg-type]
