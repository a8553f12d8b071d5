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

/** A short human label for a visitor: name, email, or the start of the id. */
export function visitorLabel(visitor, visitorId) {
  if (visitor && visitor.name) return visitor.name;
  if (visitor && visitor.email) return visitor.email;
  return 'Visitor ' + String(visitorId || (visitor && visitor.id) || '').slice(-6);
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
