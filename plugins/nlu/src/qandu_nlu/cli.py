"""``qandu bot train <bot>``: train a bot's intent models now, with a progress bar and accuracy."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console()


def add_commands(cli: click.Group) -> None:
    """Add ``train`` to the ``bot`` group (created if no other plugin made it)."""
    group = cli.commands.get("bot")
    if group is None:
        group = click.Group("bot", help="Work with the bots defined under bots/.")
        cli.add_command(group)
    if isinstance(group, click.Group) and "train" not in group.commands:
        group.add_command(train)


def _app(config_path: str | None) -> Any:
    from qandu.app import App
    from qandu.config import load
    from qandu.errors import ConfigError, PluginError

    if config_path is None and Path("config.toml").exists():
        config_path = "config.toml"
    try:
        return App.create(load(config_path))
    except (ConfigError, PluginError) as exc:
        errors = exc.errors if isinstance(exc, ConfigError) else [str(exc)]
        raise click.ClickException("cannot load the configuration:\n  " + "\n  ".join(errors)) from None


def _heldout(values: tuple[str, ...]) -> dict[str, Path]:
    found = {}
    for value in values:
        lang, sep, path = value.partition("=")
        if not sep or not lang or not path:
            raise click.BadParameter(f"expected LANG=PATH, got {value!r}", param_hint="--heldout")
        found[lang] = Path(path)
    return found


@click.command("train")
@click.argument("bot")
@click.option(
    "-c", "--config", "config_path", envvar="QANDU_CONFIG", type=click.Path(dir_okay=False),
    help="Path to config.toml (default: ./config.toml if present).",
)  # fmt: skip
@click.option(
    "--heldout", multiple=True, metavar="LANG=PATH",
    help="Also measure accuracy on labelled examples not used for training (repeatable).",
)  # fmt: skip
@click.option("--no-split", is_flag=True, help="Skip the 80/20 accuracy estimate (trains once, not twice).")
def train(bot: str, config_path: str | None, heldout: tuple[str, ...], no_split: bool) -> None:
    """Train BOT's intent models from bots/<bot>/intents/<lang>.jsonl and cache them.

    The server then loads them at start instead of training; it would also train them
    itself (in the background) when they are missing or their data changed.
    """
    from qandu_nlu import models
    from qandu_nlu.builder import builtins_for
    from qandu_nlu.data import DataError, load_bot_data, read_examples
    from qandu_nlu.plugin import Nlu

    extra = _heldout(heldout)
    app = _app(config_path)
    plugin = app.pm.get_plugin("nlu")
    if not isinstance(plugin, Nlu):
        raise click.ClickException("the nlu plugin is disabled in the configuration ([plugins.nlu])")
    definition = app.bots.get(bot)
    if definition is None:
        raise click.ClickException(f"no bot named {bot!r} (bots: {', '.join(app.bots) or 'none'})")
    try:
        data = load_bot_data(definition.name, definition.path, definition.languages)
        tests = {lang: read_examples(path) for lang, path in extra.items()}
    except DataError as exc:
        raise click.ClickException("invalid data:\n  " + "\n  ".join(exc.errors)) from None
    except OSError as exc:
        raise click.ClickException(str(exc)) from None
    if not data.examples:
        raise click.ClickException(f"bot {bot!r} has no intents/<lang>.jsonl for {definition.languages}")
    config, cache = plugin.config, plugin.model_cache(app)
    builtins = builtins_for(config)
    table = Table(
        "language", "examples", "intents", "split accuracy", "held-out accuracy", "seconds", "model"
    )
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console,
    ) as progress:  # fmt: skip
        for lang in data.examples:
            task = progress.add_task(f"{bot}/{lang}", total=None)
            target = models.model_dir(cache, bot, lang, models.cache_key(data, lang, config))
            model = models.train_and_save(
                data, lang, config, builtins, target, evaluate=not no_split,
                progress=lambda done, total, task=task: progress.update(task, completed=done, total=total),
            )  # fmt: skip
            tested = tests.get(lang)
            table.add_row(
                lang,
                str(len(data.examples[lang])),
                str(len(data.intents(lang))),
                _percent(model.meta.get("split_accuracy"), model.meta.get("split_size")),
                _percent(models.accuracy(model, tested), len(tested)) if tested else "-",
                f"{model.meta['train_seconds']:.1f}",
            )
    console.print(table)
    console.print(f"models saved in {cache / bot}", soft_wrap=True)
    unused = set(extra) - set(data.examples)
    if unused:
        console.print(
            f"[yellow]no model for {', '.join(sorted(unused))}: --heldout ignored[/]", file=sys.stderr
        )


def _percent(value: float | None, size: int | None) -> str:
    return "-" if value is None else f"{value:.1%} of {size}"
