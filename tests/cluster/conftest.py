"""Fixtures: one cluster of ``qandu serve`` nodes per test module, brought back before each test.

A module may set ``CLUSTER = {"size": 3, "overrides": {...}}`` (see :class:`Cluster`).
Without redis-server or PostgreSQL the tests skip, except under CI, where they fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.cluster.harness import PG_DSN, Cluster, postgres_available, redis_server_binary


def _require_services() -> None:
    missing = []
    if redis_server_binary() is None:
        missing.append("redis-server (not on PATH)")
    if not postgres_available():
        missing.append(f"PostgreSQL (not reachable at {PG_DSN})")
    if missing:
        reason = "cluster tests need " + " and ".join(missing)
        if os.environ.get("CI"):  # CI has both services: their absence is a failure there
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def _module_cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    _require_services()
    options = getattr(request.module, "CLUSTER", {})
    cluster = Cluster(tmp_path_factory.mktemp("cluster"), **options)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def cluster(_module_cluster: Cluster, request: pytest.FixtureRequest) -> Cluster:
    """The module's cluster with Redis and every node running (restarted if a test stopped them)."""
    _module_cluster.ensure_running()
    request.node.cluster = _module_cluster
    return _module_cluster


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    report = yield
    cluster = getattr(item, "cluster", None)
    if cluster is not None and report.failed:
        report.sections.append(("cluster logs", cluster.report()))
    return report
