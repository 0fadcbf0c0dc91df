// A storage's backups (GET .../storage/{storage}/content): date, container,
// size, notes, protected, verify state; edit notes, toggle protection,
// restore, delete (with a confirmation; an imgdel task); the files of a
// datastore backup (views/files.js).
import * as api from '../api.js';
import {h, replace, table, badge, fmtBytes, fmtTime, confirmDialog} from '../dom.js';

// "store:backup/vzdump-lxc-web-2024_01_12-22_00_02.tar.zst" → the part after "backup/".
export function shortVolid(volid) {
  const i = volid.indexOf(':');
  const rest = i < 0 ? volid : volid.slice(i + 1);
  return rest.startsWith('backup/') ? rest.slice(7) : rest;
}

export default async function backups(ctx) {
  const storage = ctx.args[0];
  const vmid = ctx.query.get('vmid');
  const base = '/nodes/' + api.enc(ctx.node) + '/storage/' + api.enc(storage);
  const status = h('p', {class: 'status', role: 'status', id: 'backups-status'});
  const list = h('div', {id: 'backups'});
  ctx.setTitle('Backups on ' + storage);
  replace(ctx.main,
    h('p', {class: 'crumbs'}, h('a', {href: '#/storage'}, 'Storage'), ' / ', storage),
    h('div', {class: 'toolbar'},
      h('h1', null, 'Backups on ', h('span', {class: 'mono'}, storage)),
      vmid ? h('span', {class: 'filter'}, 'container ', h('strong', null, vmid), ' ',
        h('a', {href: '#/storage/' + api.enc(storage), class: 'btn btn-small'}, 'show all')) : null,
      h('button', {type: 'button', class: 'btn btn-small', onclick: () => load()}, 'Refresh')),
    status, list);

  const say = (text, cls = '') => {
    status.className = 'status ' + cls;
    status.textContent = text;
  };
  const fail = (e) => { if (!e.unauthorized) say(e.describe ? e.describe() : e.message, 'error'); };
  const volPath = (b) => base + '/content/' + api.enc(b.volid);

  function notesCell(b) {
    const cell = h('span', {class: 'notes'});
    const show = () => replace(cell,
      h('span', {class: ['notes-text', !b.notes && 'muted']}, b.notes || 'no notes'), ' ',
      h('button', {type: 'button', class: 'btn btn-small btn-link', dataset: {action: 'edit-notes'},
        'aria-label': 'Edit notes of ' + shortVolid(b.volid), onclick: edit}, 'Edit'));
    const edit = () => {
      const input = h('input', {class: 'notes-input', value: b.notes || '', maxlength: 1024,
        'aria-label': 'Notes'});
      const save = async (e) => {
        e.preventDefault();
        try {
          await api.put(volPath(b), {notes: input.value}, {signal: ctx.signal});
          b.notes = input.value.split('\n')[0];
          say('Notes saved.', 'ok');
          show();
        } catch (err) { fail(err); }
      };
      replace(cell, h('form', {class: 'inline', onsubmit: save}, input,
        h('button', {type: 'submit', class: 'btn btn-small btn-primary', dataset: {action: 'save-notes'}},
          'Save'),
        h('button', {type: 'button', class: 'btn btn-small', onclick: show}, 'Cancel')));
      input.focus();
    };
    show();
    return cell;
  }

  function protectButton(b) {
    const on = !!b.protected;
    return h('button', {type: 'button', class: ['btn', 'btn-small', on && 'btn-on'],
      'aria-pressed': on ? 'true' : 'false', dataset: {action: 'protect'},
      title: on ? 'Protected: click to allow pruning and deletion' : 'Click to protect',
      onclick: async () => {
        try {
          await api.put(volPath(b), {protected: !on}, {signal: ctx.signal});
          say(on ? 'Protection removed.' : 'Backup protected.', 'ok');
          await load();
        } catch (err) { fail(err); }
      }}, on ? 'Protected' : 'Not protected');
  }

  async function remove(b) {
    const name = shortVolid(b.volid);
    if (!await confirmDialog('Delete backup', 'Delete ' + name + ' for good?', 'Delete', true)) {
      return;
    }
    say('Deleting ' + name + '…');
    try {
      const upid = await api.del(volPath(b), {delay: 5}, {signal: ctx.signal});
      if (upid) {
        ctx.navigate('#/task/' + api.enc(upid));
        return;
      }
      say('Deleted ' + name + '.', 'ok');
      await load();
    } catch (err) { fail(err); }
  }

  function verify(b) {
    if (!b.verification) return h('span', {class: 'muted'}, b.format === 'pbs-ct' ? 'not verified' : '—');
    return badge(b.verification.state, b.verification.state === 'ok' ? 'ok' : 'error');
  }

  async function load() {
    const params = {content: 'backup'};
    if (vmid) params.vmid = vmid;
    const items = await api.get(base + '/content', params, {signal: ctx.signal});
    items.sort((a, b) => (b.ctime || 0) - (a.ctime || 0));
    replace(list, table([
      {label: 'Date', class: 'date', cell: (b) => h('span', {title: b.volid}, fmtTime(b.ctime))},
      {label: 'Container', class: 'name', cell: (b) => h('strong', null, String(b.vmid))},
      {label: 'Backup', class: 'volid mono hide-narrow', cell: (b) => shortVolid(b.volid)},
      {label: 'Size', class: 'num', cell: (b) => fmtBytes(b.size)},
      {label: 'Notes', class: 'notes-col', cell: notesCell},
      {label: 'Protected', cell: protectButton},
      {label: 'Verified', cell: (b) => h('span', null, verify(b),
        b.encrypted ? h('span', {class: 'badge badge-unknown', title: 'key ' + b.encrypted},
          'encrypted') : null)},
      {label: 'Actions', class: 'actions', cell: (b) => h('span', {class: 'buttons'},
        h('a', {class: 'btn btn-small', dataset: {action: 'restore'},
          href: '#/restore?volid=' + api.enc(b.volid) + '&ct=' + api.enc(String(b.vmid))}, 'Restore'),
        b.format === 'pbs-ct' ? h('a', {class: 'btn btn-small', dataset: {action: 'files'},
          href: '#/files/' + api.enc(storage) + '/' + api.enc(b.volid),
          title: 'Browse and download files of this backup'}, 'Files') : null,
        h('button', {type: 'button', class: 'btn btn-small btn-danger', dataset: {action: 'delete'},
          disabled: !!b.protected, title: b.protected ? 'Protected backups cannot be deleted' : null,
          onclick: () => remove(b)}, 'Delete'))},
    ], items, {
      empty: vmid ? 'No backups of ' + vmid + ' here.' : 'No backups on this storage.',
      rowData: (b) => ({volid: b.volid, vmid: String(b.vmid)}),
    }));
  }

  await load();
}
