"""Teamwork and conversation lifecycle: tags, private-note mentions, canned responses, reply
threads, the satisfaction survey, follow-ups, auto-archiving, review and search.

The mechanisms live here (``app.chat.teamwork``); plugins add policy through hooks, such as
``qandu_tag_conversation`` for automatic tags, and observe what happens through
``qandu_event``.
"""

from qandu.teamwork.service import Teamwork as Teamwork
from qandu.teamwork.types import CannedResponse as CannedResponse
from qandu.teamwork.types import CsatSurvey as CsatSurvey
from qandu.teamwork.types import Followup as Followup
from qandu.teamwork.types import Notification as Notification
from qandu.teamwork.types import normalize_tag as normalize_tag

__all__ = ["CannedResponse", "CsatSurvey", "Followup", "Notification", "Teamwork", "normalize_tag"]
