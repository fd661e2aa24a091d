"""Schema migrations, URL parsing and the model/schema match."""

from __future__ import annotations

import pathlib
from typing import Any

import peewee
import pytest

from qandu.storage import LATEST_VERSION, Store, migrate, parse_url
from qandu.storage import migrations as migrations_module
from qandu.storage.migrations import schema_version


async def test_open_twice_keeps_one_version_row(open_store: Any) -> None:
    for _ in range(2):
        async with open_store() as store:
            rows = await store._read(lambda db: db.sql("SELECT version FROM schema_version").fetchall())
            assert [row[0] for row in rows] == list(range(1, LATEST_VERSION + 1))


async def test_migrate_function_is_idempotent(store_url: str, tmp_path: pathlib.Path) -> None:
    assert migrate(store_url, data_dir=tmp_path) == LATEST_VERSION
    assert migrate(store_url, data_dir=tmp_path) == LATEST_VERSION
    async with Store.from_url(store_url, data_dir=tmp_path) as store:
        assert await store._read(lambda db: schema_version(db.database)) == LATEST_VERSION


async def test_every_model_column_exists_in_migrated_schema(store: Store) -> None:
    """Models may map a subset (generated columns such as ``messages.search`` are left out)."""

    def missing(db: Any) -> list[str]:
        problems = []
        for model in db.m.all():
            table = model._meta.table_name
            columns = {column.name for column in db.database.get_columns(table)}
            expected = {field.column_name for field in model._meta.sorted_fields}
            if expected - columns:
                problems.append(f"{table}: no column(s) {sorted(expected - columns)}")
        return problems

    assert await store._read(missing) == []


async def test_newer_schema_is_refused(open_store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    async with open_store():
        pass
    monkeypatch.setattr(migrations_module, "LATEST_VERSION", 0)
    with pytest.raises(RuntimeError, match="newer"):
        async with open_store():
            pass


def test_parse_sqlite_urls(tmp_path: pathlib.Path) -> None:
    relative = parse_url("sqlite:///var/qandu.sqlite3", data_dir=tmp_path)
    assert relative.backend == "sqlite" and relative.path == tmp_path / "var" / "qandu.sqlite3"
    absolute = parse_url("sqlite:////srv/qandu.sqlite3", data_dir=tmp_path)
    assert absolute.path == pathlib.Path("/srv/qandu.sqlite3")


def test_parse_postgresql_urls(tmp_path: pathlib.Path) -> None:
    target = parse_url("postgresql://u@h:5432/db?schema=chat&sslmode=disable", data_dir=tmp_path)
    assert (target.backend, target.schema) == ("postgresql", "chat")
    assert target.conninfo == "postgresql://u@h:5432/db?sslmode=disable"
    assert parse_url("postgres://u@h/db", data_dir=tmp_path).schema is None
    with_options = parse_url("postgresql://h/db?options=-c%20statement_timeout%3D5000", data_dir=tmp_path)
    assert (with_options.options, with_options.conninfo) == ("-c statement_timeout=5000", "postgresql://h/db")


async def test_url_options_reach_the_connection(store_url: str, tmp_path: pathlib.Path) -> None:
    if store_url.startswith("sqlite"):
        pytest.skip("libpq options")
    url = f"{store_url}&options=-c%20statement_timeout%3D4321&application_name=qandu-test"
    async with Store.from_url(url, data_dir=tmp_path) as store:
        settings = await store._read(
            lambda db: db.sql(
                "SELECT current_setting('statement_timeout'), current_setting('application_name')"
            ).fetchone()
        )
    assert settings == ("4321ms", "qandu-test")


@pytest.mark.parametrize(
    "url", ["mysql://x/y", "sqlite:///:memory:", "sqlite://", "postgresql://h/db?schema=bad;drop"]
)
def test_bad_urls_are_rejected(url: str, tmp_path: pathlib.Path) -> None:
    with pytest.raises(ValueError):
        parse_url(url, data_dir=tmp_path)


async def test_unreachable_database_fails_open(tmp_path: pathlib.Path) -> None:
    store = Store.from_url("postgresql://postgres@127.0.0.1:1/none", data_dir=tmp_path)
    with pytest.raises(peewee.OperationalError):
        await store.open()
