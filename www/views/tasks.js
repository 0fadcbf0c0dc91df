// Tasks (GET /nodes/{node}/tasks?source=all): newest first, running ones
// included; each opens its log.
import * as api from '../api.js';
import {h, replace, table, badge, fmtTime, fmtDuration} from '../dom.js';

const REFRESH_MS = 5000;
const TYPES = {vzdump: 'Backup', vzrestore: 'Restore', imgdel: 'Delete backup'};

export default async function tasks(ctx) {
  const list = h('div', {id: 'tasks'});
  replace(ctx.main, h('div', {class: 'toolbar'}, h('h1', null, 'Tasks'),
    h('button', {type: 'button', class: 'btn btn-small', onclick: () => load()}, 'Refresh')), list);

  async function load() {
    const r = await api.call('GET', '/nodes/' + api.enc(ctx.node) + '/tasks',
      {source: 'all', limit: 100}, {signal: ctx.signal});
    const items = r.data || [];
    replace(list, table([
      {label: 'Started', class: 'date', cell: (t) => h('a', {href: '#/task/' + api.enc(t.upid),
        dataset: {upid: t.upid}}, fmtTime(t.starttime))},
      {label: 'Task', cell: (t) => h('span', null, TYPES[t.type] || t.type,
        t.id ? h('strong', null, ' ' + t.id) : null)},
      {label: 'User', class: 'hide-narrow', cell: (t) => t.user + (t.tokenid ? '!' + t.tokenid : '')},
      {label: 'Duration', class: 'num', cell: (t) => (t.endtime
        ? fmtDuration(t.endtime - t.starttime) : fmtDuration(Date.now() / 1000 - t.starttime))},
      {label: 'Status', cell: (t) => badge(t.status || 'RUNNING')},
    ], items, {empty: 'No tasks yet.'}));
  }

  await load();
  const timer = setInterval(() => load().catch(() => {}), REFRESH_MS);
  ctx.signal.addEventListener('abort', () => clearInterval(timer));
}
