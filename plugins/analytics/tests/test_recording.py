"""Recording: buffered off the message path, written in batches, kept at shutdown, never stuck."""

from __future__ import annotations

import datetime as dt

import trio

from qandu.events import Event
from qandu.testing import make_app, running
from qandu_analytics import Analytics, AnalyticsConfig

TIMEOUT = 20
AT = dt.datetime(2025, 3, 3, 9, tzinfo=dt.UTC)


async def _count(app, table):
    return await app.store.run_read(lambda db: db.sql(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


async def test_events_wait_in_memory_and_are_written_at_shutdown(tmp_path):
    plugin = Analytics(AnalyticsConfig(flush_interval=3600))  # only a full batch or shutdown writes
    app = make_app(tmp_path, plugins={"analytics": plugin})
    with trio.fail_after(TIMEOUT):
        async with running(app):
            for n in range(5):
                await plugin.qandu_event(Event("conversation.started", f"c{n}", AT, {"bot": "support"}))
            await trio.sleep(0.2)
            assert await _count(app, "analytics_conversations") == 0  # buffered, not yet written
            assert len(plugin._pending) == 5
        reopened = make_app(tmp_path, plugins={"analytics": Analytics(AnalyticsConfig())})
        async with running(reopened):
            assert await _count(reopened, "analytics_conversations") == 5
            assert await _count(reopened, "analytics_events") == 5


async def test_a_full_batch_is_written_at_once(tmp_path):
    plugin = Analytics(AnalyticsConfig(flush_interval=3600, batch_size=10))
    app = make_app(tmp_path, plugins={"analytics": plugin})
    with trio.fail_after(TIMEOUT):
        async with running(app):
            for n in range(10):
                await plugin.qandu_event(Event("conversation.started", f"c{n}", AT, {}))
            with trio.fail_after(5):
                while await _count(app, "analytics_conversations") < 10:
                    await trio.sleep(0.05)


async def test_a_record_that_cannot_be_written_is_dropped_alone(tmp_path):
    plugin = Analytics(AnalyticsConfig(flush_interval=3600))
    app = make_app(tmp_path, plugins={"analytics": plugin})
    with trio.fail_after(TIMEOUT):
        async with running(app):
            await plugin.qandu_event(Event("conversation.started", "c1", AT, {}))
            await plugin.qandu_event(Event("csat.submitted", "c1", AT, {"surveyId": "s1"}))  # no rating
            await plugin.qandu_event(Event("csat.submitted", "c1", AT, {"surveyId": "s2", "rating": 4}))
            assert await plugin.flush() == 3
            assert plugin.dropped == 1
            assert await _count(app, "analytics_csat") == 1
            assert plugin._pending == []


async def test_beyond_max_pending_new_records_are_dropped_and_counted_not_waited_for(tmp_path, caplog):
    plugin = Analytics(AnalyticsConfig(flush_interval=3600, max_pending=3))
    app = make_app(tmp_path, plugins={"analytics": plugin})
    with trio.fail_after(TIMEOUT):
        async with running(app):
            for n in range(5):  # the hook never waits, even with the buffer full
                await plugin.qandu_event(Event("conversation.started", f"c{n}", AT, {}))
            assert len(plugin._pending) == 3 and plugin.overflowed == 2
            warnings = [r.message for r in caplog.records if "dropping new ones" in r.message]
            assert warnings == ["analytics is 3 records behind; dropping new ones"]  # once
            assert await plugin.flush() == 3
            await plugin.qandu_event(Event("conversation.started", "c5", AT, {}))  # room again
            assert await plugin.flush() == 1
            assert await _count(app, "analytics_conversations") == 4
            assert plugin.overflowed == 2
