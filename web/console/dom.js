// Small DOM helpers shared by the console pages. Text always goes in through textContent.

/** h('button', {className: 'x', onclick: fn, 'aria-label': 'Close'}, 'child', otherNode) */
export function h(tag, props, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k.includes('-') || k === 'for' || k === 'role') el.setAttribute(k, v === true ? '' : v);
    else el[k] = v;
  }
  el.append(...kids.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

export const $ = (sel, root = document) => root.querySelector(sel);

export function fmtTime(ms) {
  if (!ms) return '';
  const d = new Date(ms);
  const today = new Date().toDateString() === d.toDateString();
  return today
    ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
    : d.toLocaleDateString([], { month: 'short', day: 'numeric' }) + ' ' + d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

const COLOURS = ['Amber', 'Azure', 'Coral', 'Crimson', 'Golden', 'Indigo', 'Ivory', 'Jade', 'Lilac', 'Olive', 'Pearl', 'Ruby', 'Sage', 'Silver', 'Teal', 'Violet'];
const ANIMALS = ['Badger', 'Crane', 'Dolphin', 'Falcon', 'Fox', 'Heron', 'Koala', 'Lynx', 'Otter', 'Owl', 'Panda', 'Puffin', 'Robin', 'Seal', 'Tiger', 'Wren'];

/** A short human label for a visitor: name, email, or for an anonymous visitor a readable name
 *  ("Teal Otter") that is the same wherever that visitor's id shows. */
export function visitorLabel(visitor, visitorId) {
  if (visitor && visitor.name) return visitor.name;
  if (visitor && visitor.email) return visitor.email;
  const id = String(visitorId || (visitor && visitor.id) || '');
  let hash = 2166136261; // FNV-1a: ids are time-ordered, so their first characters barely differ
  for (let i = 0; i < id.length; i++) hash = Math.imul(hash ^ id.charCodeAt(i), 16777619) >>> 0;
  return `${COLOURS[hash % 16]} ${ANIMALS[(hash >>> 4) % 16]}`;
}

/** Message text as nodes, with http(s) and www. addresses as links that open in a new tab. */
export function richText(text) {
  const out = [];
  let at = 0;
  for (const m of text.matchAll(/\b(?:https?:\/\/|www\.)[^\s<>"]+/gi)) {
    const url = m[0].replace(/[.,;:!?)'"]+$/, ''); // trailing punctuation ends the sentence
    out.push(text.slice(at, m.index), h('a', { href: /^www\./i.test(url) ? 'https://' + url : url, target: '_blank', rel: 'noopener noreferrer', textContent: url }));
    at = m.index + url.length;
  }
  out.push(text.slice(at));
  return out;
}

/** Show a transient message in the page's status region (role=status, announced politely). */
export function toast(text, kind = 'info') {
  const box = document.getElementById('toast');
  if (!box) return;
  box.textContent = text;
  box.dataset.kind = kind;
  box.hidden = false;
  clearTimeout(box.timer);
  box.timer = setTimeout(() => { box.hidden = true; }, 5000);
}
