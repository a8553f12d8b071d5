// Analytics (admins): GET /api/v1/analytics for a range of days in the site's timezone, shown as
// totals, three uPlot charts (conversations per day, response times per day, busiest hours) and
// tables (inside/outside business hours, per agent); "Download CSV" fetches
// /api/v1/analytics.csv with the same filters. uPlot is vendored (vendor/README.md) and loaded
// as a classic script before this module: window.uPlot.

import { api, session, UNAUTHORIZED, ApiError } from './api.js';
import { h, $, toast } from './dom.js';

const signIn = () => { location.href = '/console?next=' + encodeURIComponent(location.pathname); };
window.addEventListener(UNAUTHORIZED, signIn);

const charts = [];

/** "1 min 5 s", "42 s", "—" for nothing measured. */
function duration(secs) {
  if (secs === null || secs === undefined) return '—';
  if (secs < 60) return `${Math.round(secs)} s`;
  if (secs < 3600) return `${Math.floor(secs / 60)} min ${Math.round(secs % 60)} s`;
  return `${Math.floor(secs / 3600)} h ${Math.round((secs % 3600) / 60)} min`;
}
const score = (mean) => (mean === null || mean === undefined ? '—' : mean.toFixed(1));

function query() {
  const p = new URLSearchParams({ from: $('#from').value, to: $('#to').value });
  if ($('#agent').value) p.set('agent', $('#agent').value);
  if ($('#hours').value) p.set('hours', $('#hours').value);
  return p.toString();
}

async function main() {
  if (!session.get()) return signIn();
  const me = (await api('GET', '/me')).agent;
  $('#me-name').textContent = me.name;
  if (me.role !== 'admin' && me.role !== 'owner') {
    $('#gate').textContent = 'Only admins can read the analytics.';
    return;
  }
  const agents = (await api('GET', '/agents')).agents;
  $('#agent').append(...agents.map((a) => h('option', { value: a.id, textContent: a.name })));
  // The server's default range: the last seven days of the site's calendar.
  const first = await api('GET', '/analytics');
  $('#from').value = first.from;
  $('#to').value = first.to;
  $('#range').hidden = false;
  show(first);
}

async function load() {
  $('#status').textContent = 'Loading…';
  try {
    show(await api('GET', '/analytics?' + query()));
    $('#status').textContent = '';
  } catch (err) {
    $('#status').textContent = '';
    toast(err.message, 'error');
  }
}

function show(r) {
  $('#tz').textContent = `(${r.from} to ${r.to}, ${r.timezone})`;
  const t = r.totals;
  const kpi = (label, value, note) => h('div', {}, h('dt', { textContent: label }), h('dd', {}, value, note ? h('small', { textContent: ' ' + note }) : null));
  $('#kpis').replaceChildren(
    kpi('New conversations', String(t.new_conversations)),
    kpi('First response', duration(t.first_response.mean), `${t.first_response.count} answered`),
    kpi('Average response', duration(t.response.mean), `${t.response.count} answers`),
    kpi('Resolution', duration(t.resolution.mean), `${t.resolution.count} closed`),
    kpi('Queue wait', duration(t.queue_wait.mean), `${t.queue_wait.count} assigned`),
    kpi('Missed', String(t.missed), `of ${t.closed} closed`),
    kpi('Bot resolutions', String(t.bot_resolved)),
    kpi('Bot hand-offs', String(t.bot_handoffs)),
    kpi('CSAT', score(t.csat.mean), `${t.csat.count} ratings`),
  );
  const row = (name, f) => h('tr', {},
    h('th', { scope: 'row', textContent: name }),
    h('td', { textContent: String(f.new_conversations) }),
    h('td', { textContent: duration(f.first_response.mean) }),
    h('td', { textContent: duration(f.response.mean) }),
    h('td', { textContent: duration(f.queue_wait.mean) }),
    h('td', { textContent: String(f.missed) }));
  $('#hours-rows').replaceChildren(row('Inside', r.inside_hours), row('Outside', r.outside_hours));
  $('#agent-rows').replaceChildren(...(r.by_agent.length ? r.by_agent.map((a) => h('tr', {},
    h('th', { scope: 'row', textContent: a.name || a.agent_id }),
    h('td', { textContent: duration(a.first_response.mean) }),
    h('td', { textContent: duration(a.response.mean) }),
    h('td', { textContent: duration(a.resolution.mean) }),
    h('td', { textContent: String(a.closed) }),
    h('td', { textContent: String(a.missed) }),
    h('td', { textContent: score(a.csat.mean) }))) : [h('tr', {}, h('td', { colSpan: 7, className: 'muted', textContent: 'No agent activity in this range.' }))]));
  $('#report').hidden = false;
  draw(r);
}

