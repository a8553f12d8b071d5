// One conversation: the thread, the reply box (with emoji), typing both ways, read state of the
// agent's messages, the actions (take, transfer, snooze, wake, close), the tags, and the
// visitor's profile with their device, browser, location, referrer, the page they are on and
// the pages they viewed. Assignment changes are system messages, shown as centred notes.
//
// Messages arrive only through the socket: `subscribe` replays everything after the last seq
// shown, then live events follow. A reply is shown at once as pending, sent with a client id,
// and replaced by the stored message when the server echoes it; replies typed while offline
// wait in the outbox and go out after the next welcome, in order, once.

import { api } from './api.js';
import { h, $, fmtTime, visitorLabel, richText } from './dom.js';
import { Assist } from './assist.js';

const EMOJI = ['😊', '😀', '😂', '🙂', '😉', '😍', '🤔', '😅', '😢', '🙏', '👍', '👎', '👏', '🎉', '❤️', '🔥', '✅', '❌', '☕', '📦', '💳', '🚚', '⏰', '👋'];

export class Thread {
  constructor({ socket, me, agents, inbox }) {
    this.socket = socket;
    this.me = me;
    this.agents = agents;
    this.inbox = inbox;
    this.id = null;
    this.conversation = null;
    this.lastSeq = 0;
    this.firstSeq = 0;
    this.visitorRead = 0;
    this.readSent = 0;
    this.outbox = []; // { cid, convId, body, el, sent }
    this.flushing = false;
    this.typingSent = 0;
    this.el = {
      empty: $('#thread-empty'), view: $('#thread-view'), title: $('#thread-title'), status: $('#thread-status'),
      messages: $('#messages'), pending: $('#pending'), typing: $('#typing'), earlier: $('#load-earlier'),
      form: $('#composer'), reply: $('#reply'), closedNote: $('#closed-note'),
      emojiBtn: $('#emoji-btn'), emojiPanel: $('#emoji-panel'),
      take: $('#act-take'), transferTo: $('#transfer-to'), transfer: $('#act-transfer'), transferMenu: $('#transfer-menu'),
      snoozeUntil: $('#snooze-until'), snooze: $('#act-snooze'), snoozeMenu: $('#snooze-menu'), wake: $('#act-wake'), close: $('#act-close'),
      info: $('#visitor-info'), events: $('#visitor-events'), profileBody: $('#profile-body'), profileEmpty: $('#profile-empty'),
      tags: $('#tag-list'), tagForm: $('#tag-form'), tagInput: $('#tag-input'),
    };
    this.el.tagForm.addEventListener('submit', (e) => {
      e.preventDefault();
      const tag = this.el.tagInput.value.trim().toLowerCase();
      if (tag) this.setTags([...(this.conversation.tags || []), tag]).then(() => { this.el.tagInput.value = ''; });
    });
    this.bindComposer();
    this.bindActions();
    this.assist = new Assist(this); // bot owner and drafts, notes, canned replies, attachments, rating
    socket.addEventListener('message', (e) => this.onMessage(e.detail));
    socket.addEventListener('typing', (e) => this.onTyping(e.detail));
    socket.addEventListener('read', (e) => this.onRead(e.detail));
    socket.addEventListener('conversation', (e) => this.onConversation(e.detail.conversation));
    socket.addEventListener('welcome', () => this.flush());
    document.addEventListener('visibilitychange', () => this.markRead());
  }

  // ---- opening a conversation ----------------------------------------------------------------
  async open(id) {
    if (this.id && this.id !== id) this.socket.unsubscribe(this.id);
    this.id = id;
    this.lastSeq = 0;
    this.firstSeq = 0;
    this.readSent = 0;
    this.el.messages.replaceChildren();
    this.el.typing.hidden = true;
    this.el.empty.hidden = true;
    this.el.view.hidden = false;
    this.el.profileBody.hidden = true;
    this.el.profileEmpty.hidden = false;
    this.renderPending();
    const r = await api('GET', `/conversations/${id}?limit=1`);
    if (this.id !== id) return;
    this.conversation = r.conversation;
    this.visitor = r.visitor;
    this.visitorRead = r.conversation.visitor_read_seq || 0;
    this.readSent = r.conversation.agent_read_seq || 0;
    this.renderHead();
    this.assist.opened(r.conversation);
    this.loadProfile();
    const ack = await this.socket.subscribe(id, () => (this.id === id ? this.lastSeq : 0)).catch(() => null);
    if (ack && this.id === id) this.el.earlier.hidden = !ack.truncated;
    this.markRead();
    this.el.reply.focus();
  }

