"""Load and validate ``config.toml`` into frozen attrs classes.

Every problem is reported with its full key path (``server.port: expected an integer,
got 'x'``), all of them at once, before anything starts.  A value written as
``{ env = "NAME" }`` is read from the environment and treated as a secret.
Plugins declare their own ``Config`` attrs class; :func:`structure` builds it from their
``[plugins.<name>]`` table with the same rules.
"""

from __future__ import annotations

import os
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, Literal

import attrs
from attrs import validators as v

from qandu.errors import ConfigError

SECRET = {"secret": True}
"""Field metadata: mask this value in ``qandu check-config``."""

_MISSING = object()


def _positive(instance: Any, attribute: attrs.Attribute, value: float) -> None:
    if value <= 0:
        raise ValueError(f"must be greater than 0, got {value!r}")


@attrs.frozen
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = attrs.field(default=8800, validator=[v.ge(0), v.le(65535)])
    ws_port: int = attrs.field(default=8801, validator=[v.ge(0), v.le(65535)])
    public_url: str = ""
    """Base URL clients use (behind a proxy); empty: derived from host and port."""
    public_ws_url: str = ""
    data_dir: str = "var"
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    drain_timeout: float = attrs.field(default=5.0, validator=_positive)


@attrs.frozen
class StorageConfig:
    url: str = "sqlite:///qandu.sqlite3"


@attrs.frozen
class GatewayConfig:
    max_frame_bytes: int = attrs.field(default=65536, validator=v.ge(1024))
    send_queue: int = attrs.field(default=256, validator=v.ge(1))
    heartbeat: float = attrs.field(default=20.0, validator=_positive)
    heartbeat_timeout: float = attrs.field(default=10.0, validator=_positive)


@attrs.frozen
class HttpConfig:
    max_body_bytes: int = attrs.field(default=1_048_576, validator=v.ge(1024))
    cors_origins: list[str] = attrs.Factory(lambda: ["*"])


@attrs.frozen
class FilesConfig:
    """File sharing (``qandu.files``): limits, type checking, links, thumbnails."""

    enabled: bool = True
    max_bytes: int = attrs.field(default=25 * 1024 * 1024, validator=v.ge(1))
    """Largest upload; plugins may lower it per user (``qandu_limit_upload``)."""
    mime_mismatch: Literal["reject", "correct"] = "reject"
    """A declared type the bytes contradict: refuse the file, or serve it as what it is."""
    directory: str = "files"
    """Where files are kept, relative to ``[server] data_dir``."""
    link_ttl: int = attrs.field(default=300, validator=[v.ge(10), v.le(7 * 86400)])
    """Seconds a signed download link (``?sig=``) stays valid."""
    scan_timeout: float = attrs.field(default=60.0, validator=_positive)
    """Seconds each ``qandu_scan_file`` implementation may take."""
    scan_failure: Literal["reject", "accept"] = "reject"
    """A scanner that raises or times out: refuse the file (fail closed) or ignore the scanner."""
    thumbnail_px: int = attrs.field(default=320, validator=[v.ge(32), v.le(2048)])
    max_image_pixels: int = attrs.field(default=25_000_000, validator=v.ge(1))
    """Images with more pixels get no thumbnail (decoding one costs 3-4 bytes per pixel)."""
    cleanup_interval: float = attrs.field(default=3600.0, validator=v.ge(0))
    """Seconds between two runs of the clean-up of unused uploads (``qandu.files.retention``); 0: never."""
    unsent_ttl: float = attrs.field(default=86400.0, validator=_positive)
    """Seconds an upload is kept while it is not sent in a message (then it and its file are deleted)."""
    quarantine_ttl: float = attrs.field(default=0.0, validator=v.ge(0))
    """Seconds a quarantined upload is kept for admins; 0: for ever."""


@attrs.frozen
class SiteConfig:
    """A website that signs its logged-in users' ids (identity verification)."""

    secret: str = attrs.field(metadata=SECRET)


@attrs.frozen
class AuthConfig:
    secret: str = attrs.field(default="", metadata=SECRET)
    """Token signing key; empty: generated once and kept in the data directory."""
    customer_token_ttl: int = attrs.field(default=30 * 86400, validator=v.ge(60))
    staff_token_ttl: int = attrs.field(default=12 * 3600, validator=v.ge(60))
    sites: dict[str, SiteConfig] = attrs.Factory(dict)


@attrs.frozen
class DispatchConfig:
    hook_timeout: float = attrs.field(default=5.0, validator=_positive)
    workers: int = attrs.field(default=8, validator=v.ge(1))
    queue_size: int = attrs.field(default=256, validator=v.ge(1))


@attrs.frozen
class BotsConfig:
    paths: list[str] = attrs.Factory(lambda: ["bots/support"])
    default: str = "support"


