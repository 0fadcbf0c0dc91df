// The files of a datastore backup (GET .../file-restore/list): breadcrumbs,
// directories to open, a file downloaded as it is, a directory as .tar.zst
// (.../file-restore/download, tar=1; a plain link, so the browser streams it
// to disk with the session's cookie). #/files/<storage>/<volid>?path=<base64>
//
// Paths are bytes: `filepath` (base64 of the exact bytes) is what goes back
// to the server; names are shown from `text` (U+FFFD for bytes that are not
// UTF-8) or decoded here the same way.
import * as api from '../api.js';
import {h, replace, table, fmtBytes, fmtTime} from '../dom.js';
import {shortVolid} from './backups.js';

const ARCHIVE = 'root.pxar.didx';
const TYPES = {d: 'directory', f: 'file', l: 'symlink', h: 'hardlink', b: 'block device',
  c: 'character device', p: 'fifo', s: 'socket'};

// base64 → the components of "/root.pxar.didx/<path>" as byte strings.
export function splitPath(b64) {
  let bytes = '';
  try {
    bytes = atob(b64);
  } catch (e) {
    bytes = '';
  }
  return bytes.split('/').filter((c) => c !== '' && c !== '.');
}

// Byte-string components → the base64 `filepath`.
export function joinPath(components) {
  return btoa('/' + components.join('/'));
}

function byteText(s) {
  const bytes = Uint8Array.from(s, (c) => c.charCodeAt(0));
  return new TextDecoder('utf-8', {fatal: false}).decode(bytes);
}

export default async function files(ctx) {
  const storage = ctx.args[0];
  const volid = ctx.args[1] || '';
  const base = '/nodes/' + api.enc(ctx.node) + '/storage/' + api.enc(storage) + '/file-restore';
  let parts = splitPath(ctx.query.get('path') || '');
  if (parts[0] !== ARCHIVE) parts = [ARCHIVE];
  const filepath = joinPath(parts);
  const here = (p) => '#/files/' + api.enc(storage) + '/' + api.enc(volid) + '?path=' +
    api.enc(joinPath(p));
  const download = (fp, tar) => '/api2/json' + base + '/download?' +
    api.encodeParams({volume: volid, filepath: fp, tar: tar ? 1 : undefined});

  ctx.setTitle('Files of ' + shortVolid(volid));
  const crumbs = [h('a', {href: '#/storage'}, 'Storage'), ' / ',
    h('a', {href: '#/storage/' + api.enc(storage)}, storage), ' / ',
    h('span', {class: 'mono'}, shortVolid(volid)), ' : '];
  parts.forEach((c, i) => {
    const label = i === 0 ? '/' : byteText(c);
    if (i > 0) crumbs.push(i > 1 ? ' / ' : '');
    crumbs.push(i === parts.length - 1 ? h('strong', {class: 'mono'}, label)
      : h('a', {href: here(parts.slice(0, i + 1)), class: 'mono'}, label));
  });
  const status = h('p', {class: 'status', role: 'status', id: 'files-status'});
  const list = h('div', {id: 'files'});
  replace(ctx.main,
    h('p', {class: 'crumbs', id: 'files-crumbs'}, crumbs),
    h('div', {class: 'toolbar'},
      h('h1', null, 'Files of ', h('span', {class: 'mono'}, shortVolid(volid))),
      h('a', {class: 'btn btn-small', dataset: {action: 'download-dir'},
        href: download(filepath, true), download: true,
        title: 'This directory with owners, modes, xattrs and ACLs'}, 'Download as .tar.zst')),
    status, list);

  let entries;
  try {
    entries = await api.get(base + '/list', {volume: volid, filepath}, {signal: ctx.signal});
  } catch (e) {
    if (e.unauthorized || e.name === 'AbortError') throw e;
    status.className = 'status error';
    status.textContent = e.describe ? e.describe() : e.message;
    return;
  }
  entries.sort((a, b) => (a.type === 'd' ? 0 : 1) - (b.type === 'd' ? 0 : 1) ||
    (a.text < b.text ? -1 : a.text > b.text ? 1 : 0));
  const name = (e) => {
    if (e.type === 'd') {
      return h('a', {href: here(splitPath(e.filepath)), class: 'mono', dataset: {dir: e.text}},
        e.text + '/');
    }
    return h('span', {class: 'mono'}, e.text);
  };
  const action = (e) => {
    if (e.type === 'd') {
      return h('a', {class: 'btn btn-small', href: download(e.filepath, true), download: true,
        dataset: {action: 'download-tar'}}, '.tar.zst');
    }
    if (e.type === 'f' || e.type === 'h') {
      return h('a', {class: 'btn btn-small', href: download(e.filepath, false), download: true,
        dataset: {action: 'download'}}, 'Download');
    }
    return h('span', {class: 'muted'}, '—');
  };
  replace(list, table([
    {label: 'Name', class: 'name', cell: name},
    {label: 'Type', cell: (e) => TYPES[e.type] || e.type},
    {label: 'Size', class: 'num', cell: (e) => (e.type === 'f' ? fmtBytes(e.size) : '—')},
    {label: 'Modified', class: 'date hide-narrow', cell: (e) => fmtTime(e.mtime)},
    {label: 'Actions', class: 'actions', cell: action},
  ], entries, {empty: 'This directory is empty.', rowData: (e) => ({name: e.text, type: e.type})}));
}
