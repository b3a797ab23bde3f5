// The ganhost page: generated samples, training with a live loss chart, and saved versions.
// Plain DOM code, no framework; served with a CSP that allows only same-origin scripts, so it
// must stay in this file (no inline script or style attributes).
'use strict';

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = 'ganhost.token';
const POLL_MS = 1000;
const GRID_PX = 448; // displayed grid size; n = 16, 64 or 256 fills it at a whole scale

const state = {
  model: '',       // model name, from /readyz
  status: null,    // the last GET /models/{name}
  points: [],      // [{step, d, g}] from /train/history, ascending
  lastStep: 0,
  gridKey: '',     // URL + served version of the grid shown
  gridBlob: '',    // object URL of the grid shown
  gridSeq: 0,      // drops answers of superseded grid requests
  training: false,
};

class APIError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// ---- errors shown inline ----

function showError(id, err) {
  const el = $(id);
  el.textContent = err ? String(err.message || err) : '';
  el.hidden = !err;
}

// ---- HTTP ----

// api sends a request and returns its JSON body; an error answer becomes an APIError carrying
// the server's message. A write answered 401 asks for the token and is sent again with it.
async function api(method, path, body) {
  let refused = false;
  for (;;) {
    const headers = {};
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token && method !== 'GET') headers.Authorization = 'Bearer ' + token;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(path, {
      method, headers, cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status === 401 && method !== 'GET') {
      if (token) {
        sessionStorage.removeItem(TOKEN_KEY);
        refused = true;
      }
      const t = await askToken(refused ? 'That token was refused. Enter the server token (GANHOST_TOKEN).'
        : 'This server needs a token (GANHOST_TOKEN) to change the model.');
      if (!t) throw new APIError(401, 'cancelled: this action needs the server token');
      sessionStorage.setItem(TOKEN_KEY, t);
      continue;
    }
    return readBody(res);
  }
}

async function readBody(res) {
  const type = res.headers.get('Content-Type') || '';
  const data = type.includes('json') ? await res.json().catch(() => null) : null;
  if (!res.ok) {
    let msg = (data && data.error) || `${res.status} ${res.statusText}`;
    if (data && data.progress) msg += ` (run in progress: ${data.progress.steps_run}/${data.progress.steps} steps)`;
    throw new APIError(res.status, msg);
  }
  return data;
}

// askToken shows the token dialog; it resolves to the token, or null when cancelled.
function askToken(message) {
  const dialog = $('token-dialog');
  $('token-message').textContent = message;
  $('token').value = '';
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      const t = $('token').value.trim();
      resolve(dialog.returnValue === 'ok' && t ? t : null);
    }, { once: true });
  });
}

// ---- samples ----

function gridURL() {
  const n = Number($('n').value);
  const cols = Math.ceil(Math.sqrt(n));
  const scale = Math.max(1, Math.min(8, Math.round(GRID_PX / (28 * cols))));
  const q = new URLSearchParams({ n: String(n), seed: $('seed').value || '0', scale: String(scale) });
  const digit = $('digit').value;
  if (!$('digit-field').hidden && digit !== '') q.set('digit', digit);
  return '/generate?' + q;
}

// loadGrid shows the grid for the current controls. The PNG is fetched and shown through a
// blob: URL: /generate has no cache validators, and a browser reuses an image it already has
// for the same URL, so a plain <img src> would keep showing the old version after a save.
async function loadGrid() {
  const url = gridURL();
  const version = state.status ? state.status.served_version : 0;
  const key = url + '#v' + version;
  if (key === state.gridKey) return;
  state.gridKey = key;
  const seq = ++state.gridSeq;
  const img = $('grid');
  img.dataset.src = url;
  $('grid-link').href = url;
  img.classList.add('loading');
  try {
    const res = await fetch(url, { cache: 'no-store' });
    if (!res.ok) await readBody(res); // throws the server's message
    const blob = await res.blob();
    if (seq !== state.gridSeq) return;
    if (state.gridBlob) URL.revokeObjectURL(state.gridBlob);
    state.gridBlob = URL.createObjectURL(blob);
    img.src = state.gridBlob;
    $('grid-info').textContent = `seed ${res.headers.get('X-Seed')} · version ${res.headers.get('X-Model-Version')}`;
    showError('samples-error', null);
  } catch (err) {
    if (seq !== state.gridSeq) return;
    state.gridKey = ''; // retry on the next change or poll
    showError('samples-error', err);
  } finally {
    if (seq === state.gridSeq) img.classList.remove('loading');
  }
}

