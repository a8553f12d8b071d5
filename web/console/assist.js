// Bots and agent tools in the conversation view (issue 11), next to thread.js: who answers (the
// bot, the queue or an agent) and why the bot handed off; the bot's sources and a model's answer
// while it is being written (drafts); private notes (a toggle in the composer, shown apart and
// never sent to the visitor); canned replies (type "/" and a shortcut); attachments (send, and
// previews fetched with the agent's token: they are served to participants only); the visitor's
// rating of a closed conversation. Protocol: docs/protocol.md.

import { api, session } from './api.js';
import { h, $ } from './dom.js';

export const HANDOFF_REASONS = {
  asked: 'the visitor asked for a person',
  low_confidence: 'the help centre has no good answer',
  repeated_dont_know: 'the bot could not help, twice in a row',
  llm_handoff: 'the language model chose to hand off',
  llm_error: 'the language model failed or timed out',
  too_many_turns: 'the bot had answered too many times',
};

const reasonText = (r) => HANDOFF_REASONS[r] || r;

/** An attachment's bytes as a blob: URL (the API wants the bearer token). */
export async function attachmentUrl(blobId) {
  const s = session.get();
  const res = await fetch('/api/v1/attachments/' + blobId, { headers: { authorization: 'Bearer ' + (s && s.token) } });
  if (!res.ok) throw new Error('attachment ' + res.status);
  return URL.createObjectURL(await res.blob());
}

export function attachmentView(a) {
  const box = h('div', { className: 'attachment' });
  if (/^image\//.test(a.content_type)) {
    const img = h('img', { alt: a.filename });
    attachmentUrl(a.blob_id).then((u) => { img.src = u; }, () => {});
    box.append(img);
  } else {
    const link = h('a', { href: '#', download: a.filename, textContent: `📄 ${a.filename} (${Math.ceil(a.size / 1024)} KB)` });
    attachmentUrl(a.blob_id).then((u) => { link.href = u; }, () => {});
    box.append(link);
  }
  return box;
}

export class Assist {
  constructor(thread) {
    this.thread = thread;
    this.socket = thread.socket;
    this.canned = null; // loaded on the first "/"
    this.matches = [];
    this.active = -1;
    this.drafts = new Map(); // draft id -> <li>
    this.build();
    this.socket.addEventListener('owner', (e) => this.onOwner(e.detail));
    this.socket.addEventListener('draft', (e) => this.onDraft(e.detail));
    this.socket.addEventListener('draft_end', (e) => this.dropDraft(e.detail.draft_id));
    this.socket.addEventListener('csat', (e) => this.onCsat(e.detail.csat));
  }

  build() {
    this.ownerLine = h('p', { id: 'thread-owner', className: 'muted owner', role: 'status' });
    this.csatLine = h('p', { id: 'thread-csat', className: 'csat', hidden: true });
    $('#thread-status').after(this.ownerLine, this.csatLine);
    const form = $('#composer');
    const reply = $('#reply');
    this.noteBox = h('input', { id: 'note-toggle', type: 'checkbox', onchange: () => this.notePlaceholder() });
    this.file = h('input', { id: 'attach-file', type: 'file', hidden: true, onchange: () => this.upload() });
    this.list = h('ul', { id: 'canned-list', className: 'canned', role: 'listbox', 'aria-label': 'Canned replies', hidden: true });
    form.prepend(this.list);
    form.append(h('div', { className: 'composer-tools' },
      h('label', { className: 'note-toggle', for: 'note-toggle' }, this.noteBox, ' Private note'),
      h('button', { id: 'attach-btn', type: 'button', className: 'small', textContent: '📎 Attach', onclick: () => this.file.click() }),
      this.file));
    reply.setAttribute('aria-controls', 'canned-list');
    reply.addEventListener('input', () => this.suggest());
    // Before thread.js sees Enter (capture on the form): with suggestions open, Enter picks one.
    form.addEventListener('keydown', (e) => this.onKey(e), true);
  }

  // ---- a conversation opens ----------------------------------------------------------------
  opened(conversation) {
    this.ownerLine.textContent = '';
    this.csatLine.hidden = true;
    for (const id of [...this.drafts.keys()]) this.dropDraft(id);
    if (conversation.status === 'closed') {
      api('GET', `/conversations/${conversation.id}/csat`).then((r) => r.csat && this.onCsat(r.csat), () => {});
    }
  }

  onOwner(f) {
    if (f.conversation_id !== this.thread.id) return;
    const o = f.owner;
    const who = o.kind === 'bot' ? 'The bot is answering'
      : o.kind === 'queue' ? 'Waiting for an agent'
        : o.id === this.thread.me.id ? 'You are answering' : `${(this.thread.agents.get(o.id) || {}).name || 'An agent'} is answering`;
    this.ownerLine.textContent = who + (f.handoff_reason ? ` · handed off: ${reasonText(f.handoff_reason)}` : '');
  }

  onCsat(c) {
    if (c.conversation_id !== this.thread.id) return;
    this.csatLine.hidden = false;
    this.csatLine.textContent = `Visitor's rating: ${'★'.repeat(c.rating)}${'☆'.repeat(5 - c.rating)} (${c.rating}/5)${c.comment ? ` · “${c.comment}”` : ''}`;
  }

