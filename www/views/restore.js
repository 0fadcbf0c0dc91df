// The restore dialog: POST /nodes/{node}/lxc with restore=1 and the chosen
// backup as ostemplate; new name (vmid), host name, ID map lines (ctdump's
// `idmap`, one "u|g <ct id> <host id> <count>" per line), unprivileged,
// unique, start, a bandwidth limit (KiB/s; a limit only lowers the rate, so
// PVE needs no privilege for it when nothing higher is configured). Then its
// task log.
import * as api from '../api.js';
import {h, replace, fmtTime, fmtBytes, submitForm} from '../dom.js';
import {shortVolid} from './backups.js';

// The backups of `ct` on every storage, newest first.
async function backupsOf(ctx, ct) {
  const base = '/nodes/' + api.enc(ctx.node) + '/storage';
  const storages = await api.get(base, {content: 'backup', enabled: 1}, {signal: ctx.signal});
  const lists = await Promise.all(storages.map((s) =>
    api.get(base + '/' + api.enc(s.storage) + '/content', {content: 'backup', vmid: ct},
      {signal: ctx.signal}).catch((e) => {
      if (e.unauthorized || e.name === 'AbortError') throw e;
      return [];
    })));
  return lists.flat().sort((a, b) => (b.ctime || 0) - (a.ctime || 0));
}

export default async function restoreDialog(ctx) {
  const ct = ctx.query.get('ct') || '';
  const given = ctx.query.get('volid');
  ctx.setTitle('Restore' + (ct ? ' ' + ct : ''));
  const items = ct ? await backupsOf(ctx, ct) : [];
  if (given && !items.some((b) => b.volid === given)) items.unshift({volid: given});

  const backup = h('select', {id: 'restore-backup', name: 'ostemplate', required: true},
    items.map((b) => h('option', {value: b.volid, selected: b.volid === given},
      (b.ctime ? fmtTime(b.ctime) + ' · ' : '') + b.volid.split(':')[0] + ' · ' +
      shortVolid(b.volid) + (b.size ? ' · ' + fmtBytes(b.size) : '') +
      (b.notes ? ' · ' + b.notes : ''))));
  const name = h('input', {id: 'restore-vmid', name: 'vmid', required: true, maxlength: 64,
    autocapitalize: 'none', spellcheck: 'false', placeholder: 'a new container name'});
  const hostname = h('input', {id: 'restore-hostname', name: 'hostname', maxlength: 255,
    placeholder: 'as in the backup', autocapitalize: 'none', spellcheck: 'false'});
  const idmap = h('textarea', {id: 'restore-idmap', name: 'idmap', rows: 3, spellcheck: 'false',
    placeholder: 'u 0 100000 65536\ng 0 100000 65536'});
  const unpriv = h('select', {id: 'restore-unprivileged', name: 'unprivileged'},
    h('option', {value: ''}, 'as backed up'),
    h('option', {value: '1'}, 'unprivileged'),
    h('option', {value: '0'}, 'privileged'));
  const unique = h('input', {type: 'checkbox', id: 'restore-unique', name: 'unique'});
  const start = h('input', {type: 'checkbox', id: 'restore-start', name: 'start'});
  const bwlimit = h('input', {id: 'restore-bwlimit', name: 'bwlimit', type: 'number', min: 1,
    step: 1, inputmode: 'numeric', placeholder: 'no limit'});
  const message = h('p', {class: 'error', role: 'alert', hidden: true});
  const submit = h('button', {type: 'submit', class: 'btn btn-primary', id: 'restore-submit',
    disabled: !items.length}, 'Restore');

  const form = h('form', {class: 'card dialog', id: 'restore-form', onsubmit: (e) => {
    e.preventDefault();
    message.hidden = true;
    const lines = idmap.value.split('\n').map((l) => l.trim().replace(/\s+/g, ' '))
      .filter((l) => l !== '');
    const bad = lines.find((l) => !/^[ug] \d+ \d+ \d+$/.test(l));
    if (bad) {
      message.textContent = 'ID map: "' + bad + '" is not "u|g <container id> <host id> <count>".';
      message.hidden = false;
      return;
    }
    const params = {restore: 1, vmid: name.value.trim(), ostemplate: backup.value};
    if (hostname.value.trim()) params.hostname = hostname.value.trim();
    if (lines.length) params.idmap = lines;
    if (unpriv.value !== '') params.unprivileged = unpriv.value;
    if (unique.checked) params.unique = 1;
    if (start.checked) params.start = 1;
    if (bwlimit.value !== '' && Number(bwlimit.value) > 0) params.bwlimit = bwlimit.value;
    return submitForm(message, submit, async () => {
      const upid = await api.post('/nodes/' + api.enc(ctx.node) + '/lxc', params,
        {signal: ctx.signal});
      ctx.navigate('#/task/' + api.enc(upid));
    });
  }},
  h('h1', null, 'Restore', ct ? [' ', h('span', {class: 'mono'}, ct)] : null),
  items.length ? null : h('p', {class: 'error'}, ct ? 'There are no backups of ' + ct + '.'
    : 'Choose a backup on a storage\u2019s page.'),
  h('label', {for: 'restore-backup'}, 'Backup'), backup,
  h('label', {for: 'restore-vmid'}, 'New container name'), name,
  h('label', {for: 'restore-hostname'}, 'Host name'), hostname,
  h('label', {for: 'restore-idmap'}, 'ID map (one line per range)'), idmap,
  h('p', {class: 'hint'}, 'Empty: the backup\u2019s own map. Each line: u or g, the first ID ' +
    'in the container, the first on the host, the count.'),
  h('label', {for: 'restore-unprivileged'}, 'Container type'), unpriv,
  h('label', {class: 'check', for: 'restore-unique'}, unique,
    ' Unique (new MAC addresses)'),
  h('label', {class: 'check', for: 'restore-start'}, start, ' Start after restore'),
  h('label', {for: 'restore-bwlimit'}, 'Bandwidth limit (KiB/s)'), bwlimit,
  message,
  h('div', {class: 'buttons'},
    h('a', {class: 'btn', href: '#/containers'}, 'Cancel'), submit));
  replace(ctx.main, form);
}
