/* Switchboard widget extras, loaded by widget.js the first time its panel opens or a frame needs
 * them (the core stays small and async): bot answers (source links, the quick-action buttons, a
 * permanent "Talk to a human" while the bot answers), model answers streaming in as drafts,
 * attachments both ways (upload, image previews, file links) and the rating after a close.
 * It registers with window.Switchboard.x(make), which hands it the widget's internals (state,
 * DOM helper, socket commands) and gets back one function the core calls with
 * 'open' | 'welcome' | 'frame' | 'decorate' | 'ended'. Protocol: docs/protocol.md.
 */
(() => {
  'use strict';
  const sb = window.Switchboard;
  if (!sb || !sb.x || sb.xLoaded) return;
  sb.xLoaded = true;

  const STRINGS = {
    en: {
      human: 'Talk to a human', helpful: 'Yes, thanks', not_helpful: 'No', talk_to_human: 'Talk to a human',
      leave_message: 'Leave a message', source: 'Source', attach: 'Attach a file', rate: 'How was this conversation?',
      comment: 'Anything to add? (optional)', send: 'Send rating', thanks: 'Thanks for your rating!', stars: '{n} out of 5',
      uploading: 'Uploading {n}…', failed: 'Could not attach {n}', writing: 'Writing…',
    },
    es: {
      human: 'Hablar con una persona', helpful: 'Sí, gracias', not_helpful: 'No', talk_to_human: 'Hablar con una persona',
      leave_message: 'Dejar un mensaje', source: 'Fuente', attach: 'Adjuntar un archivo', rate: '¿Qué tal fue la conversación?',
      comment: '¿Algo más? (opcional)', send: 'Enviar valoración', thanks: '¡Gracias por tu valoración!', stars: '{n} de 5',
      uploading: 'Subiendo {n}…', failed: 'No se pudo adjuntar {n}', writing: 'Escribiendo…',
    },
  };

  const STYLE = `
.msg .cite { font-size: 12px; margin: 4px 4px 0; padding: 0; background: none; }
.msg p:empty { display: none; }
.cite a { color: #1d4ed8; }
.acts { display: flex; flex-wrap: wrap; gap: 6px; margin: 6px 0 0; }
.acts button, .human, .stars button, .rate .go { border: 1px solid var(--c); background: #fff; color: #1f2937; border-radius: 14px;
  padding: 4px 10px; font-size: 13px; cursor: pointer; }
.acts button:disabled { opacity: .55; cursor: default; }
.human { margin: 0 0 2px; justify-self: start; }
.clip { border: 0; background: none; font-size: 20px; width: 32px; height: 42px; cursor: pointer; border-radius: 8px; }
.draft p { opacity: .8; }
.att img { display: block; max-width: 220px; max-height: 220px; border-radius: 10px; margin-top: 4px; }
.att a { display: inline-block; margin-top: 4px; font-size: 13px; }
.rate { background: #fff; border: 1px solid #e5e7eb; border-radius: 10px; padding: 10px; margin: 10px 0; display: grid; gap: 6px; font-size: 13px; }
.stars { display: flex; gap: 4px; }
.stars button[aria-pressed="true"] { background: var(--c); color: var(--t); }
.rate input { font-size: 16px; }`;

  sb.x((K) => {
    const { S, h, ORIGIN, command, section, scrollDown } = K;
    const T = STRINGS[K.LANG] || STRINGS.en;
    const t = (key, n) => (T[key] || STRINGS.en[key]).replace('{n}', n);
    const row = K.row;
    const form = row.parentNode;
    const owners = new Map(); // conversation id -> owner kind
    const drafts = new Map(); // draft id -> element

    row.getRootNode().append(h('style', { textContent: STYLE }));
    const human = h('button', { className: 'human', type: 'button', hidden: true, textContent: t('human'), onclick: () => act('talk_to_human') });
    form.insertBefore(human, row);
    const file = h('input', { type: 'file', hidden: true, accept: 'image/*,application/pdf,text/plain', onchange: upload });
    const clip = h('button', { className: 'clip', type: 'button', textContent: '📎', 'aria-label': t('attach'), title: t('attach'), onclick: () => file.click() });
    // Before the message box: the composer's own focus order (text, emoji, send) stays as it is.
    row.insertBefore(clip, row.querySelector('textarea'));
    row.append(file);

    function showHuman() {
      human.hidden = !(S.conv && !S.ended && owners.get(S.conv.id) === 'bot');
    }

    function act(action) {
      if (!S.conv) return;
      command('bot_action', { conversation_id: S.conv.id, action }).catch(() => {});
    }

    // Attachments are served to the conversation's participants only: fetch with the token.
    async function blobUrl(id) {
      const r = await fetch(ORIGIN + '/api/v1/attachments/' + id, { headers: { authorization: 'Bearer ' + S.token } });
      if (!r.ok) throw new Error(String(r.status));
      return URL.createObjectURL(await r.blob());
    }

    function attachment(a) {
      const box = h('div', { className: 'att' });
      if (/^image\//.test(a.content_type)) {
        const img = h('img', { alt: a.filename });
        blobUrl(a.blob_id).then((u) => { img.src = u; }, () => {});
        box.append(img);
      } else {
        const link = h('a', { href: '#', textContent: '📄 ' + a.filename + ' (' + Math.ceil(a.size / 1024) + ' KB)', download: a.filename });
        blobUrl(a.blob_id).then((u) => { link.href = u; }, () => {});
        box.append(link);
      }
      return box;
    }

    function decorate(el, m) {
      if (m.author.kind === 'bot') dropDrafts(m.conversation_id);
      for (const a of m.attachments || []) el.append(attachment(a));
      const cites = m.citations || [];
      if (cites.length) {
        el.append(h('p', { className: 'cite' }, t('source') + ': ',
          ...cites.flatMap((c, i) => [i ? ', ' : '', h('a', { href: c.url, target: '_blank', rel: 'noopener noreferrer', textContent: c.title })])));
      }
      const acts = m.actions || [];
      if (acts.length && m.seq) {
        const box = h('div', { className: 'acts' });
        for (const a of acts) {
          box.append(h('button', {
            type: 'button', textContent: t(a),
            onclick: () => { for (const b of box.children) b.disabled = true; act(a); },
          }));
        }
        el.append(box);
      }
    }

    function dropDrafts(cid) {
      for (const [id, el] of drafts) {
        if (el.cid === cid) { el.remove(); drafts.delete(id); }
      }
    }

    function frame(f) {
      const cid = f.conversation_id;
      if (f.type === 'owner') {
        owners.set(cid, f.owner.kind);
        return showHuman();
      }
      let el = drafts.get(f.draft_id);
      if (f.type === 'draft_end') {
        if (el) el.remove();
        return drafts.delete(f.draft_id);
      }
      // A draft carries the whole text so far: it replaces the one with the same id.
      if (!el) {
        el = h('div', { className: 'msg bot draft', 'aria-busy': 'true' }, h('p'));
        el.cid = cid;
        drafts.set(f.draft_id, el);
        section({ id: cid, created_at: Date.now() }).append(el);
      }
      el.firstChild.textContent = f.text || t('writing');
      scrollDown();
    }

    async function upload() {
      const f = file.files[0];
      file.value = '';
      if (!f) return;
      const note = h('p', { className: 'note', role: 'status', textContent: t('uploading', f.name) });
      K.input.closest('form').before(note);
      try {
        if (!S.conv || S.conv.status === 'closed') await K.startConversation();
        const url = ORIGIN + '/api/v1/conversations/' + S.conv.id + '/attachments?filename=' + encodeURIComponent(f.name);
        const r = await fetch(url, { method: 'POST', headers: { authorization: 'Bearer ' + S.token }, body: f });
        const j = await r.json();
        if (!r.ok) throw new Error(j.error ? j.error.message : r.status);
        const cid = 'f-' + Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
        await command('send', { conversation_id: S.conv.id, client_msg_id: cid, body: '', attachments: [j.attachment.blob_id] });
        note.remove();
      } catch (e) {
        note.textContent = t('failed', f.name) + ': ' + e.message;
      }
    }

    function ended(c) {
      showHuman();
      const sec = section(c);
      if (sec.querySelector('.rate')) return;
      let rating = 0;
      const stars = h('div', { className: 'stars', role: 'group', 'aria-label': t('rate') });
      for (let n = 1; n <= 5; n++) {
        stars.append(h('button', {
          type: 'button', textContent: '★', 'aria-label': t('stars', n), 'aria-pressed': 'false',
          onclick: () => { rating = n; for (const b of stars.children) b.setAttribute('aria-pressed', String(b === stars.children[n - 1])); },
        }));
      }
      const comment = h('input', { 'aria-label': t('comment'), placeholder: t('comment'), maxLength: 1000 });
      const box = h('div', { className: 'rate' }, h('span', { textContent: t('rate') }), stars, comment,
        h('button', {
          className: 'go', type: 'button', textContent: t('send'),
          onclick: () => {
            if (!rating) return stars.firstChild.focus();
            command('rate', { conversation_id: c.id, rating, comment: comment.value.trim() })
              .then(() => box.replaceChildren(h('span', { role: 'status', textContent: t('thanks') })), () => {});
          },
        }));
      sec.append(box);
      scrollDown();
    }

    const calls = {
      open() {},
      welcome() {
        // After a reconnect the server sends the draft being written again (if any).
        for (const el of drafts.values()) el.remove();
        drafts.clear();
      },
      frame, decorate, ended,
    };
    return (what, ...args) => {
      if (calls[what]) calls[what](...args);
      showHuman();
    };
  });
})();
