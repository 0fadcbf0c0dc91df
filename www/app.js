// The console's shell: a hash router (#/screen/arg?query), the session
// (username, CSRF token and `cap` in localStorage; the ticket itself is an
// HttpOnly cookie), the ticket's renewal every 60 minutes while the console
// is open, and the way back: any 401 shows the login and, after it, the
// screen that was open.
import * as api from './api.js';
import {h, replace} from './dom.js';
import login from './views/login.js';
import containers from './views/containers.js';
import storages from './views/storages.js';
import backups from './views/backups.js';
import files from './views/files.js';
import backupDialog from './views/backup.js';
import restoreDialog from './views/restore.js';
import tasks from './views/tasks.js';
import taskLog from './views/task.js';
import jobs from './views/jobs.js';
import notifications from './views/notifications.js';

const RENEW_MS = 60 * 60 * 1000;
const NEXT_KEY = 'ctdump.next';
const EXPIRED_KEY = 'ctdump.expired';
const DEFAULT = '#/containers';

const routes = {
  login: {view: login, title: 'Log in', anonymous: true},
  containers: {view: containers, title: 'Containers', nav: 'containers'},
  storage: {view: (ctx) => (ctx.args.length ? backups(ctx) : storages(ctx)), title: 'Storage',
    nav: 'storage'},
  files: {view: files, title: 'Files', nav: 'storage'},
  backup: {view: backupDialog, title: 'Back up', nav: 'containers'},
  restore: {view: restoreDialog, title: 'Restore', nav: 'containers'},
  tasks: {view: tasks, title: 'Tasks', nav: 'tasks'},
  task: {view: taskLog, title: 'Task', nav: 'tasks'},
  jobs: {view: jobs, title: 'Jobs', nav: 'jobs'},
  notifications: {view: notifications, title: 'Notifications', nav: 'notifications'},
};

const NAV = [['containers', 'Containers'], ['storage', 'Storage'], ['tasks', 'Tasks'],
  ['jobs', 'Jobs'], ['notifications', 'Notifications']];

const state = {node: null, controller: null, renewing: null};

export function parseHash(hash) {
  const raw = (hash || '').replace(/^#\/?/, '');
  const [path, query = ''] = raw.split('?');
  const parts = path.split('/').filter((p) => p !== '').map(decodeURIComponent);
  return {name: parts[0] || '', args: parts.slice(1), query: new URLSearchParams(query)};
}

export function navigate(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

// The node's name (from GET /nodes; `localhost` until it is known, which
// the server accepts too).
async function node(signal) {
  if (state.node) return state.node;
  try {
    const nodes = await api.get('/nodes', null, {signal});
    state.node = (nodes && nodes[0] && nodes[0].node) || 'localhost';
  } catch (e) {
    if (e.unauthorized || e.name === 'AbortError') throw e;
    state.node = 'localhost';
  }
  return state.node;
}

function renderChrome(current) {
  const s = api.session.get();
  const nav = document.getElementById('nav');
  const who = document.getElementById('who');
  if (!s) {
    replace(nav);
    replace(who);
    return;
  }
  replace(nav, NAV.map(([name, label]) => h('a', {
    href: '#/' + name, class: ['nav-link', current === name && 'active'],
    'aria-current': current === name ? 'page' : null,
  }, label)));
  replace(who,
    h('span', {class: 'user', title: state.node ? 'node ' + state.node : null}, s.username),
    h('button', {type: 'button', class: 'btn btn-small', id: 'logout', onclick: logout},
      'Log out'));
}

function logout() {
  // The cookie is HttpOnly: the server removes it (DELETE /access/ticket);
  // the console forgets its session (the CSRF token).
  const done = () => {
    api.session.clear();
    sessionStorage.removeItem(NEXT_KEY);
    sessionStorage.removeItem(EXPIRED_KEY);
    navigate('#/login');
  };
  api.del('/access/ticket').then(done, done);
}

// To the login, and after it back to where the user was. `expired`: a call
// met a 401 (the login says so); otherwise there was no session yet (a
// first visit, a deep link).
function sessionEnded(expired) {
  const here = location.hash || DEFAULT;
  if (parseHash(here).name !== 'login') sessionStorage.setItem(NEXT_KEY, here);
  if (expired === true) sessionStorage.setItem(EXPIRED_KEY, '1');
  api.session.clear();
  if (parseHash(location.hash).name !== 'login') location.hash = '#/login';
}

export function afterLogin() {
  const next = sessionStorage.getItem(NEXT_KEY) || DEFAULT;
  sessionStorage.removeItem(NEXT_KEY);
  sessionStorage.removeItem(EXPIRED_KEY);
  state.node = null;
  navigate(parseHash(next).name === 'login' ? DEFAULT : next);
}

async function render() {
  if (state.controller) state.controller.abort();
  const controller = new AbortController();
  state.controller = controller;
  const where = parseHash(location.hash);
  let route = routes[where.name];
  if (!route) {
    location.replace(DEFAULT);
    return;
  }
  if (!route.anonymous && !api.session.get()) {
    sessionEnded(false);
    return;
  }
  renderChrome(route.nav);
  const main = document.getElementById('main');
  main.dataset.screen = where.name + (where.name === 'storage' && where.args.length ? '-backups' : '');
  document.title = route.title + ' — ctdump';
  const ctx = {
    main, args: where.args, query: where.query, signal: controller.signal, navigate,
    node: 'localhost', afterLogin,
    setTitle: (t) => { document.title = t + ' — ctdump'; },
  };
  try {
    if (!route.anonymous) {
      ctx.node = await node(controller.signal);
      renderChrome(route.nav);
    }
    if (controller.signal.aborted) return;
    await route.view(ctx);
  } catch (e) {
    if (e.unauthorized || e.name === 'AbortError' || controller.signal.aborted) return;
    replace(main, h('p', {class: 'error', role: 'alert'},
      e.describe ? e.describe() : String(e.message || e)));
  }
}

// Renewal: checked every minute, done when the session's ticket is an hour
// old (a tab asleep longer finds a 401 and the login).
async function maybeRenew() {
  const s = api.session.get();
  if (!s || state.renewing || Date.now() - s.at < RENEW_MS) return;
  state.renewing = api.renew().catch(() => null).finally(() => { state.renewing = null; });
}

api.onUnauthorized(() => sessionEnded(true));
window.addEventListener('hashchange', render);
setInterval(maybeRenew, 60 * 1000);
maybeRenew();
render();
