// The agent console's state: login, the live conversation list, open threads, typing,
// suggestions and annotations, all kept current by the gateway's staff frames.
import { Api, ApiError, features } from "../shared/api.js";
import { Gateway, Disconnected } from "../shared/gateway.js";
import { Thread } from "../shared/thread.js";
import { uid } from "../shared/ui.js";
import { Inbox } from "./inbox.js";
import { QueueView } from "./queue.js";

const TOKEN_KEY = "qandu:console";
const PAGE = 40;
const QUEUE_LIMIT = 100;
const TYPING_EXPIRES = 6000;
const PRIORITY = { high: 0, medium: 1, low: 2 };

export class Desk {
  constructor() {
    this.api = new Api("");
    this.me = null;
    this.state = "offline";
    this.conversations = new Map();
    this.threads = new Map();
    this.details = new Map();
    this.typing = new Map();
    this.suggestions = new Map();
    this.annotations = new Map();
    this.features = new Set();
    this.listeners = new Set();
    this.toasts = [];
    this.openId = null;
    this.inbox = new Inbox(this);
    this.queue = null; // a QueueView when the server has routing (GET /api/queue)
  }

  subscribe(listener) { this.listeners.add(listener); return () => this.listeners.delete(listener); }
  changed() { for (const listener of this.listeners) listener(); }
  has(operation) { return this.features.has(operation); }

  toast(text, kind = "info") {
    const toast = { id: uid(), text, kind };
    this.toasts = [...this.toasts, toast];
    setTimeout(() => { this.toasts = this.toasts.filter((t) => t !== toast); this.changed(); }, 6000);
    this.changed();
  }

  async restore() {
    let saved = null;
    try { saved = JSON.parse(localStorage.getItem(TOKEN_KEY) || "null"); } catch (_) { /* ignore */ }
    if (!saved) return false;
    this.api.token = saved.token;
    try {
      this.me = (await this.api.get("/api/me")).user;
    } catch (_) {
      localStorage.removeItem(TOKEN_KEY);
      return false;
    }
    await this.connect(saved.gatewayUrl);
    return true;
  }

  async login(email, password) {
    const data = await this.api.post("/api/auth/login", { email, password });
    if (!["support", "admin"].includes(data.user.role)) throw new ApiError(403, { message: "not an agent account" });
    this.api.token = data.token;
    this.me = data.user;
    localStorage.setItem(TOKEN_KEY, JSON.stringify({ token: data.token, gatewayUrl: data.gatewayUrl }));
    await this.connect(data.gatewayUrl);
  }

  logout() {
    localStorage.removeItem(TOKEN_KEY);
    if (this.gateway) this.gateway.stop();
    location.reload();
  }

  async connect(gatewayUrl) {
    this.features = await features(this.api);
    await this.refreshList();
    this.gateway = new Gateway(gatewayUrl, this.api.token, {
      onReady: (ready) => this.ready(ready),
      onFrame: (frame) => this.frame(frame),
      onState: (state) => { this.state = state; this.changed(); },
    });
    this.gateway.start();
    this.changed();
  }

  async refreshList() {
    const data = await this.api.get("/api/conversations", { limit: 100 });
    for (const conversation of data.conversations) this.conversations.set(conversation.id, conversation);
    if (this.has("GET /api/agents")) {
      this.agents = (await this.api.get("/api/agents")).agents;
      const mine = this.agents.find((a) => a.id === this.me.id);
      this.availability = mine ? mine.status : null;
    }
    this.changed();
  }

  /** Load the routing queue whole (after each `ready`); queue.updated deltas keep it current. */
  async loadQueue() {
    if (!this.has("GET /api/queue")) return;
    if (!this.queue) this.queue = new QueueView(QUEUE_LIMIT);
    const ticket = this.queue.loading();
    let snapshot;
    try {
      snapshot = await this.api.get("/api/queue", { limit: QUEUE_LIMIT });
    } catch (error) {
      this.queue.failed(ticket);
      this.toast(error.message, "error");
      return;
    }
    for (const conversation of snapshot.conversations) this.updated(conversation);
    if (this.queue.load(ticket, snapshot)) await this.loadQueue();
    this.changed();
  }

  /** A queue.updated delta: what joined, changed in or left the queue. */
  queued(delta) {
    for (const conversation of [...(delta.added || []), ...(delta.updated || [])]) this.updated(conversation);
    if (this.queue && this.queue.apply(delta)) this.loadQueue();
  }

  async setAvailability(status) {
    try {
      const data = await this.api.put("/api/agents/me/status", { status });
      this.availability = data.agent.status;
    } catch (error) {
      this.toast(error.message, "error");
    }
    this.changed();
  }

