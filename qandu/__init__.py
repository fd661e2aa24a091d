"""QanDu: a self-hosted live-chat and chatbot server with a small trio core and pluggy plugins.

Plugin authors import from here: ``hookimpl``, ``Reply``, ``Reject``, ``Analysis``, ``Service``
and the domain types.
"""

from qandu.analysis import Analysis as Analysis
from qandu.assist import Action as Action
from qandu.assist import ActionArg as ActionArg
from qandu.assist import ActionResult as ActionResult
from qandu.assist import Suggestion as Suggestion
from qandu.domain import (
    Attachment as Attachment,
)
from qandu.domain import (
    Content as Content,
)
from qandu.domain import (
    Conversation as Conversation,
)
from qandu.domain import (
    Message as Message,
)
from qandu.domain import (
    Reaction as Reaction,
)
from qandu.domain import (
    Sender as Sender,
)
from qandu.domain import (
    User as User,
)
from qandu.pipeline import Reject as Reject
from qandu.pipeline import Reply as Reply
from qandu.plugins import Service as Service
from qandu.plugins import hookimpl as hookimpl

__version__ = "0.1.0"

__all__ = [
    "Action",
    "ActionArg",
    "ActionResult",
    "Analysis",
    "Attachment",
    "Content",
    "Conversation",
    "Message",
    "Reaction",
    "Reject",
    "Reply",
    "Sender",
    "Service",
    "Suggestion",
    "User",
    "__version__",
    "hookimpl",
]
