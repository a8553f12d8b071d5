// The inbox: the waiting queue and the open / snoozed / closed tabs, with unread badges, and a
// search box that asks the server (visitor name, email, message text; `#tag` for a tag). It loads lists over HTTP and then follows `inbox` events from the socket, so it
// stays live without polling. Selecting a row calls `onSelect(conversationId)`; a visitor's new
// message calls `onNew(conversation, {visitor, preview})` once per message.

import { api } from './api.js';
import { h, fmtTime, visitorLabel } from './dom.js';

export class Inbox {
  constructor({ root, socket, me, agents, onSelect, onNew }) {
    this.root = root;
    this.socket = socket;
    this.me = me;
    this.agents = agents; // Map id -> agent
    this.onSelect = onSelect;
    this.onNew = onNew;
    this.convs = new Map(); // id -> { conversation, unread }
    this.details = new Map(); // id -> { visitor, preview, seq } loaded lazily per row
    this.loading = new Map(); // id -> the details request in flight
    this.announced = new Map(); // id -> seq of the last visitor message passed to onNew
    this.query = '';
    this.tab = 'open';
    this.selected = null;
    this.queueList = root.querySelector('#queue-list');
    this.list = root.querySelector('#conv-list');
    this.tabs = [...root.querySelectorAll('[role=tab]')];
    this.results = null; // ids the server found for the query, once it answered
    // Search asks the server over all history (debounced): GET /conversations?q= or ?tag=.
    root.querySelector('#search').addEventListener('input', (e) => {
      this.query = e.target.value.trim();
      this.results = null;
      clearTimeout(this.searchTimer);
      if (this.query) this.searchTimer = setTimeout(() => this.search(this.query), 250);
      this.render();
    });
    for (const tab of this.tabs) {
      tab.addEventListener('click', () => this.setTab(tab.dataset.status));
      tab.addEventListener('keydown', (e) => this.tabKeys(e));
    }
    socket.addEventListener('inbox', (e) => this.onInbox(e.detail));
    // Site-wide changes arrive gathered (up to 250 ms): apply them all, render once.
    socket.addEventListener('inbox_batch', (e) => {
      for (const item of e.detail.items) this.onInbox(item, false);
      this.render();
    });
    socket.addEventListener('conversation', (e) => this.upsert(e.detail.conversation));
    socket.addEventListener('welcome', () => this.reload()); // after a reconnect, catch up
  }

  async reload() {
    const [lists, queue] = await Promise.all([
      Promise.all(['open', 'snoozed', 'closed'].map((s) => api('GET', `/conversations?status=${s}&limit=50`))),
      api('GET', '/queue'),
    ]);
    this.convs.clear();
    for (const { conversations } of lists) for (const c of conversations) this.convs.set(c.id, { conversation: c, unread: c.unread || 0 });
    for (const c of queue.waiting) if (!this.convs.has(c.id)) this.convs.set(c.id, { conversation: c, unread: c.unread || 0 });
    this.render();
  }

  onInbox({ conversation, unread }, render = true) {
    const known = this.convs.get(conversation.id);
    const grew = !known || unread > known.unread;
    this.convs.set(conversation.id, { conversation, unread: conversation.id === this.selected ? 0 : unread });
    this.details.delete(conversation.id); // the preview changed
    this.loading.delete(conversation.id);
    if (render) this.render();
    if (grew && unread > 0 && this.onNew) this.announce(conversation);
  }

  /** Tell onNew about the visitor's newest message, once: automatic replies also raise the
   *  unread count, but they are nothing new to announce. */
  async announce(conversation) {
    const d = await this.loadDetails(conversation.id);
    if (!d || !d.seq || this.announced.get(conversation.id) >= d.seq) return;
    this.announced.set(conversation.id, d.seq);
    this.onNew(conversation, d);
  }

  upsert(conversation) {
    const known = this.convs.get(conversation.id);
    this.convs.set(conversation.id, { conversation, unread: known ? known.unread : 0 });
    this.render();
  }

  markRead(id) {
    const row = this.convs.get(id);
    if (row && row.unread) { row.unread = 0; this.render(); }
  }

  select(id) {
    this.selected = id;
    this.markRead(id);
    this.render();
    this.onSelect(id);
  }

  setTab(status) {
    this.tab = status;
    for (const t of this.tabs) {
      const on = t.dataset.status === status;
      t.setAttribute('aria-selected', String(on));
      t.tabIndex = on ? 0 : -1;
    }
    this.render();
  }

  tabKeys(e) {
    const i = this.tabs.indexOf(e.target);
    const next = e.key === 'ArrowRight' ? i + 1 : e.key === 'ArrowLeft' ? i - 1 : null;
    if (next === null) return;
    const tab = this.tabs[(next + this.tabs.length) % this.tabs.length];
    tab.focus();
    this.setTab(tab.dataset.status);
  }

