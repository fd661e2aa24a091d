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
  const annotation = annotationOf(desk, message);
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

/** The NLU's findings for a message: from a live frame or stored in history; null if none. */
function annotationOf(desk, message) {
  return desk.annotations.get(message.id) || message.annotations || null;
}

/** The "/shortcut" being typed just before the caret, or null. */
function shortcutAt(text, caret) {
  const match = /(?:^|\s)\/([a-z0-9_-]*)$/.exec(text.slice(0, caret));
  return match ? { query: match[1], start: caret - match[1].length - 1 } : null;
}

function Composer({ desk, cid, replyTo, setReplyTo }) {
  const [text, setText] = useState("");
  const [note, setNote] = useState(false);
  const [picker, setPicker] = useState(false);
  const [caret, setCaret] = useState(0);
  const [active, setActive] = useState(0);
  const [dismissed, setDismissed] = useState(null);
  const [, setCannedLoaded] = useState(false);
  const input = useRef();
  const suggestions = desk.suggestions.get(cid);
  useEffect(() => {
    if (desk.has("GET /api/canned-responses")) desk.cannedResponses().then(() => setCannedLoaded(true)).catch(() => {});
  }, []);
  const canned = desk.canned || []; // kept current by canned.updated and canned.deleted frames
  const typed = shortcutAt(text, caret);
  const matches = typed && typed.start !== dismissed
    ? canned.filter((c) => c.shortcut.startsWith(typed.query.toLowerCase())).slice(0, 6) : [];
  const choosing = matches.length > 0;
  const chosen = Math.min(active, matches.length - 1);
  const applyCanned = (found) => {
    const before = text.slice(0, typed.start);
    const after = text.slice(caret);
    const next = before + found.text + after;
    const at = before.length + found.text.length;
    setText(next);
    setCaret(at);
    setActive(0);
    requestAnimationFrame(() => { input.current.focus(); input.current.setSelectionRange(at, at); });
  };
  const keydown = (e) => {
    if (choosing && (e.key === "ArrowDown" || e.key === "ArrowUp")) {
      e.preventDefault();
      setActive((chosen + (e.key === "ArrowDown" ? 1 : matches.length - 1)) % matches.length);
    } else if (choosing && (e.key === "Enter" || e.key === "Tab") && !e.shiftKey) {
      e.preventDefault();
      applyCanned(matches[chosen]);
    } else if (choosing && e.key === "Escape") {
      e.preventDefault();
      setDismissed(typed.start);
    } else if (e.key === "Enter" && !e.shiftKey && !e.isComposing) submit(e);
  };
  const submit = (event) => {
    event.preventDefault();
    if (!text.trim()) return;
    desk.send(cid, text.trim(), { isPrivate: note, replyTo: replyTo && replyTo.id });
    desk.stopTyping(cid);
    setText("");
    setCaret(0);
    setDismissed(null);
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
    ${choosing && html`<ul id="canned-matches" class="canned-matches" role="listbox" aria-label="Canned responses">
      ${matches.map((c, i) => html`<li key=${c.id} id=${`canned-${c.id}`} role="option" aria-selected=${i === chosen}
        onMouseDown=${(e) => e.preventDefault()} onClick=${() => applyCanned(c)}><b>/${c.shortcut}</b> ${c.text}</li>`)}
    </ul>`}
    <textarea id="reply-input" ref=${input} rows="3" value=${text}
      placeholder=${note ? "Private note — only agents see it" : "Reply to the customer… (Enter sends, Shift+Enter: new line, / for canned responses)"}
      aria-autocomplete="list" aria-controls=${choosing ? "canned-matches" : undefined}
      aria-activedescendant=${choosing ? `canned-${matches[chosen].id}` : undefined}
      onInput=${(e) => {
        const { value, selectionStart } = e.target;
        setText(value);
        setCaret(selectionStart);
        setActive(0);
        if (!shortcutAt(value, selectionStart)) setDismissed(null); // a new "/" opens the list again
        if (!note) desk.keystroke(cid);
      }}
      onKeyUp=${(e) => ["ArrowLeft", "ArrowRight", "Home", "End"].includes(e.key) && setCaret(e.target.selectionStart)}
      onClick=${(e) => setCaret(e.target.selectionStart)}
      onKeyDown=${keydown}></textarea>
    <p class="sr" aria-live="polite">${choosing ? `${matches.length} canned responses: arrow keys choose, Enter inserts` : ""}</p>
    ${picker && html`<div class="picker" role="group" aria-label="Emoji">${EMOJI.map(([emoji, name]) =>
      html`<button type="button" aria-label=${name} onClick=${() => insert(emoji)}>${emoji}</button>`)}</div>`}
    <div class="bar">
      ${canned.length > 0 && html`<${Canned} items=${canned} onPick=${insert} />`}
      <button type="button" class="ghost" aria-label="Insert emoji" aria-expanded=${picker} onClick=${() => setPicker(!picker)}>😊</button>
      ${desk.has("POST /api/files") && html`<label class="ghost file-button">📎 Attach<input type="file" class="sr" multiple
        onChange=${(e) => { for (const f of e.target.files) desk.upload(cid, f, { isPrivate: note }); e.target.value = ""; }} /></label>`}
      <span class="spacer"></span>
      <button type="submit" class="primary" disabled=${!text.trim()}>${note ? "Add note" : "Send"}</button>
    </div>
  </form>`;
}

function Canned({ items, onPick }) {
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
  const analysed = [...thread.messages].reverse().find((m) => m.sender.type === "user" && annotationOf(desk, m));
  const annotation = analysed && annotationOf(desk, analysed);
  return html`<aside class="context" aria-label="Customer context">
    <section><h2>Customer</h2><dl>
      <${Field} name="Name" value=${customer.name} />
      <${Field} name="E-mail" value=${context.email} />
      <${Field} name="Language" value=${context.locale} />
      <${Field} name="Since" value=${customer.joinedAt && new Date(customer.joinedAt).toLocaleString()} />
    </dl></section>
    ${annotation && html`<${Understanding} annotation=${annotation} message=${analysed} />`}
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
    <${Earlier} desk=${desk} customer=${customer} current=${conversation.id} />
    ${(detail.statusHistory || []).length > 0 && html`<section><h2>History</h2><ol class="history">
      ${detail.statusHistory.map((h) => html`<li><b>${h.from} → ${h.to}</b>${h.reason ? ` (${h.reason})` : ""}<br /><time>${new Date(h.at).toLocaleString()}</time></li>`)}
    </ol></section>`}
  </aside>`;
}

const percent = (value) => `${Math.round(value * 100)} %`;

/** What the NLU found in the customer's latest analysed message. */
function Understanding({ annotation, message }) {
  const { intent, sentiment, language, entities = [], context = {} } = annotation;
  const slots = Object.entries(context);
  return html`<section class="nlu" aria-labelledby="nlu-title"><h2 id="nlu-title">Understanding</h2>
    <p class="about">Customer's message at <time datetime=${message.timestamp}>${timeOf(message.timestamp)}</time></p>
    <dl>
      <div class="field" data-nlu="intent"><dt>Intent</dt><dd>${intent
        ? html`<b>${intent.name}</b> ${percent(intent.confidence)}${intent.carried ? " (kept from the question)" : ""}`
        : html`<span class="muted">not recognised</span>`}</dd></div>
      ${sentiment && html`<div class="field" data-nlu="sentiment"><dt>Sentiment</dt><dd>
        <span class=${`mood ${sentiment.label}`}>${sentiment.label}</span> ${sentiment.score.toFixed(2)}</dd></div>`}
      <${Field} name="Language" value=${language} />
      ${entities.length > 0 && html`<div class="field" data-nlu="entities"><dt>Entities</dt><dd><ul class="entities">
        ${entities.map((e) => html`<li><span class="pill">${e.label.toLowerCase().replace("_", " ")}</span> ${typeof e.value === "string" ? e.value : e.text}</li>`)}
      </ul></dd></div>`}
      ${slots.length > 0 && html`<div class="field" data-nlu="context"><dt>Known</dt><dd>${slots.map(([k, v]) => `${k.replace("_", " ")}: ${typeof v === "object" ? JSON.stringify(v) : v}`).join(" · ")}</dd></div>`}
    </dl></section>`;
}

/** The customer's other conversations (GET /api/customers/{id}/conversations), to open one. */
function Earlier({ desk, customer, current }) {
  const [items, setItems] = useState(undefined);
  useEffect(() => {
    let live = true;
    desk.customerConversations(customer.id).then((found) => live && setItems(found)).catch(() => live && setItems(null));
    return () => { live = false; };
  }, [customer.id, current]);
  if (items === null || !desk.has("GET /api/customers/{customerId}/conversations")) return null;
  const others = (items || []).filter((c) => c.id !== current);
  return html`<section class="earlier" aria-labelledby="earlier-title"><h2 id="earlier-title">Earlier conversations</h2>
    ${items === undefined ? html`<p class="muted">Loading…</p>`
      : others.length === 0 ? html`<p class="muted">None: this is their first conversation.</p>`
      : html`<ul>${others.map((c) => html`<li key=${c.id}><button type="button" class="earlier-item" data-id=${c.id} onClick=${() => desk.open(c.id)}>
        <span class="row1"><time datetime=${c.startedAt}>${new Date(c.startedAt).toLocaleDateString()}</time>
          <span class=${`pill ${c.status}`}>${c.status}</span></span>
        <span class="row2">${c.lastSeq} messages${(c.tags || []).length ? ` · ${c.tags.map((t) => `#${t}`).join(" ")}` : ""}</span>
      </button></li>`)}</ul>`}
  </section>`;
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
