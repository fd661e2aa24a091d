// One open conversation in the console: messages, composer (reply, private note, emoji,
// AI suggestions) and the customer's context beside it.
import { html, useState, useEffect, useLayoutEffect, useRef, timeOf } from "../shared/ui.js";
import { Attachments } from "../shared/attachments.js";
import { EMOJI, QUICK_REACTIONS } from "../shared/emoji.js";
import { Thread } from "../shared/thread.js";
import { customerOf } from "./desk.js";

const STATUSES = ["active", "pending", "resolved", "archived"];

function Message({ desk, thread, message, onReply }) {
  const [picking, setPicking] = useState(false);
  const me = desk.me.id;
  if (message.sender.type === "system") return html`<li class="system">${message.content.text}</li>`;
  const mine = message.sender.id === me;
  const reply = message.replyTo ? thread.byId.get(message.replyTo) : null;
  const reactions = [...Thread.reactionSummary(message, me)];
  const annotation = desk.annotations.get(message.id);
  const status = mine ? thread.statusOf(message, me) : null;
  const kind = message.private ? "note" : mine ? "mine" : message.sender.type;
  return html`<li class=${`msg ${kind}`} data-id=${message.id} data-seq=${message.seq}>
    <div class="head"><b>${message.sender.name}</b>${message.private && html` <span class="pill note">private note</span>`}
      <time datetime=${message.timestamp}>${timeOf(message.timestamp)}</time>
      ${status && html`<span class=${`status ${status}`} data-status=${status}>${status === "sent" ? "✓" : "✓✓"} ${status}</span>`}</div>
    ${reply && html`<blockquote class="quote"><b>${reply.sender.name}:</b> ${(reply.content.text || "").slice(0, 100)}</blockquote>`}
    ${message.deletedAt ? html`<p class="text deleted">Message deleted</p>` : html`<p class="text">${message.content.text}</p>`}
    <div class="atts"><${Attachments} api=${desk.api} message=${message} label=${(name) => `Download ${name}`} /></div>
    ${annotation && html`<p class="annotation">${[annotation.intent && `intent: ${annotation.intent.name || annotation.intent}`,
      annotation.sentiment && `sentiment: ${annotation.sentiment.label || annotation.sentiment}`, annotation.language && `language: ${annotation.language}`].filter(Boolean).join(" · ")}</p>`}
    <div class="reactions">
      ${reactions.map(([emoji, r]) => html`<button type="button" class=${r.mine ? "chip mine" : "chip"} aria-pressed=${r.mine}
        aria-label=${`${emoji} ${r.count}`} onClick=${() => desk.react(message, emoji)}>${emoji} ${r.count}</button>`)}
      <span class="tools">
        <button type="button" class="ghost small" aria-expanded=${picking} onClick=${() => setPicking(!picking)}>React</button>
        ${!message.private && html`<button type="button" class="ghost small" onClick=${() => onReply(message)}>Reply</button>`}
      </span>
      ${picking && QUICK_REACTIONS.map((emoji) => html`<button type="button" class="chip" aria-label=${`React with ${emoji}`}
        onClick=${() => { setPicking(false); desk.react(message, emoji); }}>${emoji}</button>`)}
    </div>
  </li>`;
}

