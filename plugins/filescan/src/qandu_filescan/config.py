"""Settings of ``[plugins.filescan]`` (and ``[plugins.filescan.roles.<role>]``) in ``config.toml``."""

from __future__ import annotations

import re
from typing import Any, Literal

import attrs
from attrs import validators as v

from qandu.domain import ROLES
from qandu_filescan.engines import clamd_endpoint

_MIME_PATTERN = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/(\*|[a-z0-9][a-z0-9!#$&^_.+-]*)")
_EXTENSION = re.compile(r"[a-z0-9_+-]{1,16}")

#: Programs and installers: never shared in a support chat unless an operator allows them.
DEFAULT_BLOCKED_TYPES = [
    "application/x-msdownload",
    "application/x-executable",
    "application/x-mach-binary",
    "application/x-sharedlib",
    "application/x-msi",
    "application/java-archive",
    "application/vnd.android.package-archive",
    "application/x-shockwave-flash",
]
DEFAULT_BLOCKED_EXTENSIONS = [
    "exe", "dll", "com", "scr", "pif", "cpl", "msi", "msp", "msc", "bat", "cmd", "ps1", "psm1",
    "vbs", "vbe", "js", "jse", "wsf", "wsh", "hta", "jar", "sh", "apk", "app", "lnk", "reg",
]  # fmt: skip


def _types(values: list[str] | None) -> list[str] | None:
    """Normalise MIME types (also run by the validators, which see the raw config value)."""
    return None if values is None else [value.strip().lower() for value in values]


def _extensions(values: list[str] | None) -> list[str] | None:
    """``".PDF"`` -> ``"pdf"``."""
    return None if values is None else [value.strip().lower().removeprefix(".") for value in values]


def _check_types(instance: Any, attribute: attrs.Attribute, value: list[str] | None) -> None:
    for item in _types(value) or ():
        if not _MIME_PATTERN.fullmatch(item):
            raise ValueError(f"{item!r} is not a MIME type or pattern such as image/png or image/*")


def _check_extensions(instance: Any, attribute: attrs.Attribute, value: list[str] | None) -> None:
    for item in _extensions(value) or ():
        if not _EXTENSION.fullmatch(item):
            raise ValueError(f"{item!r} is not a file extension such as pdf")


def _check_roles(instance: Any, attribute: attrs.Attribute, value: dict[str, Any]) -> None:
    unknown = sorted(set(value) - set(ROLES))
    if unknown:
        raise ValueError(f"unknown role {unknown[0]!r} (roles: {', '.join(ROLES)})")


def _check_clamd(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    clamd_endpoint(value)  # raises ValueError for a bad tcp:// address


def _positive(instance: Any, attribute: attrs.Attribute, value: float) -> None:
    if value <= 0:
        raise ValueError(f"must be greater than 0, got {value!r}")


@attrs.frozen
class RolePolicy:
    """Overrides for one role; a setting left out falls back to the plugin-wide one."""

    max_bytes: int | None = attrs.field(default=None, validator=v.optional(v.ge(1)))
    allowed_types: list[str] | None = attrs.field(default=None, converter=_types, validator=_check_types)
    blocked_types: list[str] | None = attrs.field(default=None, converter=_types, validator=_check_types)
    allowed_extensions: list[str] | None = attrs.field(
        default=None, converter=_extensions, validator=_check_extensions
    )
    blocked_extensions: list[str] | None = attrs.field(
        default=None, converter=_extensions, validator=_check_extensions
    )


@attrs.frozen
class FileScanConfig:
    """What may be shared, and how uploads are scanned.

    ``allowed_*`` empty means "anything not blocked"; a blocked type or extension always
    wins over an allowed one.  MIME patterns may end in ``/*`` (``image/*``).
    """

    max_bytes: int = attrs.field(default=10 * 1024 * 1024, validator=v.ge(1))
    allowed_types: list[str] = attrs.field(factory=list, converter=_types, validator=_check_types)
    blocked_types: list[str] = attrs.field(
        factory=lambda: list(DEFAULT_BLOCKED_TYPES), converter=_types, validator=_check_types
    )
    allowed_extensions: list[str] = attrs.field(
        factory=list, converter=_extensions, validator=_check_extensions
    )
    blocked_extensions: list[str] = attrs.field(
        factory=lambda: list(DEFAULT_BLOCKED_EXTENSIONS), converter=_extensions, validator=_check_extensions
    )
    roles: dict[str, RolePolicy] = attrs.field(factory=dict, validator=_check_roles)
    """Per-role overrides: ``[plugins.filescan.roles.customer]``, ``support``, ``admin``."""
    builtin_rules: bool = True
    """Use the YARA rules shipped with the plugin (EICAR test file, disguised executables)."""
    rules_dir: str = ""
    """A folder of the operator's own ``*.yar``/``*.yara`` rules (relative: to the working directory)."""
    yara_timeout: int = attrs.field(default=30, validator=v.ge(1))
    """Seconds libyara may scan one file; a worker silent for 2 s longer is killed."""
    workers: int = attrs.field(default=2, validator=v.ge(1))
    """Scan worker processes at most (YARA runs outside the server; more uploads wait their turn)."""
    clamd_socket: str = attrs.field(default="", validator=_check_clamd)
    """A ClamAV daemon: its unix socket's path or ``tcp://host:port``; empty: no ClamAV."""
    clamd_timeout: float = attrs.field(default=30.0, validator=_positive)
    on_error: Literal["reject", "accept"] = "reject"
    """A scanner that cannot answer (ClamAV down, a YARA timeout, a crashed scan worker): refuse
    the file, or let it through."""
