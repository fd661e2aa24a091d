"""The Redis fan-out backend against the machine's Redis (127.0.0.1:6379)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from qandu.bus import Bus
from qandu.config import BusConfig
from qandu.redis_bus import RedisBus, decode_envelope, encode_envelope
from qandu.testing import until

REDIS_URL = os.environ.get("QANDU_TEST_REDIS", "redis://127.0.0.1:6379/0")


def redis_available() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
        return True
    except OSError:
        return False


needs_redis = pytest.mark.skipif(
    not redis_available() and os.environ.get("CI") != "true", reason="no Redis on 127.0.0.1:6379"
)


class Recorder:
    """A subscriber that keeps what it is given."""

    def __init__(self) -> None:
        self.frames: list[tuple[str, bytes, bool, int | None]] = []
        self.skipped: list[tuple[str, int]] = []
        self.resyncs = 0

    def deliver(self, topic: str, frame: bytes, *, staff_only: bool = False, seq: int | None = None) -> None:
        self.frames.append((topic, frame, staff_only, seq))

    def passed(self, topic: str, seq: int) -> None:
        self.skipped.append((topic, seq))

    def resync(self) -> None:
        self.resyncs += 1


@given(
    node=st.text(st.characters(blacklist_characters="\0"), min_size=1),
    publication=st.text(st.characters(blacklist_characters="\0"), min_size=1),
    staff_only=st.booleans(),
    seq=st.none() | st.integers(min_value=0, max_value=2**62),
    frame=st.binary(),
)
def test_envelope_round_trip(node, publication, staff_only, seq, frame):
    data = encode_envelope(node, publication, staff_only, seq, frame)
    assert decode_envelope(data) == (node, publication, staff_only, seq, frame)


@given(st.binary().filter(lambda b: b.count(b"\0") < 4))
def test_malformed_envelope_is_a_value_error(data):
    with pytest.raises(ValueError):
        decode_envelope(data)


def test_in_process_bus_tells_the_sender_its_seq_was_passed():
    bus, sender, other = Bus(), Recorder(), Recorder()
    bus.subscribe("conv:c", sender)
    bus.subscribe("conv:c", other)
    assert bus.publish("conv:c", b"x", seq=7, exclude=sender) == 1
    assert other.frames == [("conv:c", b"x", False, 7)]
    assert sender.frames == [] and sender.skipped == [("conv:c", 7)]


def two_nodes(prefix: str, **options: object) -> tuple[RedisBus, RedisBus]:
    config = BusConfig(backend="redis", url=REDIS_URL, channel_prefix=prefix, **options)
    return RedisBus(config), RedisBus(config)


@needs_redis
async def test_publications_reach_subscribers_on_the_other_node_only_where_subscribed():
    a, b = two_nodes(f"t{uuid.uuid4().hex[:8]}")
    here, there, elsewhere = Recorder(), Recorder(), Recorder()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(a.run)
            await nursery.start(b.run)
            a.subscribe("conv:1", here)
            b.subscribe("conv:1", there)
            b.subscribe("conv:2", elsewhere)
            await until(lambda: _true(a.connected and b.connected))
            await a.ready("conv:1")
            await b.ready("conv:1")
            await b.ready("conv:2")

            a.publish("conv:1", b'{"n":1}', seq=1)
            a.publish("conv:1", b'{"n":2}', staff_only=True, seq=2)
            b.publish("conv:1", b'{"typing":1}', exclude=there)  # exclude is local: a's subscriber gets it
            await until(lambda: _true(len(there.frames) == 2 and len(here.frames) == 3))
            assert [(f, s, q) for _, f, s, q in there.frames] == [
                (b'{"n":1}', False, 1),
                (b'{"n":2}', True, 2),
            ]
            assert here.frames[-1][1] == b'{"typing":1}'
            assert elsewhere.frames == []
            assert a.statistics().relayed_out == 2 and b.statistics().relayed_in == 2
            nursery.cancel_scope.cancel()


@needs_redis
async def test_one_publication_on_two_topics_arrives_as_one_frame_object():
    a, b = two_nodes(f"t{uuid.uuid4().hex[:8]}")
    staff = Recorder()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(a.run)
            await nursery.start(b.run)
            b.subscribe("conv:9", staff)
            b.subscribe("staff", staff)
            await until(lambda: _true(b.connected))
            await b.ready("conv:9")
            await b.ready("staff")
            frame = b'{"type":"conversation.updated"}'
            a.publish("conv:9", frame)
            a.publish("staff", frame)
            await until(lambda: _true(len(staff.frames) == 2))
            assert staff.frames[0][1] is staff.frames[1][1]  # a connection delivers it once
            nursery.cancel_scope.cancel()


@needs_redis
async def test_unsubscribed_topics_stop_arriving():
    a, b = two_nodes(f"t{uuid.uuid4().hex[:8]}")
    gone = Recorder()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(a.run)
            await nursery.start(b.run)
            b.subscribe("user:u", gone)
            await until(lambda: _true(b.connected))
            await b.ready("user:u")
            b.unsubscribe("user:u", gone)
            probe = Recorder()
            b.subscribe("user:probe", probe)
            await b.ready("user:probe")
            a.publish("user:u", b"lost")
            a.publish("user:probe", b"seen")
            await until(lambda: _true(probe.frames))
            assert gone.frames == []
            nursery.cancel_scope.cancel()


async def test_without_redis_publishing_never_blocks_and_overflow_is_counted():
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = BusConfig(backend="redis", url=f"redis://127.0.0.1:{port}/0", outbox=3)
    bus = RedisBus(config)
    local = Recorder()
    bus.subscribe("conv:1", local)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(bus.run)
            for n in range(5):
                assert bus.publish("conv:1", b"%d" % n, seq=n + 1) == 1
            await bus.ready("conv:1")  # returns at once while the link is down
            assert len(local.frames) == 5  # local delivery does not wait for Redis
            stats = bus.statistics()
            assert stats.connected is False and stats.dropped >= 2
            nursery.cancel_scope.cancel()


async def _true(value: bool) -> bool:
    return value


@pytest.mark.skipif(
    shutil.which("redis-server") is None and os.environ.get("CI") != "true", reason="no redis-server"
)
async def test_after_redis_comes_back_subscribers_are_resynced_and_relaying_resumes(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]

    def start() -> subprocess.Popen:
        return subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL)

    server = start()
    config = BusConfig(backend="redis", url=f"redis://127.0.0.1:{port}/0")
    a, b = RedisBus(config), RedisBus(config)
    there = Recorder()
    try:
        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                await nursery.start(a.run)
                await nursery.start(b.run)
                b.subscribe("conv:1", there)
                await until(lambda: _true(a.connected and b.connected and there.resyncs == 1))
                server.kill()
                server.wait()
                await until(lambda: _true(not b.connected))
                a.publish("conv:1", b"while away", seq=1)  # waits in a's outbox
                server = start()
                await until(lambda: _true(b.connected and there.resyncs == 2))
                await b.ready("conv:1")
                a.publish("conv:1", b"after", seq=2)
                await until(lambda: _true(any(f == b"after" for _, f, _, _ in there.frames)))
                nursery.cancel_scope.cancel()
    finally:
        server.kill()
        server.wait()
