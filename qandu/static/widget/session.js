// A customer's chat session: the conversation, its messages, the offline outbox and the
// gateway connection.  Survives page reloads through localStorage (token, conversation id,
// unsent messages); after a reconnect it resumes from the last seq it holds, so nothing is
// missed and nothing is shown twice, then reloads the messages it holds for the edits,
// deletions, reactions and receipts made meanwhile (as it does when the server says `resync`).
import { Api, ApiError, features } from "../shared/api.js";
import { Gateway, Disconnected } from "../shared/gateway.js";
import { Thread } from "../shared/thread.js";
import { uid } from "../shared/ui.js";

const PAGE = 30;
const TYPING_EVERY = 3000;
const TYPING_IDLE = 4000;
const TYPING_EXPIRES = 6000;

function storageGet(key) {
  try { return JSON.parse(localStorage.getItem(key) || "null"); } catch (_) { return null; }
}

function storageSet(key, value) {
  try {
    if (value == null) localStorage.removeItem(key);
    else localStorage.setItem(key, JSON.stringify(value));
  } catch (_) { /* private mode or full: the session just won't survive a reload */ }
}

export class ChatSession {
  constructor(config) {
    this.config = config;
    this.key = `qandu:${config.server}:${config.bot || "default"}`;
    this.api = new Api(config.server);
    this.saved = storageGet(this.key);
    this.thread = null;
    this.conversation = null;
    this.me = null;
    this.gateway = null;
    this.connected = false; // a gateway connection was ready before (so a new one is a reconnect)
    this.state = "offline";
    this.typing = new Map();
    this.listeners = new Set();
    this.error = null;
    this.flushing = false;
    this.readMark = 0;
    this.typingSentAt = 0;
    this.features = { files: false, csat: false };
    this.onMessage = null;
  }

  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  changed() {
    for (const listener of this.listeners) listener();
  }

  get started() {
    return Boolean(this.saved && this.saved.token);
  }

  /** Start (or restore) the conversation, load its newest messages and connect. */
  start() {
    if (!this.starting) this.starting = this.open().finally(() => { this.starting = null; });
    return this.starting;
  }

  async open() {
    if (this.gateway) return;
    try {
      if (!this.started) await this.initialize();
      else this.api.token = this.saved.token;
      this.me = this.saved.user;
      this.thread = new Thread(this.saved.conversationId);
      for (const pending of storageGet(`${this.key}:outbox`) || []) this.thread.pending.push({ ...pending, state: "queued" });
      await this.loadNewest();
    } catch (error) {
      if (error instanceof ApiError && (error.status === 401 || error.status === 403 || error.status === 404)) {
        this.reset();
        return this.open();
      }
      if (!(error instanceof ApiError) && this.thread) {
        // offline at load time: show what we have, the gateway will catch up
      } else {
        this.error = error.message;
        this.changed();
        throw error;
      }
    }
    this.gateway = new Gateway(this.saved.gatewayUrl, this.saved.token, {
      onReady: (ready) => this.ready(ready),
      onFrame: (frame) => this.frame(frame),
      onState: (state) => { this.state = state; this.changed(); },
      onRejected: () => this.checkToken(),
    });
    this.gateway.start();
    this.changed();
    this.detectFeatures();
  }

  /** Which optional server features (file sharing, satisfaction survey) this server has. */
  async detectFeatures() {
    const key = `${this.key}:features`;
    let found = null;
    try { found = JSON.parse(sessionStorage.getItem(key) || "null"); } catch (_) { /* ignore */ }
    if (!found) {
      const operations = await features(this.api);
      found = { files: operations.has("POST /api/files"), csat: operations.has("POST /api/conversations/{conversationId}/csat") };
      try { sessionStorage.setItem(key, JSON.stringify(found)); } catch (_) { /* ignore */ }
    }
    this.features = found;
    this.changed();
  }

  async initialize() {
    const locale = this.config.language;
    const body = { source: "widget", context: { page: location.href, title: document.title } };
    if (this.config.bot) body.bot = this.config.bot;
    if (locale) body.locale = locale;
    const data = await this.api.post("/api/chat/initialize", body);
    this.saved = {
      token: data.token,
      user: data.user,
      conversationId: data.conversation.id,
      gatewayUrl: data.gatewayUrl,
    };
    this.conversation = data.conversation;
    storageSet(this.key, this.saved);
    this.api.token = data.token;
  }

