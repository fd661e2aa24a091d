// The real-time gateway client (docs/protocol.md): one WebSocket, request ids, heartbeats,
// reconnect with exponential backoff and jitter, and a clean "offline" state while the
// browser has no network.  The app resumes its conversations in onReady.

const BACKOFF_START = 0.5;
const BACKOFF_CAP = 30;

export class Disconnected extends Error {}

export class Gateway {
  /**
   * @param {string} url  ws(s)://host:port/ws
   * @param {string} token  bearer token (goes in the query string: browsers cannot set headers)
   * @param {{onFrame?, onReady?, onState?, onRejected?}} handlers
   */
  constructor(url, token, handlers) {
    this.url = url;
    this.token = token;
    this.handlers = handlers || {};
    this.state = "offline";
    this.ws = null;
    this.pending = new Map();
    this.counter = 0;
    this.attempt = 0;
    this.stopped = true;
    this.timer = null;
    this.heartbeat = 20;
    this.lastFrameAt = 0;
    this.onOnline = () => this.reconnectNow();
    this.onOffline = () => this.drop("browser offline");
  }

  start() {
    this.stopped = false;
    addEventListener("online", this.onOnline);
    addEventListener("offline", this.onOffline);
    this.open();
  }

  stop() {
    this.stopped = true;
    removeEventListener("online", this.onOnline);
    removeEventListener("offline", this.onOffline);
    clearTimeout(this.timer);
    clearInterval(this.beat);
    if (this.ws) this.ws.close(1000, "bye");
    this.ws = null;
    this.setState("offline");
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.handlers.onState && this.handlers.onState(state);
  }

  open() {
    clearTimeout(this.timer);
    if (this.stopped || this.ws) return;
    if (navigator.onLine === false) { this.setState("offline"); return; }
    this.setState("connecting");
    const sep = this.url.includes("?") ? "&" : "?";
    const ws = new WebSocket(`${this.url}${sep}token=${encodeURIComponent(this.token)}`);
    this.ws = ws;
    let ready = false;
    ws.onmessage = (event) => {
      if (ws !== this.ws) return;
      let frame;
      try { frame = JSON.parse(event.data); } catch (_) { return; }
      this.lastFrameAt = Date.now();
      if (frame.type === "ready") {
        ready = true;
        this.attempt = 0;
        this.heartbeat = frame.heartbeat || 20;
        this.startHeartbeat();
        this.setState("online");
        this.handlers.onReady && this.handlers.onReady(frame);
        return;
      }
      if (frame.ref && this.pending.has(frame.ref) && ["ack", "error", "resumed", "pong"].includes(frame.type)) {
        const { resolve, reject } = this.pending.get(frame.ref);
        this.pending.delete(frame.ref);
        if (frame.type === "error") reject(Object.assign(new Error(frame.message), frame));
        else resolve(frame);
        return;
      }
      this.handlers.onFrame && this.handlers.onFrame(frame);
    };
    ws.onclose = (event) => {
      if (ws !== this.ws) return;
      this.closed(event.code, ready);
    };
  }

  closed(code, wasReady) {
    this.ws = null;
    clearInterval(this.beat);
    for (const { reject } of this.pending.values()) reject(new Disconnected("disconnected"));
    this.pending.clear();
    this.setState("offline");
    if (this.stopped) return;
    if (!wasReady && this.handlers.onRejected) this.handlers.onRejected(code);
    this.schedule();
  }

  schedule() {
    if (this.stopped) return;
    const delay = Math.min(BACKOFF_CAP, BACKOFF_START * 2 ** this.attempt) * (0.5 + Math.random() / 2);
    this.attempt += 1;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.open(), delay * 1000);
  }

  reconnectNow() {
    if (this.stopped) return;
    this.attempt = 0;
    if (!this.ws) this.open();
  }

  /** Close the socket now (the network went away); reconnect when it returns. */
  drop(reason) {
    const ws = this.ws;
    if (!ws) { this.setState("offline"); return; }
    this.ws = null;
    try { ws.close(4000, reason); } catch (_) { /* already closing */ }
    this.closed(1006, this.state === "online");
  }

  startHeartbeat() {
    clearInterval(this.beat);
    this.beat = setInterval(() => {
      if (!this.ws || this.state !== "online") return;
      const idle = (Date.now() - this.lastFrameAt) / 1000;
      if (idle > this.heartbeat * 2 + 5) { this.drop("heartbeat timeout"); return; }
      if (idle > this.heartbeat) this.request({ type: "ping" }).catch(() => {});
    }, Math.max(1000, (this.heartbeat * 1000) / 2));
  }

  /** Send a frame that is answered (ack/resumed/pong); rejects on error or disconnect. */
  request(frame) {
    if (!this.ws || this.state !== "online") return Promise.reject(new Disconnected("offline"));
    const id = String(++this.counter);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ ...frame, id }));
    });
  }

  /** Send a fire-and-forget frame (typing); dropped while offline. */
  fire(frame) {
    if (this.ws && this.state === "online") this.ws.send(JSON.stringify(frame));
  }
}
