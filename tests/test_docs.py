"""The hooks reference documents every hook spec, with the spec's own argument list."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from qandu import hookspecs

DOC = Path(__file__).resolve().parent.parent / "docs" / "hooks.md"


def specs() -> dict[str, list[str]]:
    return {
        name: list(inspect.signature(fn).parameters)
        for name, fn in vars(hookspecs).items()
        if name.startswith("qandu_") and callable(fn)
    }


def test_every_hook_is_documented_with_its_arguments():
    headings = dict(re.findall(r"^### (qandu_\w+)\(([^)]*)\)", DOC.read_text(), re.MULTILINE))
    for name, params in specs().items():
        assert name in headings, f"docs/hooks.md has no section for {name}"
        documented = [a.strip() for a in headings[name].split(",") if a.strip()]
        assert documented == params, f"{name}: docs say {documented}, spec says {params}"
    assert set(headings) <= set(specs()), "docs/hooks.md documents hooks that do not exist"


def test_every_spec_has_a_docstring_with_params():
    for name, fn in vars(hookspecs).items():
        if name.startswith("qandu_"):
            doc = inspect.getdoc(fn) or ""
            for param in inspect.signature(fn).parameters:
                assert f":param {param}:" in doc, f"{name} does not document {param}"
