// Storages (GET /nodes/{node}/storage): type, state, usage; each links to
// its backups.
import * as api from '../api.js';
import {h, replace, table, badge, fmtBytes} from '../dom.js';

export default async function storages(ctx) {
  const list = await api.get('/nodes/' + api.enc(ctx.node) + '/storage', null,
    {signal: ctx.signal});
  list.sort((a, b) => a.storage.localeCompare(b.storage));
  replace(ctx.main,
    h('div', {class: 'toolbar'}, h('h1', null, 'Storage')),
    h('div', {id: 'storages'}, table([
      {label: 'Storage', class: 'name', cell: (s) => h('a', {href: '#/storage/' + api.enc(s.storage),
        dataset: {storage: s.storage}}, h('strong', null, s.storage))},
      {label: 'Type', cell: (s) => s.type},
      {label: 'State', cell: (s) => (!s.enabled ? badge('disabled', 'stopped')
        : s.active ? badge('active', 'ok') : badge('inactive', 'error'))},
      {label: 'Usage', class: 'usage', cell: (s) => (s.total > 0 ? h('span', {class: 'usage'},
        h('meter', {min: 0, max: s.total, value: s.used, low: s.total * 0.8, high: s.total * 0.9,
          optimum: 0}),
        ' ' + fmtBytes(s.used) + ' of ' + fmtBytes(s.total)) : h('span', {class: 'muted'}, '—'))},
      {label: 'Free', class: 'num', cell: (s) => (s.total > 0 ? fmtBytes(s.avail) : '—')},
    ], list, {empty: 'No storages (or none you may see).'})));
}
