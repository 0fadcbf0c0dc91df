// Log in: user, password, realm (pam: Linux users; ctdump: token-only
// identities, listed for completeness — their password logins fail).
import * as api from '../api.js';
import {h, replace} from '../dom.js';

const LAST_USER = 'ctdump.lastuser';

export default function login(ctx) {
  const last = sessionStorage.getItem(LAST_USER) || '';
  const [lastName, lastRealm] = last.includes('@') ? [last.slice(0, last.lastIndexOf('@')),
    last.slice(last.lastIndexOf('@') + 1)] : [last, 'pam'];
  const user = h('input', {id: 'login-user', name: 'username', autocomplete: 'username',
    required: true, value: lastName, autocapitalize: 'none', spellcheck: 'false'});
  const password = h('input', {id: 'login-password', name: 'password', type: 'password',
    autocomplete: 'current-password', required: true});
  const realm = h('select', {id: 'login-realm', name: 'realm'},
    h('option', {value: 'pam', selected: lastRealm === 'pam'}, 'Linux PAM (pam)'),
    h('option', {value: 'ctdump', selected: lastRealm === 'ctdump'}, 'ctdump (tokens only)'));
  const message = h('p', {class: 'error', role: 'alert', hidden: true});
  const submit = h('button', {type: 'submit', class: 'btn btn-primary', id: 'login-submit'},
    'Log in');
  const expired = sessionStorage.getItem('ctdump.expired');

  const form = h('form', {class: 'card login', id: 'login-form', onsubmit: async (e) => {
    e.preventDefault();
    message.hidden = true;
    submit.disabled = true;
    submit.textContent = 'Logging in…';
    try {
      const s = await api.login(user.value.trim(), password.value, realm.value);
      sessionStorage.setItem(LAST_USER, s.username);
      password.value = '';
      ctx.afterLogin();
    } catch (err) {
      message.textContent = err.status === 401 ? 'Login failed: wrong user name or password.'
        : 'Login failed: ' + (err.describe ? err.describe() : err.message);
      message.hidden = false;
      submit.disabled = false;
      submit.textContent = 'Log in';
      password.select();
    }
  }},
  h('h1', null, 'ctdump'),
  expired ? h('p', {class: 'notice', id: 'login-expired'},
    'Your session has ended. Log in again to go back where you were.') : null,
  h('label', {for: 'login-user'}, 'User name'), user,
  h('label', {for: 'login-password'}, 'Password'), password,
  h('label', {for: 'login-realm'}, 'Realm'), realm,
  message,
  h('div', {class: 'buttons'}, submit));
  replace(ctx.main, form);
  (lastName ? password : user).focus();
}
