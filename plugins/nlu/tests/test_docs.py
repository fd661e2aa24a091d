"""The operator guide's [plugins.nlu] example is valid and shows the real defaults."""

from __future__ import annotations

import tomllib

from qandu.plugins import PluginManager
from qandu.testing import REPO
from qandu_nlu import NluConfig


def test_operator_guide_example_matches_the_defaults():
    text = (REPO / "docs" / "operator-guide.md").read_text(encoding="utf-8")
    block = text[text.index("[plugins.nlu]") :]
    table = tomllib.loads(block[: block.index("```")])["plugins"]["nlu"]
    pm = PluginManager()
    pm.load_installed({"nlu": table})
    assert pm.get_plugin("nlu").config == NluConfig()
