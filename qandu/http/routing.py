"""The route table: each :class:`Operation` declares its schemas once, for validation and docs.

A handler is ``async def handler(call: Call) -> dict | tuple[int, dict]``; the operation
reads and checks everything before calling it: the bearer token, path parameters, the
query string and the JSON body (bounded by ``[http] max_body_bytes`` while it is read).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import attrs
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from qandu.errors import Unauthorized
from qandu.http.errors import InvalidJson, JsonResponse, PayloadTooLarge
from qandu.http.validation import Check, apply_defaults, coerce_query
from qandu.schemas import ID_SCHEMA, object_schema

if TYPE_CHECKING:
    from qandu.app import App
    from qandu.domain import User
    from qandu.gateway.server import Gateway

Result = dict[str, Any] | tuple[int, dict[str, Any]] | Response
Handler = Callable[["Call"], Awaitable[Result]]

_PARAM = re.compile(r"{(\w+)}")

#: The query string of an operation that takes no parameters.
NO_QUERY: dict[str, Any] = object_schema({}, [])


@attrs.frozen
class Call:
    """One validated request, as a handler sees it."""

    app: App
    gateway: Gateway | None
    request: Request
    user: User | None
    params: dict[str, Any]
    query: dict[str, Any]
    body: dict[str, Any]

    @property
    def me(self) -> User:
        """The authenticated user (operations with ``auth=True`` always have one)."""
        assert self.user is not None
        return self.user


@attrs.define
class Operation:
    """One method on one path: what it accepts, what it returns, who may call it.

    The handler's docstring is the operation's summary (first line) and description.
    """

    method: str
    path: str
    handler: Handler
    tag: str
    responses: dict[int, tuple[str, dict[str, Any]]]
    auth: bool = True
    body: dict[str, Any] | None = None
    """Schema of the JSON body; ``None``: the operation takes no body (one sent is not read)."""
    query: dict[str, Any] = NO_QUERY
    """Schema of the query string as an object; parameters it does not list are refused."""
    params: dict[str, dict[str, Any]] = attrs.Factory(dict)
    """Schemas of path parameters (default: an id)."""
    errors: tuple[int, ...] = ()
    """Error statuses besides those implied by auth, body and parameters."""
    stream_body: dict[str, Any] | None = None
    """OpenAPI ``content`` of a body the handler reads itself (file uploads, never buffered)."""
    raw_responses: dict[int, tuple[str, dict[str, Any]]] = attrs.Factory(dict)
    """Non-JSON responses (the handler returns a ``Response``): description and OpenAPI ``content``."""
    check_body: Check | None = attrs.field(init=False, default=None)
    check_query: Check = attrs.field(init=False)
    check_params: Check = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        names = _PARAM.findall(self.path)
        self.params = {
            name: self.params.get(name, {**ID_SCHEMA, "description": f"The {name}."}) for name in names
        }
        self.check_params = Check(object_schema(self.params, names))
        self.check_query = Check(self.query)
        if self.body is not None:
            self.check_body = Check(self.body)

    @property
    def operation_id(self) -> str:
        """The handler's name in camelCase (``send_message`` -> ``sendMessage``)."""
        first, *rest = self.handler.__name__.strip("_").split("_")
        return first + "".join(part.title() for part in rest)

    @property
    def summary(self) -> str:
        """The first line of the handler's docstring."""
        return (self.handler.__doc__ or "").strip().split("\n")[0]

    @property
    def description(self) -> str:
        """The rest of the handler's docstring."""
        lines = (self.handler.__doc__ or "").strip().split("\n")[1:]
        return inspect.cleandoc("\n".join(lines)) if lines else ""

    @property
    def success(self) -> int:
        return min(self.responses)

    @property
    def error_statuses(self) -> list[int]:
        """Every error status this operation can answer with."""
        statuses = {422, *self.errors}  # every operation validates its query string
        if self.auth:
            statuses.add(401)
        if self.body is not None or self.stream_body is not None:
            statuses |= {400, 413}
        return sorted(statuses)

    def route(self, app: App, gateway: Gateway | None) -> Route:
        async def endpoint(request: Request) -> Response:
            call = await self._call(app, gateway, request)
            result = await self.handler(call)
            if isinstance(result, Response):
                return result
            status, payload = result if isinstance(result, tuple) else (self.success, result)
            return JsonResponse(payload, status_code=status)

        endpoint.__name__ = self.operation_id
        endpoint.__doc__ = self.summary
        return Route(self.path, endpoint, methods=[self.method], name=self.operation_id)

    async def _call(self, app: App, gateway: Gateway | None, request: Request) -> Call:
        user = await authenticate(app, request) if self.auth else None
        params = dict(request.path_params)
        self.check_params(params)
        query = coerce_query(self.query, list(request.query_params.multi_items()))
        self.check_query(query)
        apply_defaults(self.query, query)
        body: dict[str, Any] = {}
        if self.check_body is not None:
            body = await read_json(request, app.config.http.max_body_bytes)
            self.check_body(body)
        return Call(
            app=app, gateway=gateway, request=request, user=user, params=params, query=query, body=body
        )


async def authenticate(app: App, request: Request) -> User:
    """Return the user of the request's ``Authorization: Bearer`` token; raise Unauthorized."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise Unauthorized("missing Authorization: Bearer <token> header")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("expected Authorization: Bearer <token>")
    claims = app.auth.verify(token.strip())
    user = await app.store.get_user(claims.user_id)
    if user is None:
        raise Unauthorized("the token's user no longer exists")
    return user


async def read_body(request: Request, limit: int) -> bytes:
    """Read the body, refusing it (413) as soon as it is larger than ``limit`` bytes."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise PayloadTooLarge(f"request body of {int(length)} bytes is larger than the maximum of {limit}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"request body is larger than the maximum of {limit} bytes")
    return bytes(body)


async def read_json(request: Request, limit: int) -> Any:
    """Read and parse the JSON body; an empty body counts as ``{}``."""
    data = await read_body(request, limit)
    if not data.strip():
        return {}
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidJson(f"request body is not valid JSON: {exc}") from None


class Api:
    """Collects operations with a decorator: ``@api.operation("GET", "/path", ...)``."""

    def __init__(self) -> None:
        self.operations: list[Operation] = []

    def operation(self, method: str, path: str, **options: Any) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.operations.append(Operation(method=method, path=path, handler=handler, **options))
            return handler

        return register
