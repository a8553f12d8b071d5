// The agent's WebSocket (/ws, protocol v1): commands with acks, server events, and reconnects
// with backoff. After every reconnect it says hello again, restores the chosen presence and
// re-subscribes each open conversation from the last seq its view has shown, so the server
// replays exactly what was missed (docs/protocol.md, "Resume").

export class AgentSocket extends EventTarget {
  constructor(token) {
    super();
    this.token = token;
    this.ws = null;
    this.ready = false;
    this.nextId = 0;
    this.waiters = new Map();
    this.attempt = 0;
    this.retry = 0;
    this.stopped = false;
    this.presence = 'online';
    this.agentId = null;
    /** conversation id -> () => last seq shown; re-subscribed after every welcome. */
    this.subscriptions = new Map();
    this.onOffline = () => this.ws && this.lost();
    this.onOnline = () => { this.attempt = 0; if (!this.ws) this.lost(true); };
    window.addEventListener('offline', this.onOffline);
    window.addEventListener('online', this.onOnline);
    // Application-level keepalive: an unanswered ping means the socket is dead.
    this.keepalive = setInterval(() => {
      if (!this.ready) return;
      const ws = this.ws;
      const timer = setTimeout(() => this.ws === ws && this.lost(), 10000);
      this.command('ping').then(() => clearTimeout(timer), () => {});
    }, 25000);
  }

  start() { this.connect(); }

  stop() {
    this.stopped = true;
    clearInterval(this.keepalive);
    clearTimeout(this.retry);
    window.removeEventListener('offline', this.onOffline);
    window.removeEventListener('online', this.onOnline);
    if (this.ws) { this.ws.onclose = null; this.ws.close(); }
    this.ws = null;
    this.ready = false;
  }

  connect() {
    clearTimeout(this.retry);
    if (this.ws || this.stopped) return;
    const url = location.origin.replace(/^http/, 'ws') + '/ws';
    const ws = new WebSocket(url);
    this.ws = ws;
    this.setState('connecting');
    ws.onopen = () => this.hello(ws);
    ws.onmessage = (e) => { if (this.ws === ws) this.onFrame(JSON.parse(e.data)); };
    ws.onclose = () => { if (this.ws === ws) this.lost(); };
  }

  /** Drop the socket now and reconnect after a backoff (at once when `now`). */
  lost(now = false) {
    const ws = this.ws;
    this.ws = null;
    this.ready = false;
    if (ws) { ws.onclose = null; try { ws.close(); } catch { /* already closed */ } }
    for (const w of this.waiters.values()) w.reject(Object.assign(new Error('offline'), { code: 'offline' }));
    this.waiters.clear();
    if (this.stopped) return;
    this.setState('offline');
    const delay = now ? 0 : Math.min(15000, 500 * 2 ** this.attempt++) * (0.5 + Math.random() / 2);
    this.retry = setTimeout(() => this.connect(), delay);
  }

  setState(state) {
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: state }));
  }

  async hello(ws) {
    let welcome;
    try {
      welcome = await this.command('hello', { v: 1, role: 'agent', token: this.token }, ws);
    } catch (e) {
      if (e.code === 'unauthorized') { this.stop(); this.dispatchEvent(new Event('unauthorized')); return; }
      if (e.code === 'forbidden') { this.stop(); this.dispatchEvent(new Event('deactivated')); return; }
      if (e.code !== 'offline') this.lost();
      return;
    }
    this.ready = true;
    this.attempt = 0;
    this.agentId = welcome.agent_id;
    await this.command('presence', { status: this.presence }).catch(() => {});
    for (const [cid, lastSeq] of this.subscriptions) {
      this.command('subscribe', { conversation_id: cid, after_seq: lastSeq() }).catch(() => {});
    }
    this.setState('online');
    this.dispatchEvent(new CustomEvent('welcome', { detail: welcome }));
  }

  /** Send a command; resolves with its ack result (or the welcome), rejects with `.code`. */
  command(type, fields = {}, ws = this.ws) {
    return new Promise((resolve, reject) => {
      if (!ws || ws.readyState !== WebSocket.OPEN || (!this.ready && type !== 'hello')) {
        reject(Object.assign(new Error('Not connected'), { code: 'offline' }));
        return;
      }
      const id = String(++this.nextId);
      this.waiters.set(id, { resolve, reject });
      ws.send(JSON.stringify({ type, id, ...fields }));
    });
  }

  async subscribe(cid, lastSeq) {
    this.subscriptions.set(cid, lastSeq);
    if (this.ready) return this.command('subscribe', { conversation_id: cid, after_seq: lastSeq() });
    return null; // the next welcome subscribes
  }

  unsubscribe(cid) {
    this.subscriptions.delete(cid);
    if (this.ready) this.command('unsubscribe', { conversation_id: cid }).catch(() => {});
  }

  async setPresence(status) {
    this.presence = status;
    if (this.ready) await this.command('presence', { status });
  }

  onFrame(f) {
    if (f.id && (f.type === 'ack' || f.type === 'welcome' || f.type === 'error')) {
      const w = this.waiters.get(f.id);
      if (!w) return;
      this.waiters.delete(f.id);
      if (f.type === 'error') w.reject(Object.assign(new Error(f.message), { code: f.code }));
      else w.resolve(f.type === 'ack' ? f.result || {} : f);
      return;
    }
    // Events: 'message', 'typing', 'read', 'conversation', 'inbox', 'inbox_batch', 'assigned', 'presence', 'goodbye'.
    // A goodbye `forbidden` means this account was deactivated: no reconnecting.
    if (f.type === 'goodbye' && f.code === 'forbidden') { this.stop(); this.dispatchEvent(new Event('deactivated')); return; }
    this.dispatchEvent(new CustomEvent(f.type, { detail: f }));
  }
}
