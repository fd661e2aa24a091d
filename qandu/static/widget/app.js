// The chat widget's interface (Preact + htm, rendered into the loader's Shadow DOM).
import { html, render, useState, useEffect, useLayoutEffect, useRef, useReducer, timeOf } from "../shared/ui.js";
import { pickLanguage, translator } from "../shared/i18n.js";
import { EMOJI, QUICK_REACTIONS } from "../shared/emoji.js";
import { Thread } from "../shared/thread.js";
import { ChatSession } from "./session.js";
import { Attachments } from "../shared/attachments.js";

const ICON_CHAT = html`<svg viewBox="0 0 24 24" aria-hidden="true"><path fill="currentColor" d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z"/></svg>`;
const ICON_CLOSE = html`<svg viewBox="0 0 24 24" aria-hidden="true"><path fill="currentColor" d="M6.4 5 12 10.6 17.6 5 19 6.4 13.4 12l5.6 5.6-1.4 1.4-5.6-5.6L6.4 19 5 17.6 10.6 12 5 6.4z"/></svg>`;
const ICON_SEND = html`<svg viewBox="0 0 24 24" aria-hidden="true"><path fill="currentColor" d="M3 20.5v-7l9-1.5-9-1.5v-7L22 12z"/></svg>`;
const ICON_EMOJI = html`<svg viewBox="0 0 24 24" aria-hidden="true"><path fill="currentColor" d="M12 2a10 10 0 1 1 0 20 10 10 0 0 1 0-20zm0 2a8 8 0 1 0 0 16 8 8 0 0 0 0-16zm-4 9h8a4 4 0 0 1-8 0zm1-4.5a1.5 1.5 0 1 1 0 3 1.5 1.5 0 0 1 0-3zm6 0a1.5 1.5 0 1 1 0 3 1.5 1.5 0 0 1 0-3z"/></svg>`;
const ICON_ATTACH = html`<svg viewBox="0 0 24 24" aria-hidden="true"><path fill="currentColor" d="M16.5 6v11.5a4 4 0 0 1-8 0V5a2.5 2.5 0 0 1 5 0v10.5a1 1 0 0 1-2 0V6H10v9.5a2.5 2.5 0 0 0 5 0V5a4 4 0 0 0-8 0v12.5a5.5 5.5 0 0 0 11 0V6z"/></svg>`;
const ICON_REPLY = html`<svg viewBox="0 0 24 24" aria-hidden="true"><path fill="currentColor" d="M10 9V5l-7 7 7 7v-4.1c5 0 8.5 1.6 11 5.1-1-5-4-10-11-11z"/></svg>`;

/** Black or white text, whichever reads better on `hex` (WCAG contrast). */
function contrastText(hex) {
  const m = /^#?([0-9a-f]{6})$/i.exec(hex || "");
  if (!m) return "#fff";
  const n = parseInt(m[1], 16);
  const lin = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
  const lum = 0.2126 * lin(n >> 16) + 0.7152 * lin((n >> 8) & 255) + 0.0722 * lin(n & 255);
  return (1.05 / (lum + 0.05)) >= ((lum + 0.05) / 0.05) ? "#fff" : "#111";
}

function EmojiPicker({ t, onPick, onClose, label }) {
  const ref = useRef();
  useEffect(() => {
    const first = ref.current && ref.current.querySelector("button");
    first && first.focus();
  }, []);
  const keydown = (event) => {
    if (event.key === "Escape") { event.stopPropagation(); onClose(); }
  };
  return html`<div class="picker" role="dialog" aria-label=${label} ref=${ref} onKeyDown=${keydown}>
    ${EMOJI.map(([emoji, name]) => html`<button type="button" class="pick" aria-label=${name} title=${name} onClick=${() => onPick(emoji)}>${emoji}</button>`)}
  </div>`;
}