  renderHead() {
    const c = this.conversation;
    const mine = c.assignee === this.me.id;
    const who = c.assignee ? (mine ? 'you' : (this.agents.get(c.assignee) || {}).name || 'another agent') : 'nobody yet';
    this.el.title.textContent = visitorLabel(this.visitor, c.visitor_id);
    let status = `${c.status[0].toUpperCase()}${c.status.slice(1)} · assigned to ${who}`;
    if (c.status === 'snoozed' && c.snoozed_until) status += ` · until ${fmtTime(c.snoozed_until)}`;
    this.el.status.textContent = status;
    const closed = c.status === 'closed';
    this.el.take.hidden = closed || mine;
    this.el.wake.hidden = c.status !== 'snoozed';
    this.el.snoozeMenu.hidden = c.status !== 'open';
    this.el.close.hidden = closed;
    this.el.transferMenu.hidden = closed;
    this.el.form.hidden = closed;
    this.el.closedNote.hidden = !closed;
    this.renderTags();
    this.el.transferTo.replaceChildren(...[...this.agents.values()].filter((a) => a.id !== c.assignee && a.active !== false)
      .map((a) => h('option', { value: a.id, textContent: `${a.name} (${a.presence || 'offline'})` })));
    if (!this.el.snoozeUntil.value) {
      const d = new Date(Date.now() + 3600e3 - new Date().getTimezoneOffset() * 60e3);
      this.el.snoozeUntil.value = d.toISOString().slice(0, 16);
    }
  }

  renderTags() {
    const tags = this.conversation.tags || [];
    this.el.tags.replaceChildren(...tags.map((tag) => h('li', { className: 'tag' }, tag,
      h('button', { type: 'button', className: 'untag', 'aria-label': `Remove tag ${tag}`, textContent: '×',
        onclick: () => this.setTags(tags.filter((x) => x !== tag)) }))));
  }

  async setTags(tags) {
    try {
      const r = await this.socket.command('tags', { conversation_id: this.id, tags });
      this.conversation = r.conversation;
      this.inbox.upsert(r.conversation);
      this.renderTags();
    } catch (e) {
      window.dispatchEvent(new CustomEvent('switchboard:error', { detail: e }));
    }
  }

  async loadProfile() {
    const id = this.id;
    const r = await api('GET', `/visitors/${this.conversation.visitor_id}`).catch(() => null);
    if (!r || this.id !== id) return;
    const v = r.visitor;
    const events = r.events || [];
    const page = (ev) => h('a', { href: /^https?:/.test(ev.url) ? ev.url : '#', target: '_blank', rel: 'noopener noreferrer', textContent: ev.title || ev.url });
    const d = v.client || {};
    const referrer = d.referrer ? h('a', { href: d.referrer, target: '_blank', rel: 'noopener noreferrer', textContent: d.referrer }) : '—';
    const rows = [
      ['Name', visitorLabel(v)], ['Email', v.email || '—'],
      ['Identity', v.user_id ? `verified (${v.user_id})` : 'anonymous'],
      ['Current page', events.length ? page(events[0]) : '—'],
      ['Device', [d.device, d.os].filter(Boolean).join(' · ') || '—'],
      ['Browser', d.browser || '—'],
      ['Location', [d.location, d.timezone && d.timezone !== d.location ? d.timezone : ''].filter(Boolean).join(' · ') || '—'],
      ['Language', d.language || '—'],
      ['Referrer', referrer],
      ['First seen', fmtTime(v.created_at)], ['Last seen', fmtTime(v.last_seen_at)],
      ['Conversations', String((r.conversations || []).length)],
      ['Visitor id', h('code', { textContent: v.id })], // for data requests (console/audit)
    ];
    this.el.info.replaceChildren(...rows.flatMap(([k, val]) => [h('dt', { textContent: k }), h('dd', {}, val)]));
    this.el.events.replaceChildren(...events.slice(0, 30).map((ev) => h('li', {}, page(ev),
      h('span', { className: 'when', textContent: fmtTime(ev.at) }))));
    if (!events.length) this.el.events.replaceChildren(h('li', { className: 'muted', textContent: 'No page views yet.' }));
    this.el.profileEmpty.hidden = true;
    this.el.profileBody.hidden = false;
  }

