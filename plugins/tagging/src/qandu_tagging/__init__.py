"""QanDu tagging plugin: automatic tags from intents, entities, sentiment and configurable rules.

Enabled as ``[plugins.tagging]``; see the operator guide for its settings.
"""

from qandu_tagging.config import Rule as Rule
from qandu_tagging.config import TaggingConfig as TaggingConfig
from qandu_tagging.plugin import Tagging as Tagging

__all__ = ["Rule", "Tagging", "TaggingConfig"]
