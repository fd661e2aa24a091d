"""Hypothesis strategies for QanDu's wire protocol: JSON values, contents and client frames."""

from __future__ import annotations

import re
from typing import Any

import emoji
from hypothesis import strategies as st

from qandu.domain import CONTENT_TYPES, Content
from qandu.gateway import protocol as p
from qandu.schemas import MAX_SEQ, NON_BLANK

# --------------------------------------------------------------------------- JSON

#: Integers orjson reads back as integers (it turns anything below -2**63 into a float).
json_ints = st.integers(min_value=-(2**63), max_value=2**64 - 1)
json_floats = st.floats(allow_nan=False, allow_infinity=False)
json_scalars = st.none() | st.booleans() | json_ints | json_floats | st.text()


def _json_children(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)


#: Any JSON value that survives an orjson round trip unchanged.
json_values = st.recursive(json_scalars, _json_children, max_leaves=12)
json_objects = st.dictionaries(st.text(max_size=8), json_values, max_size=5)

# --------------------------------------------------------------------------- fields

ids = st.text(min_size=1, max_size=64)
refs = st.none() | ids
texts = st.text(max_size=300)
non_blank_texts = texts.filter(lambda s: re.search(NON_BLANK, s) is not None)
emojis = st.sampled_from(sorted(emoji.EMOJI_DATA))
seqs = st.integers(min_value=1, max_value=MAX_SEQ)
after_seqs = st.integers(min_value=0, max_value=MAX_SEQ)


@st.composite
def contents(draw: st.DrawFn) -> Content:
    """A valid message content: text contents carry non-blank text."""
    kind = draw(st.sampled_from(CONTENT_TYPES))
    text = draw(non_blank_texts) if kind == "text" else draw(st.none() | texts)
    return Content(
        type=kind,
        text=text,
        file_url=draw(st.none() | st.text(min_size=1, max_size=120)),
        metadata=draw(st.none() | json_objects),
    )


# --------------------------------------------------------------------------- frames

send_messages = st.builds(
    p.SendMessage,
    conversation_id=ids,
    client_msg_id=ids,
    content=contents(),
    reply_to=st.none() | ids,
    attachments=st.lists(ids, max_size=10).map(tuple),
    private=st.booleans(),
    ref=refs,
)

#: One strategy per client frame class, every generated frame valid.
FRAME_STRATEGIES: dict[type, st.SearchStrategy[Any]] = {
    p.SendMessage: send_messages,
    p.EditMessage: st.builds(p.EditMessage, message_id=ids, text=non_blank_texts, ref=refs),
    p.DeleteMessage: st.builds(p.DeleteMessage, message_id=ids, ref=refs),
    p.Typing: st.builds(p.Typing, conversation_id=ids, state=st.sampled_from(["start", "stop"]), ref=refs),
    p.SendReceipt: st.builds(
        p.SendReceipt,
        conversation_id=ids,
        status=st.sampled_from(["delivered", "read"]),
        seq=seqs,
        ref=refs,
    ),
    p.AddReaction: st.builds(p.AddReaction, message_id=ids, emoji=emojis, ref=refs),
    p.RemoveReaction: st.builds(p.RemoveReaction, message_id=ids, emoji=emojis, ref=refs),
    p.Resume: st.builds(p.Resume, conversation_id=ids, after_seq=after_seqs, ref=refs),
    p.Subscribe: st.builds(p.Subscribe, conversation_id=ids, ref=refs),
    p.Unsubscribe: st.builds(p.Unsubscribe, conversation_id=ids, ref=refs),
    p.Ping: st.builds(p.Ping, ref=refs),
    p.SetPresence: st.builds(p.SetPresence, status=st.sampled_from(["online", "away", "offline"]), ref=refs),
    p.SubmitCsat: st.builds(
        p.SubmitCsat,
        conversation_id=ids,
        rating=st.integers(1, 5),
        comment=st.none() | st.text(max_size=2000),
        survey_id=st.none() | ids,
        ref=refs,
    ),
}

client_frames: st.SearchStrategy[Any] = st.one_of(*FRAME_STRATEGIES.values())

#: Values that sit on or just past a limit of some field, for near-valid frames.
edge_values = (
    st.sampled_from(
        [
            "",
            " ",
            "\n\t ",
            "x",
            "x" * 64,
            "x" * 65,
            "x" * 2049,
            " " * 10_000,
            "y" * 10_001,
            "👍",
            "👍👍",
            "start",
            "read",
            "text",
            "file",
            0,
            1,
            -1,
            1.0,
            1.5,
            2**53 - 1,
            2**53,
            2**64 - 1,
            1e300,
            True,
            False,
            None,
            [],
            ["a"] * 11,
            [""],
            {},
            {"type": "text"},
            {"type": "text", "text": "  "},
            {"type": "image"},
            {"type": "text", "text": "hi", "metadata": {"k": "v" * 9000}},
            {"type": "text", "text": "hi", "extra": 1},
        ]
    )
    | json_values
)
