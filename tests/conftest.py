"""Shared fixtures: a real server on loopback over a SQLite file, and hypothesis profiles."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from qandu.testing import make_app, running

settings.register_profile("ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=30, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def app(tmp_path):
    """An app with no plugins on a SQLite file under ``tmp_path``."""
    return make_app(tmp_path)


@pytest.fixture
async def server(app):
    """The app running on 127.0.0.1 (ports chosen by the OS); yields its endpoints."""
    async with running(app) as endpoints:
        yield endpoints
