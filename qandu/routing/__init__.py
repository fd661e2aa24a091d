"""Routing mechanisms of the core: priority, the human queue, assignment, presence, teams.

The core decides nothing here by itself: it stores and enforces (an agent's limit, one
assignee per conversation, presence leases) and asks plugins through
``qandu_assess_priority`` and ``qandu_route_conversation``.  All state lives in the
database, so any node may take any decision; :class:`RoutingService` is reached as
``app.routing`` (or ``app.chat.routing``).
"""

from qandu.routing.hours import BusinessHours as BusinessHours
from qandu.routing.types import AVAILABILITIES as AVAILABILITIES
from qandu.routing.types import PRIORITY_RANK as PRIORITY_RANK
from qandu.routing.types import Agent as Agent
from qandu.routing.types import Availability as Availability
from qandu.routing.types import Candidate as Candidate
from qandu.routing.types import Inbox as Inbox
from qandu.routing.types import PriorityAssessment as PriorityAssessment
from qandu.routing.types import RouteDecision as RouteDecision
from qandu.routing.types import Team as Team
from qandu.routing.types import higher_priority as higher_priority

__all__ = [
    "AVAILABILITIES",
    "PRIORITY_RANK",
    "Agent",
    "Availability",
    "BusinessHours",
    "Candidate",
    "Inbox",
    "PriorityAssessment",
    "RouteDecision",
    "Team",
    "higher_priority",
]
