"""Errors the core raises; the gateway and HTTP API turn them into error frames/responses."""

from __future__ import annotations


class QanduError(Exception):
    """Base class: ``code`` is the machine-readable error code sent to clients."""

    code = "error"
    http_status = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidRequest(QanduError):
    """The request or frame is malformed; ``field`` names the offending field."""

    code = "invalid_request"
    http_status = 422


class NotFound(QanduError):
    code = "not_found"
    http_status = 404


class Forbidden(QanduError):
    code = "forbidden"
    http_status = 403


class Unauthorized(QanduError):
    code = "unauthorized"
    http_status = 401


class Conflict(QanduError):
    """The request contradicts the current state (for example an invalid status transition)."""

    code = "conflict"
    http_status = 409


class InvalidTransition(Conflict):
    """A conversation status change that the status machine does not allow."""

    code = "invalid_transition"


class ConfigError(Exception):
    """``config.toml`` (or a plugin's table in it) is invalid; ``errors`` lists every problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("invalid configuration:\n  " + "\n  ".join(errors))
        self.errors = errors


class PluginError(Exception):
    """A plugin cannot be loaded (missing dependency, bad hook implementation...)."""
