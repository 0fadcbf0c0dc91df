// Jobs: backup jobs (GET /cluster/backup, with their next run; create, edit
// and delete through POST, PUT and DELETE /cluster/backup) and, read-only,
// the other jobs of jobs.cfg (verify, gc, compact, sync, restore-test) with
// their next and last run from GET /ctdump/jobs.
//   #/jobs          the tables
//   #/jobs/new      a new backup job
//   #/jobs/<id>     edit backup job <id>
import * as api from '../api.js';
import {h, replace, table, badge, fmtTime, confirmDialog, submitForm} from '../dom.js';

const TYPES = {vzdump: 'Backup', verify: 'Verify', gc: 'Garbage collection', compact: 'Compact',
  sync: 'Sync', 'restore-test': 'Restore test'};

const mayEdit = () => api.session.can('dc', 'Sys.Modify');

function selection(j) {
  if (j.vmid) return j.vmid;
  return 'all' + (j.exclude ? ' except ' + j.exclude : '');
}

function result(j) {
  if (!j || !j.result || j.result === '-') return '—';
  return badge(j.result, j.result === 'ok' ? 'ok' : j.result === 'running' ? 'running' : 'error');
}

export default async function jobs(ctx) {
  if (ctx.args.length) return jobForm(ctx, ctx.args[0] === 'new' ? null : ctx.args[0]);
  const message = h('p', {class: 'error', role: 'alert', hidden: true});
  const backupList = h('div', {id: 'backup-jobs'});
  const otherList = h('div', {id: 'other-jobs'});
  replace(ctx.main,
    h('div', {class: 'toolbar'}, h('h1', null, 'Jobs'),
      mayEdit() ? h('a', {class: 'btn btn-small btn-primary', href: '#/jobs/new', id: 'job-new'},
        'New backup job') : null,
      h('button', {type: 'button', class: 'btn btn-small', onclick: () => load()}, 'Refresh')),
    message,
    h('h2', null, 'Backup jobs'), backupList,
    h('h2', null, 'Other jobs'),
    h('p', {class: 'hint'}, 'Verify, garbage collection, compact, sync and restore-test jobs ' +
      'are edited in jobs.cfg.'),
    otherList);

  async function remove(j) {
    if (!await confirmDialog('Delete job', 'Delete backup job ' + j.id + '?', 'Delete', true)) return;
    try {
      await api.del('/cluster/backup/' + api.enc(j.id), null, {signal: ctx.signal});
      await load();
    } catch (err) {
      if (err.unauthorized || err.name === 'AbortError') return;
      message.textContent = err.describe ? err.describe() : err.message;
      message.hidden = false;
    }
  }

  async function load() {
    const [backupJobs, all] = await Promise.all([
      api.get('/cluster/backup', null, {signal: ctx.signal}),
      api.get('/ctdump/jobs', null, {signal: ctx.signal}),
    ]);
    const state = new Map(all.map((j) => [j.id, j]));
    const edit = mayEdit();
    replace(backupList, table([
      {label: 'ID', class: 'name', cell: (j) => h('span', {class: 'mono'}, j.id)},
      {label: 'Schedule', cell: (j) => h('span', {class: 'mono'}, j.schedule)},
      {label: 'Containers', class: 'name', cell: selection},
      {label: 'Storage', class: 'hide-narrow', cell: (j) => j.storage || 'default'},
      {label: 'Enabled', cell: (j) => (j.enabled ? 'yes' : 'no')},
      {label: 'Next run', class: 'date next-run', cell: (j) => (j.enabled ? fmtTime(j['next-run']) : '—')},
      {label: 'Last run', class: 'date hide-narrow', cell: (j) => fmtTime((state.get(j.id) || {})['last-run'])},
      {label: 'Result', cell: (j) => result(state.get(j.id))},
      {label: '', cell: (j) => (edit ? h('span', {class: 'buttons'},
        h('a', {class: 'btn btn-small', href: '#/jobs/' + api.enc(j.id)}, 'Edit'),
        h('button', {type: 'button', class: 'btn btn-small btn-danger',
          onclick: () => remove(j)}, 'Delete')) : null)},
    ], backupJobs, {empty: 'No backup jobs.', rowData: (j) => ({job: j.id})}));
    replace(otherList, table([
      {label: 'ID', class: 'name', cell: (j) => h('span', {class: 'mono'}, j.id)},
      {label: 'Type', cell: (j) => TYPES[j.type] || j.type},
      {label: 'Schedule', cell: (j) => h('span', {class: 'mono'}, j.schedule || 'manual')},
      {label: 'Storage', class: 'hide-narrow', cell: (j) => j.storage || j.source || ''},
      {label: 'Enabled', cell: (j) => (j.enabled ? 'yes' : 'no')},
      {label: 'Next run', class: 'date', cell: (j) => (j.enabled ? fmtTime(j['next-run']) : '—')},
      {label: 'Last run', class: 'date hide-narrow', cell: (j) => fmtTime(j['last-run'])},
      {label: 'Result', cell: result},
    ], all.filter((j) => j.type !== 'vzdump'), {empty: 'No other jobs.',
      rowData: (j) => ({job: j.id})}));
  }

  await load();
}

