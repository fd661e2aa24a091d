"""The YARA rules shipped with the plugin, an operator's rules, and ClamAV's INSTREAM protocol."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import trio

from qandu.files import testing as samples
from qandu_filescan.engines import ScanError, YaraScanner, clamd_scan, rule_files


def scanner(rules_dir: Path | None = None, builtin: bool = True) -> YaraScanner:
    return YaraScanner(rule_files(builtin, rules_dir), timeout=10)


@pytest.fixture
async def make_scanner() -> AsyncIterator[Callable[..., YaraScanner]]:
    """:func:`scanner`, with its worker processes stopped after the test."""
    made: list[YaraScanner] = []

    def make(rules_dir: Path | None = None, builtin: bool = True) -> YaraScanner:
        made.append(scanner(rules_dir, builtin))
        return made[-1]

    yield make
    for each in made:
        await each.aclose()


async def scan(yara: YaraScanner, tmp_path: Path, data: bytes, name: str, mime: str = "") -> list[str]:
    path = tmp_path / "upload.part"
    path.write_bytes(data)
    ext = name.rsplit(".", 1)[-1] if "." in name else ""
    return [m.rule for m in await yara.scan(path, filename=name, extension=ext, mime_type=mime)]


async def test_builtin_rules_find_eicar_and_disguised_programs(tmp_path: Path, make_scanner) -> None:
    yara = make_scanner()
    assert await scan(yara, tmp_path, samples.EICAR, "eicar.txt") == ["eicar_test_file"]
    assert await scan(yara, tmp_path, samples.EICAR + b"\r\n", "eicar.com") == ["eicar_test_file"]
    assert await scan(yara, tmp_path, samples.windows_executable(), "invoice.pdf") == ["disguised_executable"]
    assert await scan(yara, tmp_path, samples.linux_executable(), "photo.jpg") == ["disguised_executable"]
    # honest names and ordinary files are not findings of these rules
    assert await scan(yara, tmp_path, samples.windows_executable(), "setup.exe") == []
    assert await scan(yara, tmp_path, samples.pdf(), "invoice.pdf") == []
    assert await scan(yara, tmp_path, b"MZ is just two letters", "notes.txt") == []
    assert await scan(yara, tmp_path, b"talking about " + samples.EICAR, "mail.txt") == []


async def test_operator_rules_are_added_and_see_the_externals(tmp_path: Path, make_scanner) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "secrets.yar").write_text(
        'rule private_key { meta: description = "a private key" '
        'strings: $k = "-----BEGIN RSA PRIVATE KEY-----" condition: $k }\n'
        'rule no_iso { condition: extension == "iso" }\n'
    )
    yara = make_scanner(rules)
    assert sorted(yara.files) == ["builtin.eicar", "builtin.executables", "local.secrets"]
    assert await scan(yara, tmp_path, b"x\n-----BEGIN RSA PRIVATE KEY-----\n", "id_rsa.txt") == [
        "private_key"
    ]
    assert await scan(yara, tmp_path, b"\0" * 64, "disk.iso") == ["no_iso"]
    only_local = make_scanner(rules, builtin=False)
    assert await scan(only_local, tmp_path, samples.EICAR, "eicar.txt") == []


def test_broken_rules_or_a_missing_folder_stop_the_start(tmp_path: Path) -> None:
    (tmp_path / "bad.yar").write_text("rule broken { condition: nonsense and }")
    with pytest.raises(ScanError, match="do not compile"):
        scanner(tmp_path)
    with pytest.raises(ScanError, match="not a directory"):
        scanner(tmp_path / "missing")


async def test_clamd_instream_clean_and_infected(tmp_path: Path, fake_clamd) -> None:
    socket_path = tmp_path / "clamd.sock"
    clean, infected = tmp_path / "clean.bin", tmp_path / "eicar.txt"
    clean.write_bytes(b"a" * 200_000)  # several INSTREAM chunks
    infected.write_bytes(samples.EICAR)
    with trio.fail_after(10):
        async with fake_clamd(socket_path) as received:
            assert await clamd_scan(str(socket_path), clean, timeout=5) == []
            (match,) = await clamd_scan(str(socket_path), infected, timeout=5)
            assert (match.engine, match.rule) == ("clamav", "Eicar-Test-Signature")
            assert received == [b"a" * 200_000, samples.EICAR]


async def test_clamd_failures_are_scan_errors(tmp_path: Path, fake_clamd) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"data")
    with trio.fail_after(10):
        with pytest.raises(ScanError, match="unreachable"):
            await clamd_scan(str(tmp_path / "nobody.sock"), path, timeout=2)
        refusing = tmp_path / "refusing.sock"
        async with fake_clamd(refusing, reply_for=lambda data: b"INSTREAM size limit exceeded. ERROR\0"):
            with pytest.raises(ScanError, match="size limit exceeded"):
                await clamd_scan(str(refusing), path, timeout=2)
        stalling = tmp_path / "stalling.sock"
        async with fake_clamd(stalling, stall=True):
            with pytest.raises(ScanError, match="did not answer"):
                await clamd_scan(str(stalling), path, timeout=0.3)
