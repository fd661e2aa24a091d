"""Which files a role may share: size, allowed and blocked types and extensions (pure functions)."""

from __future__ import annotations

import attrs

from qandu_filescan.config import FileScanConfig


@attrs.frozen
class Policy:
    """The settings in force for one role (its overrides applied)."""

    role: str
    max_bytes: int
    allowed_types: tuple[str, ...]
    blocked_types: tuple[str, ...]
    allowed_extensions: tuple[str, ...]
    blocked_extensions: tuple[str, ...]


def policy_for(config: FileScanConfig, role: str) -> Policy:
    """Merge ``[plugins.filescan.roles.<role>]`` over the plugin-wide settings."""
    override = config.roles.get(role)

    def pick(name: str) -> object:
        value = getattr(override, name) if override is not None else None
        return getattr(config, name) if value is None else value

    return Policy(
        role=role,
        max_bytes=pick("max_bytes"),  # type: ignore[arg-type]
        allowed_types=tuple(pick("allowed_types")),  # type: ignore[arg-type]
        blocked_types=tuple(pick("blocked_types")),  # type: ignore[arg-type]
        allowed_extensions=tuple(pick("allowed_extensions")),  # type: ignore[arg-type]
        blocked_extensions=tuple(pick("blocked_extensions")),  # type: ignore[arg-type]
    )


def type_matches(mime: str, pattern: str) -> bool:
    """``image/png`` matches ``image/png`` and ``image/*``."""
    if pattern.endswith("/*"):
        return mime.split("/", 1)[0] == pattern[:-2]
    return mime == pattern


def extensions_of(name: str) -> list[str]:
    """Every dotted suffix of a file name, lower case: ``a.tar.GZ`` -> ``["tar", "gz"]``."""
    parts = name.lower().split(".")
    return [part for part in parts[1:] if part]


def decide(policy: Policy, *, types: list[str], name: str, size: int) -> str | None:
    """Return why this file is not allowed for the role, or ``None`` if it is.

    ``types`` are the sniffed type and the client's declared one; ``name`` is sanitised.  A
    blocked extension counts anywhere in the name (``invoice.exe.pdf``); allowed types and
    extensions are checked against the real type and the last extension.
    """
    who = f"{policy.role}s"
    if size > policy.max_bytes:
        return f"the file is larger than the {policy.max_bytes} bytes {who} may share"
    extensions = extensions_of(name)
    for ext in extensions:
        if ext in policy.blocked_extensions:
            return f".{ext} files may not be shared"
    types = [t for t in types if t]
    for mime in types:
        if any(type_matches(mime, pattern) for pattern in policy.blocked_types):
            return f"{mime} files may not be shared"
    if policy.allowed_types and types and not any(type_matches(types[0], p) for p in policy.allowed_types):
        return f"{types[0]} files may not be shared by {who}"
    last = extensions[-1] if extensions else ""
    if policy.allowed_extensions and last not in policy.allowed_extensions:
        shown = f".{last} files" if last else "files without an extension"
        return f"{shown} may not be shared by {who}"
    return None
