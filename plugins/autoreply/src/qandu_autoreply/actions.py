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
        self.patterns: dict[str, re.Pattern[str]] = {
            arg.name: re.compile(arg.pattern)
            for action in self.actions.values()
            for arg in action.args
            if arg.pattern
        }

    def fill(self, action: Action, slots: dict[str, str]) -> tuple[dict[str, str], list[str]]:
        """The action's argument values from ``slots``, and its required arguments still missing."""
        args = {arg.name: slots[arg.name] for arg in action.args if arg.name in slots}
        missing = [arg.name for arg in action.args if arg.required and arg.name not in args]
        return args, missing

    def command_args(self, action: Action, words: tuple[str, ...]) -> dict[str, str]:
        """Positional words of a slash command, matched to the action's arguments.

        A word that fits another argument's pattern goes there (``/order a@b.example
        NL-48213`` works too); the rest fill the remaining arguments in order.
        """
        args: dict[str, str] = {}
        rest = []
        for word in words:
            for arg in action.args:
                if arg.name not in args and arg.pattern and re.fullmatch(arg.pattern, word):
                    args[arg.name] = word
                    break
            else:
                rest.append(word)
        free = [arg.name for arg in action.args if arg.name not in args]
        for name, word in zip(free, rest, strict=False):
            args[name] = word
        return args

    def help_lines(self) -> list[str]:
        """One line per command: ``/order <order_number> [email] - Look up an order``."""
        lines = []
        for name, action in sorted(self.commands.items()):
            usage = " ".join(f"<{a.name}>" if a.required else f"[{a.name}]" for a in action.args)
            lines.append(f"/{name} {usage} - {action.description}".replace("  ", " "))
        lines += [f"/{name} - {text}" for name, text in BUILTIN_COMMANDS.items()]
        return lines
