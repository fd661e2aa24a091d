"""filescan in a running server: malicious files are quarantined and never reach the agent."""

from __future__ import annotations

import os
import signal
from contextlib import asynccontextmanager
from types import SimpleNamespace

import pytest
import trio

from qandu import hookimpl
from qandu.client import ApiError, ChatClient, collect, new_id
from qandu.files import testing as samples
from qandu.gateway import protocol as p
from qandu.plugins import build_config, entry_points
from qandu.testing import add_agent, make_app, running, until
from qandu_filescan import FileScan, FileScanConfig, RolePolicy

TIMEOUT = 20


class Events:
    def __init__(self) -> None:
        self.seen = []

    @hookimpl
    async def qandu_event(self, event):
        self.seen.append(event)


@asynccontextmanager
async def chat(tmp_path, config: FileScanConfig, **sections):
    events = Events()
    plugin = FileScan(config)
    app = make_app(tmp_path, plugins={"filescan": plugin, "events": events}, **sections)
    async with running(app) as endpoints, ChatClient.initialize(endpoints.http_url, name="Ada") as ada:
        cid = ada.conversation_id
        await add_agent(app, "ann@example.com", name="Ann")
        async with ChatClient.login(
            endpoints.http_url, endpoints.ws_url, "ann@example.com", "secret-pass"
        ) as ann:
            await ann.api.request("POST", f"/api/conversations/{cid}/join")
            await ann.gateway.request(p.Subscribe(conversation_id=cid, ref=new_id()))
            yield SimpleNamespace(app=app, ada=ada, ann=ann, events=events, plugin=plugin)


async def rejected(ada, name, data, content_type):
    with pytest.raises(ApiError) as caught:
        await ada.api.upload(ada.conversation_id, name, data, content_type=content_type)
    assert (caught.value.status, caught.value.code, caught.value.field) == (422, "rejected", "file")
    return caught.value.message


@pytest.mark.parametrize("mismatch", ["reject", "correct"])
async def test_eicar_and_a_disguised_program_are_quarantined_and_never_reach_the_agent(tmp_path, mismatch):
    async with chat(tmp_path, FileScanConfig(), files={"mime_mismatch": mismatch}) as s:
        app, ada, ann, events = s.app, s.ada, s.ann, s.events
        with trio.fail_after(TIMEOUT):
            eicar = await rejected(ada, "eicar.txt", samples.EICAR, "text/plain")
            assert eicar == "file rejected: the EICAR anti-virus test file (yara: eicar_test_file)"
            program = await rejected(ada, "invoice.pdf", samples.windows_executable(), "application/pdf")
            assert "application/x-msdownload" in program or "disguised" in program
            quarantined = await app.files.list_uploads(
                status="quarantined", conversation_id=ada.conversation_id, before=None, limit=10
            )
            assert sorted(u.name for u in quarantined) == ["eicar.txt", "invoice.pdf"]
            by_name = {u.name: u for u in quarantined}
            filescan_verdict = next(v for v in by_name["invoice.pdf"].verdicts if v.scanner == "filescan")
            assert not filescan_verdict.clean  # the plugin catches it even when the core only corrects
            assert not next(v for v in by_name["eicar.txt"].verdicts if v.scanner == "filescan").clean
            # the sender cannot send them, the agent cannot fetch them, nothing was delivered
            for upload in quarantined:
                with pytest.raises(ApiError) as caught:
                    await ada.send_text("see attached", attachments=[upload.id])
                assert caught.value.code == "rejected"
                assert (await ann.api.download(f"/api/files/{upload.id}/content")).status_code == 404
            frames = await collect(ann.gateway, 0.3)
            assert not [f for f in frames if f["type"] == "message.new" and f["message"].get("attachments")]
            finished = [f["status"] for f in frames if f["type"] == "upload.finished"]
            assert finished == ["quarantined", "quarantined"]
            scanned = [e for e in events.seen if e.name == "file.scanned"]
            assert [e.data["status"] for e in scanned] == ["quarantined", "quarantined"]
            assert scanned[0].data["scanners"]["filescan"] == "rejected"
            # and a clean file still goes through
            fine = await ada.api.upload(
                ada.conversation_id, "a.pdf", samples.pdf(), content_type="application/pdf"
            )
            assert fine["status"] == "clean"


