// The backup dialog: POST /nodes/{node}/vzdump for one container with
// storage, mode, notes template, protected, paths to exclude, and bwlimit and
// ionice only for users with Sys.Modify (the server demands it on /). Then
// its task log.
import * as api from '../api.js';
import {h, replace, submitForm} from '../dom.js';

export default async function backupDialog(ctx) {
  const ct = ctx.args[0];
  ctx.setTitle('Back up ' + ct);
  const storages = await api.get('/nodes/' + api.enc(ctx.node) + '/storage',
    {content: 'backup', enabled: 1}, {signal: ctx.signal});
  storages.sort((a, b) => a.storage.localeCompare(b.storage));
  const mayLimit = api.session.can('dc', 'Sys.Modify');

  const storage = h('select', {id: 'backup-storage', name: 'storage', required: true},
    storages.map((s) => h('option', {value: s.storage}, s.storage + ' (' + s.type + ')')));
  const mode = h('select', {id: 'backup-mode', name: 'mode'},
    h('option', {value: 'snapshot'}, 'Snapshot'),
    h('option', {value: 'suspend'}, 'Suspend'),
    h('option', {value: 'stop'}, 'Stop'));
  const notes = h('input', {id: 'backup-notes', name: 'notes-template', value: '{{guestname}}',
    maxlength: 1024});
  const prot = h('input', {type: 'checkbox', id: 'backup-protected', name: 'protected'});
  const exclude = h('textarea', {id: 'backup-exclude', name: 'exclude-path', rows: 2,
    spellcheck: 'false', placeholder: '/var/cache/**\n/tmp/*'});
  const ionice = mayLimit ? h('select', {id: 'backup-ionice', name: 'ionice'},
    h('option', {value: ''}, 'default (7)'),
    [0, 1, 2, 3, 4, 5, 6, 7, 8].map((n) => h('option', {value: String(n)},
      n === 8 ? '8 (idle)' : String(n)))) : null;
  const bwlimit = mayLimit ? h('input', {id: 'backup-bwlimit', name: 'bwlimit', type: 'number',
    min: 0, step: 1, placeholder: 'no limit', inputmode: 'numeric'}) : null;
  const message = h('p', {class: 'error', role: 'alert', hidden: true});
  const submit = h('button', {type: 'submit', class: 'btn btn-primary', id: 'backup-submit',
    disabled: !storages.length}, 'Back up');

  const form = h('form', {class: 'card dialog', id: 'backup-form', onsubmit: (e) => {
    e.preventDefault();
    const params = {vmid: ct, storage: storage.value, mode: mode.value};
    if (notes.value.trim()) params['notes-template'] = notes.value;
    if (prot.checked) params.protected = 1;
    const paths = exclude.value.split('\n').map((l) => l.trim()).filter((l) => l !== '');
    if (paths.length) params['exclude-path'] = paths;
    if (ionice && ionice.value !== '') params.ionice = ionice.value;
    if (bwlimit && bwlimit.value !== '' && Number(bwlimit.value) > 0) params.bwlimit = bwlimit.value;
    return submitForm(message, submit, async () => {
      const upid = await api.post('/nodes/' + api.enc(ctx.node) + '/vzdump', params,
        {signal: ctx.signal});
      ctx.navigate('#/task/' + api.enc(upid));
    });
  }},
  h('h1', null, 'Back up ', h('span', {class: 'mono'}, ct)),
  storages.length ? null : h('p', {class: 'error'}, 'No storage for backups is configured.'),
  h('label', {for: 'backup-storage'}, 'Storage'), storage,
  h('label', {for: 'backup-mode'}, 'Mode'), mode,
  h('p', {class: 'hint'}, 'Snapshot keeps the container running (btrfs, ZFS, LVM); suspend ' +
    'freezes it while its files are copied; stop stops it for the backup.'),
  h('label', {for: 'backup-notes'}, 'Notes'), notes,
  h('p', {class: 'hint'}, 'Variables: {{guestname}}, {{vmid}}, {{node}}, {{cluster}}.'),
  h('label', {class: 'check', for: 'backup-protected'}, prot, ' Protected (never pruned or deleted)'),
  h('label', {for: 'backup-exclude'}, 'Exclude paths (one glob per line)'), exclude,
  bwlimit ? [h('label', {for: 'backup-bwlimit'}, 'Bandwidth limit (KiB/s)'), bwlimit,
    h('label', {for: 'backup-ionice'}, 'I/O priority'), ionice] : null,
  message,
  h('div', {class: 'buttons'},
    h('a', {class: 'btn', href: '#/containers'}, 'Cancel'), submit));
  replace(ctx.main, form);
}
