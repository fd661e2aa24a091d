"""serve_http on its own: the real port is reported, and cancelling it closes the listener."""

from __future__ import annotations

import httpx
import pytest
import trio

from qandu.auth import Claims
from qandu.http import serve_http


async def test_reports_the_bound_port_and_stops_when_cancelled(app):
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(serve_http, app, None)
            assert port > 0
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                response = await client.get("/healthz")
                assert response.json()["connections"] == 0 and response.json()["storage"] == "sqlite"
            nursery.cancel_scope.cancel()
        with pytest.raises(OSError):
            await trio.open_tcp_stream("127.0.0.1", port)


async def test_cancelling_with_a_request_in_flight(app, monkeypatch):
    with trio.fail_after(10):
        entered = trio.Event()

        async def slow(*args, **kwargs):
            entered.set()
            await trio.sleep_forever()

        monkeypatch.setattr(
            app.auth, "verify", lambda token: Claims(user_id="u1", role="customer", expires_at=0)
        )
        monkeypatch.setattr(app.store, "get_user", slow)
        async with trio.open_nursery() as nursery:
            port = await nursery.start(serve_http, app, None)

            async def hang() -> None:
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                    with pytest.raises(httpx.TransportError):
                        await client.get("/api/me", headers={"Authorization": "Bearer x"})

            nursery.start_soon(hang)
            await entered.wait()
            nursery.cancel_scope.cancel()
