// Notification targets (GET /cluster/notifications/targets: name, type,
// comment, disabled; never their secrets) with "Send test" (POST
// .../targets/{name}/test, which waits for the target's retries).
import * as api from '../api.js';
import {h, replace, table, badge} from '../dom.js';

const TYPES = {sendmail: 'Sendmail', smtp: 'SMTP', gotify: 'Gotify', webhook: 'Webhook'};

export default async function notifications(ctx) {
  const list = h('div', {id: 'targets'});
  replace(ctx.main,
    h('div', {class: 'toolbar'}, h('h1', null, 'Notifications'),
      h('button', {type: 'button', class: 'btn btn-small', onclick: () => load()}, 'Refresh')),
    h('p', {class: 'hint'}, 'Targets and matchers are configured in notifications.cfg.'),
    list);

  async function sendTest(t, button, status) {
    button.disabled = true;
    replace(status, badge('sending…', 'running'));
    try {
      await api.post('/cluster/notifications/targets/' + api.enc(t.name) + '/test', null,
        {signal: ctx.signal});
      replace(status, badge('sent', 'ok'));
    } catch (err) {
      if (err.unauthorized || err.name === 'AbortError') return;
      replace(status, badge('failed', 'error'), ' ',
        h('span', {class: 'error'}, err.describe ? err.describe() : err.message));
    } finally {
      button.disabled = false;
    }
  }

  async function load() {
    const targets = await api.get('/cluster/notifications/targets', null, {signal: ctx.signal});
    replace(list, table([
      {label: 'Name', class: 'name', cell: (t) => h('span', {class: 'mono'}, t.name)},
      {label: 'Type', cell: (t) => TYPES[t.type] || t.type},
      {label: 'Comment', class: 'name hide-narrow', cell: (t) => t.comment || ''},
      {label: 'Enabled', cell: (t) => (t.disable ? 'no' : 'yes')},
      {label: 'Test', cell: (t) => {
        const status = h('span', {class: 'test-status', dataset: {target: t.name}});
        const button = h('button', {type: 'button', class: 'btn btn-small', dataset: {test: t.name}},
          'Send test');
        button.addEventListener('click', () => sendTest(t, button, status));
        return h('span', null, button, ' ', status);
      }},
    ], targets, {empty: 'No notification targets.', rowData: (t) => ({target: t.name})}));
  }

  await load();
}