async def test_policy_per_role(tmp_path):
    config = FileScanConfig(
        max_bytes=200_000,
        allowed_types=["image/*", "application/pdf"],
        roles={"support": RolePolicy(allowed_types=[], max_bytes=5_000_000)},
    )
    async with chat(tmp_path, config) as s:
        ada, ann = s.ada, s.ann
        with trio.fail_after(TIMEOUT):
            cid = ada.conversation_id
            message = await rejected(ada, "notes.txt", b"hello\n", "text/plain")
            assert message == "file rejected: text/plain files may not be shared by customers"
            message = await rejected(
                ada, "tool.exe", samples.windows_executable(), "application/octet-stream"
            )
            assert message == "file rejected: .exe files may not be shared"
            with pytest.raises(ApiError) as caught:  # the role's limit stops the upload itself
                await ada.api.upload(cid, "big.png", samples.png() + bytes(300_000), content_type="image/png")
            assert caught.value.code == "too_large" and "200000 bytes" in caught.value.message
            assert (await ada.api.upload(cid, "p.png", samples.png(), content_type="image/png"))[
                "status"
            ] == "clean"
            notes = await ann.api.upload(cid, "notes.txt", b"hello\n", content_type="text/plain")
            assert notes["status"] == "clean"


async def test_clamav_is_used_when_a_socket_is_configured(tmp_path, fake_clamd):
    socket_path = tmp_path / "clamd.sock"
    config = FileScanConfig(builtin_rules=False, clamd_socket=str(socket_path))
    async with fake_clamd(socket_path) as received, chat(tmp_path, config) as s:
        ada = s.ada
        with trio.fail_after(TIMEOUT):
            message = await rejected(ada, "eicar.txt", samples.EICAR, "text/plain")
            assert (
                message == "file rejected: ClamAV found Eicar-Test-Signature (clamav: Eicar-Test-Signature)"
            )
            upload = await ada.api.upload(
                ada.conversation_id, "a.pdf", samples.pdf(), content_type="application/pdf"
            )
            assert upload["status"] == "clean" and received == [samples.EICAR, samples.pdf()]


async def test_uploads_are_scanned_by_a_real_clamd_over_tcp(tmp_path, clamd):
    config = FileScanConfig(builtin_rules=False, clamd_socket=clamd.tcp)
    async with chat(tmp_path, config) as s:
        with trio.fail_after(TIMEOUT):
            message = await rejected(s.ada, "eicar.txt", samples.EICAR, "text/plain")
            assert message == f"file rejected: ClamAV found {clamd.eicar} (clamav: {clamd.eicar})"
            upload = await upload_pdf(s.ada)
            assert upload["status"] == "clean"
            (stored,) = await s.app.files.list_uploads(
                status="clean", conversation_id=s.ada.conversation_id, before=None, limit=5
            )
            (verdict,) = [v for v in stored.verdicts if v.scanner == "filescan"]
            assert verdict.details == {"engines": ["policy", "clamav"]}


async def test_an_unreachable_clamav_fails_closed_unless_told_otherwise(tmp_path):
    missing = str(tmp_path / "no-clamd.sock")
    async with chat(tmp_path / "a", FileScanConfig(clamd_socket=missing)) as s:
        with trio.fail_after(TIMEOUT):
            message = await rejected(s.ada, "a.pdf", samples.pdf(), "application/pdf")
            assert message.startswith("file rejected: the file could not be scanned (ClamAV is unreachable")
    async with chat(tmp_path / "b", FileScanConfig(clamd_socket=missing, on_error="accept")) as s:
        with trio.fail_after(TIMEOUT):
            upload = await s.ada.api.upload(
                s.ada.conversation_id, "a.pdf", samples.pdf(), content_type="application/pdf"
            )
            assert upload["status"] == "clean"