function Bubble({ message, session, t, lang, onReply, mine }) {
  const [picking, setPicking] = useState(false);
  const thread = session.thread;
  const reply = message.replyTo ? thread.byId.get(message.replyTo) : null;
  const metadata = message.content.metadata || {};
  if (message.content.type === "action" && metadata.survey === "csat") {
    return html`<li class="survey-item" data-seq=${message.seq} data-id=${message.id}>
      <${Survey} session=${session} t=${t} message=${message} /></li>`;
  }
  if (message.sender.type === "system") {
    return html`<li class="system" data-seq=${message.seq} data-id=${message.id}>${message.content.text}</li>`;
  }
  const status = mine ? thread.statusOf(message, session.me.id) : null;
  const reactions = [...Thread.reactionSummary(message, session.me.id)];
  const deleted = Boolean(message.deletedAt);
  return html`<li class=${`msg ${mine ? "mine" : "theirs"}`} data-seq=${message.seq} data-id=${message.id}>
    ${!mine && html`<span class="who">${message.sender.name}</span>`}
    <div class="bubble">
      ${reply && html`<blockquote class="quote"><b>${reply.sender.name}</b> ${(reply.content.text || "").slice(0, 80)}</blockquote>`}
      ${deleted ? html`<i class="deleted">${t("deleted")}</i>` : html`
        ${message.content.text && html`<p class="text">${message.content.text}</p>`}
        <${Attachments} api=${session.api} message=${message} label=${(name) => t("download", { name })} />`}
    </div>
    ${reactions.length > 0 && html`<div class="reactions">
      ${reactions.map(([emoji, r]) => html`<button type="button" class=${r.mine ? "chip mine" : "chip"} aria-pressed=${r.mine}
        aria-label=${t(r.mine ? "removeReaction" : "reactionBy", { emoji, count: r.count })}
        onClick=${() => session.react(message, emoji)}>${emoji} ${r.count}</button>`)}
    </div>`}
    <div class="meta">
      <time datetime=${message.timestamp}>${timeOf(message.timestamp, lang)}</time>
      ${message.editedAt && html` · ${t("edited")}`}
      ${status && html` · <span class=${`status ${status}`} data-status=${status}>${status === "sent" ? "✓" : "✓✓"} ${t(status)}</span>`}
    </div>
    ${!deleted && html`<div class="actions">
      <button type="button" class="act" aria-label=${t("react")} aria-expanded=${picking} onClick=${() => setPicking(!picking)}>☺</button>
      <button type="button" class="act" aria-label=${t("reply")} onClick=${() => onReply(message)}>${ICON_REPLY}</button>
    </div>`}
    ${picking && html`<div class="quick" role="group" aria-label=${t("react")}>
      ${QUICK_REACTIONS.map((emoji) => html`<button type="button" class="pick" onClick=${() => { setPicking(false); session.react(message, emoji); }}>${emoji}</button>`)}
    </div>`}
  </li>`;
}

function PendingBubble({ pending, session, t }) {
  const upload = pending.upload;
  const failed = pending.state === "failed";
  const label = upload && !upload.failed ? t("uploading", { name: upload.name, pct: Math.round(upload.progress * 100) })
    : failed ? t("failed") : t("queued");
  return html`<li class="msg mine pending" data-client-id=${pending.clientMsgId} data-state=${pending.state}>
    <div class="bubble">
      ${upload && upload.preview && html`<img class="preview" src=${upload.preview} alt=${upload.name} />`}
      ${pending.content.text && html`<p class="text">${pending.content.text}</p>`}
      ${upload && !upload.failed && html`<progress max="1" value=${upload.progress} aria-label=${label}></progress>`}
    </div>
    <div class="meta">${failed
      ? html`<button type="button" class="linkish" onClick=${() => session.retry(pending)}>⚠ ${label}</button>`
      : html`<span class="status queued">🕓 ${label}</span>`}</div>
  </li>`;
}

