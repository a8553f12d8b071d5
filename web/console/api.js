// The HTTP API (/api/v1) with the agent's bearer token. The session lives in sessionStorage:
// it survives reloads of this tab but not the browser closing, and other tabs log in themselves.

const KEY = 'switchboard.session';

export const session = {
  get() {
    try { return JSON.parse(sessionStorage.getItem(KEY)); } catch { return null; }
  },
  set(value) { sessionStorage.setItem(KEY, JSON.stringify(value)); },
  clear() { sessionStorage.removeItem(KEY); },
};

/** An error answer of the API: `code` is the stable machine-readable code from the server. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Fired on `window` when the server rejects the token, so the page can show the login form. */
export const UNAUTHORIZED = 'switchboard:unauthorized';

export async function api(method, path, body) {
  const s = session.get();
  const headers = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (s) headers.authorization = 'Bearer ' + s.token;
  let res;
  try {
    res = await fetch('/api/v1' + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, 'offline', 'The server cannot be reached.');
  }
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const e = data.error || {};
    if (s && (res.status === 401 || (res.status === 403 && /deactivated/.test(e.message || '')))) window.dispatchEvent(new Event(UNAUTHORIZED));
    throw new ApiError(res.status, e.code || 'http_' + res.status, e.message || res.statusText);
  }
  return data;
}

/** Upload a file as the raw request body (an agent's picture); answers the JSON reply. */
export async function upload(method, path, file) {
  const s = session.get();
  const res = await fetch('/api/v1' + path, {
    method, body: file, headers: { 'content-type': file.type || 'application/octet-stream', authorization: 'Bearer ' + (s && s.token) },
  }).catch(() => null);
  if (!res) throw new ApiError(0, 'offline', 'The server cannot be reached.');
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new ApiError(res.status, (data.error || {}).code, (data.error || {}).message || res.statusText);
  return data;
}

export async function login(email, password) {
  const r = await api('POST', '/login', { email, password });
  session.set({ token: r.token, agent: r.agent });
  return r.agent;
}
