"""File retention in a running server: the periodic clean-up removes the files of deleted
messages and uploads never sent, and keeps what a message still shows."""

from __future__ import annotations

import pytest
import trio

from qandu.client import ApiError, ChatClient
from qandu.files import testing as samples
from qandu.testing import make_app, running, until

pytestmark = pytest.mark.trio
TIMEOUT = 30


async def test_the_clean_up_removes_unsent_uploads_and_files_of_deleted_messages(tmp_path):
    files = {"cleanup_interval": 0.2, "unsent_ttl": 4.0}  # time enough to send the kept one
    app = make_app(tmp_path, files=files)
    async with running(app) as endpoints, ChatClient.initialize(endpoints.http_url, name="Ada") as ada:
        with trio.fail_after(TIMEOUT):
            cid = ada.conversation_id
            kept = await ada.api.upload(cid, "kept.png", samples.png(), content_type="image/png")
            await ada.send_text("kept", attachments=[kept["id"]])
            pdf = "application/pdf"
            deleted = await ada.api.upload(cid, "gone.pdf", samples.pdf("gone"), content_type=pdf)
            unsent = await ada.api.upload(cid, "draft.pdf", samples.pdf("draft"), content_type=pdf)
            doomed = await ada.send_text("oops", attachments=[deleted["id"]])
            await ada.api.request("DELETE", f"/api/messages/{doomed['id']}")
            stored = {
                upload["id"]: await app.store.run_read(
                    lambda db, upload_id=upload["id"]: db.sql(
                        "SELECT storage_key, thumbnail_key FROM uploads WHERE id = ?", (upload_id,)
                    ).fetchone()
                )
                for upload in (kept, deleted, unsent)
            }
            root = app.files.root

            async def cleaned_up() -> bool:
                for upload in (deleted, unsent):
                    try:
                        await ada.api.request("GET", f"/api/files/{upload['id']}")
                    except ApiError as error:
                        assert error.status == 404
                    else:
                        return False
                return True

            await until(cleaned_up, timeout=TIMEOUT)
            assert not (root / stored[deleted["id"]][0]).exists()
            assert not (root / stored[unsent["id"]][0]).exists()
            storage_key, thumbnail_key = stored[kept["id"]]
            assert (root / storage_key).exists() and (root / thumbnail_key).exists()
            content = await ada.api.download(kept["url"])
            assert content.status_code == 200 and content.content == samples.png()