function MessageList({ session, t, lang, onReply }) {
  const list = useRef();
  const sentinel = useRef();
  const memo = useRef({ height: 0, top: 0, first: null, atBottom: true });
  const thread = session.thread;
  useLayoutEffect(() => {
    const el = list.current;
    if (!el) return;
    const m = memo.current;
    const first = thread && thread.messages[0] ? thread.messages[0].seq : null;
    if (m.first !== null && first !== null && first < m.first && !m.atBottom) {
      el.scrollTop = el.scrollHeight - (m.height - m.top);
    } else if (m.atBottom) {
      el.scrollTop = el.scrollHeight;
    }
    Object.assign(m, { first, height: el.scrollHeight, top: el.scrollTop });
  });
  useEffect(() => {
    if (!sentinel.current || !list.current) return undefined;
    const observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) session.loadOlder();
    }, { root: list.current, rootMargin: "300px 0px 0px 0px" });
    observer.observe(sentinel.current);
    return () => observer.disconnect();
  }, [thread]);
  const scrolled = () => {
    const el = list.current;
    Object.assign(memo.current, { height: el.scrollHeight, top: el.scrollTop, atBottom: el.scrollHeight - el.scrollTop - el.clientHeight < 40 });
  };
  if (!thread) return html`<div class="list empty"><p class="hint">${t("connecting")}</p></div>`;
  const mine = (m) => m.sender.id === session.me.id;
  return html`<div class="list" ref=${list} onScroll=${scrolled} onLoadCapture=${() => memo.current.atBottom && (list.current.scrollTop = list.current.scrollHeight)} tabindex="0" aria-label=${t("messages")}>
    <div ref=${sentinel} class="sentinel">${thread.hasMore
      ? html`<p class="hint">${session.loadingOlder ? t("loadingOlder") : ""}</p>`
      : html`<p class="hint">${t("beginning")}</p>`}</div>
    <div role="log" aria-live="polite" aria-relevant="additions" aria-label=${t("messages")}><ol>
      ${thread.messages.map((m) => html`<${Bubble} key=${m.id} message=${m} session=${session} t=${t} lang=${lang} onReply=${onReply} mine=${mine(m)} />`)}
      ${thread.pending.map((p) => html`<${PendingBubble} key=${p.clientMsgId} pending=${p} session=${session} t=${t} />`)}
    </ol></div>
  </div>`;
}

function Survey({ session, t, message }) {
  const metadata = message.content.metadata || {};
  const key = `${session.key}:survey:${metadata.surveyId}`;
  const [rating, setRating] = useState(0);
  const [comment, setComment] = useState("");
  const [sent, setSent] = useState(() => localStorage.getItem(key) === "1");
  const [error, setError] = useState(null);
  if (sent) return html`<div class="survey" role="status">${t("surveyThanks")}</div>`;
  const submit = async (event) => {
    event.preventDefault();
    try {
      await session.answerSurvey(metadata.surveyId, rating, comment.trim());
    } catch (e) {
      if (e.status !== 409) { setError(e.message); return; }
    }
    try { localStorage.setItem(key, "1"); } catch (_) { /* ignore */ }
    setSent(true);
  };
  const range = metadata.scale && typeof metadata.scale === "object" ? metadata.scale : { min: 1, max: 5 };
  const scale = Array.from({ length: range.max - range.min + 1 }, (_, i) => range.min + i);
  return html`<form class="survey" onSubmit=${submit} aria-labelledby=${`q-${message.id}`}>
    <p class="survey-title" id=${`q-${message.id}`}>${message.content.text || t("surveyTitle")}</p>
    <div class="stars" role="radiogroup" aria-label=${t("surveyTitle")}>
      ${scale.map((n) => html`<button type="button" role="radio" aria-checked=${rating === n} class=${n <= rating ? "star on" : "star"}
        aria-label=${t("rating", { n, max: range.max })} onClick=${() => setRating(n)}>★</button>`)}
    </div>
    ${metadata.comment !== false && html`<label class="sr" for=${`c-${message.id}`}>${t("surveyComment")}</label>
      <textarea id=${`c-${message.id}`} rows="2" placeholder=${t("surveyComment")} value=${comment} onInput=${(e) => setComment(e.target.value)}></textarea>`}
    ${error && html`<p class="banner error" role="alert">${error}</p>`}
    <button type="submit" class="primary" disabled=${!rating}>${t("surveySubmit")}</button>
  </form>`;
}

