// The routing queue as the console holds it: the first `limit` waiting conversations, loaded
// whole from GET /api/queue after each `ready`, then kept current by `queue.updated` deltas
// (docs/protocol.md). No DOM here: tests/browser/test_queue_model.py runs it under Node.

const RANK = { high: 0, medium: 1, low: 2 };

/** The server's queue order: high priority first, then the longest waiting, then id. */
export function queueOrder(a, b) {
  const rank = (c) => (c.priority in RANK ? RANK[c.priority] : RANK.low);
  const byTime = (a.queuedAt || "").localeCompare(b.queuedAt || "");
  return rank(a) - rank(b) || byTime || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

export class QueueView {
  constructor(limit) {
    this.limit = limit;
    this.items = [];
    this.total = 0;
    this.held = null; // deltas that arrived while a load runs (null: none running)
    this.generation = 0;
  }

  /** A load starts: returns its ticket for `load`; deltas from now on wait for its answer. */
  loading() {
    this.held = [];
    return ++this.generation;
  }

  /**
   * The answer of GET /api/queue for `ticket`, then the deltas held back meanwhile. An answer
   * overtaken by a newer load is dropped. Returns true if the view needs loading again.
   */
  load(ticket, snapshot) {
    if (ticket !== this.generation || this.held === null) return false;
    const held = this.held;
    this.held = null;
    this.items = snapshot.conversations.slice(0, this.limit);
    this.total = snapshot.total;
    let stale = false;
    for (const delta of held) stale = this.apply(delta) || stale;
    return stale;
  }

  /** A load failed: apply what was held, on the old list (a later `ready` loads again). */
  failed(ticket) {
    if (ticket !== this.generation || this.held === null) return;
    const held = this.held;
    this.held = null;
    for (const delta of held) this.apply(delta);
  }

  /**
   * Apply a `queue.updated` delta (held back during a load). Returns true if the view lost
   * conversations it should show (a removal while more wait than it holds): load it again.
   */
  apply(delta) {
    if (this.held !== null) {
      this.held.push(delta);
      return false;
    }
    const leaving = new Set(delta.removed || []);
    const changed = [...(delta.added || []), ...(delta.updated || [])];
    for (const conversation of changed) leaving.add(conversation.id);
    const before = this.items.length;
    const items = this.items.filter((c) => !leaving.has(c.id));
    const last = before >= this.limit ? this.items[before - 1] : null;
    for (const conversation of changed) {
      // beyond a full view's last entry it is not one of the first `limit`
      if (!last || queueOrder(conversation, last) <= 0) items.push(conversation);
    }
    items.sort(queueOrder);
    this.items = items.slice(0, this.limit);
    // holding the whole queue, the view counts it exactly; otherwise the server's count
    this.total = this.items.length < this.limit ? this.items.length : Math.max(delta.total, this.items.length);
    return this.items.length < Math.min(this.limit, delta.total);
  }

  ids() {
    return this.items.map((c) => c.id);
  }
}
