"""``qandu serve`` as a real process: start, chat, SIGTERM drains without losing acked messages."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import trio
from trio_websocket import ConnectionClosed

from qandu.client import ChatClient
from qandu.config import from_dict
from qandu.storage import Store

REPO = Path(__file__).resolve().parents[2]
QANDU = [sys.executable, "-m", "qandu"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_config(tmp_path: Path) -> tuple[Path, int, int]:
    http_port, ws_port = free_port(), free_port()
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[server]
port = {http_port}
ws_port = {ws_port}
data_dir = "{tmp_path / "data"}"
log_format = "json"

[bots]
paths = ["{REPO / "bots" / "support"}"]
"""
    )
    return config, http_port, ws_port


async def wait_healthy(url: str, process: subprocess.Popen) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(200):
            assert process.poll() is None, "qandu serve exited early"
            try:
                if (await http.get(f"{url}/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await trio.sleep(0.05)
    raise AssertionError("server did not become healthy")


async def test_sigterm_drains_closes_with_1001_and_keeps_every_acked_message(tmp_path):
    config, http_port, _ = write_config(tmp_path)
    process = subprocess.Popen(
        [*QANDU, "serve", "-c", str(config)], cwd=REPO, stderr=subprocess.PIPE, text=True
    )
    url = f"http://127.0.0.1:{http_port}"
    try:
        with trio.fail_after(30):
            await wait_healthy(url, process)
            async with ChatClient.initialize(url, name="Eve") as customer:
                acked = [(await customer.send_text(f"message {i}"))["id"] for i in range(20)]
                conversation_id = customer.conversation_id
                process.send_signal(signal.SIGTERM)
                with pytest.raises(ConnectionClosed) as excinfo:
                    while True:
                        await customer.gateway.receive()
                assert excinfo.value.reason.code == 1001
            assert await trio.to_thread.run_sync(process.wait) == 0
    finally:
        if process.poll() is None:
            process.kill()
        logs = process.stderr.read() if process.stderr else ""
    assert '"message":"received SIGTERM: draining"' in logs
    settings = from_dict({"server": {"data_dir": str(tmp_path / "data")}})
    async with Store.from_url(settings.storage.url, data_dir=settings.data_dir) as store:
        stored = {m.id for m in await store.history(conversation_id, limit=200)}
    assert set(acked) <= stored


def run_cli(*args: str, env: dict | None = None, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*QANDU, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        input=input,
        timeout=60,
    )


def test_check_config_masks_secrets_and_names_bad_keys(tmp_path):
    config = tmp_path / "config.toml"
    bots = f'[bots]\npaths = ["{REPO / "bots" / "support"}"]\n'
    config.write_text('[auth]\nsecret = { env = "QANDU_CLI_SECRET" }\n[server]\nprot = 1\n')
    bad = run_cli("check-config", "-c", str(config), env={"QANDU_CLI_SECRET": "hunter2"})
    assert bad.returncode == 2
    assert "server.prot: unknown key (known: host, port, ws_port" in bad.stderr
    config.write_text('[auth]\nsecret = { env = "QANDU_CLI_SECRET" }\n' + bots)
    good = run_cli("check-config", "-c", str(config), env={"QANDU_CLI_SECRET": "hunter2"})
    assert good.returncode == 0, good.stderr
    assert '"secret": "***"' in good.stdout and "hunter2" not in good.stdout


class Terminal:
    """A ``qandu chat`` process driven like a person at a keyboard (cancellable reads)."""

    def __init__(self, process: trio.Process) -> None:
        self.process = process
        self.output = ""

    @classmethod
    async def start(cls, *args: str, env: dict | None = None) -> Terminal:
        process = await trio.lowlevel.open_process(
            [*QANDU, "chat", *args],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "COLUMNS": "200", **(env or {})},
        )
        return cls(process)

    async def type(self, text: str) -> None:
        assert self.process.stdin
        await self.process.stdin.send_all(text.encode())

    async def wait_for(self, text: str) -> None:
        assert self.process.stdout
        while text not in self.output:
            chunk = await self.process.stdout.receive_some(65536)
            assert chunk, f"qandu chat exited before printing {text!r}: {self.output}"
            self.output += chunk.decode()

    async def quit(self) -> None:
        await self.type("/quit\n")
        with trio.move_on_after(10):
            await self.process.wait()
        if self.process.returncode is None:
            self.process.kill()


def test_plugins_command_lists_the_built_in_plugins_with_versions_and_hooks():
    result = run_cli("plugins", env={"COLUMNS": "400"})
    assert result.returncode == 0, result.stderr
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if line.count("│") >= 4}
    for plugin in (REPO / "plugins").iterdir():  # every built-in, registered like a third-party plugin
        if (plugin / "pyproject.toml").exists():
            assert plugin.name in rows, f"{plugin.name} missing from `qandu plugins`"
            assert f"qandu-{plugin.name}" in rows[plugin.name] and "qandu_" in rows[plugin.name]
    assert "qandu_analyze_message" in rows["nlu"] and "0.1.0" in rows["nlu"]


