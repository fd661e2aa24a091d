"""The ClamAV client against a real clamd (Debian's, with a signature database written by the
tests: see conftest.py), over its unix socket and over TCP."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from qandu.files import testing as samples
from qandu.plugins import build_config
from qandu_filescan import FileScan
from qandu_filescan.engines import ScanError, clamd_scan

TIMEOUT = 30


@pytest.fixture(params=["unix", "tcp"])
def address(request: pytest.FixtureRequest, clamd) -> str:
    return clamd.unix_socket if request.param == "unix" else clamd.tcp


async def test_clamd_finds_its_signatures_and_passes_clean_files(tmp_path: Path, clamd, address: str) -> None:
    files = {
        "eicar.txt": samples.EICAR,
        "marked.bin": b"x" * 300_000 + clamd.marker_bytes + b"y" * 1000,  # past several chunks
        "a.pdf": samples.pdf(),
        "photo.png": samples.png(),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    with trio.fail_after(TIMEOUT):
        found = {name: await clamd_scan(address, tmp_path / name, timeout=20) for name in files}
    assert {name: [m.rule for m in matches] for name, matches in found.items()} == {
        "eicar.txt": [clamd.eicar],
        "marked.bin": [clamd.marker],
        "a.pdf": [],
        "photo.png": [],
    }
    assert found["eicar.txt"][0].description == f"ClamAV found {clamd.eicar}"


async def test_a_file_over_clamds_stream_limit_is_a_scan_error(tmp_path: Path, clamd, address: str) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(b"z" * (2 * clamd.stream_max))
    with trio.fail_after(TIMEOUT), pytest.raises(ScanError, match="size limit exceeded"):
        await clamd_scan(address, big, timeout=20)


async def test_nothing_listening_on_tcp_is_a_scan_error(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"data")
    with trio.fail_after(TIMEOUT), pytest.raises(ScanError, match=r"unreachable at tcp://127\.0\.0\.1:9"):
        await clamd_scan("tcp://127.0.0.1:9", path, timeout=10)


def test_clamd_addresses_are_checked_when_the_config_is_read() -> None:
    for good in ("", "/run/clamav/clamd.ctl", "tcp://127.0.0.1:3310", "tcp://[::1]:3310"):
        errors: list[str] = []
        build_config(FileScan, {"clamd_socket": good}, "plugins.filescan", errors)
        assert errors == [], good
    for bad in ("tcp://clamav", "tcp://:3310", "tcp://host:port"):
        errors = []
        build_config(FileScan, {"clamd_socket": bad}, "plugins.filescan", errors)
        assert len(errors) == 1 and errors[0].startswith("plugins.filescan.clamd_socket:"), (bad, errors)