async def upload_pdf(ada):
    return await ada.api.upload(ada.conversation_id, "a.pdf", samples.pdf(), content_type="application/pdf")


async def stopped_worker(plugin: FileScan) -> int:
    """Stop the (only, idle) scan worker with SIGSTOP, so that it hangs; return its pid."""
    (worker,) = plugin.yara.pool.live
    os.kill(worker.pid, signal.SIGSTOP)
    return worker.pid


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.parametrize("scan_failure", ["reject", "accept"])
async def test_a_hanging_scanner_is_killed_at_the_scan_timeout(tmp_path, scan_failure):
    files = {"scan_timeout": 3.0, "scan_failure": scan_failure}
    async with chat(tmp_path, FileScanConfig(yara_timeout=600, workers=1), files=files) as s:
        with trio.fail_after(TIMEOUT):
            await upload_pdf(s.ada)
            pid = await stopped_worker(s.plugin)
            if scan_failure == "reject":
                message = await rejected(s.ada, "a.pdf", samples.pdf(), "application/pdf")
                assert message == "file rejected: scanner failed or timed out"
            else:
                assert (await upload_pdf(s.ada))["status"] == "clean"
            assert gone(pid) and not s.plugin.yara.pool.live
            uploads = await s.app.files.list_uploads(
                status=None, conversation_id=s.ada.conversation_id, before=None, limit=9
            )
            failed = "scanner failed or timed out"
            (timed_out,) = [u for u in uploads if any(v.reason == failed for v in u.verdicts)]
            assert timed_out.status == ("quarantined" if scan_failure == "reject" else "clean")
            # a new worker takes over
            assert "eicar_test_file" in await rejected(s.ada, "eicar.txt", samples.EICAR, "text/plain")


@pytest.mark.parametrize("on_error", ["reject", "accept"])
async def test_a_crashing_scanner_fails_the_scan_as_configured(tmp_path, on_error):
    async with chat(tmp_path, FileScanConfig(on_error=on_error, workers=1)) as s:
        with trio.fail_after(TIMEOUT):
            await upload_pdf(s.ada)
            pid = await stopped_worker(s.plugin)
            outcome = []

            async def send() -> None:
                if on_error == "reject":
                    outcome.append(await rejected(s.ada, "a.pdf", samples.pdf(), "application/pdf"))
                else:
                    outcome.append((await upload_pdf(s.ada))["status"])

            async with trio.open_nursery() as nursery:
                nursery.start_soon(send)

                async def scanning() -> bool:
                    return s.plugin.yara.pool.busy > 0

                await until(scanning)
                os.kill(pid, signal.SIGSEGV)
                os.kill(pid, signal.SIGCONT)
            if on_error == "reject":
                assert outcome == [
                    "file rejected: the file could not be scanned"
                    " (YARA scan failed: the scan worker crashed (SIGSEGV))"
                ]
            else:
                assert outcome == ["clean"]
            assert gone(pid)
            assert "eicar_test_file" in await rejected(s.ada, "eicar.txt", samples.EICAR, "text/plain")


def test_the_plugin_is_installed_under_its_entry_point():
    (entry,) = [ep for ep in entry_points() if ep.name == "filescan"]
    assert entry.load() is FileScan and entry.dist.name == "qandu-filescan"
    errors: list[str] = []
    config = build_config(
        FileScan, {"max_bytes": 1234, "clamd_socket": "/run/c.sock"}, "plugins.filescan", errors
    )
    assert errors == [] and (config.max_bytes, config.clamd_socket) == (1234, "/run/c.sock")