/** A chart over categories (days or hours) whose x values are their index. */
function chart(el, labels, axis, series, data, bars = false) {
  const width = Math.max(300, el.clientWidth - 16);
  const opts = {
    width, height: 220,
    scales: { x: { time: false } },
    axes: [{ values: (u, ticks) => ticks.map((i) => labels[i] ?? '') }, {}],
    series: [{ label: axis, value: (u, i) => labels[i] ?? '' }, ...series.map((s) => ({
      spanGaps: false, width: 2, points: { show: true }, ...s,
      ...(bars ? { paths: window.uPlot.paths.bars({ size: [0.6, 40] }), fill: s.stroke, points: { show: false } } : {}),
    }))],
  };
  charts.push(new window.uPlot(opts, [labels.map((_, i) => i), ...data], el));
}

function draw(r) {
  while (charts.length) charts.pop().destroy();
  const days = r.by_day.map((d) => d.date.slice(5));
  const mean = (m) => (m.mean === null ? null : Math.round(m.mean));
  chart($('#chart-daily'), days, 'Day',
    [{ label: 'New', stroke: '#2563eb' }, { label: 'Closed', stroke: '#059669' }, { label: 'Missed', stroke: '#b91c1c' }],
    [r.by_day.map((d) => d.new_conversations), r.by_day.map((d) => d.closed), r.by_day.map((d) => d.missed)]);
  chart($('#chart-times'), days, 'Day',
    [{ label: 'First response', stroke: '#7c3aed' }, { label: 'Average response', stroke: '#2563eb' }, { label: 'Queue wait', stroke: '#d97706' }],
    [r.by_day.map((d) => mean(d.first_response)), r.by_day.map((d) => mean(d.response)), r.by_day.map((d) => mean(d.queue_wait))]);
  chart($('#chart-hours'), r.by_hour.map((x) => String(x.hour).padStart(2, '0')), 'Hour',
    [{ label: 'New conversations', stroke: '#2563eb' }], [r.by_hour.map((x) => x.new_conversations)], true);
  // Screen readers get the gist; the tables hold the numbers.
  $('#chart-daily').setAttribute('aria-label', `New conversations per day, ${r.totals.new_conversations} in all`);
  $('#chart-hours').setAttribute('aria-label', 'New conversations by hour of the day');
}

$('#range').addEventListener('submit', (e) => { e.preventDefault(); load(); });

$('#csv').addEventListener('click', async () => {
  // A link cannot carry the bearer token: fetch it, then save the blob.
  const res = await fetch('/api/v1/analytics.csv?' + query(), { headers: { authorization: 'Bearer ' + session.get().token } });
  if (!res.ok) {
    const e = (await res.json().catch(() => ({}))).error || {};
    return toast(e.message || res.statusText, 'error');
  }
  const a = h('a', { href: URL.createObjectURL(await res.blob()), download: `analytics-${$('#from').value}-${$('#to').value}.csv` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
});

main().catch((err) => {
  if (err instanceof ApiError && err.status === 401) return;
  $('#gate').textContent = err.message;
});