async def test_user_add_then_login_and_terminal_chat(tmp_path):
    config, http_port, _ = write_config(tmp_path)
    created = run_cli(
        "user",
        "add",
        "zoe@example.com",
        "--name",
        "Zoe",
        "-c",
        str(config),
        env={"QANDU_PASSWORD": "pw-123456"},
    )
    assert created.returncode == 0, created.stderr
    assert "created support Zoe <zoe@example.com>" in created.stdout
    duplicate = run_cli(
        "user", "add", "zoe@example.com", "--name", "Zoe", "-c", str(config), env={"QANDU_PASSWORD": "x"}
    )
    assert duplicate.returncode == 1
    process = subprocess.Popen([*QANDU, "serve", "-c", str(config)], cwd=REPO, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{http_port}"
    try:
        with trio.fail_after(30):
            await wait_healthy(url, process)
            async with httpx.AsyncClient(base_url=url) as http:
                login = await http.post(
                    "/api/auth/login", json={"email": "zoe@example.com", "password": "pw-123456"}
                )
                assert login.status_code == 200 and login.json()["user"]["role"] == "support"
            terminal = await Terminal.start("--url", url, "--name", "Tess")
            await terminal.wait_for("Nordlicht")  # the bot's greeting
            await terminal.type("I want to talk to a human please\n")
            await terminal.wait_for("handing you over")  # the bot hands the chat to a person
            await terminal.quit()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)


async def test_agent_answers_a_customer_from_the_terminal(tmp_path):
    config, http_port, _ = write_config(tmp_path)
    env = {"QANDU_PASSWORD": "pw-123456"}
    assert (
        run_cli("user", "add", "max@example.com", "--name", "Max", "-c", str(config), env=env).returncode == 0
    )
    process = subprocess.Popen([*QANDU, "serve", "-c", str(config)], cwd=REPO, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{http_port}"
    try:
        with trio.fail_after(40):
            await wait_healthy(url, process)
            async with ChatClient.initialize(url, name="Nina") as customer:
                await customer.send_text("I want to talk to a person")  # a handoff, with or without AI
                while (await customer.gateway.next_frame("conversation.updated"))["conversation"][
                    "status"
                ] != "pending":
                    pass
                terminal = await Terminal.start("--url", url, "--agent", "max@example.com", env=env)
                await terminal.wait_for("logged in as Max")
                await terminal.type("/queue\n")
                await terminal.wait_for(customer.conversation_id)  # the waiting conversation is listed
                await terminal.type(f"/open {customer.conversation_id}\nHello Nina, Max here\n")
                reply = await customer.gateway.next_frame("message.new")
                while reply["message"]["sender"]["type"] != "agent":
                    reply = await customer.gateway.next_frame("message.new")
                assert reply["message"]["content"]["text"] == "Hello Nina, Max here"
                assert reply["message"]["sender"]["name"] == "Max"
                await terminal.wait_for("I want to talk to a person")  # /open showed the history
                await terminal.quit()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
