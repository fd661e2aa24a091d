"""QanDu NLU plugin: intent, entities, sentiment and language of every customer message.

Entry point ``nlu = "qandu_nlu:Nlu"``; settings in ``[plugins.nlu]`` (:class:`NluConfig`).
"""

from qandu_nlu.config import NluConfig as NluConfig
from qandu_nlu.plugin import Nlu as Nlu

__all__ = ["Nlu", "NluConfig"]
