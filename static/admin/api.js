// fetch() against /api/v1 with the session cookie and the Bearer token, JSON in and out,
// and the server's `{"error":{"code","message","field"}}` turned into an ApiError.

import { t } from './i18n.js';

const TOKEN_KEY = 'sb.token';

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.field = field;
    /** Seconds from a 429's or 503's `Retry-After`, else null. */
    this.retryAfter = null;
  }
}

let unauthorizedHandler = null;

/** Called once per 401 on an authenticated call (the session expired or was revoked). */
export function onUnauthorized(fn) {
  unauthorizedHandler = fn;
}

export function getToken() {
  try { return sessionStorage.getItem(TOKEN_KEY); } catch { return null; }
}

export function setToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch { /* storage disabled: the cookie still works */ }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `api('GET', '/conversations', { query: { status: 'pending' } })`
 * `api('POST', '/tags', { body: { name: 'vip' } })`
 * Resolves to the parsed JSON body (null for 204); rejects with ApiError.
 * GETs are retried twice on 503 `unavailable` and 429 `rate_limited`.
 */
export async function api(method, path, { body, query, auth = true } = {}) {
  let url = `/api/v1${path}`;
  if (query) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
    }
    const qs = params.toString();
    if (qs) url += `?${qs}`;
  }
  const headers = { Accept: 'application/json' };
  const token = getToken();
  if (token && auth) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';

  const retries = method === 'GET' ? 2 : 0;
  for (let attempt = 0; ; attempt += 1) {
    let res;
    try {
      res = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: 'same-origin',
        cache: 'no-store',
      });
    } catch {
      if (attempt < retries) { await sleep(800 * (attempt + 1)); continue; }
      throw new ApiError(0, 'network', t('error.network'));
    }
    if (res.status === 204) return null;
    const text = await res.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch { data = null; }
    }
    if (res.ok) return data;
    if ((res.status === 503 || res.status === 429) && attempt < retries) {
      await sleep(1000 * (attempt + 1));
      continue;
    }
    const err = data?.error;
    const error = new ApiError(
      res.status,
      err?.code ?? `http_${res.status}`,
      err?.message ?? t('error.http', { status: res.status }),
      err?.field,
    );
    const wait = Number(res.headers.get('Retry-After'));
    if (Number.isFinite(wait) && wait > 0) error.retryAfter = wait;
    if (res.status === 401 && auth && unauthorizedHandler) unauthorizedHandler(error);
    throw error;
  }
}

export const get = (path, query) => api('GET', path, { query });
export const post = (path, body) => api('POST', path, { body: body ?? {} });
export const patch = (path, body) => api('PATCH', path, { body });
export const put = (path, body) => api('PUT', path, { body });
export const del = (path) => api('DELETE', path);

/** Every page of a cursor-paged list, up to `max` items. */
export async function getAllPages(path, query = {}, max = 500) {
  const items = [];
  let cursor;
  do {
    const page = await get(path, { ...query, cursor, limit: 100 });
    items.push(...(page.items ?? []));
    cursor = page.next;
  } while (cursor && items.length < max);
  return items;
}