  /** Forget the session (token rejected, or the customer starts over). */
  reset() {
    if (this.gateway) this.gateway.stop();
    this.gateway = null;
    this.connected = false;
    this.saved = null;
    this.thread = null;
    storageSet(this.key, null);
    storageSet(`${this.key}:outbox`, null);
  }

  async restart() {
    this.reset();
    this.conversation = null;
    await this.open();
  }

  async checkToken() {
    try {
      await this.api.get("/api/me");
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) this.restart();
    }
  }

  async loadNewest() {
    const page = await this.api.get(`/api/chat/history/${this.thread.id}`, { limit: PAGE });
    this.thread.prepend(page);
    this.persistOutbox(); // a queued message the server already has (its ack was lost) is done
    this.changed();
  }

  /** Load the page before the oldest message we hold (scrolling up). */
  async loadOlder() {
    const thread = this.thread;
    if (!thread || !thread.hasMore || this.loadingOlder) return;
    this.loadingOlder = true;
    this.changed();
    try {
      const before = thread.nextBefore || (thread.messages[0] && thread.messages[0].seq);
      thread.prepend(await this.api.get(`/api/chat/history/${thread.id}`, { limit: PAGE, before }));
    } finally {
      this.loadingOlder = false;
      this.changed();
    }
  }

  async ready(ready) {
    const conversation = (ready.conversations || []).find((c) => c.id === this.thread.id);
    if (conversation) this.conversation = conversation;
    const reconnected = this.connected; // live frames were missed since the last connection
    this.connected = true;
    try {
      await this.gateway.request({ type: "resume", conversationId: this.thread.id, afterSeq: this.thread.lastSeq });
      await this.flush();
      this.acknowledge();
      if (reconnected) await this.refresh().catch(() => {}); // stale until the next one; not worth an error
    } catch (error) {
      if (!(error instanceof Disconnected)) this.error = error.message;
    }
    this.changed();
  }

  /** Reload the messages we hold (see Thread.reload). */
  async refresh() {
    if (!this.thread) return;
    await this.thread.reload(this.api, { limit: PAGE });
    this.changed();
  }

  frame(frame) {
    if (frame.type === "resync") { // the server's nodes lost frames for a while
      this.refresh().catch(() => {});
      if (this.conversation) this.api.get(`/api/conversations/${this.conversation.id}`)
        .then((data) => { this.conversation = data.conversation; this.changed(); }, () => {});
      return;
    }
    const thread = this.thread;
    const cid = frame.conversationId || (frame.message && frame.message.conversationId) || (frame.conversation && frame.conversation.id);
    if (!thread || (cid && cid !== thread.id)) return;
    switch (frame.type) {
      case "message.new": {
        const message = frame.message;
        if (message.sender.id === this.me.id) {
          thread.upsert(message); // ours from another tab, or replayed by resume: it leaves the outbox
          this.persistOutbox();
        } else if (thread.upsert(message)) {
          this.typing.delete(message.sender.id);
          this.onMessage && this.onMessage(message);
          this.acknowledge();
        }
        break;
      }
      case "message.updated": thread.upsert(frame.message); break;
      case "message.deleted": thread.deleted(frame.messageId); break;
      case "reaction": thread.reaction(frame); break;
      case "receipt": thread.receipt(frame); break;
      case "conversation.updated": this.conversation = frame.conversation; break;
      case "typing": this.typed(frame); break;
      default: return;
    }
    this.changed();
  }

  typed(frame) {
    if (frame.user.id === this.me.id) return;
    clearTimeout((this.typing.get(frame.user.id) || {}).timer);
    if (frame.state === "start") {
      const timer = setTimeout(() => { this.typing.delete(frame.user.id); this.changed(); }, TYPING_EXPIRES);
      this.typing.set(frame.user.id, { name: frame.user.name, timer });
    } else {
      this.typing.delete(frame.user.id);
    }
  }

  /** Tell the server what reached us (delivered) and, when the customer can see it, read. */
  acknowledge() {
    if (!this.gateway || this.gateway.state !== "online" || !this.thread) return;
    const seq = this.thread.lastSeq;
    if (seq > (this.deliveredMark || 0)) {
      this.deliveredMark = seq;
      this.gateway.request({ type: "receipt", conversationId: this.thread.id, seq, status: "delivered" }).catch(() => {});
    }
    if (this.visible && seq > this.readMark) {
      this.readMark = seq;
      this.gateway.request({ type: "receipt", conversationId: this.thread.id, seq, status: "read" }).catch(() => {});
    }
  }

  setVisible(visible) {
    this.visible = visible;
    if (visible) this.acknowledge();
  }

  persistOutbox() {
    const outbox = this.thread.pending.filter((p) => !p.upload).map(({ state, error, ...rest }) => rest);
    storageSet(`${this.key}:outbox`, outbox.length ? outbox : null);
  }

  /** Queue a message; it is sent now if online, else when the connection is back. */
  send(content, { replyTo = null, attachments = null } = {}) {
    const pending = { clientMsgId: uid(), content, replyTo, attachments, createdAt: new Date().toISOString(), state: "queued" };
    this.thread.pending.push(pending);
    this.thread.touch();
    this.persistOutbox();
    this.stopTyping();
    this.changed();
    this.flush();
    return pending;
  }

  /** Send queued messages in order; stops at the first disconnect (they stay queued). */
  async flush() {
    if (this.flushing || !this.gateway || this.gateway.state !== "online") return;
    this.flushing = true;
    try {
      for (const pending of [...this.thread.pending]) {
        if (pending.state === "failed" || pending.upload) continue;
        pending.state = "sending";
        const frame = { type: "message.send", conversationId: this.thread.id, clientMsgId: pending.clientMsgId, content: pending.content };
        if (pending.replyTo) frame.replyTo = pending.replyTo;
        if (pending.attachments && pending.attachments.length) frame.attachments = pending.attachments;
        try {
          const ack = await this.gateway.request(frame);
          this.thread.upsert(ack.message);
        } catch (error) {
          if (error instanceof Disconnected) { pending.state = "queued"; break; }
          if (error.code === "conflict") this.error = error.message;
          pending.state = "failed";
          pending.error = error.message;
        }
        this.persistOutbox();
        this.changed();
      }
    } finally {
      this.flushing = false;
    }
    if (this.thread.pending.some((p) => p.state === "queued") && this.gateway.state === "online") this.flush();
  }

  retry(pending) {
    pending.state = "queued";
    this.changed();
    this.flush();
  }

  /** Upload a file (with progress), then send it as a message with the attachment. */
  async upload(file, replyTo) {
    const pending = { clientMsgId: uid(), content: { type: file.type.startsWith("image/") ? "image" : "file" },
      replyTo, createdAt: new Date().toISOString(), state: "queued", upload: { name: file.name, progress: 0 } };
    if (file.type.startsWith("image/")) pending.upload.preview = URL.createObjectURL(file);
    this.thread.pending.push(pending);
    this.changed();
    try {
      const path = `/api/files?conversationId=${encodeURIComponent(this.thread.id)}`;
      const data = await this.api.upload(path, file, (progress) => { pending.upload.progress = progress; this.changed(); });
      if (pending.upload.preview) URL.revokeObjectURL(pending.upload.preview);
      delete pending.upload;
      pending.attachments = [data.upload.id];
      this.persistOutbox();
      this.flush();
    } catch (error) {
      pending.state = "failed";
      pending.error = error.message;
      pending.upload.failed = true;
    }
    this.changed();
  }

  /** Answer the satisfaction survey sent on resolution. */
  answerSurvey(surveyId, rating, comment) {
    const body = { rating };
    if (surveyId) body.surveyId = surveyId;
    if (comment) body.comment = comment;
    return this.api.post(`/api/conversations/${this.thread.id}/csat`, body);
  }

  react(message, emoji) {
    const mine = (message.reactions || []).some((r) => r.emoji === emoji && r.userId === this.me.id);
    const type = mine ? "reaction.remove" : "reaction.add";
    return this.gateway.request({ type, messageId: message.id, emoji }).catch((error) => { this.error = error.message; this.changed(); });
  }

  /** Call on every keystroke in the composer: sends typing start (throttled) and stop when idle. */
  keystroke() {
    if (!this.gateway || !this.thread) return;
    const now = Date.now();
    if (now - this.typingSentAt > TYPING_EVERY) {
      this.typingSentAt = now;
      this.gateway.fire({ type: "typing", conversationId: this.thread.id, state: "start" });
    }
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => this.stopTyping(), TYPING_IDLE);
  }

  stopTyping() {
    clearTimeout(this.typingTimer);
    if (this.typingSentAt && this.gateway && this.thread) {
      this.gateway.fire({ type: "typing", conversationId: this.thread.id, state: "stop" });
    }
    this.typingSentAt = 0;
  }
}
