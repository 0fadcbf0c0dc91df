// Containers: name, state, the newest backup (the `last-backup` extension
// of GET /nodes/{node}/lxc), actions "Back up" and "Restore".
import * as api from '../api.js';
import {h, replace, table, badge, fmtTime, fmtAgo, fmtBytes} from '../dom.js';

const REFRESH_MS = 10000;

function lastBackup(ct) {
  const b = ct['last-backup'];
  if (!b) return h('span', {class: 'muted'}, 'never');
  const ok = b.result === 'ok' || b.result === 'warnings' || b.result === 'warning';
  return h('span', {class: 'last-backup'},
    badge(b.result || '?', ok ? (b.result === 'ok' ? 'ok' : 'warn') : 'error'), ' ',
    h('time', {title: fmtTime(b.time)}, fmtTime(b.time)),
    h('span', {class: 'muted'}, ' (' + fmtAgo(b.time) + ')'),
    b.storage ? h('span', {class: 'muted'}, ' on ',
      h('a', {href: '#/storage/' + api.enc(b.storage) + '?vmid=' + api.enc(String(ct.vmid))},
        b.storage)) : null);
}

export default async function containers(ctx) {
  const list = h('div', {id: 'containers'});
  const stamp = h('span', {class: 'muted small'});
  replace(ctx.main,
    h('div', {class: 'toolbar'}, h('h1', null, 'Containers'), stamp,
      h('button', {type: 'button', class: 'btn btn-small', onclick: () => load()}, 'Refresh')),
    list);

  async function load() {
    const cts = await api.get('/nodes/' + api.enc(ctx.node) + '/lxc', null, {signal: ctx.signal});
    cts.sort((a, b) => String(a.vmid).localeCompare(String(b.vmid), undefined, {numeric: true}));
    replace(list, table([
      {label: 'Container', class: 'name', cell: (c) => h('span', null,
        h('strong', {class: 'ct-id'}, String(c.vmid)),
        c.name && c.name !== String(c.vmid) ? h('span', {class: 'muted'}, ' ' + c.name) : null)},
      {label: 'State', class: 'state', cell: (c) => h('span', null,
        badge(c.status, c.status === 'running' ? 'ok' : 'stopped'),
        c.lock ? h('span', {class: 'badge badge-running'}, 'lock: ' + c.lock) : null)},
      {label: 'Memory', class: 'num hide-narrow', cell: (c) => (c.status === 'running'
        ? fmtBytes(c.mem) : '—')},
      {label: 'Newest backup', class: 'backup', cell: lastBackup},
      {label: 'Actions', class: 'actions', cell: (c) => h('span', {class: 'buttons'},
        h('a', {class: 'btn btn-small btn-primary', href: '#/backup/' + api.enc(String(c.vmid)),
          dataset: {action: 'backup'}}, 'Back up'),
        h('a', {class: 'btn btn-small', href: '#/restore?ct=' + api.enc(String(c.vmid)),
          dataset: {action: 'restore'}}, 'Restore'))},
    ], cts, {
      empty: 'No containers (or none you may see).',
      rowData: (c) => ({ct: String(c.vmid), state: c.status}),
    }));
    stamp.textContent = 'updated ' + fmtTime(Date.now() / 1000).slice(11);
  }

  await load();
  const timer = setInterval(() => load().catch(() => {}), REFRESH_MS);
  ctx.signal.addEventListener('abort', () => clearInterval(timer));
}