  /** Waiting = open with nobody assigned; it is listed in the queue, not in the open tab. */
  render() {
    const rows = [...this.convs.values()].sort((a, b) => b.conversation.last_activity_at - a.conversation.last_activity_at);
    const isWaiting = (r) => r.conversation.status === 'open' && !r.conversation.assignee;
    const waiting = rows.filter((r) => isWaiting(r) && this.matches(r))
      .sort((a, b) => a.conversation.created_at - b.conversation.created_at);
    // A search looks through every tab at once.
    const inTab = rows.filter((r) => !isWaiting(r) && (this.query ? this.matches(r) : r.conversation.status === this.tab));
    this.queueList.replaceChildren(...waiting.map((r) => this.row(r, true)));
    this.root.querySelector('#queue-empty').hidden = waiting.length > 0;
    this.root.querySelector('#queue-count').textContent = waiting.length;
    this.list.replaceChildren(...inTab.map((r) => this.row(r, false)));
    const empty = this.root.querySelector('#list-empty');
    empty.hidden = inTab.length > 0;
    empty.textContent = this.query ? (this.results ? 'No conversation matches.' : 'Searching…') : 'No conversations here.';
    for (const t of this.tabs) {
      const n = rows.filter((r) => r.conversation.status === t.dataset.status && r.unread > 0 && (t.dataset.status !== 'open' || r.conversation.assignee)).length;
      t.querySelector('.count').textContent = n ? String(n) : '';
    }
  }

  async search(q) {
    const tag = q.startsWith('#') ? q.slice(1).toLowerCase() : null;
    const what = tag ? `tag=${encodeURIComponent(tag)}` : `q=${encodeURIComponent(q)}`;
    const r = await api('GET', `/conversations?${what}&status=any&limit=50`).catch(() => null);
    if (!r || this.query !== q) return; // a newer query is on its way
    for (const c of r.conversations) if (!this.convs.has(c.id)) this.convs.set(c.id, { conversation: c, unread: c.unread || 0 });
    this.results = new Set(r.conversations.map((c) => c.id));
    this.render();
  }

  matches({ conversation: c }) {
    if (!this.query) return true;
    return Boolean(this.results && this.results.has(c.id));
  }

  row({ conversation: c, unread }, waiting) {
    const d = this.details.get(c.id);
    if (!d) this.loadDetails(c.id);
    const assignee = c.assignee ? (c.assignee === this.me.id ? 'You' : (this.agents.get(c.assignee) || {}).name || 'Agent') : 'Waiting';
    const open = h('button', {
      type: 'button', className: 'conv-row' + (c.id === this.selected ? ' selected' : '') + (unread ? ' unread' : ''),
      'aria-current': c.id === this.selected ? 'true' : undefined,
      onclick: () => this.select(c.id),
    },
    h('span', { className: 'who', textContent: visitorLabel(d && d.visitor, c.visitor_id) }),
    h('span', { className: 'when', textContent: fmtTime(c.last_activity_at) }),
    h('span', { className: 'preview', textContent: d ? d.preview : '…' }),
    h('span', { className: 'assignee', textContent: waiting ? 'Waiting' : this.query ? `${assignee} · ${c.status}` : assignee }),
    unread ? h('span', { className: 'unread-badge', 'aria-label': `${unread} unread`, textContent: String(unread) }) : null);
    const li = h('li', {}, open);
    li.dataset.conversationId = c.id;
    if (waiting) {
      li.append(h('button', { type: 'button', className: 'take small', textContent: 'Take', onclick: () => this.take(c.id) }));
    }
    return li;
  }

  async take(id) {
    try {
      const r = await this.socket.command('take', { conversation_id: id });
      this.upsert(r.conversation);
      this.select(id);
    } catch (e) {
      window.dispatchEvent(new CustomEvent('switchboard:error', { detail: e }));
    }
  }

  /** The row's visitor and latest visitor message; one request per change of the conversation
   *  (a change while a request is in flight starts a fresh one, and the stale answer is dropped). */
  loadDetails(id) {
    if (this.details.has(id)) return Promise.resolve(this.details.get(id));
    if (this.loading.has(id)) return this.loading.get(id);
    const request = (async () => {
      let d;
      try {
        // The preview is what the visitor said last, not the automatic reply that follows it.
        const r = await api('GET', `/conversations/${id}?limit=10`);
        const fromVisitor = r.messages.filter((m) => m.author.kind === 'visitor');
        const last = fromVisitor[fromVisitor.length - 1];
        const shown = last || r.messages[r.messages.length - 1];
        d = { visitor: r.visitor, preview: shown ? shown.body : '', seq: last ? last.seq : 0 };
      } catch {
        d = { visitor: null, preview: '', seq: 0 };
      }
      if (this.loading.get(id) !== request) return this.loadDetails(id);
      this.loading.delete(id);
      this.details.set(id, d);
      this.render();
      return d;
    })();
    this.loading.set(id, request);
    return request;
  }
}