  async ready(ready) {
    this.inbox.load();
    for (const conversation of ready.conversations || []) this.conversations.set(conversation.id, conversation);
    const queue = this.loadQueue(); // deltas missed while disconnected: reload it whole
    for (const thread of this.threads.values()) {
      try {
        await this.gateway.request({ type: "resume", conversationId: thread.id, afterSeq: thread.lastSeq });
      } catch (error) {
        if (!(error instanceof Disconnected)) this.toast(error.message, "error");
      }
    }
    await queue;
    await this.flush();
    await this.reloadThreads(); // frames other than new messages were missed while disconnected
    this.changed();
  }

  /** Reload the open conversations' messages (see Thread.reload) and the shown one's details. */
  async reloadThreads() {
    const reloads = [...this.threads.values()].map((thread) => thread.reload(this.api, { limit: PAGE }).catch(() => {}));
    if (this.openId && this.threads.has(this.openId)) {
      const cid = this.openId;
      reloads.push(this.api.get(`/api/conversations/${cid}`).then((detail) => {
        this.details.set(cid, detail);
        this.conversations.set(cid, { ...(this.conversations.get(cid) || {}), ...detail.conversation });
      }, () => {}));
    }
    await Promise.all(reloads);
    this.changed();
  }

  /** Conversations for a list: "queue" (waiting for a person), "mine", "open", "resolved". */
  list(name) {
    const all = [...this.conversations.values()];
    const byActivity = (a, b) => (b.lastMessageAt || "").localeCompare(a.lastMessageAt || "");
    if (name === "queue" && this.queue) {
      return this.queue.items.map((c) => this.conversations.get(c.id) || c).filter((c) => !c.assigneeId);
    }
    if (name === "queue") {
      return all.filter((c) => c.status === "pending" && !c.assigneeId)
        .sort((a, b) => (PRIORITY[a.priority] - PRIORITY[b.priority]) || (a.lastMessageAt || "").localeCompare(b.lastMessageAt || ""));
    }
    if (name === "mine") return all.filter((c) => c.assigneeId === this.me.id && ["active", "pending"].includes(c.status)).sort(byActivity);
    if (name === "resolved") return all.filter((c) => ["resolved", "archived"].includes(c.status)).sort(byActivity);
    return all.filter((c) => ["active", "pending"].includes(c.status)).sort(byActivity);
  }

  frame(frame) {
    const cid = frame.conversationId || (frame.message && frame.message.conversationId) || (frame.conversation && frame.conversation.id);
    const thread = cid && this.threads.get(cid);
    switch (frame.type) {
      case "conversation.updated": this.updated(frame.conversation); break;
      case "queue.updated": this.queued(frame); break;
      case "resync": this.refreshList(); this.loadQueue(); this.inbox.load(); this.reloadThreads(); break;
      case "assignment":
        this.updated(frame.conversation, false);
        if (frame.action === "assigned") {
          this.watch(frame.conversation.id);
          this.assigned(frame.conversation);
        }
        else this.toast(`Unassigned: ${customerOf(frame.conversation).name}${frame.reason ? ` (${frame.reason})` : ""}`);
        break;
      case "message.new":
      case "message.updated":
        if (thread) {
          if (thread.upsert(frame.message) && frame.type === "message.new") this.arrived(thread, frame.message);
        }
        if (frame.type === "message.new" && !(cid === this.openId && this.reading())) this.inbox.arrived(cid, frame.message);
        this.bump(cid, frame.message);
        break;
      case "message.deleted": thread && thread.deleted(frame.messageId); break;
      case "reaction": thread && thread.reaction(frame); break;
      case "receipt":
        if (thread) thread.receipt(frame);
        if (frame.userId === this.me.id && frame.status === "read") this.inbox.read(cid, frame.seq);
        break;
      case "typing": this.typed(cid, frame); break;
      case "suggestions": this.suggestions.set(cid, frame); break;
      case "message.annotated": this.annotations.set(frame.messageId, frame.annotations || frame); break;
      case "mention":
      case "reminder": this.inbox.notified(frame.notification); break;
      case "agent.updated": this.agentUpdated(frame.agent); break;
      case "canned.updated": this.cannedChanged(frame.cannedResponse.id, frame.cannedResponse); break;
      case "canned.deleted": this.cannedChanged(frame.id, null); break;
      default: return;
    }
    this.changed();
  }

  bump(cid, message) {
    const conversation = this.conversations.get(cid);
    if (conversation && message) {
      this.conversations.set(cid, { ...conversation, lastMessageAt: message.timestamp, lastSeq: Math.max(conversation.lastSeq || 0, message.seq), preview: message.content.text });
    }
  }

  updated(conversation, notify = true) {
    const before = this.conversations.get(conversation.id);
    this.conversations.set(conversation.id, { ...(before || {}), ...conversation });
    // with routing installed, "assignment" frames say it; without, a change of assignee does
    const routed = this.has("GET /api/queue");
    if (notify && !routed && before && conversation.assigneeId === this.me.id && before.assigneeId !== this.me.id) {
      this.assigned(conversation);
    }
  }

