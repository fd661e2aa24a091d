"""File sharing end to end over real sockets: upload, send, receive, download, access, safety."""

from __future__ import annotations

import hashlib
from contextlib import asynccontextmanager
from urllib.parse import unquote

import httpx
import pytest
import trio

from qandu.client import ApiError, ChatClient, new_id
from qandu.files import testing as samples
from qandu.gateway import protocol as p
from qandu.testing import add_agent, make_app, running

pytestmark = pytest.mark.trio
TIMEOUT = 20


@asynccontextmanager
async def agent_in(app, endpoints, conversation_id, email="ann@example.com", role="support"):
    await add_agent(app, email, name="Ann", role=role)
    async with ChatClient.login(endpoints.http_url, endpoints.ws_url, email, "secret-pass") as agent:
        await agent.api.request("POST", f"/api/conversations/{conversation_id}/join")
        await agent.gateway.request(p.Subscribe(conversation_id=conversation_id, ref=new_id()))
        agent.conversation_id = conversation_id
        yield agent


async def next_message(client, message_id):
    while True:
        frame = await client.gateway.next_frame("message.new")
        if frame["message"]["id"] == message_id:
            return frame["message"]


async def test_customer_sends_an_image_and_a_pdf_that_the_agent_receives_and_downloads(app, server):
    with trio.fail_after(TIMEOUT):
        image, document = samples.png(), samples.pdf()
        async with ChatClient.initialize(server.http_url, name="Ada") as ada:
            cid = ada.conversation_id
            async with agent_in(app, server, cid) as agent:
                photo = await ada.api.upload(cid, "photo.png", image, content_type="image/png")
                invoice = await ada.api.upload(cid, "invoice.pdf", document, content_type="application/pdf")
                assert (photo["status"], photo["type"], photo["mimeType"]) == ("clean", "image", "image/png")
                assert (photo["width"], photo["height"]) == (640, 480) and "thumbnailUrl" in photo
                assert (invoice["type"], invoice["mimeType"], invoice["size"]) == (
                    "document",
                    "application/pdf",
                    len(document),
                )
                sent = await ada.send_text("my receipt", attachments=[photo["id"], invoice["id"]])
                assert sent["content"]["type"] == "file"  # mixed: file; images only: image
                received = await next_message(agent, sent["id"])
                names = [(a["name"], a["type"], a["mimeType"], a["size"]) for a in received["attachments"]]
                assert names == [
                    ("photo.png", "image", "image/png", len(image)),
                    ("invoice.pdf", "document", "application/pdf", len(document)),
                ]
                got_image = await agent.api.download(received["attachments"][0]["url"])
                got_pdf = await agent.api.download(received["attachments"][1]["url"])
                assert got_image.status_code == got_pdf.status_code == 200
                assert got_image.content == image and got_pdf.content == document
                assert got_image.headers["content-type"] == "image/png"
                assert got_image.headers["content-disposition"].startswith("inline;")
                assert got_pdf.headers["content-type"] == "application/pdf"
                assert got_pdf.headers["content-disposition"].startswith("attachment;")
                for response in (got_image, got_pdf):
                    assert response.headers["x-content-type-options"] == "nosniff"
                    assert "sandbox" in response.headers["content-security-policy"]
                assert got_pdf.headers["etag"] == f'"{hashlib.sha256(document).hexdigest()}"'
                thumb = await agent.api.download(photo["thumbnailUrl"])
                assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/webp"
                assert thumb.content[:4] == b"RIFF" and len(thumb.content) < len(image)
                # a byte range (video players, resumed downloads)
                part = await agent.api.http.get(
                    received["attachments"][1]["url"],
                    headers={"Authorization": f"Bearer {agent.api.token}", "Range": "bytes=0-7"},
                )
                assert part.status_code == 206 and part.content == document[:8]
                # history carries the attachments too
                history = await ada.history()
                stored = next(m for m in history["messages"] if m["id"] == sent["id"])
                assert [a["id"] for a in stored["attachments"]] == [photo["id"], invoice["id"]]


