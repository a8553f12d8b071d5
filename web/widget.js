/* Switchboard chat widget. Embed it with one line:
 *   <script async src="https://YOUR-NODE/widget.js" data-site="SITE_KEY"></script>
 * Optional: data-lang="es" forces a language (otherwise the page's, then the browser's).
 * One file without dependencies or a build step; its styles live in a Shadow DOM so the host
 * page and the widget cannot restyle each other. It speaks protocol v1 (docs/protocol.md) over
 * ws(s)://<origin of this script>/ws and keeps the visitor token in localStorage.
 * Page API: Switchboard.identify({userId, name, email, signature}), .logout(), .open(), .close().
 * The host page is never held up: the script is async, and it waits for <body> if it runs first.
 */
(() => {
  'use strict';
  if (window.Switchboard && window.Switchboard.version) return; // embedded twice: keep the first

  const script = document.currentScript || document.querySelector('script[src*="widget.js"][data-site]');
  const SITE = script && script.dataset.site;
  if (!SITE) return console.warn('[switchboard] the widget script needs data-site="SITE_KEY"');
  const ORIGIN = new URL(script.src, location.href).origin;

  // ---- strings -------------------------------------------------------------------------------
  const STRINGS = {
    en: {
      title: 'Chat with us', open: 'Open chat', close: 'Close chat', online: "We're online",
      offline: 'Leave us a message', away: "We're outside business hours right now. Leave a message and we'll reply when we're back.",
      message: 'Message', placeholder: 'Write a message…', send: 'Send', agent: 'An agent',
      typing: '{n} is typing…', queue: 'You are number {n} in line', joined: '{n} joined the conversation',
      ended: 'This conversation has ended.', again: 'Start a new conversation', earlier: 'Earlier conversation',
      leave: "Nobody is online right now. Leave your email and we'll get back to you.",
      email: 'Your email', name: 'Your name (optional)', bademail: 'Please enter a valid email address.',
      thanks: "Thanks! We'll reply to {n}.", sending: 'Sending…', sent: 'Sent', read: 'Read',
      reconnecting: 'Connection lost. Reconnecting…', messages: 'Messages', unread: '{n} unread',
      refused: "We couldn't verify your identity, so the chat is unavailable. Please sign in again.",
      agree: 'By chatting you agree to our', privacy: 'Privacy policy', terms: 'Terms', and: 'and',
      failed: 'Something went wrong: {n}', byemail: "We'll reply by email", emoji: 'Insert emoji',
      r_minutes: 'Usually replies in a few minutes', r_hours: 'Usually replies in a few hours', r_day: 'Usually replies within a day',
      slow: "You're sending messages very quickly. We'll send yours in a moment.",
    },
    es: {
      title: 'Chatea con nosotros', open: 'Abrir chat', close: 'Cerrar chat', online: 'Estamos en línea',
      offline: 'Déjanos un mensaje', away: 'Ahora mismo estamos fuera del horario de atención. Déjanos un mensaje y te responderemos al volver.',
      message: 'Mensaje', placeholder: 'Escribe un mensaje…', send: 'Enviar', agent: 'Un agente',
      typing: '{n} está escribiendo…', queue: 'Eres el número {n} en la cola', joined: '{n} se ha unido a la conversación',
      ended: 'Esta conversación ha terminado.', again: 'Iniciar una nueva conversación', earlier: 'Conversación anterior',
      leave: 'Ahora mismo no hay nadie conectado. Déjanos tu correo y te responderemos.',
      email: 'Tu correo electrónico', name: 'Tu nombre (opcional)', bademail: 'Introduce un correo electrónico válido.',
      thanks: '¡Gracias! Te responderemos a {n}.', sending: 'Enviando…', sent: 'Enviado', read: 'Leído',
      reconnecting: 'Se perdió la conexión. Reconectando…', messages: 'Mensajes', unread: '{n} sin leer',
      refused: 'No hemos podido verificar tu identidad, así que el chat no está disponible. Vuelve a iniciar sesión.',
      agree: 'Al chatear aceptas nuestra', privacy: 'Política de privacidad', terms: 'Condiciones', and: 'y',
      failed: 'Algo salió mal: {n}', byemail: 'Te responderemos por correo', emoji: 'Insertar emoji',
      r_minutes: 'Suele responder en unos minutos', r_hours: 'Suele responder en unas horas', r_day: 'Suele responder en un día',
      slow: 'Estás enviando mensajes muy rápido. Enviaremos el tuyo en un momento.',
    },
  };
  const LANG = [script.dataset.lang, document.documentElement.lang, ...(navigator.languages || [navigator.language])]
    .map((l) => (l || '').slice(0, 2).toLowerCase()).find((l) => STRINGS[l]) || 'en';
  const t = (key, n) => (STRINGS[LANG][key] || STRINGS.en[key]).replace('{n}', n);

  // localStorage can throw (privacy modes, sandboxed frames): the widget then just forgets.
  const store = (kind, key, value) => {
    try {
      const s = window[kind], k = 'switchboard:' + SITE + ':' + key;
      if (value === undefined) return s.getItem(k);
      if (value === null) s.removeItem(k); else s.setItem(k, value);
    } catch { return null; }
  };

  // ---- DOM helpers ---------------------------------------------------------------------------
  const h = (tag, props, ...kids) => {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k.includes('-') || k === 'for' || k === 'role') el.setAttribute(k, v);
      else el[k] = v;
    }
    el.append(...kids.filter((k) => k != null && k !== false));
    return el;
  };
  const show = (el, on) => { el.hidden = !on; };
  const time = (ms) => new Date(ms).toLocaleTimeString(LANG, { hour: '2-digit', minute: '2-digit' });

  const STYLE = `
:host { all: initial; }
* { box-sizing: border-box; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
[hidden] { display: none !important; }
button, input, textarea { font: inherit; color: inherit; }
:focus-visible { outline: 3px solid var(--c); outline-offset: 2px; }
header :focus-visible { outline-color: var(--t); }
.launcher { position: fixed; bottom: 20px; right: 20px; z-index: 2147483000; width: 58px; height: 58px;
  border: 0; border-radius: 50%; background: var(--c); color: var(--t); cursor: pointer;
  box-shadow: 0 6px 20px rgba(0,0,0,.25); display: grid; place-items: center; }
.open .launcher .chat, .launcher .shut, .open .badge { display: none; }
.open .launcher .shut { display: block; }
.left .launcher, .left .panel { right: auto; left: 20px; }
.badge { position: absolute; top: -4px; right: -4px; min-width: 22px; height: 22px; padding: 0 6px;
  border-radius: 11px; background: #dc2626; color: #fff; font-size: 12px; line-height: 22px; font-weight: 700; }
.panel { position: fixed; bottom: 92px; right: 20px; z-index: 2147483000; width: 370px;
  height: min(600px, calc(100vh - 112px)); display: flex; flex-direction: column; overflow: hidden;
  background: #fff; color: #111827; border-radius: 14px; box-shadow: 0 12px 40px rgba(0,0,0,.25); font-size: 15px; }
header { background: var(--c); color: var(--t); padding: 12px 12px 12px 16px; display: flex; align-items: center; gap: 10px; }
header div { flex: 1; min-width: 0; }
h2 { margin: 0; font-size: 17px; }
header p { margin: 2px 0 0; font-size: 13px; }
.av { flex: none; width: 36px; height: 36px; border-radius: 50%; display: grid; place-items: center; font-size: 14px; font-weight: 700;
  background: var(--t); color: var(--c); overflow: hidden; }
.av img { width: 100%; height: 100%; object-fit: cover; }
.who .av { display: inline-grid; width: 20px; height: 20px; font-size: 10px; margin-right: 4px; vertical-align: middle; background: #374151; color: #fff; }
.x { background: transparent; border: 0; color: inherit; font-size: 26px; line-height: 1; width: 40px; height: 40px; cursor: pointer; border-radius: 8px; }
.bar { padding: 8px 16px; font-size: 13px; background: #fef3c7; color: #78350f; }
.bar.err { background: #fee2e2; color: #7f1d1d; }
.log { flex: 1; overflow-y: auto; padding: 12px 14px; background: #f9fafb; }
.msg { margin: 8px 0; max-width: 82%; }
.msg p { margin: 0; padding: 9px 12px; border-radius: 14px; white-space: pre-wrap; overflow-wrap: anywhere; background: #e5e7eb; }
.msg a { color: inherit; }
.msg.visitor { margin-left: auto; }
.msg.visitor p { background: var(--c); color: var(--t); border-bottom-right-radius: 4px; }
.msg.agent p, .msg.bot p { border-bottom-left-radius: 4px; }
.msg.pending p { opacity: .65; }
.meta, .who { font-size: 11px; color: #4b5563; margin: 2px 4px; }
.visitor .meta { text-align: right; }
.note { text-align: center; font-size: 12px; color: #4b5563; margin: 14px 0; }
.note a { color: inherit; }
.typing { padding: 0 16px 6px; font-size: 12px; color: #4b5563; font-style: italic; background: #f9fafb; }
form { position: relative; border-top: 1px solid #e5e7eb; padding: 10px; display: grid; gap: 8px; }
fieldset { border: 0; margin: 0; padding: 0; display: grid; gap: 6px; font-size: 13px; }
legend { padding: 0 0 6px; }
label { display: grid; gap: 2px; font-size: 13px; }
input, textarea { border: 1px solid #6b7280; border-radius: 8px; padding: 8px 10px; background: #fff; font-size: 16px; }
.row { display: flex; gap: 6px; align-items: flex-end; }
textarea { flex: 1; resize: none; height: 42px; min-height: 42px; max-height: 120px; line-height: 1.4; }
.send, .again { border: 0; border-radius: 8px; background: var(--c); color: var(--t); padding: 0 14px; height: 42px; cursor: pointer; font-weight: 600; }
.again { margin: 10px; }
.emo { border: 0; background: none; font-size: 22px; width: 36px; height: 42px; cursor: pointer; border-radius: 8px; }
.emojis { position: absolute; bottom: 60px; right: 10px; display: grid; grid-template-columns: repeat(5, 40px); gap: 2px; padding: 6px;
  background: #fff; border: 1px solid #d1d5db; border-radius: 10px; box-shadow: 0 6px 18px rgba(0,0,0,.15); }
.emojis button { border: 0; background: none; font-size: 22px; height: 40px; cursor: pointer; border-radius: 6px; }
.vh { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
.errtext { color: #b91c1c; margin: 0; }
@media (max-width: 480px) {
  .panel, .left .panel { inset: 0; width: 100%; height: 100%; border-radius: 0; }
  .open .launcher { display: none; }
}`;
  const svg = (cls, d) => `<svg class="${cls}" width="28" height="28" viewBox="0 0 24 24" aria-hidden="true" fill="currentColor"><path d="${d}"/></svg>`;
  const ICONS = svg('chat', 'M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z')
    + svg('shut', 'M6.4 5 12 10.6 17.6 5 19 6.4 13.4 12l5.6 5.6-1.4 1.4-5.6-5.6L6.4 19 5 17.6 10.6 12 5 6.4z');
  const EMOJI = '😊 😀 😂 🙂 😉 😍 🤔 😅 😢 🙏 👍 👎 👏 🎉 ❤️ 🔥 ✅ ☕ 👋 💯'.split(' ');

  // ---- the view ------------------------------------------------------------------------------
  const hostEl = h('div', { id: 'switchboard-widget', hidden: true });
  const root = hostEl.attachShadow({ mode: 'open' });
  const frame = h('div', { className: 'frame' });
  const badge = h('span', { className: 'badge', hidden: true });
  const launcher = h('button', {
    className: 'launcher', type: 'button', 'aria-label': t('open'), 'aria-expanded': 'false',
    'aria-controls': 'panel', onclick: () => setOpen(!S.open),
  });
  launcher.innerHTML = ICONS; // constants, never user data
  launcher.append(badge);
  const headAv = h('span', { className: 'av', 'aria-hidden': 'true' });
  const title = h('h2', { id: 'title', textContent: t('title') });
  const subtitle = h('p');
  const netBar = h('div', { className: 'bar', role: 'status', hidden: true, textContent: t('reconnecting') });
  const queueBar = h('div', { className: 'bar', role: 'status', hidden: true });
  const refusedBar = h('div', { className: 'bar err', role: 'alert', hidden: true, textContent: t('refused') });
  // Rate limited: messages wait and go out by themselves; the visitor is told why (polite).
  const slowBar = h('div', { className: 'bar', role: 'status', hidden: true, textContent: t('slow') });
  const sections = h('div', { className: 'convs' });
  const intro = h('div', { className: 'intro' });
  const pendingBox = h('div', { className: 'outbox' });
  const inner = h('div', {}, sections, intro, pendingBox);
  // Focusable, so keyboard users can scroll the history.
  const log = h('div', { className: 'log', role: 'log', 'aria-live': 'polite', 'aria-label': t('messages'), tabIndex: 0 }, inner);
  const typingLine = h('div', { className: 'typing', 'aria-live': 'polite', hidden: true });
  const emailIn = h('input', { id: 'email', type: 'email', autocomplete: 'email', required: true });
  const nameIn = h('input', { id: 'name', autocomplete: 'name' });
  const emailErr = h('p', { className: 'errtext', role: 'alert' });
  const leaveBox = h('fieldset', { hidden: true },
    h('legend', { textContent: t('leave') }),
    h('label', { for: 'email' }, t('email'), emailIn),
    h('label', { for: 'name' }, t('name'), nameIn), emailErr);
  const thanks = h('p', { className: 'note', role: 'status', hidden: true });
  const input = h('textarea', { id: 'input', rows: 1, placeholder: t('placeholder'), maxLength: 8000, oninput: () => { grow(); onTyping(); }, onkeydown: onKey });
  const emojiBtn = h('button', { className: 'emo', type: 'button', textContent: '🙂', 'aria-label': t('emoji'), 'aria-expanded': 'false', 'aria-controls': 'emojis', onclick: () => toggleEmoji(emojiBox.hidden) });
  const emojiBox = h('div', {
    className: 'emojis', id: 'emojis', role: 'group', 'aria-label': t('emoji'), hidden: true,
    onkeydown: (e) => { if (e.key === 'Escape') { e.stopPropagation(); toggleEmoji(false); } },
  }, ...EMOJI.map((ch) => h('button', { type: 'button', textContent: ch, onclick: () => { insert(ch); toggleEmoji(false); } })));
  const form = h('form', { onsubmit: onSubmit, noValidate: true }, leaveBox, thanks, emojiBox,
    h('div', { className: 'row' }, h('label', { className: 'vh', for: 'input', textContent: t('message') }), input, emojiBtn,
      h('button', { className: 'send', type: 'submit', textContent: t('send') })));
  const again = h('button', { className: 'again', type: 'button', hidden: true, textContent: t('again'), onclick: newConversation });
  const closeBtn = h('button', { className: 'x', type: 'button', 'aria-label': t('close'), textContent: '×', onclick: () => setOpen(false) });
  const panel = h('div', { className: 'panel', id: 'panel', role: 'dialog', 'aria-labelledby': 'title', hidden: true, onkeydown: (e) => e.key === 'Escape' && setOpen(false) },
    h('header', {}, headAv, h('div', {}, title, subtitle), closeBtn),
    netBar, queueBar, refusedBar, slowBar, log, typingLine, form, again);
  frame.append(launcher, panel);
  root.append(h('style', { textContent: STYLE }), frame);
  // The log stays pinned to its newest line while it is scrolled to the bottom, whatever
  // changes its size: new content, the composer growing, a form appearing or going.
  let pinned = true;
  log.addEventListener('scroll', () => { pinned = log.scrollTop + log.clientHeight >= log.scrollHeight - 30; }, { passive: true });
  new ResizeObserver(() => pinned && scrollDown()).observe(inner);
  new ResizeObserver(() => pinned && scrollDown()).observe(log);

  // ---- state ---------------------------------------------------------------------------------
  const S = {
    cfg: { site_name: '', agents_online: true, inside_hours: true, settings: {} },
    ws: null, ready: false, everReady: false, attempt: 0, retry: 0, nextId: 0, waiters: new Map(),
    identity: null, identityResult: null, refused: false, blocked: false, slowUntil: 0,
    conv: null, ended: false, last: {}, read: {}, agentRead: 0, readSent: 0,
    pending: [], flushing: false, email: null, emailLeft: store('localStorage', 'email'), queue: 0,
    open: false, unread: 0, pageViewSent: false, typingSent: 0, typingTimer: 0, agentName: '', audio: null, dinged: 0,
    avatars: {}, agentId: '', proactive: null, trigger: null,
  };

  // Bot answers, drafts, the owner, attachments and the rating live in widget-x.js, loaded the
  // first time the panel opens or a frame needs it; calls made before it runs wait in a queue.
  const xq = [];
  const x = (...call) => {
    if (S.x) return S.x(...call);
    if (xq.push(call) === 1) document.head.append(h('script', { src: ORIGIN + '/widget-x.js', async: true }));
  };

  // ---- rendering -----------------------------------------------------------------------------
  const emailKnown = () => Boolean(S.emailLeft || S.email || (S.identity && S.identity.email));
  const initials = (name) => name.split(/\s+/).map((w) => w[0] || '').join('').slice(0, 2).toUpperCase();
  // The agent's uploaded picture when the server named one, their initials otherwise.
  const face = (el, name, id) => {
    const src = id && S.avatars[id];
    el.replaceChildren(src ? h('img', { src, alt: '', width: 36, height: 36 }) : initials(name));
  };

  // Text on the brand colour: black or white, whichever contrasts more (WCAG luminance).
  function ink(color) {
    const hex = /^#([0-9a-f]{6})$/i.exec(color);
    if (!hex) return '#fff';
    const n = parseInt(hex[1], 16);
    const [r, g, b] = [n >> 16, (n >> 8) & 255, n & 255].map((v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
    const lum = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    return (lum + 0.05) / 0.05 > 1.05 / (lum + 0.05) ? '#111827' : '#fff';
  }

  // One state at a time: an agent who joined outranks the queue, the queue outranks "online";
  // with nobody to answer, the widget asks for an email once and then only confirms it.
  function render() {
    const st = S.cfg.settings;
    frame.className = 'frame' + (st.widget_position === 'left' ? ' left' : '') + (S.open ? ' open' : '');
    const color = st.widget_color && CSS.supports('color', st.widget_color) ? st.widget_color : '#2563eb';
    frame.style.setProperty('--c', color);
    frame.style.setProperty('--t', ink(color));
    title.textContent = S.cfg.site_name || t('title');
    const active = S.conv && S.conv.status !== 'closed';
    const agent = active && !S.ended && S.agentName;
    const online = S.cfg.agents_online; // outside business hours an agent online may still answer
    const known = emailKnown();
    subtitle.textContent = agent || (!online ? t(known ? 'byemail' : 'offline') : !S.cfg.inside_hours ? t('offline')
      : st.reply_time ? t('r_' + st.reply_time) : t('online'));
    face(headAv, agent || title.textContent, agent && S.agentId);
    show(hostEl, !S.blocked);
    show(netBar, S.everReady && !S.ready && !S.refused);
    show(refusedBar, S.refused);
    show(slowBar, Date.now() < S.slowUntil);
    show(queueBar, Boolean(active && online && !agent && S.queue > 0));
    queueBar.textContent = t('queue', S.queue);
    show(intro, !active && !S.ended && !S.refused);
    show(again, S.ended && !S.refused);
    show(form, !S.ended && !S.refused);
    show(leaveBox, !online && !agent && !known);
    show(thanks, Boolean(S.emailLeft && !online && !agent && active));
    thanks.textContent = t('thanks', S.emailLeft);
    show(badge, S.unread > 0 && !S.open);
    badge.textContent = S.unread;
    launcher.setAttribute('aria-label', S.open ? t('close') : S.unread ? t('open') + ', ' + t('unread', S.unread) : t('open'));
  }

  const welcomeText = () => {
    const st = S.cfg.settings;
    return (st.welcome_messages && st.welcome_messages[LANG]) || st.welcome_message;
  };

  function renderIntro(extra, index) {
    const st = S.cfg.settings;
    const legal = [];
    if (st.privacy_url) legal.push(link(st.privacy_url, t('privacy')));
    if (st.terms_url) legal.push(link(st.terms_url, t('terms')));
    const kids = [];
    if (welcomeText()) kids.push(bubble({ author: { kind: 'bot' }, body: welcomeText() }));
    if (extra) kids.push(bubble({ author: { kind: 'bot' }, body: extra }));
    if (!S.cfg.inside_hours) kids.push(h('p', { className: 'note', textContent: t('away') }));
    if (legal.length) {
      kids.push(h('p', { className: 'note' }, t('agree') + ' ', legal[0], ...(legal[1] ? [' ' + t('and') + ' ', legal[1]] : []), '.'));
    }
    if (extra || !S.proactive) intro.replaceChildren(...kids);
    if (extra) { S.proactive = extra; S.trigger = index; }
  }

  function link(href, text) {
    const safe = /^https?:\/\//i.test(href) ? href : '#'; // no javascript: links from settings
    return h('a', { href: safe, target: '_blank', rel: 'noopener noreferrer', textContent: text });
  }

  // Links in messages are clickable; everything else stays text.
  function rich(text) {
    const p = h('p');
    let at = 0;
    for (const m of text.matchAll(/\b(?:https?:\/\/|www\.)[^\s<>"]+/gi)) {
      const url = m[0].replace(/[.,;:!?)'"]+$/, ''); // trailing punctuation ends the sentence, not the link
      p.append(text.slice(at, m.index), link(/^www\./i.test(url) ? 'https://' + url : url, url));
      at = m.index + url.length;
    }
    p.append(text.slice(at));
    return p;
  }

  function bubble(m, state) {
    const kind = m.author.kind;
    const name = m.author.name || t('agent');
    let av;
    const el = h('div', { className: 'msg ' + kind + (state === 'pending' ? ' pending' : '') },
      kind === 'agent' ? h('div', { className: 'who' }, av = h('span', { className: 'av', 'aria-hidden': 'true' }), name) : null,
      rich(m.body));
    if (av) face(av, name, m.author.id);
    if (m.citations || m.actions || m.attachments) x('decorate', el, m);
    if (kind === 'visitor') {
      el.meta = h('div', { className: 'meta' });
      el.append(el.meta);
      el.seq = m.seq || 0;
      setMeta(el, state || (m.seq <= S.agentRead ? 'read' : 'sent'), m.at);
    } else if (m.at) el.append(h('div', { className: 'meta', textContent: time(m.at) }));
    return el;
  }

  // A stored message joins its conversation's section. "<agent> joined" is a system message
  // the server stores at its place, so it shows once, in order, after reconnects and reloads.
  function addMessage(sec, m, state) {
    const ev = m.author.event;
    if (ev) {
      if (ev.kind === 'joined') sec.append(h('p', { className: 'note', textContent: t('joined', ev.agent_name) }));
    } else sec.append(bubble(m, state));
  }

  function setMeta(el, state, at = el.at) {
    el.at = at;
    el.meta.textContent = (at ? time(at) + ' · ' : '') + t(state === 'pending' ? 'sending' : state);
  }

  function section(c) {
    let sec = sections.querySelector(`[data-id="${c.id}"]`);
    if (!sec) {
      sec = h('div', { className: 'conv' });
      sec.dataset.id = c.id;
      sec.dataset.created = c.created_at;
      const after = [...sections.children].find((s) => +s.dataset.created > c.created_at);
      sections.insertBefore(sec, after || null);
    }
    return sec;
  }

  function markEnded(c) {
    const sec = section(c);
    if (!sec.querySelector('.ended')) sec.append(h('p', { className: 'note ended', textContent: t('ended') }));
  }

  function scrollDown() { log.scrollTop = log.scrollHeight; }

  function setOpen(on) {
    S.open = on;
    show(panel, on);
    launcher.setAttribute('aria-expanded', String(on));
    if (on) { S.unread = 0; x('open'); }
    render();
    if (on) {
      scrollDown();
      (S.ended ? again : input).focus();
      markRead();
    } else launcher.focus(); // after render: on phones the launcher shows again only when closed
  }

  // ---- the connection ------------------------------------------------------------------------
  function connect() {
    clearTimeout(S.retry);
    if (S.ws || S.refused || S.blocked) return;
    const ws = new WebSocket(ORIGIN.replace(/^http/, 'ws') + '/ws');
    S.ws = ws;
    ws.onopen = () => hello(ws);
    ws.onmessage = (e) => { if (S.ws === ws) onFrame(JSON.parse(e.data)); };
    ws.onclose = () => { if (S.ws === ws) lost(); };
  }

  // Forget the socket now (a dead network may take minutes to report the close) and retry later.
  function lost(now) {
    const ws = S.ws;
    S.ws = null;
    S.ready = false;
    if (ws) { ws.onclose = null; try { ws.close(); } catch { /* already closed */ } }
    for (const w of S.waiters.values()) w.reject(Object.assign(new Error('offline'), { code: 'offline' }));
    S.waiters.clear();
    for (const p of S.pending) p.sent = false;
    S.flushing = false;
    render();
    if (S.refused || S.blocked) return;
    const delay = now ? 0 : Math.min(15000, 500 * 2 ** S.attempt++) * (0.5 + Math.random() / 2);
    S.retry = setTimeout(connect, delay);
  }

  function command(type, fields, ws = S.ws) {
    return new Promise((resolve, reject) => {
      if (!ws || ws.readyState !== 1) return reject(Object.assign(new Error('offline'), { code: 'offline' }));
      const id = String(++S.nextId);
      S.waiters.set(id, { resolve, reject });
      ws.send(JSON.stringify({ type, id, ...fields }));
    });
  }

  async function hello(ws) {
    const who = { v: 1, role: 'visitor', site: SITE, client: {
      timezone: Intl.DateTimeFormat().resolvedOptions().timeZone, language: navigator.language,
      screen: screen.width + 'x' + screen.height, referrer: document.referrer.slice(0, 256) } };
    if (S.identity) who.identity = S.identity;
    else if (store('localStorage', 'token')) who.visitor_token = store('localStorage', 'token');
    let w;
    try {
      w = await command('hello', who, ws);
    } catch (e) {
      if (e.code === 'unauthorized' && who.visitor_token) {
        // A new visitor from here on: the email kept was the old one's.
        for (const key of ['token', 'email']) store('localStorage', key, null);
        S.emailLeft = null;
        return hello(ws);
      }
      if (e.code === 'bad_signature') { S.refused = true; settleIdentity(false); }
      if (e.code === 'forbidden' || e.code === 'not_found') S.blocked = true; // identified-only site, or unknown key
      if (e.code === 'origin_not_allowed') { S.blocked = true; console.warn('Switchboard: ' + e.message); } // not the site's page
      if (e.code !== 'offline') lost();
      return;
    }
    S.ready = S.everReady = true;
    S.attempt = 0;
    S.token = w.visitor_token;
    if (S.x) S.x('welcome');
    if (!S.identity) store('localStorage', 'token', w.visitor_token); // a verified visitor's token is not kept
    settleIdentity(true);
    if (w.widget) applyConfig(w.widget);
    const convs = w.conversations || [];
    if (!S.conv) {
      // First welcome of this page: show earlier visits, then resume the live conversation.
      const current = convs.find((c) => c.status !== 'closed');
      const earlier = convs.filter((c) => c.status === 'closed').slice(0, 2);
      earlier.forEach(loadClosed);
      if (current) S.conv = current;
    }
    if (S.conv) {
      const fresh = convs.find((c) => c.id === S.conv.id);
      if (fresh) S.conv = fresh;
      S.agentRead = Math.max(S.agentRead, S.conv.agent_read_seq || 0);
      S.readSent = Math.max(S.readSent, S.conv.visitor_read_seq || 0);
      await subscribe(S.conv).catch(() => {});
    }
    if (!S.pageViewSent) pageView();
    render();
    flush();
  }

  async function loadClosed(c) {
    try {
      const r = await command('history', { conversation_id: c.id, limit: 50 });
      const sec = section(c);
      if (!sec.firstChild) {
        sec.append(h('p', { className: 'note', textContent: t('earlier') + ' · ' + new Date(c.created_at).toLocaleDateString(LANG) }));
        for (const m of r.messages) addMessage(sec, m, 'read');
        markEnded(c);
        scrollDown();
      }
    } catch { /* history of an old visit is a nicety */ }
  }

  async function subscribe(c) {
    section(c);
    const r = await command('subscribe', { conversation_id: c.id, after_seq: S.last[c.id] || 0 });
    if (r.status === 'closed') onConversation({ ...c, status: 'closed' });
    markRead();
  }

  function onFrame(f) {
    if (f.id && (f.type === 'ack' || f.type === 'welcome' || f.type === 'error')) {
      const w = S.waiters.get(f.id);
      if (!w) return;
      S.waiters.delete(f.id);
      if (f.type === 'error') w.reject(Object.assign(new Error(f.message), { code: f.code }));
      else w.resolve(f.type === 'ack' ? f.result || {} : f);
      return;
    }
    switch (f.type) {
      case 'message': return onMessage(f);
      case 'typing':
        if (f.who === 'agent' && S.conv && f.conversation_id === S.conv.id) {
          show(typingLine, f.typing);
          typingLine.textContent = t('typing', S.agentName || t('agent'));
          clearTimeout(typingLine.timer);
          if (f.typing) typingLine.timer = setTimeout(() => show(typingLine, false), 8000);
        }
        return;
      case 'read':
        if (f.who === 'agent') {
          S.agentRead = Math.max(S.agentRead, f.seq);
          for (const el of sections.querySelectorAll('.msg.visitor')) if (el.seq && el.seq <= S.agentRead) setMeta(el, 'read');
        }
        return;
      case 'conversation': return onConversation(f.conversation);
      case 'queue':
        S.queue = f.position;
        return render();
      case 'assigned': // the header names the agent; "joined" is a stored message
        if (S.conv && f.conversation_id === S.conv.id) {
          S.agentName = f.agent_name;
          S.agentId = f.agent_id;
          if (f.agent_avatar) S.avatars[f.agent_id] = ORIGIN + f.agent_avatar;
        }
        return render();
      case 'availability':
        S.cfg.agents_online = f.agents_online;
        return render();
      case 'draft': case 'draft_end': case 'owner': return x('frame', f);
      case 'goodbye': // the close follows and reconnects
        if (f.code === 'rate_limited') slowDown();
        return render();
      default:
    }
  }

  function onMessage(m) {
    const cid = m.conversation_id;
    if (m.seq <= (S.last[cid] || 0)) return; // already shown: resume never duplicates
    S.last[cid] = m.seq;
    const i = S.pending.findIndex((p) => p.cid === m.client_msg_id);
    if (i >= 0) S.pending.splice(i, 1)[0].el.remove();
    if (m.author.kind === 'agent') { S.agentName = m.author.name; show(typingLine, false); }
    addMessage(section({ id: cid, created_at: Date.now() }), m);
    const seen = S.open && document.visibilityState === 'visible';
    if (!m.author.event && m.author.kind !== 'visitor' && m.seq > S.readSent && !seen) {
      S.unread++;
      if (m.author.kind === 'agent' && document.visibilityState !== 'visible') ding();
    }
    scrollDown();
    markRead();
    render();
  }

  function onConversation(c) {
    if (!S.conv || c.id !== S.conv.id) return;
    S.conv = c;
    if (!c.assignee) S.agentName = ''; // back in the queue (the agent left)
    if (c.status === 'closed') {
      S.ended = true;
      show(typingLine, false);
      markEnded(c);
      x('ended', c);
      scrollDown();
    }
    render();
  }

  function markRead() {
    const c = S.conv;
    if (!c || !S.ready || !S.open || document.visibilityState !== 'visible') return;
    const seq = S.last[c.id] || 0;
    if (seq > S.readSent) {
      S.readSent = seq;
      command('read', { conversation_id: c.id, seq }).catch(() => {});
    }
  }

  // ---- sending -------------------------------------------------------------------------------
  function onSubmit(e) {
    e.preventDefault();
    const body = input.value.trim();
    if (!body) return;
    if (!leaveBox.hidden) {
      if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(emailIn.value.trim())) {
        emailErr.textContent = t('bademail');
        return emailIn.focus();
      }
      emailErr.textContent = '';
      S.email = { email: emailIn.value.trim(), name: nameIn.value.trim() || undefined };
    }
    input.value = '';
    grow();
    stopTyping();
    // Queued with its client id; sent now or after the next reconnect, never twice (the server
    // stores a retried client_msg_id once).
    const p = { cid: 'c-' + Date.now().toString(36) + Math.random().toString(36).slice(2, 10), body, sent: false };
    p.el = bubble({ author: { kind: 'visitor' }, body }, 'pending');
    S.pending.push(p);
    pendingBox.append(p.el);
    scrollDown();
    flush();
  }

  function onKey(e) {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); form.requestSubmit(); }
  }

  async function flush() {
    if (S.flushing || !S.ready) return;
    S.flushing = true;
    try {
      // The email first: the automatic reply to the first message then knows it.
      if (S.email && S.ready) {
        await command('leave_email', S.email);
        S.emailLeft = S.email.email;
        store('localStorage', 'email', S.emailLeft); // a reload does not ask again
        S.email = null;
        render();
      }
      while (S.ready && S.pending.some((p) => !p.sent)) {
        if (!S.conv || S.conv.status === 'closed') await startConversation();
        const p = S.pending.find((q) => !q.sent);
        p.sent = true;
        try {
          await command('send', { conversation_id: S.conv.id, client_msg_id: p.cid, body: p.body });
        } catch (e) {
          if (e.code === 'offline') throw e;
          if (e.code === 'rate_limited') { p.sent = false; slowDown(); await new Promise((r) => setTimeout(r, SLOW_MS)); continue; }
          if (e.code === 'conversation_closed') { p.sent = false; onConversation({ ...S.conv, status: 'closed' }); S.ended = false; continue; }
          S.pending.splice(S.pending.indexOf(p), 1); // refused for good (too large...): say so
          setMeta(p.el, 'sent');
          p.el.meta.textContent = t('failed', e.message);
        }
      }
    } catch { /* offline: the next welcome flushes again */ } finally { S.flushing = false; }
  }

  // The server's token bucket refills within seconds: say so, wait, and let the queue resend.
  const SLOW_MS = 3000;
  function slowDown() {
    S.slowUntil = Date.now() + SLOW_MS;
    render();
    setTimeout(render, SLOW_MS + 50);
  }

  async function startConversation() {
    // The server stores the trigger's own text: the widget only names which one was answered.
    const r = await command('start', { lang: LANG, ...(S.proactive ? { trigger: S.trigger } : {}) });
    S.conv = r.conversation;
    S.ended = false;
    S.queue = 0;
    S.readSent = S.conv.visitor_read_seq || 0;
    S.agentRead = S.conv.agent_read_seq || 0;
    S.proactive = null;
    render();
    await subscribe(S.conv);
  }

  function newConversation() {
    S.ended = false;
    S.conv = null;
    S.agentName = '';
    S.queue = 0;
    renderIntro();
    render();
    scrollDown();
    input.focus();
  }

  // ---- composer extras -----------------------------------------------------------------------
  function grow() {
    input.style.height = '';
    input.style.height = Math.min(input.scrollHeight + 2, 120) + 'px';
  }

  function toggleEmoji(on) {
    show(emojiBox, on);
    emojiBtn.setAttribute('aria-expanded', String(on));
    (on ? emojiBox.firstChild : input).focus();
  }

  function insert(text) {
    const at = input.selectionStart;
    input.setRangeText(text, at, input.selectionEnd, 'end');
    grow();
  }

  // A short chime for a reply that arrives while the page is in the background. Browsers let a
  // page make sound only after a user gesture, so the audio context starts with the first one.
  function unlockAudio() {
    if (!S.audio && window.AudioContext) S.audio = new AudioContext();
    if (S.audio && S.audio.state === 'suspended') S.audio.resume().catch(() => {});
  }

  function ding() {
    const ac = S.audio;
    if (!ac || Date.now() - S.dinged < 2000) return;
    S.dinged = Date.now();
    const osc = ac.createOscillator(), gain = ac.createGain();
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.12, ac.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, ac.currentTime + 0.35);
    osc.connect(gain).connect(ac.destination);
    osc.start();
    osc.stop(ac.currentTime + 0.35);
  }

  function onTyping() {
    if (!S.conv || !S.ready || S.conv.status === 'closed') return;
    const now = Date.now();
    if (now - S.typingSent > 3000) {
      S.typingSent = now;
      command('typing', { conversation_id: S.conv.id, typing: true }).catch(() => {});
    }
    clearTimeout(S.typingTimer);
    S.typingTimer = setTimeout(stopTyping, 4000);
  }

  function stopTyping() {
    clearTimeout(S.typingTimer);
    if (!S.typingSent) return;
    S.typingSent = 0;
    if (S.conv && S.ready) command('typing', { conversation_id: S.conv.id, typing: false }).catch(() => {});
  }

  function pageView() {
    S.pageViewSent = true;
    command('page_view', { url: location.href.slice(0, 2048), title: document.title.slice(0, 512) }).catch(() => { S.pageViewSent = false; });
  }

  // ---- configuration and proactive triggers --------------------------------------------------
  function applyConfig(cfg) {
    S.cfg = { ...S.cfg, ...cfg, settings: { ...S.cfg.settings, ...cfg.settings } };
    if (!S.triggersArmed) armTriggers();
    renderIntro();
    render();
  }

  function armTriggers() {
    S.triggersArmed = true;
    (S.cfg.settings.triggers || []).forEach((rule, i) => {
      const c = rule.condition || {};
      const fire = () => proactive(rule, i);
      if (c.kind === 'time_on_page') setTimeout(fire, (c.seconds || 0) * 1000);
      else if (c.kind === 'url_contains' && c.pattern && location.href.includes(c.pattern)) fire();
      else if (c.kind === 'scroll_depth') {
        const onScroll = () => {
          const doc = document.documentElement;
          const depth = ((window.scrollY + window.innerHeight) / Math.max(doc.scrollHeight, 1)) * 100;
          if (depth >= c.percent) { window.removeEventListener('scroll', onScroll); fire(); }
        };
        window.addEventListener('scroll', onScroll, { passive: true });
      }
    });
  }

  // A trigger opens the widget once per browser session, and stays quiet when no agent could
  // take the chat, when the visitor is already chatting, or was refused.
  function proactive(rule, i) {
    if (!S.cfg.agents_online || !S.cfg.inside_hours || S.open || S.refused || S.blocked) return;
    if ((S.conv && S.conv.status !== 'closed') || store('sessionStorage', 'trigger' + i)) return;
    store('sessionStorage', 'trigger' + i, '1');
    renderIntro(rule.message, i);
    setOpen(true);
  }

  // ---- the page API --------------------------------------------------------------------------
  let identityWaiters = [];
  function settleIdentity(ok) {
    for (const r of identityWaiters) r(ok);
    identityWaiters = [];
  }

  // Switch to another visitor: the log restarts with that visitor's conversations.
  function switchVisitor(identity) {
    S.identity = identity;
    S.refused = S.blocked = S.ended = false;
    S.conv = null;
    S.last = {};
    S.agentRead = S.readSent = S.unread = S.queue = 0;
    S.emailLeft = null;
    store('localStorage', 'email', null);
    S.agentName = '';
    sections.replaceChildren();
    lost(true);
  }

  const api = {
    version: 1,
    identify({ userId, name, email, signature } = {}) {
      switchVisitor({ user_id: String(userId), name, email, signature });
      return new Promise((resolve) => identityWaiters.push(resolve));
    },
    logout() { switchVisitor(null); },
    open() { setOpen(true); },
    close() { setOpen(false); },
    // widget-x.js registers here with the internals it extends.
    x(make) {
      S.x = make({ S, h, LANG, ORIGIN, command, section, scrollDown, startConversation, input, row: form.lastChild });
      for (const c of xq.splice(0)) S.x(...c);
    },
  };

  // ---- start ---------------------------------------------------------------------------------
  const queued = window.Switchboard && Array.isArray(window.Switchboard.q) ? window.Switchboard.q : [];
  window.Switchboard = api;
  // An async script may run before <body> exists.
  const mount = () => document.body.append(hostEl);
  if (document.body) mount(); else document.addEventListener('DOMContentLoaded', mount);
  frame.addEventListener('pointerdown', unlockAudio);
  frame.addEventListener('keydown', unlockAudio);
  window.addEventListener('offline', () => S.ws && lost());
  window.addEventListener('online', () => { S.attempt = 0; if (!S.ws) lost(true); });
  document.addEventListener('visibilitychange', markRead);
  window.addEventListener('hashchange', () => S.ready && pageView());
  window.addEventListener('popstate', () => S.ready && pageView());
  // Application-level keepalive: a socket whose ping goes unanswered is treated as dead.
  setInterval(() => {
    if (!S.ready) return;
    const ws = S.ws;
    const timer = setTimeout(() => S.ws === ws && lost(), 10000);
    command('ping', {}).then(() => clearTimeout(timer), () => {});
  }, 25000);

  fetch(ORIGIN + '/api/v1/widget/config?site=' + encodeURIComponent(SITE))
    .then((r) => (r.ok ? r.json() : null))
    .then((cfg) => {
      if (cfg) applyConfig(cfg);
      if (cfg && cfg.settings.visibility === 'identified_only' && !S.identity) S.blocked = true;
    }, () => {})
    .finally(() => {
      render();
      connect();
      for (const [method, ...args] of queued) api[method] && api[method](...args);
      window.dispatchEvent(new Event('switchboard:ready'));
    });
})();
