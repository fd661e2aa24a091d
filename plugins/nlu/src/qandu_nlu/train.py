"""Train one bot model in a process of its own: ``python -m qandu_nlu.train '<job JSON>'``.

The server trains missing or stale models this way rather than in a thread: training is
seconds of CPU-bound Python, and in the server's process it would hold the GIL against the
gateway.  The job names the bot folder, the language, the target directory and the plugin's
settings; progress is printed as ``epoch <n>/<total>`` lines, errors go to stderr with exit
status 1.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import attrs

from qandu_nlu.config import NluConfig


def job(bot: str, path: Path, languages: tuple[str, ...], lang: str, target: Path, config: NluConfig) -> str:
    """The command-line argument describing one training job."""
    return json.dumps(
        {
            "bot": bot,
            "path": str(path),
            "languages": list(languages),
            "lang": lang,
            "target": str(target),
            "settings": attrs.asdict(config),
        }
    )


def run(spec: dict[str, Any]) -> None:
    from qandu_nlu.builder import builtins_for
    from qandu_nlu.data import load_bot_data
    from qandu_nlu.models import train_and_save

    config = NluConfig(**spec["settings"])
    data = load_bot_data(spec["bot"], Path(spec["path"]), tuple(spec["languages"]))

    def progress(epoch: int, epochs: int) -> None:
        print(f"epoch {epoch}/{epochs}", flush=True)

    train_and_save(data, spec["lang"], config, builtins_for(config), Path(spec["target"]), progress=progress)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m qandu_nlu.train '<job JSON>'", file=sys.stderr)
        raise SystemExit(2)
    run(json.loads(args[0]))


if __name__ == "__main__":
    main()
