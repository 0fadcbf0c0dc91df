// The console's only way to the server: /api2/json with the session's
// HttpOnly cookie (PVEAuthCookie, set by the login answer; the console never
// sees the ticket) and the CSRFPreventionToken header on every write.
// Bodies are form-urlencoded, as PVE's GUI sends them.

const BASE = '/api2/json';
const KEY = 'ctdump.session';

export class ApiError extends Error {
  constructor(status, message, errors, unauthorized = false) {
    super(message);
    this.status = status;
    this.errors = errors || null;
    this.unauthorized = unauthorized;
  }
  // "message" plus the per-parameter errors, as one text for the user.
  describe() {
    let s = this.message;
    if (this.errors && typeof this.errors === 'object') {
      // PVE repeats a path parameter's error as the message: once is enough.
      const parts = Object.entries(this.errors).filter(([, v]) => String(v).trim() !== s)
        .map(([k, v]) => k + ': ' + String(v).trim());
      if (parts.length) s += ' (' + parts.join('; ') + ')';
    }
    return s;
  }
}

// ---- the session (localStorage: every tab of this origin shares the login,
// as they share the HttpOnly ticket cookie; no ticket in it) ----

export const session = {
  get() {
    try {
      return JSON.parse(localStorage.getItem(KEY) || 'null');
    } catch (e) {
      return null;
    }
  },
  save(data) {
    const s = {username: data.username, csrf: data.CSRFPreventionToken, cap: data.cap || {},
      at: Date.now()};
    localStorage.setItem(KEY, JSON.stringify(s));
    return s;
  },
  clear() { localStorage.removeItem(KEY); },
  // A privilege anywhere in a `cap` category ("dc", "nodes", "vms", ...).
  can(category, priv) {
    const s = this.get();
    return !!(s && s.cap && s.cap[category] && s.cap[category][priv]);
  },
};

let unauthorizedHandler = () => {};
export function onUnauthorized(fn) { unauthorizedHandler = fn; }

export function encodeParams(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null) continue;
    for (const item of Array.isArray(v) ? v : [v]) {
      q.append(k, typeof item === 'boolean' ? (item ? '1' : '0') : String(item));
    }
  }
  return q.toString();
}

// call('GET', '/nodes/localhost/lxc') → {data, total}. Throws ApiError with
// the server's message (the JSON `message`, else the reason phrase) and its
// per-parameter `errors`. A 401 (outside the login itself) ends the session:
// the handler shows the login, and the error is marked `unauthorized` so
// views do not show it as well.
export async function call(method, path, params, opts = {}) {
  let url = BASE + path;
  const init = {method, credentials: 'same-origin', headers: {Accept: 'application/json'},
    signal: opts.signal, cache: 'no-store'};
  const encoded = encodeParams(params);
  if (method === 'GET' || method === 'DELETE') {
    if (encoded) url += '?' + encoded;
  } else {
    init.body = encoded;
    init.headers['Content-Type'] = 'application/x-www-form-urlencoded';
  }
  if (method !== 'GET') {
    const s = session.get();
    if (s && s.csrf) init.headers.CSRFPreventionToken = s.csrf;
  }
  let res;
  try {
    res = await fetch(url, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'The server cannot be reached: ' + e.message);
  }
  let body = null;
  const text = await res.text();
  if (text) {
    try {
      body = JSON.parse(text);
    } catch (e) {
      body = null;
    }
  }
  if (res.status === 401 && !opts.login) {
    unauthorizedHandler();
    throw new ApiError(401, 'Your session has ended: log in again.', null, true);
  }
  if (!res.ok) {
    const message = (body && typeof body.message === 'string' && body.message.trim()) ||
      res.statusText || ('HTTP ' + res.status);
    throw new ApiError(res.status, message.trim(), body && body.errors);
  }
  return {data: body ? body.data : null, total: body ? body.total : undefined};
}

export const get = (path, params, opts) => call('GET', path, params, opts).then((r) => r.data);
export const post = (path, params, opts) => call('POST', path, params, opts).then((r) => r.data);
export const put = (path, params, opts) => call('PUT', path, params, opts).then((r) => r.data);
export const del = (path, params, opts) => call('DELETE', path, params, opts).then((r) => r.data);

// ---- login and renewal ----

export async function login(username, password, realm) {
  const params = {username, password};
  if (!username.includes('@')) params.realm = realm;
  const r = await call('POST', '/access/ticket', params, {login: true});
  return session.save(r.data);
}

// Renews the cookie's ticket (ctdump's extension for the HttpOnly cookie:
// the same username, an empty password, the CSRF header) and takes the new
// CSRF token.
export async function renew() {
  const s = session.get();
  if (!s) return null;
  const r = await call('POST', '/access/ticket', {username: s.username, password: ''});
  return session.save(r.data);
}

// Path pieces: container, storage and volume names and UPIDs go in encoded.
export const enc = encodeURIComponent;
