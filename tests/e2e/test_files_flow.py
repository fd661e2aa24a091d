"""The upload -> scan -> message flow: attachment rules, scan hooks, events, progress frames."""

from __future__ import annotations

import os
import time

import httpx
import pytest
import trio

from qandu import Reject, hookimpl
from qandu.client import ApiError, ChatClient, new_id
from qandu.files import Verdict
from qandu.files import testing as samples
from qandu.files.blobs import SPOOL_STALE
from qandu.gateway import protocol as p
from qandu.testing import add_agent, make_app, running

pytestmark = pytest.mark.trio
TIMEOUT = 20


class Recorder:
    """Scans nothing; records events and may reject, fail, hang or lower the limit."""

    def __init__(self, *, reject: str | None = None, fail: bool = False, hang: bool = False, limit=None):
        self.reject, self.fail, self.hang, self.limit = reject, fail, hang, limit
        self.events = []
        self.scanned = []

    @hookimpl
    async def qandu_scan_file(self, upload, path, user):
        self.scanned.append((upload.name, upload.status, path.read_bytes()[:4], user.id))
        if self.fail:
            raise RuntimeError("scanner crashed")
        if self.hang:
            await trio.sleep_forever()
        return Verdict.reject(self.reject) if self.reject else Verdict.accept()

    @hookimpl
    async def qandu_limit_upload(self, user, conversation):
        return self.limit

    @hookimpl
    async def qandu_event(self, event):
        self.events.append(event)


class NoSwearing:
    @hookimpl
    async def qandu_message_incoming(self, draft):
        return Reject("no swearing") if "darn" in (draft.content.text or "") else None


async def test_scan_hook_sees_the_file_and_its_verdict_is_recorded(tmp_path):
    recorder = Recorder()
    app = make_app(tmp_path, plugins={"recorder": recorder})
    async with running(app) as endpoints, ChatClient.initialize(endpoints.http_url, name="Ada") as ada:
        with trio.fail_after(TIMEOUT):
            upload = await ada.api.upload(
                ada.conversation_id, "a.pdf", samples.pdf(), content_type="application/pdf"
            )
            assert recorder.scanned == [("a.pdf", "pending", b"%PDF", ada.user["id"])]
            await trio.sleep(0.1)
            (event,) = [e for e in recorder.events if e.name == "file.scanned"]
            assert event.conversation_id == ada.conversation_id
            assert event.data["uploadId"] == upload["id"] and event.data["status"] == "clean"
            assert event.data["scanners"] == {"recorder": "clean"}


@pytest.mark.parametrize(
    ("recorder", "reason"),
    [
        (Recorder(reject="looks like malware"), "looks like malware"),
        (Recorder(fail=True), "scanner failed or timed out"),
        (Recorder(hang=True), "scanner failed or timed out"),
    ],
)
async def test_any_rejection_or_failing_scanner_quarantines(tmp_path, recorder, reason):
    app = make_app(tmp_path, plugins={"recorder": recorder}, files={"scan_timeout": 0.5})
    async with running(app) as endpoints, ChatClient.initialize(endpoints.http_url, name="Ada") as ada:
        with trio.fail_after(TIMEOUT):
            with pytest.raises(ApiError) as caught:
                await ada.api.upload(
                    ada.conversation_id, "a.pdf", samples.pdf(), content_type="application/pdf"
                )
            assert (caught.value.status, caught.value.code, caught.value.field) == (422, "rejected", "file")
            assert caught.value.message == f"file rejected: {reason}"
            await trio.sleep(0.1)
            (event,) = [e for e in recorder.events if e.name == "file.scanned"]
            assert event.data["status"] == "quarantined" and event.data["reason"] == reason
            uploads = await app.files.list_uploads(
                status="quarantined", conversation_id=None, before=None, limit=5
            )
            assert [u.verdicts[0].reason for u in uploads] == [reason]


async def test_a_failing_scanner_can_be_ignored_if_the_operator_says_so(tmp_path):
    app = make_app(tmp_path, plugins={"recorder": Recorder(fail=True)}, files={"scan_failure": "accept"})
    async with running(app) as endpoints, ChatClient.initialize(endpoints.http_url, name="Ada") as ada:
        with trio.fail_after(TIMEOUT):
            upload = await ada.api.upload(
                ada.conversation_id, "a.pdf", samples.pdf(), content_type="application/pdf"
            )
            assert upload["status"] == "clean"


