"""``GET /api/nlu/status``: which intent models are ready, training or unavailable (staff only)."""

from __future__ import annotations

from typing import Any

import httpx
import trio

from qandu.testing import add_agent, make_app, running
from qandu_nlu import Nlu, NluConfig

TIMEOUT = 90


class HeldTraining(Nlu):
    """An NLU whose training waits until the test releases it (and then trains nothing)."""

    def __init__(self, config: NluConfig) -> None:
        super().__init__(config)
        self.training = trio.Event()
        self.release = trio.Event()

    async def _train(self, plan: Any) -> None:
        self.training.set()
        await self.release.wait()


async def _status(http: httpx.AsyncClient) -> dict[str, Any]:
    response = await http.get("/api/nlu/status")
    assert response.status_code == 200, response.text
    return response.json()


async def _log_in(app: Any, http: httpx.AsyncClient) -> None:
    await add_agent(app, "ann@example.com", name="Ann")
    login = await http.post("/api/auth/login", json={"email": "ann@example.com", "password": "secret-pass"})
    http.headers["Authorization"] = f"Bearer {login.json()['token']}"


async def test_ready_models_and_who_may_ask(tmp_path, nlu_config):
    nlu = Nlu(nlu_config)
    app = make_app(tmp_path, plugins={"nlu": nlu})
    async with running(app) as server:
        with trio.fail_after(TIMEOUT):
            await nlu.wait_trained()
            async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as staff:
                await _log_in(app, staff)
                status = await _status(staff)
                assert status == {
                    "training": False,
                    "bots": [
                        {
                            "bot": "support",
                            "models": [
                                {"language": "de", "state": "ready"},
                                {"language": "en", "state": "ready"},
                            ],
                        }
                    ],
                }
                document = (await staff.get("/api/openapi.json")).json()
                assert "get" in document["paths"]["/api/nlu/status"]
            async with httpx.AsyncClient(base_url=server.http_url) as anonymous:
                assert (await anonymous.get("/api/nlu/status")).status_code == 401
                token = (await anonymous.post("/api/chat/initialize", json={})).json()["token"]
                refused = await anonymous.get("/api/nlu/status", headers={"Authorization": f"Bearer {token}"})
                assert refused.status_code == 403


async def test_training_then_unavailable_when_training_gives_nothing(tmp_path):
    nlu = HeldTraining(NluConfig(cache_dir=str(tmp_path / "empty-cache")))
    app = make_app(tmp_path, plugins={"nlu": nlu})
    async with running(app) as server:
        with trio.fail_after(TIMEOUT):
            async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as staff:
                await _log_in(app, staff)
                await nlu.training.wait()
                status = await _status(staff)
                assert status["training"] is True
                states = {m["language"]: m["state"] for m in status["bots"][0]["models"]}
                assert states == {"de": "training", "en": "training"}

                nlu.release.set()
                await nlu.wait_trained()
                status = await _status(staff)
                assert status["training"] is False
                assert {m["state"] for m in status["bots"][0]["models"]} == {"unavailable"}