async def test_only_people_who_may_read_the_conversation_can_download(app, server):
    with trio.fail_after(TIMEOUT):
        async with (
            ChatClient.initialize(server.http_url, name="Ada") as ada,
            ChatClient.initialize(server.http_url, name="Eve") as eve,
        ):
            photo = await ada.api.upload(
                ada.conversation_id, "photo.png", samples.png(), content_type="image/png"
            )
            url = photo["url"]
            # not yet sent: only the uploader sees it
            assert (await ada.api.download(url)).status_code == 200
            async with agent_in(app, server, ada.conversation_id) as agent:
                assert (await agent.api.download(url)).status_code == 404
                await ada.send_text("here", attachments=[photo["id"]])
                assert (await agent.api.download(url)).status_code == 200
            refused = await eve.api.download(url)
            assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
            assert (await eve.api.download(photo["thumbnailUrl"])).status_code == 403
            assert (
                await eve.api.http.get(
                    f"/api/files/{photo['id']}", headers={"Authorization": f"Bearer {eve.api.token}"}
                )
            ).status_code == 403
            anonymous = await eve.api.http.get(url)
            assert anonymous.status_code == 401
            # Eve cannot send Ada's upload in her own conversation either
            with pytest.raises(ApiError) as caught:
                await eve.send_text("stolen", attachments=[photo["id"]])
            assert caught.value.code == "not_found" and caught.value.field == "attachments.0"


async def test_signed_links_work_without_a_header_expire_and_stay_bound(app, server):
    with trio.fail_after(TIMEOUT):
        async with (
            ChatClient.initialize(server.http_url, name="Ada") as ada,
            ChatClient.initialize(server.http_url, name="Eve") as eve,
        ):
            cid = ada.conversation_id
            photo = await ada.api.upload(cid, "photo.png", samples.png(), content_type="image/png")
            other = await ada.api.upload(cid, "b.png", samples.png(color="red"), content_type="image/png")
            await ada.send_text("two", attachments=[photo["id"], other["id"]])
            link = await ada.api.request("GET", f"/api/files/{photo['id']}/link")
            assert link["url"].startswith(f"/api/files/{photo['id']}/content?sig=")
            plain = httpx.AsyncClient(base_url=server.http_url)
            async with plain:
                assert (await plain.get(link["url"])).status_code == 200
                assert (await plain.get(link["thumbnailUrl"])).status_code == 200
                # the signature is for this file only
                sig = link["url"].split("sig=", 1)[1]
                wrong = await plain.get(f"/api/files/{other['id']}/content", params={"sig": sig})
                assert wrong.status_code == 401 and wrong.json()["error"]["field"] == "sig"
                # a session token is no link signature (and a link is no session token)
                as_sig = await plain.get(photo["url"], params={"sig": ada.api.token})
                assert as_sig.status_code == 401
                me = await plain.get("/api/me", headers={"Authorization": f"Bearer {unquote(sig)}"})
                assert me.status_code == 401
                # expired
                user = await app.store.get_user(ada.user["id"])
                old = app.auth.issue_scoped(user.id, audience="qandu-file", ttl=-5, fid=photo["id"])
                expired = await plain.get(photo["url"], params={"sig": old})
                assert expired.status_code == 401 and "expired" in expired.json()["error"]["message"]
                # a link made by someone who may not read the conversation does not open it
                eve_user = await app.store.get_user(eve.user["id"])
                forged = app.auth.issue_scoped(eve_user.id, audience="qandu-file", ttl=60, fid=photo["id"])
                assert (await plain.get(photo["url"], params={"sig": forged})).status_code == 403