function Messages({ desk, thread, onReply }) {
  const box = useRef();
  const sentinel = useRef();
  const memo = useRef({ first: null, height: 0, top: 0, atBottom: true });
  useLayoutEffect(() => {
    const el = box.current;
    const m = memo.current;
    const first = thread.messages[0] ? thread.messages[0].seq : null;
    if (m.first !== null && first !== null && first < m.first && !m.atBottom) el.scrollTop = el.scrollHeight - (m.height - m.top);
    else if (m.atBottom) el.scrollTop = el.scrollHeight;
    Object.assign(m, { first, height: el.scrollHeight, top: el.scrollTop });
  });
  useEffect(() => {
    const observer = new IntersectionObserver((entries) => entries.some((e) => e.isIntersecting) && desk.loadOlder(thread),
      { root: box.current, rootMargin: "300px 0px 0px 0px" });
    observer.observe(sentinel.current);
    return () => observer.disconnect();
  }, [thread]);
  const scrolled = () => {
    const el = box.current;
    Object.assign(memo.current, { height: el.scrollHeight, top: el.scrollTop, atBottom: el.scrollHeight - el.scrollTop - el.clientHeight < 40 });
  };
  return html`<div class="messages" ref=${box} onScroll=${scrolled} onLoadCapture=${() => memo.current.atBottom && (box.current.scrollTop = box.current.scrollHeight)} tabindex="0" aria-label="Messages">
    <p class="hint" ref=${sentinel}>${thread.hasMore ? (thread.loadingOlder ? "Loading earlier messages…" : "") : "Beginning of the conversation"}</p>
    <div role="log" aria-live="polite" aria-relevant="additions" aria-label="Messages"><ol>
      ${thread.messages.map((m) => html`<${Message} key=${m.id} desk=${desk} thread=${thread} message=${m} onReply=${onReply} />`)}
      ${thread.pending.map((p) => html`<li key=${p.clientMsgId} class=${`msg mine pending ${p.private ? "note" : ""}`}><p class="text">${p.content.text || "📎"}</p>
        <span class="status">${p.state === "failed" ? "⚠ not sent" : "🕓 sending…"}</span></li>`)}
    </ol></div>
  </div>`;
}

function Composer({ desk, cid, replyTo, setReplyTo }) {
  const [text, setText] = useState("");
  const [note, setNote] = useState(false);
  const [picker, setPicker] = useState(false);
  const input = useRef();
  const suggestions = desk.suggestions.get(cid);
  const submit = (event) => {
    event.preventDefault();
    if (!text.trim()) return;
    desk.send(cid, text.trim(), { isPrivate: note, replyTo: replyTo && replyTo.id });
    desk.stopTyping(cid);
    setText("");
    setReplyTo(null);
  };
  const insert = (value) => {
    setText((current) => (current ? `${current.trimEnd()} ${value}` : value));
    setPicker(false);
    input.current.focus();
  };
  return html`<form class=${note ? "composer note" : "composer"} onSubmit=${submit}>
    ${suggestions && (suggestions.suggestions || []).length > 0 && html`<div class="suggestions" aria-label="AI suggestions" role="group">
      <span class="label">✨ Suggestions</span>
      ${suggestions.suggestions.map((s) => html`<button type="button" class="suggestion" title=${s.source}
        onClick=${() => insert(s.text)}>${s.text}</button>`)}
    </div>`}
    ${replyTo && html`<div class="replying">Replying to <b>${replyTo.sender.name}</b>: ${(replyTo.content.text || "").slice(0, 80)}
      <button type="button" class="ghost small" onClick=${() => setReplyTo(null)}>Cancel</button></div>`}
    <div class="modes" role="radiogroup" aria-label="Message kind">
      <button type="button" role="radio" aria-checked=${!note} class=${!note ? "mode on" : "mode"} onClick=${() => setNote(false)}>Reply</button>
      <button type="button" role="radio" aria-checked=${note} class=${note ? "mode on" : "mode"} onClick=${() => setNote(true)}>Private note</button>
    </div>
    <label class="sr" for="reply-input">${note ? "Private note (only agents see it)" : "Reply to the customer"}</label>
    <textarea id="reply-input" ref=${input} rows="3" value=${text}
      placeholder=${note ? "Private note — only agents see it" : "Reply to the customer… (Enter sends, Shift+Enter: new line)"}
      onInput=${(e) => { setText(e.target.value); if (!note) desk.keystroke(cid); }}
      onKeyDown=${(e) => { if (e.key === "Enter" && !e.shiftKey && !e.isComposing) submit(e); }}></textarea>
    ${picker && html`<div class="picker" role="group" aria-label="Emoji">${EMOJI.map(([emoji, name]) =>
      html`<button type="button" aria-label=${name} onClick=${() => insert(emoji)}>${emoji}</button>`)}</div>`}
    <div class="bar">
      ${desk.has("GET /api/canned-responses") && html`<${Canned} desk=${desk} onPick=${insert} />`}
      <button type="button" class="ghost" aria-label="Insert emoji" aria-expanded=${picker} onClick=${() => setPicker(!picker)}>😊</button>
      ${desk.has("POST /api/files") && html`<label class="ghost file-button">📎 Attach<input type="file" class="sr" multiple
        onChange=${(e) => { for (const f of e.target.files) desk.upload(cid, f, { isPrivate: note }); e.target.value = ""; }} /></label>`}
      <span class="spacer"></span>
      <button type="submit" class="primary" disabled=${!text.trim()}>${note ? "Add note" : "Send"}</button>
    </div>
  </form>`;
}

