// The add-on's page: one snapshot, then live changes over server-sent events. Every URL is
// relative, so the page works under Home Assistant's ingress prefix. Text from devices and rules
// only ever goes in through textContent.
/* global document, window, EventSource, fetch */

const $ = (id) => document.getElementById(id);
const SVG = 'http://www.w3.org/2000/svg';

/** An element with attributes and children (strings become text). */
function h(tag, attrs = {}, ...children) {
  const el = tag.startsWith('svg:') ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) if (child !== undefined && child !== null) el.append(child instanceof Node ? child : String(child));
  return el;
}
const { Node } = window;

const watts = (w) => (w === null || w === undefined ? '–' : Math.abs(w) >= 10000 ? `${(w / 1000).toFixed(1)} kW` : `${Math.round(w)} W`);
const clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
function ago(t) {
  if (!t) return 'no update yet';
  const s = Math.max(0, Math.round((Date.now() - t) / 1000));
  return s < 60 ? `${s} s ago` : s < 3600 ? `${Math.round(s / 60)} min ago` : clock.format(t);
}
function shown(entity) {
  if (entity.value === null) return 'unknown';
  if (typeof entity.value === 'boolean') return entity.value ? 'on' : 'off';
  return entity.unit ? `${entity.value} ${entity.unit}` : String(entity.value);
}

const state = { devices: new Map(), rules: new Map(), cells: new Map(), timelines: new Map(), dryRun: false };

// ---- flow ----

function setLink(id, w, forwardWhenPositive) {
  const link = $(id);
  const active = w !== null && w !== undefined && Math.abs(w) >= 10;
  link.classList.toggle('active', active);
  link.classList.toggle('reverse', active && (w > 0) !== forwardWhenPositive);
}

function renderFlow(flow) {
  $('flow-pv-value').textContent = watts(flow.pv);
  $('flow-grid-value').textContent = watts(flow.grid === null ? null : Math.abs(flow.grid));
  $('flow-grid-dir').textContent = flow.grid === null ? '' : flow.grid > 0 ? 'import' : flow.grid < 0 ? 'export' : 'idle';
  $('flow-battery-value').textContent = watts(flow.battery === null ? null : Math.abs(flow.battery));
  $('flow-soc-value').textContent = flow.soc === null ? '' : `${flow.soc} %`;
  $('node-battery').querySelector('.label').textContent = flow.battery > 0 ? 'Discharge' : flow.battery < 0 ? 'Charge' : 'Battery';
  $('flow-load-value').textContent = watts(flow.load);
  // Paths run from each node to the hub; the home's from the hub out.
  setLink('link-pv', flow.pv, true);
  setLink('link-grid', flow.grid, true);
  setLink('link-battery', flow.battery === null ? null : -flow.battery, false);
  setLink('link-load', flow.load, true);
  // The surplus is the automation's, from its own grid source: said so, as the Grid node may show another meter.
  $('flow-surplus').textContent = `Surplus ${watts(flow.surplus)}${flow.surplusSource ? ` (automation: ${flow.surplusSource})` : ''}`;
  $('flow-sources').textContent = flow.sources === 0 ? 'from the automation\'s measurements' : flow.sources === 1 ? 'one inverter' : `${flow.sources} inverters`;
  $('flow-loads').replaceChildren(
    ...flow.loads.map((load) => h('li', { 'data-rule': load.slug }, load.name, h('span', { class: `badge ${load.state}` }, load.state), h('b', {}, watts(load.drawn)))),
    ...flow.appliances.map((a) => h('li', { 'data-device': a.id }, a.name, h('span', { class: 'muted' }, 'measured'), h('b', {}, watts(a.drawn)))),
  );
}

// ---- devices ----

const COUNTER = /write|budget|requests|quota/;

