"""QanDu routing plugin: priority rules, automatic assignment, SLA timers and business hours.

Enabled as ``[plugins.routing]``; see the operator guide for its settings.
"""

from qandu_routing.config import RoutingConfig as RoutingConfig
from qandu_routing.config import SlaTarget as SlaTarget
from qandu_routing.plugin import Routing as Routing

__all__ = ["Routing", "RoutingConfig", "SlaTarget"]
