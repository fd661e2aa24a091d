// The agent console: login, live lists, the open conversation and its customer's context.
import { html, render, useState, useEffect, useReducer } from "../shared/ui.js";
import { Desk, customerOf } from "./desk.js";
import { ConversationView } from "./conversation.js";
import { describe } from "./inbox.js";

const LISTS = [["queue", "Queue"], ["mine", "Mine"], ["open", "Open"], ["resolved", "Resolved"]];

function ago(iso) {
  if (!iso) return "";
  const seconds = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (seconds < 60) return "now";
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h`;
  return `${Math.floor(seconds / 86400)} d`;
}

function Login({ desk }) {
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    setBusy(true);
    setError(null);
    try {
      await desk.login(form.get("email"), form.get("password"));
    } catch (e) {
      setError(e.message);
    } finally {
      setBusy(false);
    }
  };
  return html`<main class="login">
    <form class="card" onSubmit=${submit} aria-labelledby="login-title">
      <h1 id="login-title"><img src="/static/favicon.svg" alt="" width="32" height="32" /> QanDu agent console</h1>
      <label for="email">E-mail</label>
      <input id="email" name="email" type="email" autocomplete="username" required />
      <label for="password">Password</label>
      <input id="password" name="password" type="password" autocomplete="current-password" required />
      ${error && html`<p class="error" role="alert">${error}</p>`}
      <button class="primary" type="submit" disabled=${busy}>${busy ? "Signing in…" : "Sign in"}</button>
      <p class="hint">No account yet? <code>.venv/bin/qandu user add you@example.com --name You</code></p>
    </form>
  </main>`;
}

function Item({ desk, conversation, active }) {
  const customer = customerOf(conversation);
  const typing = desk.typingIn(conversation.id).length > 0;
  const unread = desk.inbox.count(conversation.id);
  const classes = ["item", active && "active", unread > 0 && "has-unread"].filter(Boolean).join(" ");
  return html`<li>
    <button type="button" class=${classes} aria-current=${active ? "true" : undefined}
      data-id=${conversation.id} onClick=${() => desk.open(conversation.id)}>
      <span class="row1"><b>${customer.name}</b>
        ${unread > 0 && html`<span class="unread" data-unread=${unread}>${unread}<span class="sr"> unread</span></span>`}
        <span class="when">${ago(conversation.lastMessageAt)}</span></span>
      <span class="row2">
        <span class=${`pill ${conversation.status}`}>${conversation.status}</span>
        ${conversation.priority !== "medium" && html`<span class=${`pill prio-${conversation.priority}`}>${conversation.priority}</span>`}
        ${(conversation.tags || []).slice(0, 3).map((tag) => html`<span class="pill tag">#${tag}</span>`)}
        <span class="preview">${typing ? "typing…" : conversation.preview || (conversation.bot ? `bot: ${conversation.bot}` : "")}</span>
      </span>
    </button>
  </li>`;
}

function Sidebar({ desk }) {
  const [tab, setTab] = useState("queue");
  const items = desk.list(tab);
  const counts = Object.fromEntries(LISTS.map(([name]) => [name, desk.list(name).length]));
  return html`<nav class="sidebar" aria-label="Conversations">
    <div class="tabs" role="tablist" aria-label="Conversation lists">
      ${LISTS.map(([name, label]) => html`<button type="button" role="tab" id=${`tab-${name}`} aria-selected=${tab === name}
        aria-controls="conversation-list" onClick=${() => setTab(name)}>${label} <span class="count">${counts[name]}</span></button>`)}
    </div>
    <div id="conversation-list" class="items" role="tabpanel" aria-labelledby=${`tab-${tab}`}>
      ${items.length === 0 && html`<p class="empty">Nothing here right now.</p>`}
      <ul>${items.map((c) => html`<${Item} key=${c.id} desk=${desk} conversation=${c} active=${c.id === desk.openId} />`)}</ul>
    </div>
  </nav>`;
}

function Notifications({ desk }) {
  const [open, setOpen] = useState(false);
  const { inbox } = desk;
  const count = inbox.unreadNotifications;
  const go = (notification) => {
    setOpen(false);
    if (!notification.readAt) inbox.markRead([notification.id]);
    if (notification.conversationId) desk.open(notification.conversationId);
  };
  return html`<div class="notifications" onKeyDown=${(e) => e.key === "Escape" && setOpen(false)}>
    <button type="button" class="ghost bell" aria-expanded=${open} aria-controls="notification-list" onClick=${() => setOpen(!open)}>
      Notifications${count > 0 && html` <span class="badge" data-count=${count}>${count}<span class="sr"> unread</span></span>`}</button>
    ${open && html`<section id="notification-list" class="popover" aria-labelledby="notifications-title">
      <div class="popover-head"><h2 id="notifications-title">Notifications</h2>
        ${count > 0 && html`<button type="button" class="ghost small" onClick=${() => inbox.markRead()}>Mark all read</button>`}</div>
      ${inbox.notifications.length === 0
        ? html`<p class="empty">Nothing yet: @mentions in private notes and your reminders show up here.</p>`
        : html`<ul>${inbox.notifications.map((n) => html`<li key=${n.id}>
          <button type="button" class=${n.readAt ? "notification" : "notification new"} onClick=${() => go(n)}>
            <span>${describe(n)}</span><time datetime=${n.createdAt}>${ago(n.createdAt)}</time></button></li>`)}</ul>`}
    </section>`}
  </div>`;
}

function Console({ desk }) {
  const [, redraw] = useReducer((n) => n + 1, 0);
  const [phase, setPhase] = useState("loading");
  useEffect(() => desk.subscribe(redraw), []);
  useEffect(() => {
    desk.restore().then((ok) => setPhase(ok ? "in" : "login")).catch(() => setPhase("login"));
    const visible = () => desk.visible();
    document.addEventListener("visibilitychange", visible);
    return () => document.removeEventListener("visibilitychange", visible);
  }, []);
  useEffect(() => {
    const unread = desk.inbox.total;
    document.title = unread ? `(${unread}) QanDu console` : "QanDu console";
  });
  if (phase === "loading") return html`<main class="login"><p>Loading…</p></main>`;
  if (!desk.me) return html`<${Login} desk=${desk} />`;
  const enableNotifications = () => Notification.requestPermission().then(redraw);
  return html`<div class="shell">
    <header class="top">
      <a class="brand" href="/console"><img src="/static/favicon.svg" alt="" width="26" height="26" /> QanDu</a>
      <span class=${`conn ${desk.state}`} role="status">${desk.state === "online" ? "● Live" : desk.state === "connecting" ? "Connecting…" : "Offline — reconnecting"}</span>
      <nav aria-label="Pages"><a href="/dashboard">Dashboard</a></nav>
      ${"Notification" in window && Notification.permission === "default" && html`<button type="button" class="ghost" onClick=${enableNotifications}>Enable notifications</button>`}
      <span class="me">${desk.me.name}</span>
      ${desk.has("GET /api/notifications") && html`<${Notifications} desk=${desk} />`}
      ${desk.availability && html`<label class="sr" for="availability">Your availability</label>
        <select id="availability" class=${`avail ${desk.availability}`} value=${desk.availability} onChange=${(e) => desk.setAvailability(e.target.value)}>
          <option value="online">Online</option><option value="away">Away</option><option value="offline">Offline</option>
        </select>`}
      <button type="button" class="ghost" onClick=${() => desk.logout()}>Sign out</button>
    </header>
    <${Sidebar} desk=${desk} />
    ${desk.openId ? html`<${ConversationView} key=${desk.openId} desk=${desk} cid=${desk.openId} />`
      : html`<main class="placeholder" id="main"><h1>Pick a conversation</h1><p>The queue lists customers waiting for a person, most urgent first.</p></main>`}
    <div class="toasts" aria-live="polite">${desk.toasts.map((t) => html`<p key=${t.id} class=${`toast ${t.kind}`} role=${t.kind === "error" ? "alert" : "status"}>${t.text}</p>`)}</div>
  </div>`;
}

const desk = new Desk();
window.qanduDesk = desk;
render(html`<${Console} desk=${desk} />`, document.getElementById("app"));