function Canned({ desk, onPick }) {
  const [items, setItems] = useState(null);
  useEffect(() => { desk.cannedResponses().then(setItems).catch(() => setItems([])); }, []);
  if (!items || !items.length) return null;
  const pick = (event) => {
    const found = items.find((c) => c.id === event.target.value);
    event.target.value = "";
    if (found) onPick(found.text);
  };
  return html`<label class="sr" for="canned-select">Canned response</label>
    <select id="canned-select" onChange=${pick}><option value="">Canned response…</option>
      ${items.map((c) => html`<option value=${c.id}>/${c.shortcut} — ${c.text.slice(0, 50)}</option>`)}</select>`;
}

function Tags({ desk, conversation }) {
  const [text, setText] = useState("");
  const add = (event) => {
    event.preventDefault();
    const tag = text.trim().toLowerCase();
    if (tag) desk.addTag(conversation.id, tag);
    setText("");
  };
  return html`<section><h2>Tags</h2>
    <ul class="tags">${(conversation.tags || []).map((tag) => html`<li class="pill tag">#${tag}
      <button type="button" class="untag" aria-label=${`Remove tag ${tag}`} onClick=${() => desk.removeTag(conversation.id, tag)}>×</button></li>`)}</ul>
    <form class="add-tag" onSubmit=${add}><label class="sr" for="tag-input">Add a tag</label>
      <input id="tag-input" value=${text} placeholder="Add a tag" onInput=${(e) => setText(e.target.value)} />
      <button type="submit" class="ghost small">Add</button></form>
  </section>`;
}

function Field({ name, value }) {
  if (value == null || value === "") return null;
  return html`<div class="field"><dt>${name}</dt><dd>${typeof value === "object" ? JSON.stringify(value) : String(value)}</dd></div>`;
}

