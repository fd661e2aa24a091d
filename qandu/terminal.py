"""``qandu chat``: talk to a bot as a customer, or answer customers as an agent, in a terminal."""

from __future__ import annotations

import os
from typing import Any

import trio
from rich.console import Console
from rich.markup import escape

from qandu.client import Api, ApiError, ChatClient, connect, new_id
from qandu.domain import Content
from qandu.gateway import protocol as p

console = Console(highlight=False)

AGENT_HELP = (
    "commands: /queue  /open <id>  /resolve  /pending  /leave  /note <text>  /help  /quit; "
    "anything else is sent to the open conversation"
)


def show(frame: dict[str, Any], me: str) -> None:
    """Print one server frame for a person."""
    kind = frame["type"]
    if kind == "message.new":
        message = frame["message"]
        sender = message["sender"]
        if sender["id"] == me:
            return
        text = message["content"].get("text") or message["content"].get("fileUrl") or ""
        label = "note" if message.get("private") else sender["type"]
        colour = {"ai": "cyan", "agent": "green", "system": "dim", "user": "yellow"}.get(
            sender["type"], "white"
        )
        console.print(f"[{colour}]{escape(sender['name'])}[/] [dim]({label})[/]: {escape(text)}")
    elif kind == "typing" and frame["user"]["id"] != me and frame["state"] == "start":
        console.print(f"[dim]{escape(frame['user']['name'])} is typing...[/]")
    elif kind == "conversation.updated":
        conversation = frame["conversation"]
        console.print(f"[dim]conversation {conversation['id'][:8]} is {conversation['status']}[/]")
    elif kind == "error":
        console.print(f"[red]error: {escape(frame['message'])}[/]")


async def _lines() -> Any:
    """Yield lines typed on standard input without blocking the trio loop."""
    stream = trio.lowlevel.FdStream(os.dup(0))
    buffer = b""
    async with stream:
        while True:
            chunk = await stream.receive_some(4096)
            if not chunk:
                return
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                yield line.decode(errors="replace").strip()


async def _print_frames(client: ChatClient, me: str) -> None:
    while True:
        show(await client.gateway.receive(), me)


async def run_customer(url: str, name: str, locale: str | None) -> None:
    """Chat with the server's default bot until end of input or ``/quit``."""
    try:
        async with ChatClient.initialize(url, name=name, locale=locale, source="terminal") as client:
            me = client.init["user"]["id"]
            if client.init.get("greeting"):
                show({"type": "message.new", "message": client.init["greeting"]}, me)
            console.print("[dim]type a message and press Enter; /quit to leave[/]")
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_print_frames, client, me)
                async for line in _lines():
                    if line == "/quit":
                        break
                    if line:
                        await client.gateway.send(_text(client.conversation_id or "", line))
                nursery.cancel_scope.cancel()
    except (OSError, ApiError) as exc:
        console.print(f"[red]cannot chat: {escape(str(exc))}[/]")


def _text(conversation_id: str, text: str, *, private: bool = False) -> p.SendMessage:
    return p.SendMessage(
        conversation_id=conversation_id, client_msg_id=new_id(), content=Content(text=text), private=private
    )


async def run_agent(url: str, email: str, password: str) -> None:
    """Answer customers as an agent: list the queue, open a conversation, reply."""
    api = Api(url)
    try:
        login = await api.login(email, password)
        async with connect(login["gatewayUrl"], api.token or "") as gateway:
            client = ChatClient(api, gateway)
            me = login["user"]["id"]
            console.print(f"[green]logged in as {escape(login['user']['name'])}[/]; {AGENT_HELP}")
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_print_frames, client, me)
                async for line in _lines():
                    if line == "/quit":
                        break
                    try:
                        await _agent_command(client, line)
                    except ApiError as exc:
                        console.print(f"[red]{escape(str(exc.message))}[/]")
                nursery.cancel_scope.cancel()
    except (OSError, ApiError) as exc:
        console.print(f"[red]cannot chat: {escape(str(exc))}[/]")
    finally:
        await api.aclose()


async def _agent_command(client: ChatClient, line: str) -> None:
    command, _, arg = line.partition(" ")
    if command == "/queue":
        data = await client.api.request("GET", "/api/conversations", params={"status": "pending"})
        for conversation in data["conversations"] or []:
            console.print(
                f"  {conversation['id']}  {conversation['priority']}  since {conversation['startedAt']}"
            )
        if not data["conversations"]:
            console.print("[dim]  the queue is empty[/]")
    elif command == "/open" and arg:
        data = await client.api.request("POST", f"/api/conversations/{arg}/join")
        client.conversation_id = data["conversation"]["id"]
        await client.gateway.send(p.Subscribe(conversation_id=client.conversation_id))
        history = await client.history()
        for message in history["messages"]:
            show({"type": "message.new", "message": message}, "")
    elif command in ("/resolve", "/pending") and client.conversation_id:
        status = command[1:] if command == "/pending" else "resolved"
        await client.api.request(
            "PUT", f"/api/conversations/{client.conversation_id}/status", json={"status": status}
        )
    elif command == "/leave" and client.conversation_id:
        await client.api.request("POST", f"/api/conversations/{client.conversation_id}/leave")
        client.conversation_id = None
    elif command == "/note" and arg and client.conversation_id:
        await client.gateway.send(_text(client.conversation_id, arg, private=True))
    elif command.startswith("/"):
        console.print(f"[dim]{AGENT_HELP}[/]")
    elif line and client.conversation_id:
        await client.gateway.send(_text(client.conversation_id, line))
    elif line:
        console.print("[dim]open a conversation first: /queue, then /open <id>[/]")
