"""``GET /api/nlu/status``: whether each bot's intent models are ready or still training (staff).

The dashboard asks it to explain an empty "top intents" chart: while a model is loading or
training, messages are annotated without an intent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from qandu.errors import Forbidden
from qandu.http.routing import Call, Operation, Result
from qandu.schemas import object_schema

if TYPE_CHECKING:
    from starlette.routing import Route

    from qandu.app import App
    from qandu_nlu.plugin import Nlu

ModelState = Literal["loading", "training", "ready", "unavailable"]

_MODEL = object_schema(
    {
        "language": {"type": "string"},
        "state": {
            "enum": ["loading", "training", "ready", "unavailable"],
            "description": "loading: the plugin is starting; training: being trained; ready: in use "
            "(a stale one answers while its successor trains); unavailable: training failed or is "
            "switched off (train_on_start = false).",
        },
    },
    ["language", "state"],
)
RESPONSE = object_schema(
    {
        "training": {"type": "boolean", "description": "Some model is still loading or training."},
        "bots": {
            "type": "array",
            "items": object_schema(
                {
                    "bot": {"type": "string"},
                    "models": {
                        "type": "array",
                        "items": _MODEL,
                        "description": "One per language with intent examples.",
                    },
                },
                ["bot", "models"],
            ),
        },
    },
    ["training", "bots"],
)


def model_states(nlu: Nlu, bots: dict[str, Any]) -> dict[str, list[tuple[str, ModelState]]]:
    """Each bot's intent models by language: ``{bot: [(language, state), ...]}``."""
    states: dict[str, list[tuple[str, ModelState]]] = {}
    for name, bot in sorted(bots.items()):
        analyzer = nlu.analyzers.get(name)
        if analyzer is None:  # the bot's data is still being read
            states[name] = [(lang, "loading") for lang in bot.languages]
            continue
        data = nlu.data.get(name)
        languages = sorted(data.examples) if data is not None else []
        pending: ModelState = "unavailable" if nlu.trained else "training"
        states[name] = [(lang, "ready" if lang in analyzer.models else pending) for lang in languages]
    return states


def routes(nlu: Nlu, app: App) -> list[Route]:
    """The status route, documented in the server's OpenAPI document."""

    async def nlu_status(call: Call) -> Result:
        """Whether each bot's intent models are ready or still training (staff)."""
        if not call.me.is_staff:
            raise Forbidden("only agents and admins see the NLU status")
        states = model_states(nlu, call.app.bots)
        return {
            "training": any(s in ("loading", "training") for models in states.values() for _, s in models),
            "bots": [
                {"bot": bot, "models": [{"language": lang, "state": s} for lang, s in models]}
                for bot, models in states.items()
            ],
        }

    operation = Operation(
        method="GET",
        path="/api/nlu/status",
        handler=nlu_status,
        tag="nlu",
        responses={200: ("The intent models of every bot.", RESPONSE)},
        errors=(403,),
    )
    return [operation.route(app, None)]
