// The dashboard's page: polls /api/overview every two seconds (and /api/epochs, the charts'
// epochs, when the history's revision moved: an epoch closed or an audit noted; the table's
// epoch whole from /api/epochs/{n}) and redraws the charts and tables. Charts are drawn here as
// SVG, with no library; each chart's <svg> carries data-points, the number of marks (points or
// bars) it drew, and data-box, where it lies on the page (x,y,width,height in CSS pixels); each
// point its series' key and value (data-key, data-x, data-y). <body data-polls> counts the
// polls answered.
'use strict';

const POLL_MS = 2000;
const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#65a30d', '#475569', '#ea580c'];
const VERDICT_COLORS = { passed: '#16a34a', failed: '#dc2626', voided: '#9ca3af' };
const SVG = 'http://www.w3.org/2000/svg';
const DASHES = ['', '8 4', '2 3', '10 3 2 3'];
const W = 560, H = 250, M = { l: 52, r: 14, t: 12, b: 40 };

const state = { overview: null, epochs: [], buckets: [], lastEpoch: undefined, revision: undefined, selected: null, detail: null };

function el(tag, attrs, text) {
  const node = tag.startsWith('svg:') ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function short(hash) { return hash ? (hash.length > 14 ? hash.slice(0, 8) + '…' + hash.slice(-4) : hash) : '—'; }
function color(uid) { return COLORS[uid % COLORS.length]; }
function fmt(v, digits) { return v === null || v === undefined ? '—' : Number(v).toFixed(digits); }

// A "nice" upper bound and tick step for values up to max.
function niceScale(max) {
  if (!(max > 0)) return { top: 1, step: 0.25 };
  const raw = max / 4, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map(m => m * mag).find(s => s >= raw);
  return { top: Math.ceil(max / step) * step, step };
}

function frame(container, yLabel, xLabel) {
  container.replaceChildren();
  const svg = el('svg:svg', { viewBox: `0 0 ${W} ${H}`, role: 'img' });
  container.append(svg);
  const r = svg.getBoundingClientRect();
  svg.setAttribute('data-box', [r.left + window.scrollX, r.top + window.scrollY, r.width, r.height].map(Math.round).join(','));
  svg.append(el('svg:text', { x: 12, y: M.t + (H - M.t - M.b) / 2, transform: `rotate(-90 12 ${M.t + (H - M.t - M.b) / 2})`, 'text-anchor': 'middle' }, yLabel));
  svg.append(el('svg:text', { x: M.l + (W - M.l - M.r) / 2, y: H - 4, 'text-anchor': 'middle' }, xLabel));
  return svg;
}

function yAxis(svg, top, step, unit) {
  const g = el('svg:g', { class: 'axis' });
  for (let v = 0; v <= top + 1e-9; v += step) {
    const y = M.t + (H - M.t - M.b) * (1 - v / top);
    g.append(el('svg:line', { class: 'grid', x1: M.l, x2: W - M.r, y1: y, y2: y }));
    g.append(el('svg:text', { x: M.l - 6, y: y + 4, 'text-anchor': 'end' }, `${+v.toFixed(2)}${unit || ''}`));
  }
  g.append(el('svg:line', { x1: M.l, x2: M.l, y1: M.t, y2: H - M.b }));
  g.append(el('svg:line', { x1: M.l, x2: W - M.r, y1: H - M.b, y2: H - M.b }));
  svg.append(g);
}

function empty(svg, why) {
  svg.append(el('svg:text', { class: 'empty', x: W / 2, y: H / 2, 'text-anchor': 'middle' }, why));
  svg.setAttribute('data-points', '0');
}

function legend(container, series) {
  const div = el('div', { class: 'legend' });
  for (const s of series) {
    const item = el('span', {}), swatch = el('i', {});
    // Through the CSSOM: the page's CSP refuses style attributes.
    swatch.style.backgroundColor = s.color;
    item.append(swatch, document.createTextNode(s.name));
    div.append(item);
  }
  container.append(div);
}

// One line per series over numeric x (epochs); points [x, y] with y in [0, yTop].
function lineChart(container, series, opts) {
  const svg = frame(container, opts.yLabel, opts.xLabel);
  const xs = series.flatMap(s => s.points.map(p => p[0]));
  if (xs.length === 0) return empty(svg, opts.empty);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const span = x1 - x0 || 1;
  const scale = opts.yTop ? { top: opts.yTop, step: opts.yTop / 4 } : niceScale(Math.max(...series.flatMap(s => s.points.map(p => p[1])))); 
  yAxis(svg, scale.top, scale.step, opts.unit);
  const px = x => M.l + 10 + (W - M.l - M.r - 20) * (x1 === x0 ? 0.5 : (x - x0) / span);
  const py = y => M.t + (H - M.t - M.b) * (1 - y / scale.top);
  const every = Math.max(1, Math.ceil((span + 1) / 10));
  for (let x = x0; x <= x1; x += every) svg.append(el('svg:text', { x: px(x), y: H - M.b + 14, 'text-anchor': 'middle' }, String(x)));
  let points = 0;
  series.forEach((s, k) => {
    if (s.points.length > 1) {
      const line = { points: s.points.map(p => `${px(p[0])},${py(p[1])}`).join(' '), fill: 'none', stroke: s.color, 'stroke-width': 2 };
      // Lines that overlap (several miners at 100%) stay apart by their dashes.
      if (opts.dashed && DASHES[k % DASHES.length]) line['stroke-dasharray'] = DASHES[k % DASHES.length];
      svg.append(el('svg:polyline', line));
    }
    for (const p of s.points) {
      const dot = el('svg:circle', { class: 'pt', cx: px(p[0]), cy: py(p[1]), r: 3.5, fill: s.color, 'data-key': s.key ?? '', 'data-x': p[0], 'data-y': p[1] });
      dot.append(el('svg:title', {}, `${s.name}, epoch ${p[0]}: ${fmt(p[1], 1)}${opts.unit || ''}`));
      svg.append(dot);
      points += 1;
    }
  });
  svg.setAttribute('data-points', String(points));
  legend(container, series);
}

// Bars: categories along x; each category one group of bars (grouped) or one stack (stacked).
function barChart(container, categories, series, opts) {
  const svg = frame(container, opts.yLabel, opts.xLabel);
  const totals = categories.map((_, i) => opts.stacked ? series.reduce((a, s) => a + (s.values[i] || 0), 0) : Math.max(0, ...series.map(s => s.values[i] || 0)));
  if (categories.length === 0 || Math.max(0, ...totals) === 0) return empty(svg, opts.empty);
  const scale = niceScale(Math.max(...totals));
  yAxis(svg, scale.top, scale.step, '');
  const band = (W - M.l - M.r) / categories.length;
  const py = v => (H - M.t - M.b) * (v / scale.top);
  let bars = 0;
  categories.forEach((cat, i) => {
    const x = M.l + band * i;
    svg.append(el('svg:text', { x: x + band / 2, y: H - M.b + 14, 'text-anchor': 'middle' }, cat));
    let base = H - M.b;
    const width = opts.stacked ? band * 0.6 : (band * 0.8) / series.length;
    series.forEach((s, k) => {
      const v = s.values[i] || 0;
      if (v <= 0) return;
      const h = py(v);
      const bx = opts.stacked ? x + band * 0.2 : x + band * 0.1 + width * k;
      const by = opts.stacked ? base - h : H - M.b - h;
      const rect = el('svg:rect', { class: 'bar', x: bx, y: by, width: Math.max(1, width - 1), height: h, fill: s.color });
      rect.append(el('svg:title', {}, `${s.name}, ${cat}: ${v}`));
      svg.append(rect);
      if (opts.stacked) base -= h;
      bars += 1;
    });
  });
  svg.setAttribute('data-points', String(bars));
  legend(container, series);
}

function minerName(row) { return `uid ${row.uid}${row.hotkey ? ' ' + row.hotkey.slice(0, 6) : ''}`; }

function uids() {
  const seen = new Map();
  for (const e of state.epochs) for (const m of e.miners) seen.set(m.uid, m);
  for (const m of (state.overview ? state.overview.current : [])) if (!seen.has(m.uid)) seen.set(m.uid, m);
  return [...seen.values()].sort((a, b) => a.uid - b.uid);
}

function drawWeights() {
  const series = uids().map(m => ({
    name: minerName(m), color: color(m.uid), key: m.uid,
    // The share of every uid's weight, as the server computed it (uids not shown included).
    points: state.epochs.filter(e => !e.unscored).map(e => {
      const row = e.miners.find(r => r.uid === m.uid);
      return [e.epoch, row && row.share ? row.share : 0];
    }),
  }));
  lineChart(document.getElementById('chart-weights'), series, { yLabel: 'weight share', xLabel: 'epoch', unit: '%', yTop: 100, empty: 'no closed epoch yet' });
}

function drawPassRate() {
  const series = uids().map(m => ({
    name: minerName(m), color: color(m.uid), key: m.uid,
    points: state.epochs.flatMap(e => {
      const row = e.miners.find(r => r.uid === m.uid);
      const judged = row ? row.verdicts.passed + row.verdicts.failed : 0;
      return judged > 0 ? [[e.epoch, 100 * row.verdicts.passed / judged]] : [];
    }),
  }));
  lineChart(document.getElementById('chart-passrate'), series, { yLabel: 'passed', xLabel: 'epoch', unit: '%', yTop: 100, dashed: true, empty: 'no judged challenge yet' });
}

function selectedRows() {
  if (state.selected === 'current' || state.selected === null) return state.overview ? state.overview.current : [];
  if (state.detail && String(state.detail.epoch) === state.selected) return state.detail.miners;
  const e = state.epochs.find(x => String(x.epoch) === state.selected);
  return e ? e.miners : [];
}

// The selected closed epoch whole (its rows' score components among it), fetched once per
// selection and history revision.
async function loadDetail() {
  if (state.selected === 'current' || state.selected === null) return;
  if (state.detail && String(state.detail.epoch) === state.selected) return;
  try { state.detail = await getJson(`/api/epochs/${state.selected}`); } catch (e) { state.detail = null; }
}

function drawLatency() {
  const bounds = state.buckets;
  const categories = bounds.map(b => `≤${b}`).concat(bounds.length ? [`>${bounds[bounds.length - 1]}`] : []);
  const rows = selectedRows().filter(r => r.latency);
  const series = rows.map(r => ({ name: minerName(r), color: color(r.uid), values: r.latency.buckets }));
  document.getElementById('latency-epoch').textContent = state.selected === 'current' ? 'open epoch so far' : `epoch ${state.selected}`;
  barChart(document.getElementById('chart-latency'), categories, series, { yLabel: 'requests', xLabel: 'latency (ms)', empty: 'no request answered yet' });
}

function drawVerdicts() {
  const epochs = state.epochs.slice(-24);
  const sum = (e, k) => e.miners.reduce((a, r) => a + r.verdicts[k], 0);
  const series = ['passed', 'failed', 'voided'].map(k => ({ name: k, color: VERDICT_COLORS[k], values: epochs.map(e => sum(e, k)) }));
  barChart(document.getElementById('chart-verdicts'), epochs.map(e => String(e.epoch)), series, { stacked: true, yLabel: 'challenges', xLabel: 'epoch', empty: 'no challenge yet' });
}

function td(text, cls, title) {
  const cell = el('td', cls ? { class: cls } : {}, text);
  if (title) cell.title = title;
  return cell;
}

function drawMiners() {
  const rows = selectedRows();
  const names = [...new Set(rows.flatMap(r => r.components.map(c => c.name)))];
  const head = el('tr');
  for (const h of ['uid', 'hotkey', 'weight', 'score', ...names, 'requests', 'ok', 'pass', 'fail', 'void', 'p50 ms', 'p90 ms']) head.append(el('th', h === 'hotkey' ? { class: 'text' } : {}, h));
  const table = document.getElementById('miners');
  table.tHead.replaceChildren(head);
  table.tBodies[0].replaceChildren(...rows.map(r => {
    const tr = el('tr', { 'data-uid': r.uid, 'data-weight': r.weight === null ? '' : r.weight, class: r.weight === 0 ? 'zero' : '' });
    const share = r.weight !== null && r.share !== null && r.share !== undefined ? ` (${r.share.toFixed(1)}%)` : '';
    tr.append(td(String(r.uid)), td(short(r.hotkey), 'text mono', r.hotkey), td(r.weight === null ? '—' : `${r.weight}${share}`, 'weight'), td(fmt(r.score, 4)));
    for (const n of names) { const c = r.components.find(x => x.name === n); tr.append(td(c ? fmt(c.value, 4) : '—')); }
    const l = r.latency;
    tr.append(td(String(r.requests)), td(String(r.ok)), td(String(r.verdicts.passed)), td(String(r.verdicts.failed)), td(String(r.verdicts.voided)), td(l ? fmt(l.p50_ms, 0) : '—'), td(l ? fmt(l.p90_ms, 0) : '—'));
    return tr;
  }));
}

function drawEpochSelect() {
  const select = document.getElementById('epoch-select');
  const options = [['current', 'open epoch (so far)'], ...state.epochs.slice().reverse().map(e => [String(e.epoch), `epoch ${e.epoch}`])];
  // Rebuilt only when the list changed: a rebuild under an open dropdown would close it.
  const key = options.map(o => o[0]).join(',');
  if (select.dataset.key !== key) {
    select.replaceChildren(...options.map(([value, label]) => el('option', { value }, label)));
    select.dataset.key = key;
  }
  if (select.value !== state.selected) select.value = state.selected;
}

function drawEpochs() {
  const queued = new Set((state.overview && state.overview.queued) || []);
  const link = e => {
    const c = el('td', { class: 'text' });
    // Still in the outgoing queue: not published yet, so no link.
    if (queued.has(e.epoch)) c.append(el('span', { class: 'badge queued', title: e.summary_key }, 'queued'));
    else c.append(el('a', { href: `/api/summaries/${e.epoch}`, title: e.summary_key }, 'summary.json'));
    return c;
  };
  const audit = e => { const c = el('td', { class: 'text' }); const v = e.audit ? e.audit.verdict : 'none'; c.append(el('span', { class: `badge ${v}`, title: e.audit && e.audit.detail ? e.audit.detail : '' }, e.audit ? v : 'not audited')); return c; };
  document.querySelector('#epochs tbody').replaceChildren(...state.epochs.slice().reverse().map(e => {
    const tr = el('tr', { 'data-epoch': e.epoch });
    tr.append(td(String(e.epoch)), td(short(e.scorer), 'text mono', e.scorer), td(short(e.shadow), 'text mono', e.shadow || ''), td(short(e.challenger), 'text mono', e.challenger || ''), audit(e), link(e));
    return tr;
  }));
}

function drawOverview() {
  const o = state.overview;
  document.getElementById('role').textContent = o.role;
  const facts = [['validator', short(o.validator)], ['netuid', o.netuid], ['chain', o.chain || '—'], ['head', o.head ?? '—'], ['open epoch', o.epoch ?? '—'], ['last closed', o.last_epoch ?? '—']];
  if (o.chain_error) facts.push(['chain error', o.chain_error]);
  document.getElementById('facts').replaceChildren(...facts.map(([k, v]) => { const d = el('div'); d.append(el('dt', {}, k), el('dd', {}, String(v))); return d; }));
  const p = o.policies;
  const pol = [['active scorer', p.scorer || '—'], ['in shadow (pending swap)', p.shadow || 'none'], ['challenger', p.challenger || '—']];
  const dl = document.getElementById('policies');
  dl.replaceChildren(...pol.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
  for (const a of p.announcements) dl.append(el('dt', {}, 'announcement'), el('dd', {}, a));
  document.getElementById('notes').replaceChildren(...(o.notes.length ? o.notes : ['nothing to report']).map(n => el('li', {}, n)));
}

function draw() {
  if (!state.overview) return;
  drawOverview();
  drawEpochSelect();
  drawMiners();
  drawWeights();
  drawPassRate();
  drawLatency();
  drawVerdicts();
  drawEpochs();
}

async function getJson(path) {
  const r = await fetch(path, { cache: 'no-store' });
  if (!r.ok) throw new Error(`${path}: ${r.status}`);
  return r.json();
}

async function poll() {
  const live = document.getElementById('live');
  try {
    state.overview = await getJson('/api/overview');
    if (state.overview.revision !== state.revision) {
      const body = await getJson('/api/epochs');
      state.epochs = body.epochs;
      state.buckets = body.latency_buckets_ms;
      state.revision = body.revision;
      state.detail = null;
      // A new epoch closed: follow it (unless the open epoch is shown).
      if (state.overview.last_epoch !== state.lastEpoch && state.selected !== 'current') state.selected = null;
      state.lastEpoch = state.overview.last_epoch;
    }
    if (state.selected === null) state.selected = state.epochs.length ? String(state.epochs[state.epochs.length - 1].epoch) : 'current';
    await loadDetail();
    draw();
    document.body.dataset.polls = String(Number(document.body.dataset.polls || 0) + 1);
    live.textContent = `live · ${new Date().toLocaleTimeString()}`;
    live.className = 'live ok';
  } catch (e) {
    live.textContent = `unreachable (${e.message})`;
    live.className = 'live down';
  }
  setTimeout(poll, POLL_MS);
}

document.addEventListener('DOMContentLoaded', () => {
  document.getElementById('epoch-select').addEventListener('change', ev => { state.selected = ev.target.value; loadDetail().then(draw); });
  poll();
});