function renderDevice(device) {
  const previous = state.devices.get(device.id);
  state.devices.set(device.id, device);
  const card = h('article', { class: 'card device', id: `device-${device.id}` });
  const status = device.available ? h('span', { class: 'badge online' }, 'online') : h('span', { class: 'badge unavailable' }, 'unavailable');
  const updated = h('span', { class: 'muted updated', 'data-t': device.updatedAt ?? '' }, ago(device.updatedAt));
  const rows = device.entities.map((entity) => {
    const cell = h('td', {}, shown(entity));
    state.cells.set(`${device.id}/${entity.key}`, { cell, entity });
    // HA is the top window; ingress shows this page in a frame of it.
    const link = h('a', { href: `/config/entities?search=${encodeURIComponent(entity.entityId)}`, target: '_top', title: `${entity.entityId} in Home Assistant` }, '↗');
    return h('tr', { 'data-key': entity.key }, h('td', {}, entity.name), cell, h('td', {}, link));
  });
  const counters = device.entities.filter((e) => COUNTER.test(e.key));
  card.append(...[
    h('div', { class: 'head' }, h('h3', {}, device.name), status),
    h('div', { class: 'muted' }, [device.model, device.owner].filter(Boolean).join(' · '), ' · ', updated),
    device.why ? h('div', { class: 'error' }, device.why) : null,
    counters.length ? h('div', { class: 'budgets' }, counters.map((e) => h('span', { 'data-counter': e.key }, `${e.name}: `, h('b', {}, shown(e))))) : null,
    h('details', { open: previous ? $(`device-${device.id}`)?.querySelector('details')?.open : false }, h('summary', {}, `${device.entities.length} entities`), h('table', {}, h('tbody', {}, rows))),
  ].filter(Boolean));
  const old = $(`device-${device.id}`);
  if (old) old.replaceWith(card);
  else $('device-list').append(card);
}

function updateEntities(batch) {
  for (const entity of batch.entities) {
    const known = state.cells.get(`${entity.device}/${entity.key}`);
    if (!known) {
      const device = state.devices.get(entity.device);
      if (device) renderDevice({ ...device, entities: [...device.entities.filter((e) => e.key !== entity.key), entity] });
      continue;
    }
    known.entity.value = entity.value;
    known.cell.textContent = shown(entity);
    const counter = $(`device-${entity.device}`)?.querySelector(`[data-counter="${entity.key}"] b`);
    if (counter) counter.textContent = shown(entity);
    const updated = $(`device-${entity.device}`)?.querySelector('.updated');
    if (updated) updated.dataset.t = String(batch.time);
  }
}

// ---- rules ----