async def test_a_plugin_can_lower_the_upload_limit(tmp_path):
    app = make_app(tmp_path, plugins={"recorder": Recorder(limit=1000)})
    async with running(app) as endpoints, ChatClient.initialize(endpoints.http_url, name="Ada") as ada:
        with trio.fail_after(TIMEOUT):
            with pytest.raises(ApiError) as caught:
                await ada.api.upload(ada.conversation_id, "a.png", samples.png(), content_type="image/png")
            assert caught.value.code == "too_large" and "1000 bytes" in caught.value.message


async def test_attachment_rules(tmp_path):
    app = make_app(tmp_path, plugins={"filter": NoSwearing()})
    async with (
        running(app) as endpoints,
        ChatClient.initialize(endpoints.http_url, name="Ada") as ada,
        ChatClient.initialize(endpoints.http_url, name="Bo") as bo,
    ):
        with trio.fail_after(TIMEOUT):
            cid = ada.conversation_id
            photo = await ada.api.upload(cid, "p.png", samples.png(), content_type="image/png")
            with pytest.raises(ApiError) as caught:
                await bo.send_text("mine?", attachments=[photo["id"]])
            assert caught.value.code == "not_found"
            with pytest.raises(ApiError) as caught:
                await ada.send_text("twice", attachments=[photo["id"], photo["id"]])
            assert caught.value.code == "invalid_request"
            # a second conversation of the same customer
            second = await ada.api.request("POST", "/api/chat/initialize", json={"token": ada.api.token})
            with pytest.raises(ApiError) as caught:
                await ada.send_text(
                    "elsewhere", conversation_id=second["conversation"]["id"], attachments=[photo["id"]]
                )
            assert (caught.value.code, caught.value.field) == ("invalid_request", "attachments.0")
            # a message refused by a plugin gives the upload back
            with pytest.raises(ApiError) as caught:
                await ada.send_text("darn", attachments=[photo["id"]])
            assert caught.value.code == "rejected"
            key = new_id()
            sent = await ada.send_text("look", client_msg_id=key, attachments=[photo["id"]])
            assert sent["content"]["type"] == "image"
            assert sent["content"]["fileUrl"] == photo["url"]
            again = await ada.send_text("look", client_msg_id=key, attachments=[photo["id"]])
            assert again["id"] == sent["id"]  # an idempotent resend is fine
            with pytest.raises(ApiError) as caught:
                await ada.send_text("look again", attachments=[photo["id"]])
            assert caught.value.code == "conflict" and "already sent" in caught.value.message
            # over HTTP too
            invoice = await ada.api.upload(cid, "i.pdf", samples.pdf(), content_type="application/pdf")
            body = {
                "conversationId": cid,
                "clientMsgId": new_id(),
                "content": {"type": "file", "text": "invoice"},
                "attachments": [invoice["id"]],
            }
            message = (await ada.api.request("POST", "/api/chat/message", json=body))["message"]
            assert message["attachments"][0]["mimeType"] == "application/pdf"


async def test_private_and_deleted_messages_hide_their_files(app, server):
    with trio.fail_after(TIMEOUT):
        async with ChatClient.initialize(server.http_url, name="Ada") as ada:
            cid = ada.conversation_id
            await add_agent(app, "ann@example.com", name="Ann")
            async with ChatClient.login(
                server.http_url, server.ws_url, "ann@example.com", "secret-pass"
            ) as ann:
                note_file = await ann.api.upload(
                    cid, "notes.txt", b"customer is VIP\n", content_type="text/plain"
                )
                await ann.send_text(
                    "internal", conversation_id=cid, private=True, attachments=[note_file["id"]]
                )
                assert (await ann.api.download(note_file["url"])).status_code == 200
                assert (await ada.api.download(note_file["url"])).status_code == 404
                shown = await ada.api.upload(cid, "p.png", samples.png(), content_type="image/png")
                sent = await ada.send_text("pic", attachments=[shown["id"]])
                assert (await ann.api.download(shown["url"])).status_code == 200
                await ada.api.request("DELETE", f"/api/messages/{sent['id']}")
                assert (await ann.api.download(shown["url"])).status_code == 404