  // ---- events --------------------------------------------------------------------------------
  onMessage(m) {
    if (m.conversation_id !== this.id || m.seq <= this.lastSeq) return; // another thread, or already shown
    this.lastSeq = m.seq;
    if (!this.firstSeq) this.firstSeq = m.seq;
    const pending = this.el.pending.querySelector(`[data-cid="${CSS.escape(m.client_msg_id || '')}"]`);
    if (pending) pending.remove();
    this.el.messages.append(this.bubble(m));
    if (m.author.kind === 'visitor') this.el.typing.hidden = true;
    this.scrollDown();
    this.markRead();
  }

  bubble(m) {
    const kind = m.author.kind;
    if (m.author.event) {
      // A note of the conversation itself, not a message anyone wrote.
      const li = h('li', { className: 'system' }, h('p', { textContent: m.body }));
      li.dataset.seq = m.seq;
      return li;
    }
    const mine = kind === 'agent' && m.author.id === this.me.id;
    const name = kind === 'visitor' ? visitorLabel(this.visitor, this.conversation && this.conversation.visitor_id)
      : kind === 'bot' ? 'Automatic reply' : mine ? 'You' : m.author.name;
    const li = h('li', { className: `msg ${kind}${mine ? ' mine' : ''}` },
      h('div', { className: 'who', textContent: name }),
      h('p', { className: 'body' }, richText(m.body)),
      h('div', { className: 'meta' }, h('time', { textContent: fmtTime(m.at) }),
        kind === 'agent' ? h('span', { className: 'receipt', textContent: m.seq <= this.visitorRead ? ' · Read' : ' · Sent' }) : null));
    li.dataset.seq = m.seq;
    this.assist.decorate(li, m);
    return li;
  }

  onTyping(f) {
    if (f.conversation_id !== this.id || f.who !== 'visitor') return;
    this.el.typing.hidden = !f.typing;
    clearTimeout(this.typingHide);
    if (f.typing) this.typingHide = setTimeout(() => { this.el.typing.hidden = true; }, 8000);
  }

  onRead(f) {
    if (f.conversation_id !== this.id || f.who !== 'visitor') return;
    this.visitorRead = Math.max(this.visitorRead, f.seq);
    for (const li of this.el.messages.querySelectorAll('.msg.agent')) {
      if (+li.dataset.seq <= this.visitorRead) li.querySelector('.receipt').textContent = ' · Read';
    }
  }

  onConversation(c) {
    if (c.id !== this.id) return;
    this.conversation = c;
    this.renderHead();
  }

  markRead() {
    if (!this.id || document.visibilityState !== 'visible' || this.lastSeq <= this.readSent) return;
    this.readSent = this.lastSeq;
    this.inbox.markRead(this.id);
    this.socket.command('read', { conversation_id: this.id, seq: this.lastSeq }).catch(() => { this.readSent = 0; });
  }

  scrollDown() {
    const box = this.el.messages.closest('.scroll');
    box.scrollTop = box.scrollHeight;
  }

  async loadEarlier() {
    const r = await this.socket.command('history', { conversation_id: this.id, before_seq: this.firstSeq, limit: 100 });
    this.el.messages.prepend(...r.messages.map((m) => this.bubble(m)));
    if (r.messages.length) this.firstSeq = r.messages[0].seq;
    this.el.earlier.hidden = !r.has_more;
  }

