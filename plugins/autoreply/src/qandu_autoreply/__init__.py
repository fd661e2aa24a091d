"""QanDu plugin ``autoreply``: the bot's answers from templates, knowledge base and actions,
handoff to the human queue, reply suggestions for agents, and an optional LLM backend."""

from qandu_autoreply.config import AutoReplyConfig as AutoReplyConfig
from qandu_autoreply.config import LlmConfig as LlmConfig
from qandu_autoreply.plugin import AutoReply as AutoReply

__all__ = ["AutoReply", "AutoReplyConfig", "LlmConfig"]