async def test_agents_see_upload_progress(app, server):
    with trio.fail_after(TIMEOUT):
        async with ChatClient.initialize(server.http_url, name="Ada") as ada:
            cid = ada.conversation_id
            await add_agent(app, "ann@example.com", name="Ann")
            async with ChatClient.login(
                server.http_url, server.ws_url, "ann@example.com", "secret-pass"
            ) as ann:
                await ann.gateway.request(p.Subscribe(conversation_id=cid, ref="s"))
                data = samples.png(1200, 900) + b"\0" * 2_000_000  # trailing bytes: still a PNG

                async def slowly():
                    for start in range(0, len(data), 256 * 1024):
                        yield data[start : start + 256 * 1024]
                        await trio.sleep(0.1)

                upload = await ada.api.upload(cid, "big.png", slowly(), content_type="image/png")
                progress = await ann.gateway.next_frame("upload.progress")
                assert progress["uploadId"] == upload["id"] and progress["userId"] == ada.user["id"]
                assert progress["name"] == "big.png" and progress["conversationId"] == cid
                frames = [progress]
                while True:
                    frame = await ann.gateway.next_frame("upload.progress", "upload.finished")
                    frames.append(frame)
                    if frame["type"] == "upload.finished":
                        break
                assert frame["status"] == "clean"
                received = [f["received"] for f in frames[:-1]]
                assert received == sorted(received) and received[-1] == len(data)
                assert len(received) >= 3


async def test_multipart_upload_like_a_browser(app, server):
    with trio.fail_after(TIMEOUT):
        async with ChatClient.initialize(server.http_url, name="Ada") as ada:
            headers = {"Authorization": f"Bearer {ada.api.token}"}
            files = {"file": ("Straße Plan.pdf", samples.pdf(), "application/pdf")}
            response = await ada.api.http.post(
                "/api/files", params={"conversationId": ada.conversation_id}, files=files, headers=headers
            )
            assert response.status_code == 201, response.text
            upload = response.json()["upload"]
            assert (upload["name"], upload["mimeType"]) == ("Straße Plan.pdf", "application/pdf")
            assert (await ada.api.download(upload["url"])).content == samples.pdf()
            extra = {
                "file": ("a.pdf", samples.pdf(), "application/pdf"),
                "other": ("b.txt", b"x", "text/plain"),
            }
            response = await ada.api.http.post(
                "/api/files", params={"conversationId": ada.conversation_id}, files=extra, headers=headers
            )
            assert response.status_code == 422 and response.json()["error"]["field"] == "file"
            raw = await ada.api.http.post(
                "/api/files", params={"conversationId": ada.conversation_id}, content=b"x", headers=headers
            )
            assert raw.status_code == 422 and raw.json()["error"]["field"] == "name"
            empty = await ada.api.http.post(
                "/api/files",
                params={"conversationId": ada.conversation_id, "name": "e.txt"},
                content=b"",
                headers=headers,
            )
            assert empty.status_code == 422 and "empty" in empty.json()["error"]["message"]


async def test_admin_listing_and_disabled_file_sharing(tmp_path):
    app = make_app(tmp_path, files={"enabled": False})
    async with running(app) as endpoints, ChatClient.initialize(endpoints.http_url, name="Ada") as ada:
        with trio.fail_after(TIMEOUT):
            with pytest.raises(ApiError) as caught:
                await ada.api.upload(ada.conversation_id, "a.txt", b"hello", content_type="text/plain")
            assert caught.value.status == 404 and "not available" in caught.value.message
            with pytest.raises(ApiError) as caught:
                await ada.send_text("x", attachments=["f_nothing"])
            assert caught.value.code == "invalid_request" and caught.value.field == "attachments"
            with pytest.raises(ApiError) as caught:
                await ada.api.request("GET", "/api/files")
            assert caught.value.status == 403


async def test_partial_uploads_and_interrupted_scans_are_cleaned_at_start(tmp_path):
    app = make_app(tmp_path)
    spool = app.config.data_dir / "files" / "tmp"
    spool.mkdir(parents=True)
    abandoned, busy = spool / "0123.part", spool / "4567.part"
    abandoned.write_bytes(b"half a file")
    busy.write_bytes(b"another node is still writing this one")  # a shared files directory
    long_ago = time.time() - SPOOL_STALE - 60
    os.utime(abandoned, (long_ago, long_ago))
    async with running(app) as endpoints:
        assert list(spool.iterdir()) == [busy]
        async with httpx.AsyncClient(base_url=endpoints.http_url) as http:
            assert (await http.get("/healthz")).status_code == 200