function newSeed() {
  $('seed').value = String(Math.floor(Math.random() * 2 ** 31));
  loadGrid();
}

// ---- model status and versions ----

function renderStatus(st) {
  const prev = state.status;
  state.status = st;
  $('model-info').textContent =
    `model ${st.name} (${st.kind}) · serving version ${st.served_version} · step ${st.step || '?'} · dataset ${st.dataset || 'none (training off)'}`;
  $('digit-field').hidden = st.kind !== 'conditional';

  const list = $('version-list');
  list.replaceChildren(...st.versions.slice().reverse().map((v) => {
    const li = document.createElement('li');
    li.textContent = `version ${v.version}`;
    li.dataset.version = String(v.version);
    if (v.served) {
      li.classList.add('served');
      const tag = document.createElement('span');
      tag.className = 'tag';
      tag.textContent = 'served';
      li.append(' ', tag);
    }
    return li;
  }));
  $('unsaved').textContent = st.unsaved_steps === 1 ? '1 unsaved step' : `${st.unsaved_steps} unsaved steps`;

  const run = st.training;
  // Progress only while this page's own run is going: a status answer that was in flight when
  // the run ended must not overwrite the run's result line.
  if (run && state.training) $('train-info').textContent = `training: ${run.steps_run}/${run.steps} steps`;
  $('train').disabled = state.training || !!run || !st.dataset;
  $('save').disabled = !!run;

  if (!prev || prev.served_version !== st.served_version || prev.kind !== st.kind) loadGrid();
}

async function refreshStatus() {
  if (!state.model) {
    const ready = await api('GET', '/readyz');
    state.model = ready.model;
  }
  renderStatus(await api('GET', '/models/' + encodeURIComponent(state.model)));
}

async function saveVersion() {
  $('save').disabled = true;
  showError('versions-error', null);
  try {
    const saved = await api('POST', '/models/' + encodeURIComponent(state.model) + '/versions');
    $('unsaved').textContent = `saved version ${saved.version}`;
    await refreshStatus(); // the served version changed: this reloads the grid

  } catch (err) {
    showError('versions-error', err);
  } finally {
    $('save').disabled = !!(state.status && state.status.training);
  }
}

// ---- training and the loss chart ----

async function train(event) {
  event.preventDefault();
  const steps = Number($('steps').value);
  state.training = true;
  $('train').disabled = true;
  $('train-info').textContent = `training ${steps} steps…`;
  showError('train-error', null);
  try {
    const r = await api('POST', '/train/step', { steps });
    $('train-info').textContent =
      `step ${r.step}: d_loss ${r.d_loss.toFixed(3)}, g_loss ${r.g_loss.toFixed(3)} · ${Math.round(r.images_per_second)} images/s`;
    await Promise.all([refreshStatus(), refreshHistory()]);
  } catch (err) {
    $('train-info').textContent = '';
    showError('train-error', err);
  } finally {
    state.training = false;
    $('train').disabled = !!(state.status && (state.status.training || !state.status.dataset));
  }
}