  // ---- replying ------------------------------------------------------------------------------
  bindComposer() {
    const { form, reply, emojiBtn, emojiPanel } = this.el;
    form.addEventListener('submit', (e) => { e.preventDefault(); this.submit(); });
    reply.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); this.submit(); }
    });
    reply.addEventListener('input', () => this.typing());
    emojiPanel.append(...EMOJI.map((ch) => h('button', {
      type: 'button', className: 'emoji', textContent: ch, 'aria-label': `Insert ${ch}`,
      onclick: () => { this.insert(ch); this.toggleEmoji(false); },
    })));
    emojiBtn.addEventListener('click', () => this.toggleEmoji(emojiPanel.hidden));
    emojiPanel.addEventListener('keydown', (e) => { if (e.key === 'Escape') this.toggleEmoji(false); });
    this.el.earlier.addEventListener('click', () => this.loadEarlier());
  }

  toggleEmoji(on) {
    this.el.emojiPanel.hidden = !on;
    this.el.emojiBtn.setAttribute('aria-expanded', String(on));
    if (on) this.el.emojiPanel.querySelector('button').focus();
    else this.el.reply.focus();
  }

  insert(text) {
    const r = this.el.reply;
    const at = r.selectionStart ?? r.value.length;
    r.value = r.value.slice(0, at) + text + r.value.slice(r.selectionEnd ?? at);
    r.selectionStart = r.selectionEnd = at + text.length;
  }

  submit() {
    const body = this.el.reply.value.trim();
    if (!body || !this.id) return;
    this.el.reply.value = '';
    this.stopTyping();
    const cid = 'a-' + Date.now().toString(36) + Math.random().toString(36).slice(2, 10);
    const note = this.assist.takePrivate();
    const el = h('li', { className: `msg agent mine pending${note ? ' private' : ''}` },
      h('div', { className: 'who', textContent: 'You' }), h('p', { className: 'body', textContent: body }),
      h('div', { className: 'meta', textContent: 'Sending…' }));
    el.dataset.cid = cid;
    this.outbox.push({ cid, convId: this.id, body, el, sent: false, note });
    this.renderPending();
    this.scrollDown();
    this.flush();
  }

  renderPending() {
    this.el.pending.replaceChildren(...this.outbox.filter((p) => p.convId === this.id).map((p) => p.el));
  }

  async flush() {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.socket.ready && this.outbox.length) {
        const p = this.outbox[0];
        let ack;
        try {
          ack = await this.socket.command('send', { conversation_id: p.convId, client_msg_id: p.cid, body: p.body, private: p.note || undefined });
        } catch (e) {
          if (e.code === 'offline') return; // kept; the next welcome flushes again
          p.el.querySelector('.meta').textContent = `Not sent: ${e.message}`;
          p.el.classList.add('failed');
          this.outbox.shift();
          continue;
        }
        this.outbox.shift();
        // The server echoes the message to this socket; if it came already, drop the placeholder.
        if (p.convId !== this.id || ack.seq <= this.lastSeq) p.el.remove();
      }
    } finally {
      this.flushing = false;
    }
  }

  typing() {
    if (!this.id || !this.socket.ready) return;
    const now = Date.now();
    if (now - this.typingSent > 3000) {
      this.typingSent = now;
      this.socket.command('typing', { conversation_id: this.id, typing: true }).catch(() => {});
    }
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => this.stopTyping(), 4000);
  }

  stopTyping() {
    clearTimeout(this.typingTimer);
    if (!this.typingSent) return;
    this.typingSent = 0;
    this.socket.command('typing', { conversation_id: this.id, typing: false }).catch(() => {});
  }

  // ---- actions -------------------------------------------------------------------------------
  bindActions() {
    const act = (btn, fn) => btn.addEventListener('click', async () => {
      btn.disabled = true;
      try {
        const r = await fn();
        this.conversation = r.conversation;
        this.inbox.upsert(r.conversation);
        this.renderHead();
        for (const menu of [this.el.transferMenu, this.el.snoozeMenu]) menu.open = false;
      } catch (e) {
        window.dispatchEvent(new CustomEvent('switchboard:error', { detail: e }));
      } finally {
        btn.disabled = false;
        this.renderHead();
      }
    });
    const conv = () => ({ conversation_id: this.id });
    act(this.el.take, () => this.socket.command('take', conv()));
    act(this.el.transfer, () => this.socket.command('transfer', { ...conv(), agent_id: this.el.transferTo.value }));
    act(this.el.snooze, () => {
      const until = new Date(this.el.snoozeUntil.value).getTime();
      if (!(until > Date.now())) return Promise.reject(new Error('Pick a time in the future to snooze until.'));
      return this.socket.command('snooze', { ...conv(), until });
    });
    act(this.el.wake, () => this.socket.command('wake', conv()));
    act(this.el.close, () => this.socket.command('close', conv()));
  }
}
