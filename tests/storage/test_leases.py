"""Cluster leases (``qandu.storage.leases``) driven at random against SQLite and PostgreSQL.

The clock is explicit, so expiry is exact.  Every holder keeps its own belief (the token and
expiry of its last grant or renewal); the invariant is the one leases exist for: at any
moment at most one holder believes it holds a lease, and every grant's fencing token is
higher than the one before it.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from qandu.storage import leases
from qandu.storage.migrations import apply_migrations
from qandu.storage.models import Db, bind
from qandu.storage.urls import make_database, parse_url, prepare_target

NAMES = ("drain", "service:report")
HOLDERS = ("node-1", "node-2", "node-3")
TTLS = (1.0, 5.0, 10.0)
STEPS = (0.0, 0.5, 1.0, 4.5, 5.0, 11.0)


@pytest.fixture
def db(store_url: str, tmp_path: pathlib.Path) -> Iterator[Db]:
    """A migrated database used from this thread (the functions are what the writer runs)."""
    target = parse_url(store_url, data_dir=tmp_path)
    database = make_database(target)
    prepare_target(target, database)
    apply_migrations(database, target.backend)
    try:
        yield bind(database, target.backend)
    finally:
        database.close()


class LeaseMachine(RuleBasedStateMachine):
    def __init__(self, db: Db) -> None:
        super().__init__()
        self.db = db
        self.now = 1_000.0
        self.model: dict[str, leases.Grant] = {}
        self.beliefs: dict[tuple[str, str], leases.Grant] = {}
        self.last_token: dict[str, int] = {}
        self.tx(lambda: db.sql("DELETE FROM cluster_leases"))

    def tx(self, fn: Any) -> Any:
        with self.db.database.atomic():
            return fn()

    @rule(seconds=st.sampled_from(STEPS))
    def time_passes(self, seconds: float) -> None:
        self.now += seconds

    @rule(name=st.sampled_from(NAMES), holder=st.sampled_from(HOLDERS), ttl=st.sampled_from(TTLS))
    def acquire(self, name: str, holder: str, ttl: float) -> None:
        before = self.model.get(name)
        grant = self.tx(lambda: leases.acquire(self.db, name, holder, now=self.now, ttl=ttl))
        free = before is None or before.expires_at <= self.now or before.holder == holder
        assert (grant is not None) == free, (before, holder, self.now)
        if grant is None:
            return
        assert grant.token == (before.token + 1 if before else 1)
        assert grant.token > self.last_token.get(name, 0)
        self.last_token[name] = grant.token
        self.model[name] = self.beliefs[name, holder] = grant  # other holders keep their (stale) beliefs

    @rule(name=st.sampled_from(NAMES), holder=st.sampled_from(HOLDERS), ttl=st.sampled_from(TTLS))
    def renew(self, name: str, holder: str, ttl: float) -> None:
        belief = self.beliefs.get((name, holder))
        token = belief.token if belief is not None else self.last_token.get(name, 1)
        grant = self.tx(lambda: leases.renew(self.db, name, holder, token, now=self.now, ttl=ttl))
        current = self.model.get(name)
        ok = (
            current is not None
            and (current.holder, current.token) == (holder, token)
            and current.expires_at > self.now
        )
        assert (grant is not None) == ok
        if grant is not None:
            self.model[name] = self.beliefs[name, holder] = grant
        else:
            self.beliefs.pop((name, holder), None)  # refused: the holder stops

    @rule(name=st.sampled_from(NAMES), holder=st.sampled_from(HOLDERS))
    def release(self, name: str, holder: str) -> None:
        belief = self.beliefs.pop((name, holder), None)
        token = belief.token if belief is not None else self.last_token.get(name, 1)
        released = self.tx(lambda: leases.release(self.db, name, holder, token))
        current = self.model.get(name)
        ok = current is not None and (current.holder, current.token) == (holder, token)
        assert released == ok
        if ok:
            assert current is not None
            self.model[name] = leases.Grant(name, holder, token, 0.0)

    @rule(name=st.sampled_from(NAMES), stale=st.booleans())
    def fence(self, name: str, stale: bool) -> None:
        token = self.last_token.get(name, 1) - (1 if stale else 0)
        expected = name in self.model and not stale
        try:
            self.tx(lambda: leases.check_token(self.db, name, token))
            passed = True
        except leases.LeaseLost:
            passed = False
        assert passed == expected

    @invariant()
    def one_holder_at_a_time(self) -> None:
        for name in NAMES:
            live = [h for h in HOLDERS if (b := self.beliefs.get((name, h))) and b.expires_at > self.now]
            assert len(live) <= 1, (name, live)

    @invariant()
    def database_matches_the_model(self) -> None:
        for name in NAMES:
            assert self.tx(lambda name=name: leases.current(self.db, name)) == self.model.get(name)


def test_leases_against_the_database(db: Db) -> None:
    run_state_machine_as_test(
        lambda: LeaseMachine(db), settings=settings(max_examples=40, stateful_step_count=30, deadline=None)
    )


def test_a_grant_survives_the_round_trip_of_its_expiry(db: Db) -> None:
    """Epoch seconds with a fraction come back exactly (DOUBLE PRECISION on both backends)."""
    with db.database.atomic():
        grant = leases.acquire(db, "x", "node-1", now=1_732_000_000.123456, ttl=15.0)
        assert grant is not None
        assert leases.current(db, "x") == grant
    with pytest.raises(leases.LeaseLost), db.database.atomic():
        leases.check_token(db, "x", grant.token + 1)  # never granted
