// One task's live log: polls tasks/{upid}/status and
// log?start=<lines so far>&limit=500 every second while it runs, appends the
// new lines, stops at `stopped` and shows the exit status. The task runs on
// the server whatever the browser does: after a new login this page picks
// up the log from the start.
import * as api from '../api.js';
import {h, replace, badge, fmtTime, fmtDuration, confirmDialog} from '../dom.js';

const POLL_MS = 1000;
const PAGE = 500;
const TYPES = {vzdump: 'Backup', vzrestore: 'Restore', imgdel: 'Delete backup'};

export function parseUpid(upid) {
  const p = upid.split(':');
  if (p.length < 9 || p[0] !== 'UPID') return null;
  return {node: p[1], starttime: parseInt(p[4], 16), type: p[5], id: p[6],
    user: p.slice(7, p.length - 1).join(':')};
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, {once: true});
  });
}

export default async function task(ctx) {
  const upid = ctx.args[0] || '';
  const info = parseUpid(upid) || {type: 'task', id: '', user: '', starttime: 0};
  const base = '/nodes/' + api.enc(ctx.node) + '/tasks/' + api.enc(upid);
  const title = (TYPES[info.type] || info.type) + (info.id ? ' ' + info.id : '');
  ctx.setTitle(title);

  const state = h('span', {id: 'task-state'}, badge('loading', 'unknown'));
  const exit = h('span', {id: 'task-exit'});
  const elapsed = h('span', {class: 'muted'});
  const stop = h('button', {type: 'button', class: 'btn btn-small btn-danger', id: 'task-stop',
    hidden: true, onclick: async () => {
      if (!await confirmDialog('Stop task', 'Stop ' + title + '?', 'Stop', true)) return;
      try {
        await api.del(base, null, {signal: ctx.signal});
      } catch (e) { if (!e.unauthorized) error.textContent = e.describe(); }
    }}, 'Stop');
  const error = h('p', {class: 'error', role: 'alert'});
  const log = h('pre', {class: 'log', id: 'task-log', tabindex: 0, 'aria-live': 'off'});
  const follow = h('input', {type: 'checkbox', id: 'task-follow', checked: true});
  replace(ctx.main,
    h('p', {class: 'crumbs'}, h('a', {href: '#/tasks'}, 'Tasks'), ' / ', title),
    h('div', {class: 'toolbar'}, h('h1', null, title), state, exit, stop),
    h('p', {class: 'meta'},
      h('span', null, 'started ' + fmtTime(info.starttime)), ' · ',
      h('span', null, 'by ' + info.user), elapsed, ' · ',
      h('label', {class: 'inline-check'}, follow, ' follow'),
      ' · ', h('a', {href: '/api2/json' + base + '/log?download=1', download: 'task.log',
        id: 'task-download'}, 'download'),
      ' · ', h('span', {class: 'mono small upid'}, upid)),
    error, log);

  let lines = 0;
  let seenRunning = false;
  async function readLog() {
    for (;;) {
      const r = await api.call('GET', base + '/log', {start: lines, limit: PAGE},
        {signal: ctx.signal});
      const data = (r.data || []).filter((l) => l.n > lines);
      // An empty log is answered with one line "no content" and total 0.
      if (!data.length || r.total === 0) return;
      log.append(document.createTextNode(data.map((l) => l.t).join('\n') + '\n'));
      lines = data[data.length - 1].n;
      if (follow.checked) log.scrollTop = log.scrollHeight;
      if (data.length < PAGE) return;
    }
  }

  for (;;) {
    let st;
    try {
      st = await api.get(base + '/status', null, {signal: ctx.signal});
      await readLog();
      error.textContent = '';
    } catch (e) {
      if (e.unauthorized || e.name === 'AbortError' || ctx.signal.aborted) return;
      error.textContent = e.describe ? e.describe() : e.message;
      if (e.status >= 400 && e.status < 500) return; // no such task: nothing to wait for
      await sleep(POLL_MS * 3, ctx.signal);
      continue;
    }
    const end = st.status === 'stopped';
    // The status has no end time (as PVE's): a task seen running shows how
    // long it ran until the poll that saw it stopped; one opened after its
    // end shows no duration (the task list has it).
    if (!end) elapsed.textContent = ' · running for ' + fmtDuration(Date.now() / 1000 - st.starttime);
    else if (seenRunning) elapsed.textContent = ' · ran ' + fmtDuration(Date.now() / 1000 - st.starttime);
    else if (st.endtime) elapsed.textContent = ' · ran ' + fmtDuration(st.endtime - st.starttime);
    seenRunning = seenRunning || !end;
    if (end) {
      replace(state, badge('stopped', 'stopped'));
      replace(exit, badge(st.exitstatus || 'unknown'));
      exit.dataset.exitstatus = st.exitstatus || '';
      stop.hidden = true;
      return;
    }
    replace(state, badge('running'));
    stop.hidden = false;
    await sleep(POLL_MS, ctx.signal);
    if (ctx.signal.aborted) return;
  }
}