async function post(slug, body) {
  const res = await fetch(`api/rules/${encodeURIComponent(slug)}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const answer = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(answer.error ?? Object.values(answer.results ?? {}).find((r) => !r.ok)?.reason ?? `status ${res.status}`);
  if (answer.rule) renderRule(answer.rule);
}

function plot(timeline, span) {
  const W = 400, H = 90, now = span?.to ?? Date.now(), day = span?.from ?? now - 24 * 3600_000;
  // A sample a minute, and the changes in between (each with its surplus and draw).
  const samples = [...timeline.samples, ...timeline.changes.filter((c) => c.drawn !== undefined).map((c) => [c.t, c.surplus, c.drawn])].filter((s) => s[0] >= day).sort((a, b) => a[0] - b[0]);
  // The last 24 h, or since the first value when there is less (at least an hour).
  const from = Math.max(day, Math.min(samples[0]?.[0] ?? day, now - 3600_000));
  const max = Math.max(100, ...samples.map((s) => Math.max(s[1] ?? 0, s[2])));
  const x = (t) => ((t - from) / (now - from)) * W;
  const y = (w) => H - 12 - (Math.max(0, w) / max) * (H - 20);
  const surplus = samples.filter((s) => s[1] !== null).map((s, i) => `${i ? 'L' : 'M'}${x(s[0]).toFixed(1)} ${y(s[1]).toFixed(1)}`).join('');
  let drawn = '';
  if (samples.length) {
    drawn = `M${x(samples[0][0]).toFixed(1)} ${y(0)}` + samples.map((s, i) => (i ? `H${x(s[0]).toFixed(1)}` : '') + `V${y(s[2]).toFixed(1)}`).join('') + `H${x(now).toFixed(1)}V${y(0)}Z`;
  }
  return h('svg:svg', { class: 'plot', viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': 'Surplus and drawn power, last 24 hours' },
    h('svg:line', { class: 'axis', x1: 0, x2: W, y1: y(0), y2: y(0) }),
    h('svg:path', { class: 'drawn', d: drawn }),
    h('svg:path', { class: 'surplus', d: surplus }),
    h('svg:text', { x: 2, y: 9 }, watts(max)),
    h('svg:text', { x: 2, y: H - 1 }, span || from !== day ? clock.format(from) : '24 h ago'),
    h('svg:text', { x: W - 2, y: H - 1, 'text-anchor': 'end' }, span ? clock.format(now) : 'now'));
}

function timelineItems(timeline) {
  return timeline.changes.slice().reverse().map((c) =>
    h('li', { 'data-state': c.state },
      h('time', { datetime: new Date(c.t).toISOString() }, clock.format(c.t)),
      h('span', { class: `badge ${c.state}` }, c.state), ' ',
      c.dry ? h('span', { class: 'badge dry' }, 'dry run') : null, ' ',
      h('span', { class: 'text' }, c.reason),
      c.surplus === null ? null : h('span', { class: 'muted' }, ` (surplus ${watts(c.surplus)}, drew ${watts(c.drawn)})`)));
}

function renderRule(rule) {
  state.rules.set(rule.slug, rule);
  let card = $(`rule-${rule.slug}`);
  if (!card) {
    const error = h('div', { class: 'error' });
    const act = (body) => post(rule.slug, body).then(() => (error.textContent = '')).catch((err) => (error.textContent = err.message));
    card = h('article', { class: 'card rule', id: `rule-${rule.slug}` },
      h('div', { class: 'head' }, h('h3', {}, rule.name), h('span', { class: 'badge state' }), h('span', { class: 'badge dry', hidden: true }, 'dry run')),
      h('div', { class: 'muted info' }),
      h('p', { class: 'reason' }),
      h('div', { class: 'controls' },
        h('label', { class: 'switch' }, h('input', { type: 'checkbox', class: 'enabled', onchange: (e) => act({ enabled: e.target.checked }) }), h('span', {}, 'Enabled')),
        h('label', {}, 'Mode ', h('select', { class: 'mode', onchange: (e) => act({ mode: e.target.value }) }, rule.modes.map((m) => h('option', { value: m }, m))))),
      error,
      h('div', { class: 'plot-box' }),
      h('div', { class: 'legend' }, h('i', { class: 'l-surplus' }), 'surplus', h('i', { class: 'l-drawn' }), 'drawn'),
      h('ul', { class: 'timeline' }));
    card.querySelector('.l-surplus').style.background = 'var(--surplus)';
    card.querySelector('.l-drawn').style.background = 'var(--drawn)';
    $('rule-list').append(card);
    renderTimeline(rule.slug);
  }
  const badge = card.querySelector('.badge.state');
  badge.textContent = rule.state ?? '–';
  badge.className = `badge state ${rule.state ?? ''}`;
  card.querySelector('.badge.dry').hidden = !state.dryRun;
  card.querySelector('.info').textContent = `${rule.model} · draws ${watts(rule.drawn ?? 0)}${rule.enabled ? '' : ' · disabled'}`;
  card.querySelector('.reason').textContent = rule.reason ?? '';
  card.querySelector('.enabled').checked = rule.enabled;
  const mode = card.querySelector('.mode');
  if (document.activeElement !== mode) mode.value = rule.mode;
}

function renderTimeline(slug) {
  const card = $(`rule-${slug}`);
  if (!card) return;
  const timeline = state.timelines.get(slug) ?? { changes: [], samples: [] };
  card.querySelector('.plot-box').replaceChildren(plot(timeline));
  card.querySelector('.timeline').replaceChildren(...timelineItems(timeline));
}

async function loadTimeline(slug) {
  const res = await fetch(`api/rules/${encodeURIComponent(slug)}/timeline`);
  if (!res.ok) return;
  const timeline = await res.json();
  state.timelines.set(slug, timeline);
  renderTimeline(slug);
}

function addChange({ slug, change }) {
  const timeline = state.timelines.get(slug) ?? { changes: [], samples: [] };
  timeline.changes.push(change);
  state.timelines.set(slug, timeline);
  renderTimeline(slug);
}

// ---- replay a recorded day ----

async function loadDays() {
  const res = await fetch('api/replay');
  if (!res.ok) return;
  const { days } = await res.json();
  $('replay').hidden = days.length === 0;
  const select = $('replay-day');
  const chosen = select.value;
  select.replaceChildren(...days.slice().reverse().map((d) => h('option', { value: d, selected: d === chosen }, d)));
}

function fillReplaySettings() {
  const ruleSelect = $('replay-rule');
  const chosen = ruleSelect.value;
  ruleSelect.replaceChildren(h('option', { value: '' }, 'as set'), ...[...state.rules.values()].filter((r) => r.settings.length).map((r) => h('option', { value: r.slug, selected: r.slug === chosen }, r.name)));
  const rule = state.rules.get(ruleSelect.value);
  const setting = $('replay-setting');
  const previous = setting.value;
  setting.replaceChildren(...(rule?.settings ?? []).map((s) => h('option', { value: s.key, selected: s.key === previous }, `${s.name}${s.unit ? ` (${s.unit})` : ''}`)));
  const current = rule?.settings.find((s) => s.key === setting.value);
  const value = $('replay-value');
  value.disabled = !current;
  if (current && document.activeElement !== value) Object.assign(value, { min: current.min, max: current.max, value: current.value });
}

const hm = (seconds) => `${Math.floor(seconds / 3600)} h ${String(Math.round((seconds % 3600) / 60)).padStart(2, '0')} min`;
const loadLine = (label, load) => (load ? `${label}: ${load.starts} starts, ${hm(load.onSeconds)} on, ${load.energyKwh.toFixed(2)} kWh` : `${label}: no decision`);

function renderReplay(result) {
  const span = (run) => ({ from: Math.min(...run.rules.flatMap((r) => r.samples.map((x) => x[0]))), to: Math.max(...run.rules.flatMap((r) => r.samples.map((x) => x[0]))) });
  const cards = result.asSet.rules.map((rule) => {
    const changed = result.changed?.rules.find((r) => r.slug === rule.slug);
    const loadOf = (run) => run?.loads.find((l) => l.rule === rule.name);
    return h('article', { class: 'card replay-rule', 'data-rule': rule.slug },
      h('div', { class: 'head' }, h('h3', {}, rule.name)),
      h('p', { class: 'summary as-set' }, loadLine('As set', loadOf(result.asSet))),
      plot(rule, span(result.asSet)),
      changed ? h('p', { class: 'summary changed' }, loadLine('Changed', loadOf(result.changed))) : null,
      changed ? plot(changed, span(result.changed)) : null,
      h('ul', { class: 'timeline' }, timelineItems({ changes: (changed ?? rule).changes.map((c) => ({ ...c, dry: false, surplus: null })) })));
  });
  if (result.skipped.length) cards.push(h('p', { class: 'muted' }, `Not replayed (they follow a device or a calendar): ${result.skipped.join(', ')}`));
  $('replay-result').replaceChildren(...cards);
}

$('replay-rule').addEventListener('change', fillReplaySettings);
$('replay-setting').addEventListener('change', () => { $('replay-value').value = ''; fillReplaySettings(); });
$('replay-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const slug = $('replay-rule').value, key = $('replay-setting').value, value = Number($('replay-value').value);
  const changes = slug && key && $('replay-value').value !== '' ? { [slug]: { [key]: value } } : {};
  $('replay-status').textContent = 'replaying…';
  try {
    const res = await fetch('api/replay', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ day: $('replay-day').value, changes }) });
    const answer = await res.json();
    if (!res.ok) throw new Error(answer.error ?? `status ${res.status}`);
    renderReplay(answer);
    $('replay-status').textContent = '';
  } catch (err) {
    $('replay-status').textContent = err.message;
  }
});

// ---- the whole picture, then live changes ----

function renderAll(snapshot) {
  renderFlow(snapshot.flow);
  state.cells.clear();
  $('device-list').replaceChildren();
  for (const device of snapshot.devices) renderDevice(device);
  state.dryRun = snapshot.dryRun === true;
  $('dry-run').checked = state.dryRun;
  $('rules').hidden = snapshot.dryRun === null;
  $('rule-list').replaceChildren();
  for (const rule of snapshot.rules) {
    renderRule(rule);
    void loadTimeline(rule.slug);
  }
  fillReplaySettings();
  $('replay').hidden = true;
  if (snapshot.rules.length) void loadDays();
}

function connect() {
  const live = $('live');
  const events = new EventSource('api/events');
  const on = (name, handle) => events.addEventListener(name, (e) => handle(JSON.parse(e.data)));
  events.onopen = () => { live.textContent = 'live'; live.className = 'badge on'; };
  events.onerror = () => { live.textContent = 'reconnecting'; live.className = 'badge off'; };
  on('state', renderAll);
  on('flow', renderFlow);
  on('entities', updateEntities);
  on('device', (device) => renderDevice(device));
  on('rule', (rule) => {
    if (typeof rule.dryRun === 'boolean' && rule.dryRun !== state.dryRun) {
      state.dryRun = rule.dryRun;
      $('dry-run').checked = rule.dryRun;
    }
    renderRule(rule);
  });
  on('change', addChange);
  window.energy2mqtt = { events, state };
}

$('dry-run').addEventListener('change', (e) => {
  const first = [...state.rules.keys()][0];
  if (first) void post(first, { dry_run: e.target.checked }).catch(() => (e.target.checked = !e.target.checked));
});
// Only the "… s ago" texts; the data itself arrives as it changes.
window.setInterval(() => {
  for (const el of document.querySelectorAll('.updated')) el.textContent = ago(Number(el.dataset.t) || 0);
}, 5000);
connect();
