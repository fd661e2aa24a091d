"""The bot's response templates (``bots/<bot>/responses.toml``) with ``{slot}`` placeholders.

A key such as ``order_status.missing_slot`` names a table whose ``en``/``de``... entries are
a text or a list of variants; one variant is picked at random among those whose slots are
all known.
"""

from __future__ import annotations

import random
import string
import tomllib
from pathlib import Path
from typing import Any

from qandu.errors import ConfigError

_FORMATTER = string.Formatter()


def placeholders(text: str) -> set[str]:
    """The slot names a template uses (``{order_number}`` -> ``order_number``)."""
    return {name for _, name, _, _ in _FORMATTER.parse(text) if name}


class Responses:
    """Templates of one bot, per intent (or situation) and language."""

    def __init__(
        self, table: dict[str, Any], default_language: str, *, rng: random.Random | None = None
    ) -> None:
        self.table = table
        self.default_language = default_language
        self._rng = rng or random.Random()

    @classmethod
    def load(cls, path: Path, default_language: str) -> Responses:
        """Read ``responses.toml`` (no file: no templates); raise ConfigError if it is invalid."""
        try:
            table = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            table = {}
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
        return cls(table, default_language)

    def lookup(self, key: str) -> Any:
        """The value at a dotted ``key`` (``None`` if any part is missing)."""
        node: Any = self.table
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node

    def variants(self, key: str, language: str) -> list[str]:
        """The texts of ``key`` in ``language`` (else the default language)."""
        for lang in (language, self.default_language):
            value = self.lookup(f"{key}.{lang}")
            if isinstance(value, str):
                return [value]
            if isinstance(value, list):
                return [item for item in value if isinstance(item, str)]
        return []

    def has(self, key: str) -> bool:
        return bool(self.variants(key, self.default_language))

    def render(self, key: str, language: str, slots: dict[str, Any]) -> str | None:
        """A random variant of ``key`` whose slots are all in ``slots``, filled; else ``None``."""
        usable = self.render_all(key, language, slots)
        return self._rng.choice(usable) if usable else None

    def render_all(self, key: str, language: str, slots: dict[str, Any]) -> list[str]:
        """Every variant of ``key`` whose slots are all in ``slots``, filled."""
        values = {k: str(v) for k, v in slots.items()}
        return [
            text.format_map(values)
            for text in self.variants(key, language)
            if placeholders(text) <= slots.keys()
        ]

    def missing(self, key: str, language: str, slots: dict[str, Any]) -> set[str]:
        """The slots the most easily filled variant of ``key`` still lacks."""
        needs = [placeholders(text) - slots.keys() for text in self.variants(key, language)]
        return min(needs, key=len) if needs else set()
