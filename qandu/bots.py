"""Bot definitions: ``bots/<name>/bot.toml`` plus the data files plugins read from the folder."""

from __future__ import annotations

import tomllib
from pathlib import Path

import attrs

from qandu.errors import ConfigError


@attrs.frozen
class Bot:
    """A bot persona.  Plugins find intents, responses and knowledge under ``path``."""

    name: str
    display_name: str
    path: Path
    languages: tuple[str, ...] = ("en",)
    default_language: str = "en"
    persona: str = ""
    avatar: str | None = None
    greeting: dict[str, str] = attrs.Factory(dict)
    handoff: dict[str, str] = attrs.Factory(dict)
    away: dict[str, str] = attrs.Factory(dict)
    csat: dict[str, str] = attrs.Factory(dict)
    """The satisfaction survey's question, by language (``[lifecycle] csat_question`` otherwise)."""

    @property
    def user_id(self) -> str:
        return f"bot:{self.name}"

    def language_for(self, locale: str | None) -> str:
        """Pick the bot language for a locale such as ``de-AT`` (the default if unsupported)."""
        if locale:
            lang = locale.replace("_", "-").split("-")[0].lower()
            if lang in self.languages:
                return lang
        return self.default_language

    def text(self, table: str, locale: str | None) -> str:
        """Return the ``greeting``/``handoff``/``away``/``csat`` text in the locale's language."""
        texts: dict[str, str] = getattr(self, table)
        return texts.get(self.language_for(locale)) or texts.get(self.default_language, "")


def load_bot(path: Path) -> Bot:
    """Read one bot folder; raise :class:`ConfigError` naming the file and key on problems."""
    file = path / "bot.toml"
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([f"{file}: bot definition not found"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{file}: not valid TOML: {exc}"]) from None
    errors = []
    known = {f.name for f in attrs.fields(Bot)} - {"path"}
    errors += [f"{file}: {key}: unknown key" for key in raw if key not in known]
    for key in ("greeting", "handoff", "away", "csat"):
        if not isinstance(raw.get(key, {}), dict):
            errors.append(f"{file}: {key}: expected a table of language = text")
    languages = raw.get("languages", ["en"])
    if not isinstance(languages, list) or not all(isinstance(x, str) for x in languages):
        errors.append(f"{file}: languages: expected an array of language codes")
    if errors:
        raise ConfigError(errors)
    name = raw.get("name", path.name)
    return Bot(
        name=name,
        display_name=raw.get("display_name", name),
        path=path,
        languages=tuple(languages),
        default_language=raw.get("default_language", languages[0] if languages else "en"),
        persona=raw.get("persona", ""),
        avatar=raw.get("avatar"),
        greeting=raw.get("greeting", {}),
        handoff=raw.get("handoff", {}),
        away=raw.get("away", {}),
        csat=raw.get("csat", {}),
    )


def load_bots(paths: list[Path]) -> dict[str, Bot]:
    """Load every configured bot folder, keyed by bot name."""
    bots = {}
    for path in paths:
        bot = load_bot(path)
        bots[bot.name] = bot
    return bots
