// DOM helpers. Every text goes through textContent / text nodes: container,
// storage, file and task names are hostile text, so nothing here (or
// anywhere in the console) parses HTML — no innerHTML, no insertAdjacentHTML.

const FORBIDDEN = new Set(['innerHTML', 'outerHTML', 'style', 'srcdoc']);

// h('a', {href: '#/x', class: 'btn', onclick: fn}, 'text', child, [more])
// Attributes: `class` (string or array), `dataset` (object), `on<event>`
// (a function), the properties value/checked/selected/disabled, anything
// else as an attribute (true: present, false/null/undefined: absent).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (FORBIDDEN.has(k)) throw new Error('h(): attribute ' + k + ' is not allowed');
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2).toLowerCase(), v);
    } else if (k === 'class') {
      el.className = Array.isArray(v) ? v.filter(Boolean).join(' ') : String(v);
    } else if (k === 'dataset') {
      Object.assign(el.dataset, v);
    } else if (k === 'value' || k === 'checked' || k === 'selected' || k === 'disabled') {
      el[k] = v;
    } else if (k === 'href' && !/^(#|\/|https?:)/.test(String(v))) {
      throw new Error('h(): unexpected href');
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of [children].flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

// ---- formatting ----

export function fmtBytes(n) {
  if (n === null || n === undefined || n === '') return '—';
  n = Number(n);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? String(n) : n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0)) + ' ' + units[i];
}

const pad = (n) => String(n).padStart(2, '0');

export function fmtTime(epoch) {
  if (!epoch) return '—';
  const d = new Date(Number(epoch) * 1000);
  return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
    pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
}

export function fmtDuration(s) {
  if (s === null || s === undefined || s < 0) return '—';
  s = Math.round(s);
  if (s < 60) return s + ' s';
  if (s < 3600) return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
  return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
}

export function fmtAgo(epoch) {
  if (!epoch) return '';
  const s = Date.now() / 1000 - Number(epoch);
  if (s < 60) return 'just now';
  if (s < 3600) return Math.floor(s / 60) + ' min ago';
  if (s < 86400) return Math.floor(s / 3600) + ' h ago';
  return Math.floor(s / 86400) + ' d ago';
}

// A task's exit status as PVE words it ("OK", "WARNINGS: n", the error).
export function statusClass(status) {
  if (!status) return 'unknown';
  if (status === 'OK' || status === 'ok') return 'ok';
  if (status === 'RUNNING' || status === 'running') return 'running';
  if (/^WARNINGS/.test(status) || status === 'warning' || status === 'warnings') return 'warn';
  return 'error';
}

export function badge(text, cls) {
  return h('span', {class: ['badge', 'badge-' + (cls || statusClass(text))]}, text);
}

// A table that becomes a list of cards on a phone (style.css): each cell
// carries its column's name in data-label. columns: [{label, cell(row) →
// node|string, class}], rows: [...].
export function table(columns, rows, opts = {}) {
  const head = h('thead', null, h('tr', null, columns.map((c) =>
    h('th', {class: c.class, scope: 'col'}, c.label))));
  const body = h('tbody', null, rows.map((r) => h('tr', {
    class: opts.rowClass ? opts.rowClass(r) : null,
    dataset: opts.rowData ? opts.rowData(r) : null,
  }, columns.map((c) => h('td', {class: c.class, dataset: {label: c.label}}, c.cell(r))))));
  if (!rows.length) {
    body.append(h('tr', {class: 'empty'}, h('td', {colspan: columns.length},
      opts.empty || 'Nothing here.')));
  }
  return h('table', {class: ['cards', opts.class]}, head, body);
}

// A modal confirmation (a <dialog>): resolves true or false.
export function confirmDialog(title, text, okLabel = 'OK', danger = false) {
  return new Promise((resolve) => {
    const done = (v) => { dlg.close(); dlg.remove(); resolve(v); };
    const dlg = h('dialog', {class: 'confirm', 'aria-label': title},
      h('h2', null, title),
      h('p', null, text),
      h('div', {class: 'buttons'},
        h('button', {type: 'button', class: 'btn', onclick: () => done(false)}, 'Cancel'),
        h('button', {type: 'button', class: ['btn', danger ? 'btn-danger' : 'btn-primary'],
          'data-confirm': 'yes', onclick: () => done(true)}, okLabel)));
    dlg.addEventListener('cancel', (e) => { e.preventDefault(); done(false); });
    document.body.append(dlg);
    dlg.showModal();
  });
}

// A dialog form's submit, after its onsubmit called preventDefault: hides
// `message`, disables `submit` and awaits `action` (the API call, then the
// navigation away). A failure other than a lost login or a left page is
// shown in `message` as text, and `submit` is enabled again.
export async function submitForm(message, submit, action) {
  message.hidden = true;
  submit.disabled = true;
  try {
    await action();
  } catch (err) {
    if (err.unauthorized || err.name === 'AbortError') return;
    message.textContent = err.describe ? err.describe() : err.message;
    message.hidden = false;
    submit.disabled = false;
  }
}