// The create / edit form. Emptied optional fields are removed from the job
// (PUT's `delete`).
async function jobForm(ctx, id) {
  ctx.setTitle(id ? 'Backup job ' + id : 'New backup job');
  const [job, storages] = await Promise.all([
    id ? api.get('/cluster/backup/' + api.enc(id), null, {signal: ctx.signal}) : {enabled: 1},
    api.get('/nodes/' + api.enc(ctx.node) + '/storage', {content: 'backup'}, {signal: ctx.signal}),
  ]);
  const input = (name, attrs = {}) => h('input', {id: 'job-' + name, name, ...attrs});
  const jobId = id ? null : input('id', {placeholder: 'generated when empty', maxlength: 50,
    pattern: '[A-Za-z][A-Za-z0-9_\\-]+'});
  const schedule = input('schedule', {required: true, value: job.schedule || '21:00',
    maxlength: 128, spellcheck: 'false'});
  const all = h('input', {type: 'checkbox', id: 'job-all', checked: !job.vmid && !!(job.all || job.exclude)});
  const vmid = input('vmid', {value: job.vmid || '', placeholder: 'web,db'});
  const exclude = input('exclude', {value: job.exclude || '', placeholder: 'containers to skip'});
  const storage = h('select', {id: 'job-storage', name: 'storage'},
    h('option', {value: ''}, 'default (ctdump.conf)'),
    storages.map((s) => h('option', {value: s.storage, selected: s.storage === job.storage},
      s.storage + ' (' + s.type + ')')));
  const mode = h('select', {id: 'job-mode', name: 'mode'},
    ['snapshot', 'suspend', 'stop'].map((m) => h('option', {value: m, selected: m === (job.mode || 'snapshot')}, m)));
  const enabled = h('input', {type: 'checkbox', id: 'job-enabled', checked: job.enabled !== 0});
  const comment = input('comment', {value: job.comment || '', maxlength: 512});
  const notes = input('notes-template', {value: job['notes-template'] || '', maxlength: 1024,
    placeholder: '{{guestname}}'});
  const message = h('p', {class: 'error', role: 'alert', hidden: true});
  const submit = h('button', {type: 'submit', class: 'btn btn-primary', id: 'job-submit'},
    id ? 'Save' : 'Create');
  const syncSelection = () => {
    vmid.disabled = all.checked;
    exclude.disabled = !all.checked;
  };
  all.addEventListener('change', syncSelection);
  syncSelection();

  const form = h('form', {class: 'card dialog', id: 'job-form', onsubmit: (e) => {
    e.preventDefault();
    const params = {schedule: schedule.value.trim(), enabled: enabled.checked ? 1 : 0,
      mode: mode.value};
    const del = [];
    const optional = (name, value) => {
      if (value.trim() !== '') params[name] = value.trim();
      else if (id && job[name] !== undefined) del.push(name);
    };
    if (all.checked) {
      params.all = 1;
      optional('exclude', exclude.value);
    } else {
      params.vmid = vmid.value.trim();
    }
    optional('storage', storage.value);
    optional('comment', comment.value);
    optional('notes-template', notes.value);
    if (del.length) params.delete = del.join(',');
    return submitForm(message, submit, async () => {
      if (id) {
        await api.put('/cluster/backup/' + api.enc(id), params, {signal: ctx.signal});
      } else {
        if (jobId.value.trim()) params.id = jobId.value.trim();
        await api.post('/cluster/backup', params, {signal: ctx.signal});
      }
      ctx.navigate('#/jobs');
    });
  }},
  h('h1', null, id ? ['Backup job ', h('span', {class: 'mono'}, id)] : 'New backup job'),
  jobId ? [h('label', {for: 'job-id'}, 'ID'), jobId] : null,
  h('label', {for: 'job-schedule'}, 'Schedule'), schedule,
  h('p', {class: 'hint'}, 'A calendar event: 21:00, sat 02:00, mon..fri 03:30, daily, weekly.'),
  h('label', {class: 'check', for: 'job-all'}, all, ' All containers'),
  h('label', {for: 'job-vmid'}, 'Containers (a list: web,db)'), vmid,
  h('label', {for: 'job-exclude'}, 'Except (with all containers)'), exclude,
  h('label', {for: 'job-storage'}, 'Storage'), storage,
  h('label', {for: 'job-mode'}, 'Mode'), mode,
  h('label', {for: 'job-notes-template'}, 'Notes'), notes,
  h('label', {for: 'job-comment'}, 'Comment'), comment,
  h('label', {class: 'check', for: 'job-enabled'}, enabled, ' Enabled'),
  message,
  h('div', {class: 'buttons'}, h('a', {class: 'btn', href: '#/jobs'}, 'Cancel'), submit));
  replace(ctx.main, form);
}
