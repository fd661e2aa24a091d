"""What ``qandu_analyze_message`` returns, and how the core merges every analyser's result.

An analyser returns a dict of annotations, or an :class:`Analysis` when it also keeps state
in the conversation's context (the ``nlu`` plugin's slots): the post-store pipeline then
stores the annotations, the context changes and the automatic tags in one job
(``Store.save_analysis``) instead of the analyser writing the context on its own.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from qandu.domain import Conversation, Message
    from qandu.plugins import PluginManager

log = logging.getLogger("qandu.analysis")


@attrs.frozen
class Analysis:
    """Annotations of a message, plus changes to its conversation's context.

    ``context`` keys are merged into ``conversation.context`` (a ``None`` value removes its
    key) in the same transaction that stores the annotations; the hooks after the analysis
    see the conversation with them.
    """

    annotations: dict[str, Any] = attrs.Factory(dict)
    context: dict[str, Any] = attrs.Factory(dict)


async def analyse(pm: PluginManager, message: Message, conversation: Conversation) -> Analysis:
    """Ask every ``qandu_analyze_message`` implementation; merge their results (later ones win)."""
    merged = Analysis()
    for plugin, result in await pm.call_all(
        "qandu_analyze_message", message=message, conversation=conversation
    ):
        if isinstance(result, Analysis):
            merged.annotations.update(result.annotations)
            merged.context.update(result.context)
        elif isinstance(result, dict):
            merged.annotations.update(result)
        else:
            log.error(
                "plugin %s: qandu_analyze_message returned %r, not a dict or an Analysis", plugin, result
            )
    return merged