async def test_oversized_upload_is_stopped_early_and_leaves_nothing_behind(tmp_path):
    limit = 256 * 1024
    app = make_app(tmp_path, files={"max_bytes": limit})
    async with running(app) as endpoints, ChatClient.initialize(endpoints.http_url, name="Ada") as ada:
        with trio.fail_after(TIMEOUT):
            # 1. Content-Length says too much: refused before a byte of the body is read
            with pytest.raises(ApiError) as caught:
                await ada.api.upload(ada.conversation_id, "big.bin", b"x" * (limit + 1))
            assert (caught.value.status, caught.value.code, caught.value.field) == (413, "too_large", "file")
            assert "262144 bytes" in caught.value.message

            # 2. a chunked stream of unknown length: cut off right after the limit
            stream = await trio.open_tcp_stream("127.0.0.1", endpoints.http_port)
            target = f"/api/files?conversationId={ada.conversation_id}&name=huge.bin"
            await stream.send_all(
                f"POST {target} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {ada.api.token}\r\n"
                "Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
            )
            total, sent, response = 64 * 1024 * 1024, 0, b""
            chunk = b"y" * 16384
            async with trio.open_nursery() as nursery:

                async def read_response() -> None:
                    nonlocal response
                    while b"}" not in response:
                        data = await stream.receive_some(65536)
                        if not data:
                            break
                        response += data
                    nursery.cancel_scope.cancel()

                nursery.start_soon(read_response)
                try:
                    while sent < total:
                        await stream.send_all(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        sent += len(chunk)
                        await trio.sleep(0)
                except trio.BrokenResourceError:
                    pass
                await trio.sleep_forever()
            await stream.aclose()
            assert response.startswith(b"HTTP/1.1 413")
            assert b'"code":"too_large"' in response and b'"field":"file"' in response
            assert sent < limit + 2 * 1024 * 1024, f"the error came only after {sent} bytes"

        files = tmp_path / "data" / "files"
        assert [p for p in files.rglob("*") if p.is_file()] == []
        rows = await app.store.run_read(lambda db: db.sql("SELECT COUNT(*) FROM uploads").fetchone()[0])
        assert rows == 0


@pytest.mark.parametrize(
    ("hostile", "shown"),
    [
        ("../../etc/passwd\r\n.png", "passwd .png"),
        ("C:\\Users\\x\\evil\u202egnp.png", "evilgnp.png"),
        ("in\u200bvoice\ufeff\u2066.png", "invoice.png"),
        ('a"b;c\x00d.png', "a_b;cd.png"),
        ("CON.png", "_CON.png"),
        ("x" * 2000 + ".png", "x" * 196 + ".png"),
    ],
)
async def test_hostile_file_names_are_sanitised_and_served_safely(app, server, hostile, shown):
    with trio.fail_after(TIMEOUT):
        async with ChatClient.initialize(server.http_url, name="Ada") as ada:
            image = samples.png(8, 8)
            upload = await ada.api.upload(ada.conversation_id, hostile, image, content_type="image/png")
            assert upload["name"] == shown
            response = await ada.api.download(upload["url"])
            assert response.status_code == 200 and response.content == image
            disposition = response.headers["content-disposition"]
            assert "\r" not in disposition and "\n" not in disposition and "/" not in disposition
            assert disposition.isascii()
            fallback = disposition.split('filename="', 1)[1].split('"', 1)[0]
            assert '"' not in fallback and "\\" not in fallback
            assert unquote(disposition.split("filename*=UTF-8''", 1)[1]) == shown
            assert response.headers["x-content-type-options"] == "nosniff"
            on_disk = list((app.config.data_dir / "files").rglob("*"))
            assert all(shown not in path.name and "passwd" not in str(path) for path in on_disk)


async def test_a_declared_type_the_bytes_contradict_is_rejected_and_quarantined(app, server):
    with trio.fail_after(TIMEOUT):
        async with ChatClient.initialize(server.http_url, name="Ada") as ada:
            cid = ada.conversation_id
            program = samples.windows_executable()
            with pytest.raises(ApiError) as caught:
                await ada.api.upload(cid, "invoice.pdf", program, content_type="application/pdf")
            assert (caught.value.status, caught.value.code) == (422, "rejected")
            assert "application/x-msdownload" in caught.value.message
            with pytest.raises(ApiError) as caught:
                await ada.api.upload(cid, "photo.png", samples.jpeg(), content_type="image/png")
            assert "image/jpeg" in caught.value.message
            await add_agent(app, "root@example.com", role="admin")
            async with ChatClient.login(
                server.http_url, server.ws_url, "root@example.com", "secret-pass"
            ) as root:
                page = await root.api.request("GET", "/api/files", params={"status": "quarantined"})
                assert [u["name"] for u in page["uploads"]] == ["photo.png", "invoice.pdf"]
                kept = page["uploads"][1]
                assert kept["verdicts"][0]["scanner"] == "core" and not kept["verdicts"][0]["clean"]
                # admins can fetch it, as an inert download
                response = await root.api.download(kept["url"])
                assert response.content == program
                assert response.headers["content-type"] == "application/octet-stream"
                assert response.headers["content-disposition"].startswith("attachment;")
            quarantined = list((app.config.data_dir / "files" / "quarantine").rglob("*"))
            assert any(path.name == hashlib.sha256(program).hexdigest() for path in quarantined)
            assert (await ada.api.download(kept["url"])).status_code == 404  # not even the sender


async def test_mismatch_can_be_corrected_instead(tmp_path):
    app = make_app(tmp_path, files={"mime_mismatch": "correct"})
    async with running(app) as endpoints, ChatClient.initialize(endpoints.http_url, name="Ada") as ada:
        with trio.fail_after(TIMEOUT):
            upload = await ada.api.upload(
                ada.conversation_id, "photo.png", samples.jpeg(), content_type="image/png"
            )
            assert (upload["status"], upload["mimeType"]) == ("clean", "image/jpeg")
            response = await ada.api.download(upload["url"])
            assert response.headers["content-type"] == "image/jpeg"
            page = await ada.api.upload(
                ada.conversation_id, "page.html", b"<script>alert(1)</script>", content_type="text/html"
            )
            assert page["mimeType"] == "text/plain"
            served = await ada.api.download(page["url"])
            assert served.headers["content-type"].startswith("text/plain")
            assert served.headers["content-disposition"].startswith("attachment;")


async def test_file_api_answers_match_the_openapi_document(app, server):
    from jsonschema import Draft202012Validator

    with trio.fail_after(TIMEOUT):
        async with ChatClient.initialize(server.http_url, name="Ada") as ada:
            document = await ada.api.request("GET", "/api/openapi.json")

            def check(method: str, path: str, response: httpx.Response) -> None:
                operation = document["paths"][path][method]
                answer = operation["responses"][str(response.status_code)]
                schema = answer["content"]["application/json"]["schema"]
                validator = Draft202012Validator({**schema, "components": document["components"]})
                assert [e.message for e in validator.iter_errors(response.json())] == []

            headers = {"Authorization": f"Bearer {ada.api.token}"}
            cid = ada.conversation_id
            http = ada.api.http
            created = await http.post(
                "/api/files",
                params={"conversationId": cid, "name": "p.png"},
                content=samples.png(),
                headers=headers,
            )
            check("post", "/api/files", created)
            upload_id = created.json()["upload"]["id"]
            check("get", "/api/files/{uploadId}", await http.get(f"/api/files/{upload_id}", headers=headers))
            check(
                "get",
                "/api/files/{uploadId}/link",
                await http.get(f"/api/files/{upload_id}/link", headers=headers),
            )
            refused = await http.post(
                "/api/files",
                params={"conversationId": cid, "name": "x.pdf"},
                content=b"MZ" + bytes(200),
                headers=headers,
            )
            check("post", "/api/files", refused)
            check("get", "/api/files", await http.get("/api/files", headers=headers))  # 403 for customers
            missing = await http.get("/api/files/f_nothing/content", headers=headers)
            check("get", "/api/files/{uploadId}/content", missing)
            await add_agent(app, "root@example.com", role="admin")
            async with ChatClient.login(
                server.http_url, server.ws_url, "root@example.com", "secret-pass"
            ) as root:
                listing = await root.api.http.get(
                    "/api/files", headers={"Authorization": f"Bearer {root.api.token}"}
                )
                check("get", "/api/files", listing)
                assert len(listing.json()["uploads"]) == 2