  // ---- messages ------------------------------------------------------------------------------
  /** Called by Thread.bubble for every message it shows. */
  decorate(li, m) {
    const who = li.querySelector('.who');
    if (m.private) {
      li.classList.add('private');
      who.textContent += ' · private note';
      // The visitor never sees a note: "Read" would say otherwise.
      const receipt = li.querySelector('.receipt');
      if (receipt) receipt.hidden = true;
    }
    if (m.author.kind === 'bot' && (m.citations || m.actions || m.handoff)) who.textContent = 'Bot';
    if (m.handoff) li.append(h('p', { className: 'handoff', textContent: `Handed off: ${reasonText(m.handoff)}` }));
    if (m.citations) {
      li.append(h('p', { className: 'sources' }, 'Sources: ',
        ...m.citations.flatMap((c, i) => [i ? ', ' : '', h('a', { href: c.url, target: '_blank', rel: 'noopener noreferrer', textContent: c.title })])));
    }
    for (const a of m.attachments || []) li.append(attachmentView(a));
    if (m.author.kind === 'bot') {
      for (const [id, el] of this.drafts) if (el.dataset.conversation === m.conversation_id) this.dropDraft(id);
    }
  }

  onDraft(f) {
    if (f.conversation_id !== this.thread.id) return;
    let li = this.drafts.get(f.draft_id);
    if (!li) {
      li = h('li', { className: 'msg bot draft', 'aria-busy': 'true' },
        h('div', { className: 'who', textContent: 'Bot (writing…)' }), h('p', { className: 'body' }));
      li.dataset.conversation = f.conversation_id;
      this.drafts.set(f.draft_id, li);
      this.thread.el.messages.append(li);
    }
    li.querySelector('.body').textContent = f.text;
    this.thread.scrollDown();
  }

  dropDraft(id) {
    const li = this.drafts.get(id);
    if (li) li.remove();
    this.drafts.delete(id);
  }

  // ---- the composer --------------------------------------------------------------------------
  /** The private-note toggle for the message being sent (then it turns off again). */
  takePrivate() {
    const on = this.noteBox.checked;
    this.noteBox.checked = false;
    this.notePlaceholder();
    return on;
  }

  notePlaceholder() {
    $('#composer').classList.toggle('noting', this.noteBox.checked);
  }

  async suggest() {
    const reply = $('#reply');
    const m = /^\/([\w-]*)$/.exec(reply.value);
    if (!m) return this.closeList();
    if (!this.canned) this.canned = (await api('GET', '/canned-replies').catch(() => ({ canned_replies: [] }))).canned_replies;
    const q = m[1].toLowerCase();
    this.matches = this.canned.filter((c) => c.shortcut.startsWith(q)).slice(0, 8);
    this.active = this.matches.length ? 0 : -1;
    this.renderList();
  }

  renderList() {
    this.list.hidden = !this.matches.length;
    this.list.replaceChildren(...this.matches.map((c, i) => h('li', {
      id: `canned-${i}`, role: 'option', 'aria-selected': String(i === this.active),
      onmousedown: (e) => { e.preventDefault(); this.pick(i); },
    }, h('b', { textContent: '/' + c.shortcut }), ' ', c.body.slice(0, 80))));
    $('#reply').setAttribute('aria-activedescendant', this.active >= 0 ? `canned-${this.active}` : '');
  }

  closeList() {
    this.matches = [];
    this.active = -1;
    this.renderList();
  }

  pick(i) {
    const c = this.matches[i];
    if (!c) return;
    const reply = $('#reply');
    reply.value = c.body;
    reply.focus();
    this.closeList();
  }

  onKey(e) {
    if (this.list.hidden || e.target.id !== 'reply') return;
    const n = this.matches.length;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      this.active = (this.active + (e.key === 'ArrowDown' ? 1 : n - 1)) % n;
      this.renderList();
    } else if (e.key === 'Enter' || e.key === 'Tab') {
      this.pick(this.active);
    } else if (e.key === 'Escape') {
      this.closeList();
    } else {
      return;
    }
    e.preventDefault();
    e.stopPropagation();
  }

  async upload() {
    const f = this.file.files[0];
    this.file.value = '';
    const id = this.thread.id;
    if (!f || !id) return;
    const s = session.get();
    try {
      const res = await fetch(`/api/v1/conversations/${id}/attachments?filename=${encodeURIComponent(f.name)}`, {
        method: 'POST', headers: { authorization: 'Bearer ' + s.token }, body: f,
      });
      const data = await res.json();
      if (!res.ok) throw new Error((data.error && data.error.message) || res.statusText);
      const cid = 'f-' + Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
      await this.socket.command('send', {
        conversation_id: id, client_msg_id: cid, body: '', attachments: [data.attachment.blob_id], private: this.takePrivate() || undefined,
      });
    } catch (e) {
      window.dispatchEvent(new CustomEvent('switchboard:error', { detail: e }));
    }
  }
}