function Composer({ session, t, replyTo, setReplyTo }) {
  const [text, setText] = useState("");
  const [picker, setPicker] = useState(false);
  const input = useRef();
  const file = useRef();
  const submit = (event) => {
    event.preventDefault();
    const value = text.trim();
    if (!value) return;
    session.send({ type: "text", text: value }, { replyTo: replyTo && replyTo.id });
    setText("");
    setReplyTo(null);
    input.current.focus();
  };
  const keydown = (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) submit(event);
    if (event.key === "Escape" && replyTo) setReplyTo(null);
  };
  const insert = (emoji) => {
    const el = input.current;
    const at = el.selectionStart ?? text.length;
    setText(text.slice(0, at) + emoji + text.slice(el.selectionEnd ?? at));
    setPicker(false);
    requestAnimationFrame(() => { el.focus(); el.selectionStart = el.selectionEnd = at + emoji.length; });
  };
  const chosen = (event) => {
    for (const f of event.target.files) session.upload(f, replyTo && replyTo.id);
    event.target.value = "";
    setReplyTo(null);
  };
  return html`<form class="composer" onSubmit=${submit}>
    ${replyTo && html`<div class="replying"><span>${t("replyingTo")} <b>${replyTo.sender.name}</b>: ${(replyTo.content.text || "").slice(0, 60)}</span>
      <button type="button" class="icon small" aria-label=${t("cancelReply")} onClick=${() => setReplyTo(null)}>${ICON_CLOSE}</button></div>`}
    ${picker && html`<${EmojiPicker} t=${t} label=${t("emoji")} onPick=${insert} onClose=${() => { setPicker(false); input.current.focus(); }} />`}
    <div class="row">
      <label class="sr" for="qd-input">${t("placeholder")}</label>
      <textarea id="qd-input" ref=${input} rows="1" placeholder=${t("placeholder")} value=${text} maxlength="10000"
        onInput=${(e) => { setText(e.target.value); session.keystroke(); }} onKeyDown=${keydown}></textarea>
      <button type="button" class="icon" aria-label=${t("emoji")} aria-expanded=${picker} onClick=${() => setPicker(!picker)}>${ICON_EMOJI}</button>
      ${session.features.files && html`<button type="button" class="icon" aria-label=${t("attach")} onClick=${() => file.current.click()}>${ICON_ATTACH}</button>
        <input type="file" ref=${file} hidden multiple onChange=${chosen} />`}
      <button type="submit" class="icon send" aria-label=${t("send")} disabled=${!text.trim()}>${ICON_SEND}</button>
    </div>
  </form>`;
}

