"""``qandu bot train``: trains, caches, reports accuracy, and explains what is wrong."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from qandu.cli import main

from .test_cache import make_bot


def write_config(tmp_path: Path, bot: Path, extra: str = "") -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[server]\ndata_dir = "{tmp_path / "data"}"\n[bots]\npaths = ["{bot}"]\ndefault = "mini"\n'
        f"[plugins.nlu]\nepochs = 5\n{extra}"
    )
    return config


def test_train_caches_the_model_and_reports_accuracy(tmp_path):
    bot = make_bot(tmp_path)
    heldout = tmp_path / "heldout.jsonl"
    heldout.write_text(
        "\n".join(
            json.dumps(row)
            for row in [
                {"text": "where is my parcel", "intent": "order_status"},
                {"text": "I want a refund", "intent": "refund"},
                {"text": "hello", "intent": "greeting"},
            ]
        )
    )
    config = write_config(tmp_path, bot)
    result = CliRunner().invoke(
        main, ["bot", "train", "mini", "-c", str(config), "--heldout", f"en={heldout}"]
    )
    assert result.exit_code == 0, result.output
    assert "mini/en" in result.output and "of 3" in result.output  # progress bar, held-out accuracy
    [model] = (tmp_path / "data" / "nlu" / "mini").glob("en-*")
    meta = json.loads((model / "qandu-nlu.json").read_text())
    assert meta["split_size"] == 3 and 0 <= meta["split_accuracy"] <= 1
    assert f"{meta['split_accuracy']:.1%} of 3" in result.output


def test_errors_are_clear(tmp_path):
    bot = make_bot(tmp_path)
    config = write_config(tmp_path, bot)
    runner = CliRunner()
    unknown = runner.invoke(main, ["bot", "train", "nobody", "-c", str(config)])
    assert unknown.exit_code == 1 and "no bot named 'nobody' (bots: mini)" in unknown.output

    (bot / "intents" / "en.jsonl").write_text('{"text": "hi", "intent": "greeting"}\n{"text": ""}\n')
    invalid = runner.invoke(main, ["bot", "train", "mini", "-c", str(config)])
    assert invalid.exit_code == 1
    assert "en.jsonl:2: text: expected a non-empty string" in invalid.output

    bad_option = runner.invoke(main, ["bot", "train", "mini", "-c", str(config), "--heldout", "nonsense"])
    assert bad_option.exit_code == 2 and "expected LANG=PATH" in bad_option.output

    disabled = runner.invoke(
        main, ["bot", "train", "mini", "-c", str(write_config(tmp_path, bot, "enabled = false"))]
    )
    assert disabled.exit_code != 0