async function refreshHistory() {
  // The global step went back (a diverged step reset the training state, or a new server):
  // start the chart again.
  if (state.status && state.status.step > 0 && state.status.step < state.lastStep) {
    state.points = [];
    state.lastStep = 0;
  }
  const h = await api('GET', `/train/history?since=${state.lastStep}&limit=10000`);
  if (!h.steps.length) return;
  for (const s of h.steps) state.points.push({ step: s.step, d: s.d_loss, g: s.g_loss });
  state.lastStep = h.steps[h.steps.length - 1].step;
  if (state.points.length > 10000) state.points = state.points.slice(-10000);
  drawChart();
}

const SVG = 'http://www.w3.org/2000/svg';

function svgEl(name, attrs, text) {
  const el = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

function fmt(v) {
  return Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2);
}

// drawChart draws d_loss and g_loss against the global step into the SVG.
function drawChart() {
  const svg = $('chart');
  const W = 640, H = 260, L = 48, R = 12, T = 12, B = 28;
  const pts = state.points;
  const kids = [svgEl('rect', { x: L, y: T, width: W - L - R, height: H - T - B, class: 'plot' })];
  $('chart-info').textContent = pts.length ? `· ${pts.length} steps, last ${pts[pts.length - 1].step}` : '';
  if (!pts.length) {
    kids.push(svgEl('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'empty' }, 'no training steps yet'));
    svg.replaceChildren(...kids);
    return;
  }
  const x0 = pts[0].step, x1 = Math.max(pts[pts.length - 1].step, x0 + 1);
  let y0 = Infinity, y1 = -Infinity;
  for (const p of pts) {
    y0 = Math.min(y0, p.d, p.g);
    y1 = Math.max(y1, p.d, p.g);
  }
  y0 = Math.min(0, y0);
  if (y1 - y0 < 1e-6) y1 = y0 + 1;
  const sx = (s) => L + ((s - x0) / (x1 - x0)) * (W - L - R);
  const sy = (v) => T + (1 - (v - y0) / (y1 - y0)) * (H - T - B);

  for (let i = 0; i <= 4; i++) { // horizontal grid lines with loss labels
    const v = y0 + ((y1 - y0) * i) / 4, y = sy(v);
    kids.push(svgEl('line', { x1: L, x2: W - R, y1: y, y2: y, class: 'gridline' }));
    kids.push(svgEl('text', { x: L - 6, y: y + 4, 'text-anchor': 'end' }, fmt(v)));
  }
  kids.push(svgEl('text', { x: L, y: H - 8, 'text-anchor': 'start' }, `step ${x0}`));
  kids.push(svgEl('text', { x: W - R, y: H - 8, 'text-anchor': 'end' }, `step ${x1}`));

  // At most ~one point per pixel column: average the losses of steps sharing a column.
  const cols = new Map();
  for (const p of pts) {
    const c = Math.round(sx(p.step));
    const a = cols.get(c) || { n: 0, d: 0, g: 0 };
    a.n++; a.d += p.d; a.g += p.g;
    cols.set(c, a);
  }
  const line = (key, cls) => {
    const coords = [...cols].map(([c, a]) => `${c},${sy(a[key] / a.n).toFixed(1)}`).join(' ');
    return svgEl('polyline', { points: coords, class: 'line ' + cls });
  };
  kids.push(line('d', 'd'), line('g', 'g'));
  svg.replaceChildren(...kids);
}

// ---- polling ----

async function poll() {
  try {
    await refreshStatus();
    await refreshHistory();
    showError('status-error', null);
  } catch (err) {
    showError('status-error', err);
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

function init() {
  $('seed').value = String(Math.floor(Math.random() * 2 ** 31));
  $('sample-form').addEventListener('submit', (e) => { e.preventDefault(); loadGrid(); });
  $('seed').addEventListener('change', () => loadGrid());
  $('n').addEventListener('change', () => loadGrid());
  $('digit').addEventListener('change', () => loadGrid());
  $('new-seed').addEventListener('click', newSeed);
  $('train-form').addEventListener('submit', train);
  $('save').addEventListener('click', saveVersion);
  $('token-cancel').addEventListener('click', () => $('token-dialog').close('cancel'));
  drawChart();
  poll();
}

init();