  assigned(conversation) {
    const name = customerOf(conversation).name;
    this.toast(`Assigned to you: ${name}`);
    this.notify("New conversation assigned", name, conversation.id);
  }

  /** A browser notification, only while the console is hidden (a toast shows it otherwise). */
  notify(title, body, tag) {
    if (document.visibilityState === "visible" || !("Notification" in window) || Notification.permission !== "granted") return;
    try { new Notification(title, { body, tag }); } catch (_) { /* not allowed here */ }
  }

  /** Watch a conversation's messages live (one given to us while connected). */
  watch(cid) {
    if (this.gateway && this.gateway.state === "online") this.gateway.request({ type: "subscribe", conversationId: cid }).catch(() => {});
  }

  /** Whether the agent can see the open conversation (the page is visible). */
  reading() {
    return document.visibilityState === "visible";
  }

  /** The page became visible: the open conversation is read now. */
  visible() {
    const thread = this.threads.get(this.openId);
    if (thread && this.reading()) this.markRead(thread);
    this.changed();
  }

  agentUpdated(agent) {
    if (this.agents) this.agents = this.agents.map((a) => (a.id === agent.id ? agent : a));
    if (agent.id === this.me.id) this.availability = agent.status;
  }

  arrived(thread, message) {
    this.typing.delete(`${thread.id}:${message.sender.id}`);
    if (message.sender.id === this.me.id) return;
    if (thread.id === this.openId && this.reading()) this.markRead(thread);
  }

  typed(cid, frame) {
    const key = `${cid}:${frame.user.id}`;
    clearTimeout((this.typing.get(key) || {}).timer);
    if (frame.state === "start") {
      const timer = setTimeout(() => { this.typing.delete(key); this.changed(); }, TYPING_EXPIRES);
      this.typing.set(key, { cid, name: frame.user.name, timer });
    } else this.typing.delete(key);
  }

  typingIn(cid) {
    return [...this.typing.values()].filter((t) => t.cid === cid).map((t) => t.name);
  }

  /** Open a conversation: its newest messages, details and a live subscription. */
  async open(cid) {
    this.openId = cid;
    let thread = this.threads.get(cid);
    if (!thread) {
      thread = new Thread(cid);
      this.threads.set(cid, thread);
      const [page, detail] = await Promise.all([
        this.api.get(`/api/chat/history/${cid}`, { limit: PAGE }),
        this.api.get(`/api/conversations/${cid}`),
      ]);
      thread.prepend(page);
      this.details.set(cid, detail);
      this.conversations.set(cid, { ...(this.conversations.get(cid) || {}), ...detail.conversation });
      if (this.gateway && this.gateway.state === "online") {
        await this.gateway.request({ type: "resume", conversationId: cid, afterSeq: thread.lastSeq }).catch(() => {});
      }
      if (this.has("GET /api/conversations/{conversationId}/suggestions")) this.loadSuggestions(cid);
    }
    this.markRead(thread);
    this.changed();
  }

  async loadSuggestions(cid) {
    try {
      const data = await this.api.get(`/api/conversations/${cid}/suggestions`);
      this.suggestions.set(cid, data);
      this.changed();
    } catch (_) { /* none */ }
  }

  async loadOlder(thread) {
    if (!thread.hasMore || thread.loadingOlder) return;
    thread.loadingOlder = true;
    const before = thread.nextBefore || (thread.messages[0] && thread.messages[0].seq);
    try {
      thread.prepend(await this.api.get(`/api/chat/history/${thread.id}`, { limit: PAGE, before }));
    } finally {
      thread.loadingOlder = false;
      this.changed();
    }
  }

  markRead(thread) {
    const seq = thread.lastSeq;
    if (seq) this.inbox.read(thread.id, seq);
    if (!seq || !this.gateway || this.gateway.state !== "online" || (thread.readMark || 0) >= seq) return;
    thread.readMark = seq;
    this.gateway.request({ type: "receipt", conversationId: thread.id, seq, status: "read" }).catch(() => {});
  }

  /** Upload a file to the conversation (progress in the toast line), then send it. */
  async upload(cid, file, { isPrivate = false } = {}) {
    const status = { id: uid(), text: `Uploading ${file.name}…`, kind: "info" };
    this.toasts = [...this.toasts, status];
    this.changed();
    try {
      const path = `/api/files?conversationId=${encodeURIComponent(cid)}`;
      const data = await this.api.upload(path, file, (p) => { status.text = `Uploading ${file.name}… ${Math.round(p * 100)}%`; this.changed(); });
      const kind = file.type.startsWith("image/") ? "image" : "file";
      this.send(cid, null, { isPrivate, attachments: [data.upload.id], kind });
    } catch (error) {
      this.toast(`Upload failed: ${error.message}`, "error");
    } finally {
      this.toasts = this.toasts.filter((t) => t !== status);
      this.changed();
    }
  }

