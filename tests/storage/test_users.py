"""Users: creation, uniqueness, login lookup, external customers, bots, attributes."""

from __future__ import annotations

import pytest

from qandu.domain import User
from qandu.errors import Conflict, InvalidRequest, NotFound
from qandu.storage import Store


async def test_create_and_get_user(store: Store) -> None:
    user = await store.create_user(
        kind="agent", role="support", name="Avery", email="Avery@Example.com", avatar="https://a/x.png"
    )
    assert len(user.id) == 32 and user.email == "avery@example.com"
    assert await store.get_user(user.id) == user
    assert await store.get_user("missing") is None
    assert await store.get_users([user.id, "missing", user.id]) == {user.id: user}
    assert await store.get_users([]) == {}


async def test_email_and_external_id_are_unique(store: Store) -> None:
    await store.create_user(
        kind="user", role="customer", name="A", email="a@example.com", external_id="site:1"
    )
    with pytest.raises(Conflict) as error:
        await store.create_user(kind="user", role="customer", name="B", email="A@example.com ")
    assert error.value.field == "email"
    with pytest.raises(Conflict) as error:
        await store.create_user(kind="user", role="customer", name="C", external_id="site:1")
    assert error.value.field == "external_id"
    # several users without email or external id are fine (NULLs are distinct)
    await store.create_user(kind="user", role="customer", name="D")
    await store.create_user(kind="user", role="customer", name="E")


async def test_unknown_kind_or_role_is_invalid(store: Store) -> None:
    with pytest.raises(InvalidRequest):
        await store.create_user(kind="robot", role="customer", name="X")
    with pytest.raises(InvalidRequest):
        await store.create_user(kind="user", role="boss", name="X")


async def test_find_login_and_set_password(store: Store, agent: User) -> None:
    assert await store.find_login("AVERY@example.com") == (agent, None)
    await store.set_password(agent.id, "argon2$hash")
    assert await store.find_login("avery@example.com") == (agent, "argon2$hash")
    assert await store.find_login("nobody@example.com") is None
    with pytest.raises(NotFound):
        await store.set_password("missing", "x")


async def test_get_or_create_external_user(store: Store) -> None:
    first = await store.get_or_create_external_user("site:user42", name="Pat", email="pat@example.com")
    again = await store.get_or_create_external_user("site:user42", name="Other name")
    assert again == first and (first.kind, first.role, first.external_id) == (
        "user",
        "customer",
        "site:user42",
    )


async def test_external_user_with_taken_email_conflicts(store: Store, customer: User) -> None:
    with pytest.raises(Conflict):
        await store.get_or_create_external_user("site:9", name="Cleo", email=customer.email)


async def test_ensure_bot_user_is_idempotent_and_refreshes(store: Store) -> None:
    bot = await store.ensure_bot_user("support", display_name="Support Bot")
    assert (bot.id, bot.kind, bot.role, bot.name) == ("bot:support", "ai", "ai", "Support Bot")
    assert await store.ensure_bot_user("support", display_name="Support Bot") == bot
    renamed = await store.ensure_bot_user("support", display_name="Helper", avatar="/bot.png")
    assert await store.get_user("bot:support") == renamed
    assert (renamed.name, renamed.avatar) == ("Helper", "/bot.png")


async def test_list_users_by_role(store: Store) -> None:
    created = [
        await store.create_user(kind="user", role="customer", name="C"),
        await store.create_user(kind="agent", role="support", name="S"),
        await store.ensure_bot_user("support", display_name="B"),
    ]
    assert sorted(await store.list_users(), key=lambda u: u.id) == sorted(created, key=lambda u: u.id)
    assert await store.list_users(role="support") == [created[1]]


async def test_user_attributes(store: Store) -> None:
    agent = await store.create_user(
        kind="agent", role="support", name="S", attributes={"skills": ["billing"]}
    )
    assert await store.get_user_attributes(agent.id) == {"skills": ["billing"]}
    merged = await store.update_user_attributes(agent.id, {"languages": ["fr"], "skills": None})
    assert merged == {"languages": ["fr"]} == await store.get_user_attributes(agent.id)
    with pytest.raises(NotFound):
        await store.get_user_attributes("missing")