@attrs.frozen
class LifecycleConfig:
    """Conversation lifecycle: auto-archive, the satisfaction survey, follow-up scheduling."""

    archive_after: float = attrs.field(default=7 * 86400.0, validator=v.ge(0))
    """Seconds after its resolution a conversation is archived; 0 turns auto-archiving off."""
    archive_interval: float = attrs.field(default=60.0, validator=_positive)
    """Seconds between two auto-archive sweeps."""
    csat_survey: bool = True
    """Send the customer a satisfaction survey (1-5 and a comment) when a conversation is resolved."""
    csat_question: str = "How would you rate the help you got, from 1 (poor) to 5 (excellent)?"
    """The survey's question, unless the bot has a ``[csat]`` text in the customer's language."""
    followup_poll: float = attrs.field(default=30.0, validator=_positive)
    """Longest time, in seconds, the follow-up scheduler sleeps before looking for due jobs."""
    followup_lease: float = attrs.field(default=60.0, validator=_positive)
    """Seconds a node owns a follow-up it is firing before another node may retry it."""


@attrs.frozen
class BusConfig:
    """Fan-out between connections: in this process, or across nodes through Redis."""

    backend: Literal["memory", "redis"] = "memory"
    url: str = attrs.field(default="redis://127.0.0.1:6379/0", metadata=SECRET)
    """Redis URL (``redis://[:password@]host:port/db`` or ``rediss://`` for TLS)."""
    channel_prefix: str = attrs.field(default="qandu", validator=v.matches_re(r"[A-Za-z0-9_.:-]+"))
    """Prefix of every channel name: several deployments can share one Redis."""
    node_id: str = ""
    """This node's name in logs and metrics (empty: host name, process id and a random suffix)."""
    outbox: int = attrs.field(default=10_000, validator=v.ge(1))
    """Publications buffered while Redis is slow or away; beyond it they are dropped (clients resume)."""


@attrs.frozen
class MetricsConfig:
    """The Prometheus endpoint ``GET /metrics``."""

    enabled: bool = True
    token: str = attrs.field(default="", metadata=SECRET)
    """If set, scrapers must send ``Authorization: Bearer <token>``."""


@attrs.frozen
class Config:
    """The whole operator configuration; ``plugins`` keeps each plugin's raw table."""

    server: ServerConfig = ServerConfig()
    storage: StorageConfig = StorageConfig()
    gateway: GatewayConfig = GatewayConfig()
    http: HttpConfig = HttpConfig()
    files: FilesConfig = FilesConfig()
    auth: AuthConfig = AuthConfig()
    dispatch: DispatchConfig = DispatchConfig()
    bots: BotsConfig = BotsConfig()
    lifecycle: LifecycleConfig = LifecycleConfig()
    metrics: MetricsConfig = MetricsConfig()
    bus: BusConfig = BusConfig()
    plugins: dict[str, dict[str, Any]] = attrs.Factory(dict)
    root: str = "."
    """Directory relative paths are resolved against (the config file's folder)."""
    env_paths: frozenset[str] = frozenset()
    """Key paths whose values came from the environment (masked when printed)."""

    def path(self, relative: str) -> Path:
        """Resolve ``relative`` against the config file's directory."""
        return (Path(self.root) / relative).resolve()

    @property
    def data_dir(self) -> Path:
        return self.path(self.server.data_dir)


# -- loading -------------------------------------------------------------------------------


def load(path: str | Path | None = None, *, overrides: dict[str, Any] | None = None) -> Config:
    """Read ``path`` (or use the defaults), apply ``overrides`` and validate; raise ConfigError."""
    raw: dict[str, Any] = {}
    root = Path.cwd()
    if path is not None:
        path = Path(path)
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError([f"{path}: file not found"]) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
        root = path.resolve().parent
    return from_dict(_merge(raw, overrides or {}), root=root)


def from_dict(raw: dict[str, Any], *, root: str | Path = ".") -> Config:
    """Validate a parsed config table; every error is collected and raised together."""
    errors: list[str] = []
    env_paths: set[str] = set()
    resolved = _resolve_env(raw, "", errors, env_paths)
    plugins = resolved.pop("plugins", {})
    if not isinstance(plugins, dict) or not all(isinstance(t, dict) for t in plugins.values()):
        errors.append("plugins: expected a table of tables ([plugins.<name>])")
        plugins = {}
    config = structure(Config, resolved, "", errors, skip=("plugins", "root", "env_paths"))
    if not errors:
        errors.extend(_cluster_errors(config))
    if errors:
        raise ConfigError(errors)
    return attrs.evolve(
        config, plugins=plugins, root=str(Path(root).resolve()), env_paths=frozenset(env_paths)
    )


