"""The "we're back Monday at 08:00 CET" notice, in the language the bot speaks with the customer."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from babel import Locale, UnknownLocaleError
from babel.dates import format_date

from qandu.bots import Bot


def notice_language(bot: Bot | None, locale: str | None) -> str:
    if bot is not None:
        return bot.language_for(locale)
    return (locale or "en").replace("_", "-").split("-")[0].lower()


def closed_notice(
    templates: Mapping[str, str], opening: dt.datetime, *, bot: Bot | None, locale: str | None
) -> str:
    """Fill the template of the conversation's language with the next opening (local time of the team)."""
    language = notice_language(bot, locale)
    fallbacks = [language, bot.default_language if bot else "en", "en"]
    template = next((templates[lang] for lang in fallbacks if lang in templates), None)
    if template is None:
        template = next(iter(templates.values()), "")
        language = next(iter(templates), "en")
    try:
        Locale.parse(language)
    except (UnknownLocaleError, ValueError):
        language = "en"
    return template.format(
        day=format_date(opening.date(), "EEEE", locale=language),
        date=format_date(opening.date(), "medium", locale=language),
        time=opening.strftime("%H:%M"),
        tz=opening.tzname() or "",
    )