function Context({ desk, conversation, thread }) {
  const customer = customerOf(conversation);
  const metadata = conversation.metadata || {};
  const context = metadata.context || {};
  const detail = desk.details.get(conversation.id) || {};
  const lastCustomer = [...thread.messages].reverse().find((m) => m.sender.id === customer.id);
  const annotation = lastCustomer && desk.annotations.get(lastCustomer.id);
  return html`<aside class="context" aria-label="Customer context">
    <section><h2>Customer</h2><dl>
      <${Field} name="Name" value=${customer.name} />
      <${Field} name="E-mail" value=${context.email} />
      <${Field} name="Language" value=${context.locale} />
      <${Field} name="Since" value=${customer.joinedAt && new Date(customer.joinedAt).toLocaleString()} />
    </dl></section>
    ${annotation && html`<section><h2>Understanding</h2><dl>
      <${Field} name="Intent" value=${annotation.intent && (annotation.intent.name || annotation.intent)} />
      <${Field} name="Sentiment" value=${annotation.sentiment && (annotation.sentiment.label || annotation.sentiment)} />
      <${Field} name="Language" value=${annotation.language} />
      <${Field} name="Entities" value=${(annotation.entities || []).map((e) => `${e.label}: ${e.text}`).join(", ")} />
    </dl></section>`}
    <section><h2>Conversation</h2><dl>
      <${Field} name="Status" value=${conversation.status} />
      <${Field} name="Priority" value=${conversation.priority} />
      <${Field} name="Source" value=${metadata.source} />
      <${Field} name="Bot" value=${conversation.bot} />
      <${Field} name="Page" value=${context.page} />
      <${Field} name="Started" value=${conversation.startedAt && new Date(conversation.startedAt).toLocaleString()} />
      <${Field} name="Tags" value=${(conversation.tags || []).map((t) => `#${t}`).join(" ")} />
      ${Object.entries(metadata.customFields || {}).map(([k, v]) => html`<${Field} name=${k} value=${v} />`)}
    </dl></section>
    ${desk.has("POST /api/conversations/{conversationId}/tags") && html`<${Tags} desk=${desk} conversation=${conversation} />`}
    ${(detail.statusHistory || []).length > 0 && html`<section><h2>History</h2><ol class="history">
      ${detail.statusHistory.map((h) => html`<li><b>${h.from} → ${h.to}</b>${h.reason ? ` (${h.reason})` : ""}<br /><time>${new Date(h.at).toLocaleString()}</time></li>`)}
    </ol></section>`}
  </aside>`;
}

function Transfer({ desk, conversation }) {
  const others = (desk.agents || []).filter((a) => a.id !== conversation.assigneeId);
  const pick = (event) => {
    const target = event.target.value;
    event.target.value = "";
    if (target) desk.transfer(conversation.id, { agentId: target });
  };
  return html`<label class="sr" for="transfer-select">Transfer to</label>
    <select id="transfer-select" onChange=${pick} onFocus=${() => desk.refreshList()}>
      <option value="">Transfer to…</option>
      ${others.map((a) => html`<option value=${a.id}>${a.name} (${a.status}, ${a.load}/${a.limit ?? "∞"})</option>`)}
    </select>`;
}

export function ConversationView({ desk, cid }) {
  const [replyTo, setReplyTo] = useState(null);
  const conversation = desk.conversations.get(cid);
  const thread = desk.threads.get(cid);
  useEffect(() => () => desk.stopTyping(cid), [cid]);
  if (!conversation || !thread) return html`<main class="placeholder" id="main"><p>Loading…</p></main>`;
  const customer = customerOf(conversation);
  const joined = (conversation.participants || []).some((p) => p.id === desk.me.id && !p.leftAt);
  const typing = desk.typingIn(cid).filter((name) => name !== desk.me.name);
  return html`<main class="conversation" id="main" aria-labelledby="conv-title">
    <header class="conv-head">
      <div><h1 id="conv-title">${customer.name}</h1>
        <p class="sub"><span class=${`pill ${conversation.status}`}>${conversation.status}</span>
          <span class=${`pill prio-${conversation.priority}`}>${conversation.priority} priority</span>
          ${conversation.assigneeId === desk.me.id ? " assigned to you" : conversation.assigneeId ? " assigned to a colleague" : " unassigned"}</p></div>
      <div class="actions">
        ${!conversation.assigneeId && html`<button type="button" class="primary" onClick=${() => desk.claim(cid)}>Claim</button>`}
        ${conversation.assigneeId && !joined && html`<button type="button" class="primary" onClick=${() => desk.join(cid)}>Join</button>`}
        ${joined && html`<button type="button" class="ghost" onClick=${() => desk.leave(cid)}>Leave</button>`}
        ${desk.has("POST /api/conversations/{conversationId}/transfer") && html`<${Transfer} desk=${desk} conversation=${conversation} />`}
        ${desk.has("POST /api/conversations/{conversationId}/handback") && conversation.bot && conversation.assigneeId === desk.me.id
          && html`<button type="button" class="ghost" onClick=${() => desk.handback(cid)}>Hand back to bot</button>`}
        <label class="sr" for="status-select">Status</label>
        <select id="status-select" value=${conversation.status} onChange=${(e) => desk.setStatus(cid, e.target.value)}>
          ${STATUSES.map((s) => html`<option value=${s}>${s}</option>`)}
        </select>
        ${conversation.status !== "resolved" && html`<button type="button" class="resolve" onClick=${() => desk.setStatus(cid, "resolved")}>Resolve</button>`}
      </div>
    </header>
    <${Messages} desk=${desk} thread=${thread} onReply=${setReplyTo} />
    <p class="typing" aria-live="polite">${typing.length > 0 ? `${typing.join(", ")} is typing…` : ""}</p>
    <${Composer} desk=${desk} cid=${cid} replyTo=${replyTo} setReplyTo=${setReplyTo} />
  </main>
  <${Context} desk=${desk} conversation=${conversation} thread=${thread} />`;
}
