"""Policy decisions per role, and the config that describes them."""

from __future__ import annotations

import attrs
from hypothesis import given
from hypothesis import strategies as st

from qandu.plugins import build_config
from qandu_filescan import FileScan, FileScanConfig, RolePolicy
from qandu_filescan.policy import Policy, decide, policy_for

MIMES = ["image/png", "image/jpeg", "application/pdf", "text/plain", "application/x-msdownload", "video/mp4"]
EXTS = ["png", "jpg", "pdf", "txt", "exe", "mp4", "tar", "gz"]

mimes = st.sampled_from(MIMES)
patterns = st.sampled_from([*MIMES, "image/*", "video/*", "text/*"])
exts = st.sampled_from(EXTS)
names = st.lists(exts, max_size=3).map(lambda parts: ".".join(["file", *parts]))
policies = st.builds(
    Policy,
    role=st.sampled_from(["customer", "support", "admin"]),
    max_bytes=st.integers(1, 10**9),
    allowed_types=st.lists(patterns, max_size=3).map(tuple),
    blocked_types=st.lists(patterns, max_size=3).map(tuple),
    allowed_extensions=st.lists(exts, max_size=3).map(tuple),
    blocked_extensions=st.lists(exts, max_size=3).map(tuple),
)
sizes = st.integers(1, 2 * 10**9)


@given(policies, mimes, names, sizes)
def test_blocked_always_wins(policy: Policy, mime: str, name: str, size: int) -> None:
    blocked = attrs.evolve(policy, blocked_types=(*policy.blocked_types, mime))
    assert decide(blocked, types=[mime], name=name, size=size) is not None
    ext = name.rsplit(".", 1)[-1] if "." in name else None
    if ext is not None:
        both = attrs.evolve(policy, blocked_extensions=(ext,), allowed_extensions=(ext,))
        assert decide(both, types=[mime], name=name, size=size) is not None


@given(policies, mimes, names, sizes, st.sampled_from(["allowed_types", "allowed_extensions"]))
def test_an_empty_allow_list_means_anything_not_blocked(policy, mime, name, size, field) -> None:
    open_policy = attrs.evolve(policy, **{field: ()})
    if decide(policy, types=[mime], name=name, size=size) is None:
        assert decide(open_policy, types=[mime], name=name, size=size) is None


@given(policies, mimes, names, sizes, patterns)
def test_blocking_more_never_lets_more_through(policy, mime, name, size, extra) -> None:
    stricter = attrs.evolve(policy, blocked_types=(*policy.blocked_types, extra))
    if decide(policy, types=[mime], name=name, size=size) is not None:
        assert decide(stricter, types=[mime], name=name, size=size) is not None


@given(policies, mimes, names, sizes)
def test_the_size_limit_is_inclusive(policy, mime, name, size) -> None:
    if size > policy.max_bytes:
        assert "larger" in (decide(policy, types=[mime], name=name, size=size) or "")
    at_limit = decide(policy, types=[mime], name=name, size=policy.max_bytes)
    assert at_limit is None or "larger" not in at_limit


def test_defaults_block_programs_and_allow_documents() -> None:
    customer = policy_for(FileScanConfig(), "customer")
    assert decide(customer, types=["application/pdf"], name="invoice.pdf", size=1000) is None
    assert decide(customer, types=["image/png"], name="photo.png", size=1000) is None
    assert decide(customer, types=["application/x-msdownload"], name="setup.exe", size=1000) == (
        ".exe files may not be shared"
    )
    assert decide(customer, types=["text/plain"], name="readme.exe.txt", size=10) is not None
    assert decide(customer, types=["application/x-msdownload", ""], name="a.bin", size=10) is not None


def test_role_overrides_fall_back_to_the_plugin_wide_settings() -> None:
    config = FileScanConfig(
        max_bytes=5000,
        allowed_types=["image/*", "application/pdf"],
        roles={
            "support": RolePolicy(max_bytes=50_000, allowed_types=[]),
            "admin": RolePolicy(blocked_types=[]),
        },
    )
    customer, support, admin = (policy_for(config, role) for role in ("customer", "support", "admin"))
    assert (customer.max_bytes, support.max_bytes, admin.max_bytes) == (5000, 50_000, 5000)
    assert (
        decide(customer, types=["text/plain"], name="a.txt", size=10)
        == "text/plain files may not be shared by customers"
    )
    assert decide(support, types=["text/plain"], name="a.txt", size=10) is None
    assert (
        decide(admin, types=["application/x-msdownload"], name="a.bin", size=10) is not None
    )  # still not allowed
    assert support.blocked_extensions == customer.blocked_extensions


def test_bad_config_names_the_key() -> None:
    errors: list[str] = []
    table = {
        "blocked_types": ["image/png", "not a type"],
        "allowed_extensions": [".PDF", "no dots."],
        "roles": {"visitor": {}},
        "max_bytes": 0,
        "clamd_sockett": "/run/clamd.sock",
    }
    build_config(FileScan, table, "plugins.filescan", errors)
    text = "\n".join(errors)
    assert "plugins.filescan.blocked_types: 'not a type' is not a MIME type" in text
    assert "plugins.filescan.allowed_extensions: 'no dots.' is not a file extension" in text
    assert "plugins.filescan.roles: unknown role 'visitor'" in text
    assert "plugins.filescan.max_bytes" in text
    assert "plugins.filescan.clamd_sockett: unknown key" in text
    ok: list[str] = []
    config = build_config(
        FileScan,
        {"allowed_extensions": [".PDF"], "roles": {"customer": {"max_bytes": 9}}},
        "plugins.filescan",
        ok,
    )
    assert ok == [] and config.allowed_extensions == ["pdf"] and config.roles["customer"].max_bytes == 9