  send(cid, text, { isPrivate = false, replyTo = null, attachments = null, kind = "text" } = {}) {
    const thread = this.threads.get(cid);
    const content = text ? { type: kind, text } : { type: kind };
    thread.pending.push({ clientMsgId: uid(), content, replyTo, attachments, private: isPrivate, state: "queued" });
    thread.touch();
    this.changed();
    this.flush();
  }

  async flush() {
    if (this.flushing || !this.gateway || this.gateway.state !== "online") return;
    this.flushing = true;
    try {
      for (const thread of this.threads.values()) {
        for (const pending of [...thread.pending]) {
          if (pending.state !== "queued") continue;
          pending.state = "sending";
          const frame = { type: "message.send", conversationId: thread.id, clientMsgId: pending.clientMsgId, content: pending.content };
          if (pending.replyTo) frame.replyTo = pending.replyTo;
          if (pending.private) frame.private = true;
          if (pending.attachments) frame.attachments = pending.attachments;
          try {
            thread.upsert((await this.gateway.request(frame)).message);
          } catch (error) {
            if (error instanceof Disconnected) { pending.state = "queued"; return; }
            pending.state = "failed";
            this.toast(error.message, "error");
          }
          this.changed();
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  keystroke(cid) {
    const now = Date.now();
    if (!this.gateway) return;
    if (now - (this.typingSentAt || 0) > 3000) {
      this.typingSentAt = now;
      this.gateway.fire({ type: "typing", conversationId: cid, state: "start" });
    }
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => this.stopTyping(cid), 4000);
  }

  stopTyping(cid) {
    clearTimeout(this.typingTimer);
    if (this.typingSentAt && this.gateway) this.gateway.fire({ type: "typing", conversationId: cid, state: "stop" });
    this.typingSentAt = 0;
  }

  react(message, emoji) {
    const mine = (message.reactions || []).some((r) => r.emoji === emoji && r.userId === this.me.id);
    this.gateway.request({ type: mine ? "reaction.remove" : "reaction.add", messageId: message.id, emoji })
      .catch((error) => this.toast(error.message, "error"));
  }

  /** Run a conversation action over HTTP and take the conversation it returns. */
  async act(cid, method, path, body) {
    try {
      const data = await this.api.request(method, path, body);
      if (data && data.conversation) this.updated(data.conversation);
      const detail = await this.api.get(`/api/conversations/${cid}`);
      this.details.set(cid, detail);
      this.changed();
      return data;
    } catch (error) {
      this.toast(error.message, "error");
      return null;
    }
  }

  join(cid) { return this.act(cid, "POST", `/api/conversations/${cid}/join`); }
  claim(cid) {
    return this.has("POST /api/conversations/{conversationId}/claim") ? this.act(cid, "POST", `/api/conversations/${cid}/claim`) : this.join(cid);
  }
  addTag(cid, tag) { return this.act(cid, "POST", `/api/conversations/${cid}/tags`, { tags: [tag] }); }
  removeTag(cid, tag) { return this.act(cid, "DELETE", `/api/conversations/${cid}/tags/${encodeURIComponent(tag)}`); }
  async cannedResponses() {
    if (!this.canned) this.canned = (await this.api.get("/api/canned-responses", { limit: 200 })).cannedResponses;
    return this.canned;
  }

  /** An admin saved (`changed`) or deleted (null) a canned response: keep the loaded list current. */
  cannedChanged(id, changed) {
    if (!this.canned) return;
    const others = this.canned.filter((c) => c.id !== id);
    this.canned = (changed ? [...others, changed] : others).sort((a, b) => a.shortcut.localeCompare(b.shortcut));
  }

  /** The customer's conversations, newest first (GET /api/customers/{id}/conversations). */
  async customerConversations(customerId) {
    if (!customerId || !this.has("GET /api/customers/{customerId}/conversations")) return null;
    const data = await this.api.get(`/api/customers/${customerId}/conversations`, { limit: 10 });
    return data.conversations;
  }
  transfer(cid, body) { return this.act(cid, "POST", `/api/conversations/${cid}/transfer`, body); }
  handback(cid) { return this.act(cid, "POST", `/api/conversations/${cid}/handback`); }
  leave(cid) { return this.act(cid, "POST", `/api/conversations/${cid}/leave`); }
  setStatus(cid, status) { return this.act(cid, "PUT", `/api/conversations/${cid}/status`, { status }); }
}

/** The customer of a conversation (its first customer participant). */
export function customerOf(conversation) {
  return (conversation.participants || []).find((p) => p.role === "customer") || { name: "Visitor", id: "" };
}
