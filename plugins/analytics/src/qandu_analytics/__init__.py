"""QanDu analytics plugin: records conversation events durably and aggregates them for the dashboard.

Enabled as ``[plugins.analytics]``; ``GET /api/analytics`` serves the figures as JSON.
"""

from qandu_analytics.config import AnalyticsConfig as AnalyticsConfig
from qandu_analytics.plugin import Analytics as Analytics

__all__ = ["Analytics", "AnalyticsConfig"]
