"""The YARA scan worker: a child process of the server, started as ``python -P worker.py``.

It imports nothing of the server.  On stdin it reads frames (a 4-byte big-endian length, then
the bytes): first the compiled rules, then one JSON request per scan; on stdout it answers each
request with one JSON frame.  libyara maps the scanned file into memory: in this process, so a
large upload does not grow the server, and a worker that crashes or hangs is killed and
replaced without harm to the server (see :mod:`qandu_filescan.pool`).  It exits when stdin
closes, so it never outlives the server.
"""

from __future__ import annotations

import io
import json
import struct
import sys
from typing import Any, BinaryIO

import yara

HEADER = struct.Struct("!I")


def read_frame(stream: BinaryIO) -> bytes | None:
    """The next frame, or ``None`` once the server closed the pipe."""
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    (size,) = HEADER.unpack(header)
    data = stream.read(size)
    return data if len(data) == size else None


def write_frame(stream: BinaryIO, data: bytes) -> None:
    stream.write(HEADER.pack(len(data)) + data)
    stream.flush()


def scan(rules: yara.Rules, request: dict[str, Any]) -> dict[str, Any]:
    """``{path, externals, timeout}`` -> ``{"matches": [[rule, description], ...]}`` or ``{"error"}``."""
    timeout = request["timeout"]
    try:
        found = rules.match(filepath=request["path"], externals=request["externals"], timeout=timeout)
    except yara.TimeoutError:
        return {"error": f"YARA scan timed out after {timeout}s"}
    except yara.Error as exc:
        return {"error": f"YARA scan failed: {exc}"}
    return {"matches": [[m.rule, str(m.meta.get("description", m.rule))] for m in found]}


def main() -> int:
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt the answers
    compiled = read_frame(stdin)
    if compiled is None:
        return 1
    rules = yara.load(file=io.BytesIO(compiled))
    while (frame := read_frame(stdin)) is not None:
        write_frame(stdout, json.dumps(scan(rules, json.loads(frame))).encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