function Widget({ session, config }) {
  const [, redraw] = useReducer((n) => n + 1, 0);
  const [open, setOpen] = useState(config.open || (session.started && sessionStorage.getItem(`${session.key}:open`) === "1"));
  const [unread, setUnread] = useState(0);
  const [replyTo, setReplyTo] = useState(null);
  const [announce, setAnnounce] = useState("");
  const t = config.t;
  const lang = config.language;
  const launcher = useRef();
  const panel = useRef();
  useEffect(() => session.subscribe(redraw), []);
  useEffect(() => {
    const visible = () => session.setVisible(open && document.visibilityState === "visible");
    visible();
    if (open && document.visibilityState === "visible") setUnread(0);
    document.addEventListener("visibilitychange", visible);
    try { sessionStorage.setItem(`${session.key}:open`, open ? "1" : "0"); } catch (_) { /* ignore */ }
    return () => document.removeEventListener("visibilitychange", visible);
  }, [open]);
  useEffect(() => {
    if (session.started) session.start().catch(() => {});
  }, []);
  session.onMessage = (message) => {
    const hidden = document.visibilityState !== "visible";
    if (!open || hidden) setUnread((n) => n + 1);
    setAnnounce(`${message.sender.name}: ${message.content.text || ""}`);
    if (hidden && "Notification" in window && Notification.permission === "granted") {
      try {
        const note = new Notification(t("newMessage", { name: message.sender.name }), { body: message.content.text || "", tag: `qandu-${message.conversationId}` });
        note.onclick = () => { window.focus(); setOpen(true); note.close(); };
      } catch (_) { /* not allowed in this context */ }
    }
  };
  useEffect(() => {
    if (!open) return;
    if (!session.gateway) session.start().catch(() => {});
    const input = panel.current && panel.current.querySelector("#qd-input");
    input && input.focus();
    if ("Notification" in window && Notification.permission === "default") {
      try { Notification.requestPermission(); } catch (_) { /* ignore */ }
    }
  }, [open]);
  useEffect(() => {
    const base = document.title.replace(/^\(\d+\) /, "");
    document.title = unread ? `(${unread}) ${base}` : base;
  }, [unread]);
  const close = () => { setOpen(false); requestAnimationFrame(() => launcher.current && launcher.current.focus()); };
  const keydown = (event) => { if (event.key === "Escape") close(); };
  const typing = [...session.typing.values()];
  const conversation = session.conversation;
  const resolved = conversation && conversation.status === "resolved";
  const style = `--qd-accent:${config.color};--qd-on-accent:${contrastText(config.color)}`;
  const badge = unread ? html`<span class="badge" aria-hidden="true">${unread > 9 ? "9+" : unread}</span>` : null;
  return html`<div class=${`qd ${config.position}`} style=${style} lang=${lang}>
    <div class="sr" aria-live="polite">${!open && announce}</div>
    ${open && html`<section class="panel" role="dialog" aria-modal="false" aria-labelledby="qd-title" ref=${panel} onKeyDown=${keydown}>
      <header>
        <div class="avatar" aria-hidden="true">Q</div>
        <div class="heading"><h2 id="qd-title">${config.title || t("title")}</h2>
          <p class="sub">${session.state === "online" ? t("subtitle") : session.state === "connecting" ? t("connecting") : "\u00a0"}</p></div>
        <button type="button" class="icon" aria-label=${t("closeChat")} onClick=${close}>${ICON_CLOSE}</button>
      </header>
      ${session.state === "offline" && session.gateway && html`<p class="banner" role="status">${t("offline")}</p>`}
      ${session.error && html`<p class="banner error" role="alert">${t("error", { error: session.error })}</p>`}
      <${MessageList} session=${session} t=${t} lang=${lang} onReply=${setReplyTo} />
      <div class="typing" aria-live="polite">${typing.length > 0 && html`<span class="dots" aria-hidden="true"><i></i><i></i><i></i></span> ${t("typing", { name: typing.map((x) => x.name).join(", ") })}`}</div>
      ${resolved && html`<p class="resolved" role="status">${t("resolved")}</p>`}
      <${Composer} session=${session} t=${t} replyTo=${replyTo} setReplyTo=${setReplyTo} />
    </section>`}
    <button type="button" class="launcher" ref=${launcher} aria-expanded=${open}
      aria-label=${(open ? t("closeChat") : t("openChat")) + (unread ? `, ${t("unread", { n: unread })}` : "")}
      onClick=${() => (open ? close() : setOpen(true))}>${open ? ICON_CLOSE : ICON_CHAT}${badge}</button>
  </div>`;
}

/** Render the widget into `root` (the loader's shadow root); returns the session for scripting. */
export function mount(root, config) {
  config.language = pickLanguage(config.locale);
  config.t = translator(config.language);
  const session = new ChatSession(config);
  const container = document.createElement("div");
  root.appendChild(container);
  render(html`<${Widget} session=${session} config=${config} />`, container);
  return session;
}