def _cluster_errors(config: Config) -> list[str]:
    """Settings that must agree once several nodes share the work (``bus.backend = "redis"``)."""
    if config.bus.backend != "redis":
        return []
    errors = []
    if not config.storage.url.startswith(("postgresql:", "postgres:")):
        errors.append("storage.url: several nodes (bus.backend = 'redis') need PostgreSQL, not a SQLite file")
    if not config.auth.secret:
        errors.append("auth.secret: must be set, the same on every node, when bus.backend = 'redis'")
    return errors


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _resolve_env(value: Any, path: str, errors: list[str], env_paths: set[str]) -> Any:
    if isinstance(value, dict):
        if "env" in value and set(value) <= {"env", "default"}:
            name = value["env"]
            env_paths.add(path)
            if name in os.environ:
                return os.environ[name]
            if "default" in value:
                return value["default"]
            errors.append(f"{path}: environment variable {name} is not set")
            return _MISSING
        return {k: _resolve_env(item, _join(path, k), errors, env_paths) for k, item in value.items()}
    return value


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


# -- structuring ---------------------------------------------------------------------------


def structure(cls: type, data: Any, path: str, errors: list[str], *, skip: tuple[str, ...] = ()) -> Any:
    """Build attrs class ``cls`` from ``data``, appending ``"path: problem"`` to ``errors``.

    Returns the instance, or the class defaults where values were invalid (so that every
    error in a file is found in one pass).
    """
    if not isinstance(data, dict):
        errors.append(f"{path or '(top level)'}: expected a table, got {_show(data)}")
        data = {}
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in attrs.fields(cls) if f.name not in skip}
    unknown = sorted(set(data) - set(fields))
    for key in unknown:
        known = ", ".join(fields) or "none"
        errors.append(f"{_join(path, key)}: unknown key (known: {known})")
    kwargs: dict[str, Any] = {}
    for name, field in fields.items():
        key_path = _join(path, name)
        if name not in data:
            if field.default is attrs.NOTHING:
                errors.append(f"{key_path}: required key is missing")
            continue
        if data[name] is _MISSING:
            continue
        before = len(errors)
        value = _convert(hints[name], data[name], key_path, errors)
        if len(errors) > before:
            continue
        for validator in _validators(field):
            try:
                validator(None, field, value)
            except (ValueError, TypeError) as exc:
                errors.append(f"{key_path}: {_validator_message(exc, name)}")
                break
        else:
            kwargs[name] = value
    try:
        return cls(**kwargs)
    except (TypeError, ValueError):
        return None


def _validators(field: attrs.Attribute) -> list[Any]:
    validator = field.validator
    if validator is None:
        return []
    inner = getattr(validator, "_validators", None)
    return list(inner) if inner is not None else [validator]


def _validator_message(exc: Exception, name: str) -> str:
    text = str(exc.args[0]) if exc.args else str(exc)
    return text.replace(f"'{name}' ", "").strip()


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_SIMPLE = {str: "a string", bool: "true or false", int: "an integer", float: "a number"}


def _convert(tp: Any, value: Any, path: str, errors: list[str]) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if attrs.has(tp):
        return structure(tp, value, path, errors)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], value, path, errors)
    if origin is Literal:
        if value not in args:
            choices = ", ".join(repr(a) for a in args)
            errors.append(f"{path}: expected one of {choices}, got {_show(value)}")
        return value
    if origin in (list, tuple, frozenset):
        if not isinstance(value, list):
            errors.append(f"{path}: expected an array, got {_show(value)}")
            return value
        items = [_convert(args[0], item, _join(path, i), errors) for i, item in enumerate(value)]
        return origin(items) if origin is not list else items
    if origin is dict:
        if not isinstance(value, dict):
            errors.append(f"{path}: expected a table, got {_show(value)}")
            return value
        return {k: _convert(args[1], item, _join(path, k), errors) for k, item in value.items()}
    if tp in _SIMPLE:
        ok = isinstance(value, tp) and not (tp is not bool and isinstance(value, bool))
        if tp is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not ok:
            errors.append(f"{path}: expected {_SIMPLE[tp]}, got {_show(value)}")
        return value
    raise TypeError(f"{path}: unsupported config type {tp!r}")


# -- printing ------------------------------------------------------------------------------


def to_dict(config: Any, path: str = "", env_paths: frozenset[str] = frozenset()) -> Any:
    """Render a config object as plain data with secrets masked as ``"***"``."""
    if isinstance(config, Config):
        env_paths = config.env_paths
    if attrs.has(type(config)):
        out: dict[str, Any] = {}
        for field in attrs.fields(type(config)):
            if field.name in ("root", "env_paths"):
                continue
            key_path = _join(path, field.name)
            value = getattr(config, field.name)
            secret = field.metadata.get("secret") or key_path in env_paths
            out[field.name] = "***" if secret and value else to_dict(value, key_path, env_paths)
        return out
    if isinstance(config, dict):
        return {
            k: "***" if _join(path, k) in env_paths else to_dict(item, _join(path, k), env_paths)
            for k, item in config.items()
        }
    if isinstance(config, list | tuple | frozenset):
        return [to_dict(item, path, env_paths) for item in config]
    return config
