// One conversation's messages as a client holds them: ordered by seq, deduplicated by id
// and clientMsgId, with pages of older history prepended and queued (unsent) messages after.

export class Thread {
  constructor(conversationId) {
    this.id = conversationId;
    this.messages = [];
    this.byId = new Map();
    this.pending = [];
    this.hasMore = true;
    this.nextBefore = null;
    this.loaded = false;
    this.receipts = new Map();
    this.version = 0;
  }

  get lastSeq() {
    return this.messages.length ? this.messages[this.messages.length - 1].seq : 0;
  }

  get all() {
    return this.messages;
  }

  touch() { this.version += 1; }

  /** Add or replace a server message; returns true if it was new. */
  upsert(message) {
    if (message.conversationId && message.conversationId !== this.id) return false;
    if (message.clientMsgId) this.pending = this.pending.filter((p) => p.clientMsgId !== message.clientMsgId);
    const known = this.byId.get(message.id);
    this.byId.set(message.id, message);
    if (known) {
      const index = this.messages.indexOf(known);
      if (index >= 0) this.messages[index] = message;
      this.touch();
      return false;
    }
    let index = this.messages.length;
    while (index > 0 && this.messages[index - 1].seq > message.seq) index -= 1;
    this.messages.splice(index, 0, message);
    this.touch();
    return true;
  }

  /** Older messages from a history page (before the oldest we have). */
  prepend(page) {
    for (const message of page.messages) this.upsert(message);
    this.hasMore = Boolean(page.hasMore);
    this.nextBefore = page.nextBefore || null;
    this.loaded = true;
    this.touch();
  }

  /** Reload the messages held, newest first, through `api` (at most `pages` pages of `limit`):
   * edits, deletions, reactions and delivery states made while the client was not listening
   * (a reconnect, a `resync`) only reach it this way.  Paging state is left as it was. */
  async reload(api, { limit, pages = 4 }) {
    if (!this.messages.length) return;
    const oldest = this.messages[0].seq;
    let before = null;
    for (let page = 0; page < pages; page += 1) {
      const found = await api.get(`/api/chat/history/${this.id}`, before ? { limit, before } : { limit });
      for (const message of found.messages) if (message.seq >= oldest) this.upsert(message);
      if (!found.hasMore || !found.messages.length || found.messages[0].seq <= oldest) break;
      before = found.nextBefore;
    }
  }

  deleted(messageId) {
    const message = this.byId.get(messageId);
    if (message) this.upsert({ ...message, deletedAt: new Date().toISOString(), content: { type: "text" } });
  }

  reaction(frame) {
    const message = this.byId.get(frame.messageId);
    if (!message) return;
    const { emoji, userId } = frame.reaction;
    let reactions = (message.reactions || []).filter((r) => !(r.emoji === emoji && r.userId === userId));
    if (frame.action === "added") reactions = [...reactions, frame.reaction];
    this.upsert({ ...message, reactions });
  }

  receipt(frame) {
    const marks = this.receipts.get(frame.userId) || { delivered: 0, read: 0 };
    marks[frame.status] = Math.max(marks[frame.status], frame.seq);
    if (frame.status === "read") marks.delivered = Math.max(marks.delivered, frame.seq);
    this.receipts.set(frame.userId, marks);
    this.touch();
  }

  /** "sent" | "delivered" | "read" for a message of `me`, from the others' marks. */
  statusOf(message, me) {
    let status = message.status || "sent";
    for (const [userId, marks] of this.receipts) {
      if (userId === me) continue;
      if (marks.read >= message.seq) return "read";
      if (marks.delivered >= message.seq) status = "delivered";
    }
    return status;
  }

  /** Emoji -> {count, mine} for a message's reactions. */
  static reactionSummary(message, me) {
    const summary = new Map();
    for (const reaction of message.reactions || []) {
      const entry = summary.get(reaction.emoji) || { count: 0, mine: false };
      entry.count += 1;
      entry.mine = entry.mine || reaction.userId === me;
      summary.set(reaction.emoji, entry);
    }
    return summary;
  }
}
