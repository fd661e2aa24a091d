"""Tags: manual tags by agents, automatic tags from plugins, and the tag filter of the list."""

from __future__ import annotations

import pytest
import trio

from qandu import hookimpl
from qandu.client import ApiError

TIMEOUT = 20


class InvoiceTagger:
    """Tags conversations that mention an invoice, the way the tagging plugin would."""

    @hookimpl
    async def qandu_tag_conversation(self, conversation, message, annotations):
        text = (message.content.text or "").lower()
        if "invoice" in text:
            return ["Billing Issue", "bad tag!"]  # normalised; the invalid one is dropped
        return None


async def _tags(client, conversation_id):
    data = await client.api.request("GET", f"/api/conversations/{conversation_id}")
    return data["conversation"]["tags"]


async def test_agents_tag_and_untag_and_the_list_filters_by_tag(desk):
    with trio.fail_after(TIMEOUT):
        async with desk() as d:
            ann, bob = await d.customer(name="Ann"), await d.customer(name="Bob")
            smith = await d.agent("smith@example.com", "Smith")
            cid = ann.conversation_id
            data = await smith.api.request(
                "POST", f"/api/conversations/{cid}/tags", json={"tags": ["VIP", "  Refund  Request "]}
            )
            assert data["conversation"]["tags"] == ["vip", "refund-request"]
            update = await smith.gateway.next_frame("conversation.updated")
            while update["conversation"]["tags"] != ["vip", "refund-request"]:
                update = await smith.gateway.next_frame("conversation.updated")

            listed = await smith.api.request("GET", "/api/conversations", params={"tag": "vip"})
            assert [c["id"] for c in listed["conversations"]] == [cid]
            everyone = await smith.api.request("GET", "/api/conversations")
            assert {cid, bob.conversation_id} <= {c["id"] for c in everyone["conversations"]}
            tags = await smith.api.request("GET", "/api/tags", params={"q": "re"})
            assert tags == {"tags": [{"tag": "refund-request", "count": 1}]}

            data = await smith.api.request("DELETE", f"/api/conversations/{cid}/tags/VIP")
            assert data["conversation"]["tags"] == ["refund-request"]
            listed = await smith.api.request("GET", "/api/conversations", params={"tag": "vip"})
            assert listed["conversations"] == []
            tagged = d.events.named("conversation.tagged")
            assert [e.data.get("added") or e.data.get("removed") for e in tagged] == [
                ["vip", "refund-request"],
                ["vip"],
            ]
            assert all(e.data["source"] == "manual" and e.data["by"] == smith.user["id"] for e in tagged)


async def test_bad_tags_and_customers_are_refused(desk):
    with trio.fail_after(TIMEOUT):
        async with desk() as d:
            ann = await d.customer()
            smith = await d.agent("smith@example.com")
            cid = ann.conversation_id
            with pytest.raises(ApiError) as error:
                await smith.api.request(
                    "POST", f"/api/conversations/{cid}/tags", json={"tags": ["ok", "no way!"]}
                )
            assert (error.value.status, error.value.field) == (422, "tags.1")
            with pytest.raises(ApiError) as error:
                await smith.api.request("POST", f"/api/conversations/{cid}/tags", json={"tags": []})
            assert (error.value.status, error.value.field) == (422, "tags")
            with pytest.raises(ApiError) as error:
                await ann.api.request("POST", f"/api/conversations/{cid}/tags", json={"tags": ["mine"]})
            assert error.value.status == 403
            with pytest.raises(ApiError) as error:
                await smith.api.request("DELETE", f"/api/conversations/{cid}/tags/never")
            assert (error.value.status, error.value.field) == (404, "tag")
            assert await _tags(smith, cid) == []


async def test_plugins_tag_automatically_but_never_bring_back_a_removed_tag(desk, wait_for):
    with trio.fail_after(TIMEOUT):
        async with desk(plugins={"tagger": InvoiceTagger()}) as d:
            ann = await d.customer()
            smith = await d.agent("smith@example.com")
            cid = ann.conversation_id
            await ann.send_text("hello")
            await ann.send_text("my invoice is wrong")
            assert await wait_for(lambda: _has_tags(smith, cid, ["billing-issue"]))
            event = d.events.named("conversation.tagged")[0]
            assert event.data == {"added": ["billing-issue"], "source": "auto"}

            await smith.api.request("DELETE", f"/api/conversations/{cid}/tags/billing-issue")
            await ann.send_text("the invoice again")
            await ann.send_text("sync point")
            history = await smith.history(cid)
            assert history["messages"][-1]["content"]["text"] == "sync point"
            await trio.sleep(0.3)  # the pipeline handled both messages by now
            assert await _tags(smith, cid) == []

            data = await smith.api.request(
                "POST", f"/api/conversations/{cid}/tags", json={"tags": ["billing-issue"]}
            )
            assert data["conversation"]["tags"] == ["billing-issue"]


async def _has_tags(client, conversation_id, expected):
    return await _tags(client, conversation_id) == expected
