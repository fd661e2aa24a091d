"""Which actions a bot has (``qandu_register_actions``) and how their arguments are filled."""

from __future__ import annotations

import logging
import re

import attrs

from qandu import Action

log = logging.getLogger("qandu_autoreply.actions")

#: Commands every bot understands, besides those of its actions.
BUILTIN_COMMANDS = {"help": "List these commands", "human": "Talk to a person"}


@attrs.frozen
class Command:
    """A parsed slash command: ``/order NL-48213 a@b.example`` -> ``order``, two words."""

    name: str
    words: tuple[str, ...]


def parse_command(text: str) -> Command | None:
    """Parse ``/name word...``; ``None`` if ``text`` is not a slash command."""
    if not text.startswith("/") or len(text) < 2 or text[1].isspace():
        return None
    name, *words = text[1:].split()
    return Command(name.lower(), tuple(words))


class ActionRegistry:
    """One bot's actions, found by name, slash command and intent."""

    def __init__(self, actions: list[Action]) -> None:
        self.actions: dict[str, Action] = {}
        self.commands: dict[str, Action] = {}
        self.intents: dict[str, Action] = {}
        for action in actions:
            if action.name in self.actions:
                log.warning("action %r is registered twice; keeping the first", action.name)
                continue
            self.actions[action.name] = action
            if action.command and action.command not in BUILTIN_COMMANDS:
                self.commands.setdefault(action.command.lower(), action)
            for intent in action.intents:
                self.intents.setdefault(intent, action)
        every_arg = [arg for action in self.actions.values() for arg in action.args]
        self.patterns: dict[str, re.Pattern[str]] = {
            arg.name: re.compile(arg.pattern) for arg in every_arg if arg.pattern
        }
        self.only_when_asked = frozenset(arg.name for arg in every_arg if arg.only_when_asked)
        """Arguments only an answer to the bot's question fills (a confirmation): never slots."""

    def free_patterns(self) -> dict[str, re.Pattern[str]]:
        """The patterns that may fill slots from any message (not the answer-only ones)."""
        return {name: p for name, p in self.patterns.items() if name not in self.only_when_asked}

    def slots(self, values: dict[str, str]) -> dict[str, str]:
        """``values`` without the answer-only arguments: what may be remembered as slots."""
        return {name: value for name, value in values.items() if name not in self.only_when_asked}

    def fill(self, action: Action, slots: dict[str, str]) -> tuple[dict[str, str], list[str]]:
        """The action's argument values from ``slots``, and its required arguments still missing."""
        args = {
            arg.name: slots[arg.name] for arg in action.args if arg.name in slots and not arg.only_when_asked
        }
        missing = [arg.name for arg in action.args if arg.required and arg.name not in args]
        return args, missing

    def command_args(self, action: Action, words: tuple[str, ...]) -> dict[str, str]:
        """Positional words of a slash command, matched to the action's arguments.

        A word that fits another argument's pattern goes there (``/order a@b.example
        NL-48213`` works too); the rest fill the remaining arguments in order.
        """
        args: dict[str, str] = {}
        rest = []
        positional = [arg for arg in action.args if not arg.only_when_asked]
        for word in words:
            for arg in positional:
                if arg.name not in args and arg.pattern and re.fullmatch(arg.pattern, word):
                    args[arg.name] = word
                    break
            else:
                rest.append(word)
        free = [arg.name for arg in positional if arg.name not in args]
        for name, word in zip(free, rest, strict=False):
            args[name] = word
        return args

    def help_lines(self) -> list[str]:
        """One line per command: ``/order <order_number> [email] - Look up an order``."""
        lines = []
        for name, action in sorted(self.commands.items()):
            usage = " ".join(
                f"<{a.name}>" if a.required else f"[{a.name}]" for a in action.args if not a.only_when_asked
            )
            lines.append(f"/{name} {usage} - {action.description}".replace("  ", " "))
        lines += [f"/{name} - {text}" for name, text in BUILTIN_COMMANDS.items()]
        return lines
