// What asks for the agent's attention: unread messages per conversation and notifications
// (@mentions in private notes, follow-up reminders).  Unread counts start from the server's
// (GET /api/me/unread: the messages after the agent's read mark) and follow message.new,
// receipt and the agent's own read receipts live.

export class Inbox {
  constructor(desk) {
    this.desk = desk;
    this.unread = new Map(); // conversation id -> {count, seen: the highest seq counted}
    this.notifications = [];
    this.unreadNotifications = 0;
  }

  /** Load both from the server (after every connect: what happened while away is counted). */
  async load() {
    const { api } = this.desk;
    const jobs = [];
    if (this.desk.has("GET /api/me/unread")) {
      jobs.push(api.get("/api/me/unread").then((data) => {
        this.unread = new Map(data.conversations.map((c) => [c.conversationId, { count: c.unread, seen: c.lastSeq }]));
        // an open conversation being read keeps no count
        const open = this.desk.threads.get(this.desk.openId);
        if (open && this.desk.reading()) this.desk.markRead(open);
      }));
    }
    if (this.desk.has("GET /api/notifications")) {
      jobs.push(api.get("/api/notifications", { limit: 30 }).then((data) => {
        this.notifications = data.notifications;
        this.unreadNotifications = data.unread;
      }));
    }
    await Promise.all(jobs.map((job) => job.catch(() => {})));
    this.desk.changed();
  }

  count(cid) {
    const entry = this.unread.get(cid);
    return entry ? entry.count : 0;
  }

  get total() {
    let total = 0;
    for (const entry of this.unread.values()) total += entry.count;
    return total;
  }

  /** A message arrived in `cid`; it counts unless it is the agent's own or a system notice. */
  arrived(cid, message) {
    if (message.sender.id === this.desk.me.id || message.sender.type === "system") return;
    const entry = this.unread.get(cid) || { count: 0, seen: 0 };
    if (message.seq <= entry.seen) return; // replayed by resume: counted already
    this.unread.set(cid, { count: entry.count + 1, seen: message.seq });
  }

  /** The agent's read mark in `cid` reached `seq` (here, or in another tab). */
  read(cid, seq) {
    const entry = this.unread.get(cid);
    if (entry && seq >= entry.seen) this.unread.delete(cid);
  }

  /** A `mention` or `reminder` frame: keep it, and tell the agent. */
  notified(notification) {
    if (this.notifications.some((n) => n.id === notification.id)) return;
    this.notifications = [notification, ...this.notifications].slice(0, 50);
    if (!notification.readAt) this.unreadNotifications += 1;
    const text = describe(notification);
    this.desk.toast(text);
    this.desk.notify(notification.kind === "mention" ? "You were mentioned" : "Reminder", text, notification.id);
  }

  /** Mark notifications read (`ids`, or every one when omitted). */
  async markRead(ids) {
    const body = ids ? { ids } : { all: true };
    const marking = (n) => !n.readAt && (!ids || ids.includes(n.id));
    try {
      await this.desk.api.post("/api/notifications/read", body);
    } catch (error) {
      this.desk.toast(error.message, "error");
      return;
    }
    const newly = this.notifications.filter(marking).length;
    const now = new Date().toISOString();
    this.notifications = this.notifications.map((n) => (marking(n) ? { ...n, readAt: now } : n));
    this.unreadNotifications = ids ? Math.max(0, this.unreadNotifications - newly) : 0;
    this.desk.changed();
  }
}

/** One line for a notification: "Jo Smith mentioned you: @Kim could you check?". */
export function describe(notification) {
  const data = notification.data || {};
  if (notification.kind === "mention") return `${data.by || "Someone"} mentioned you: ${data.excerpt || ""}`.trim();
  if (notification.kind === "reminder") return `Reminder: ${data.text || "follow up"}`;
  return notification.kind;
}
