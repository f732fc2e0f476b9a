// Small DOM helpers. Everything is built with DOM APIs and textContent: server data never
// goes through innerHTML.

import { t, lang } from './i18n.js';

/**
 * Creates an element. `attrs` keys: `class`, `text`, `dataset` (object), `on<event>`
 * (listener), properties such as `value`, `checked`, `disabled`, and anything else as an
 * attribute. Children may be nodes, strings, numbers, arrays, or null/false (skipped).
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  let value;
  for (const [key, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (key === 'class') el.className = v;
    else if (key === 'text') el.textContent = String(v);
    else if (key === 'dataset') Object.assign(el.dataset, v);
    else if (key === 'value') value = v;
    else if (key.startsWith('on') && typeof v === 'function') el.addEventListener(key.slice(2), v);
    else if (key === 'checked' || key === 'disabled' || key === 'selected' || key === 'hidden' || key === 'required') el[key] = Boolean(v);
    else el.setAttribute(key, v === true ? '' : String(v));
  }
  append(el, children);
  if (value !== undefined) el.value = value;
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replaces an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** A <select> from `[value, label]` pairs (or `{value, label, disabled}` or optgroups). */
export function select(attrs, options, selected) {
  const el = h('select', attrs);
  for (const opt of options) el.append(option(opt));
  if (selected !== undefined) el.value = selected;
  return el;
}

function option(opt) {
  if (opt && opt.group) {
    const g = h('optgroup', { label: opt.group });
    for (const o of opt.options) g.append(option(o));
    return g;
  }
  const [value, label, disabled] = Array.isArray(opt) ? opt : [opt.value, opt.label, opt.disabled];
  return h('option', { value, disabled }, label);
}

/** A labelled form field: `<label for>` plus the control, wrapped in a div. */
export function field(label, control, hint) {
  if (!control.id) control.id = uid('f');
  return h('div', { class: 'field' },
    h('label', { for: control.id }, label),
    control,
    hint ? h('small', { class: 'hint' }, hint) : null);
}

let counter = 0;
/** A document-unique id for labels. */
export function uid(prefix = 'id') {
  counter += 1;
  return `${prefix}-${counter}`;
}

/** A random id for `client_id`s; works outside secure contexts too. */
export function randomId() {
  if (globalThis.crypto?.randomUUID) {
    try { return crypto.randomUUID(); } catch { /* insecure context */ }
  }
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

const timeFmt = () => new Intl.DateTimeFormat(lang, { hour: '2-digit', minute: '2-digit' });
const dateFmt = () => new Intl.DateTimeFormat(lang, { day: 'numeric', month: 'short' });
const fullFmt = () => new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeStyle: 'short' });

/** "14:05" today, "3 Mar 14:05" otherwise. */
export function shortTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const now = new Date();
  const sameDay = d.toDateString() === now.toDateString();
  return sameDay ? timeFmt().format(d) : `${dateFmt().format(d)} ${timeFmt().format(d)}`;
}

export function fullTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : fullFmt().format(d);
}

/** A <time> element with the full date as a tooltip. */
export function timeEl(iso, cls = 'time') {
  return h('time', { class: cls, datetime: iso ?? '', title: fullTime(iso) }, shortTime(iso));
}

/** "1 min 20 s" style durations for statistics. */
export function duration(secs) {
  if (secs === null || secs === undefined || Number.isNaN(secs)) return '—';
  const s = Math.round(secs);
  if (s < 60) return t('dur.s', { s });
  const m = Math.floor(s / 60);
  if (m < 60) return t('dur.ms', { m, s: s % 60 });
  return t('dur.hm', { h: Math.floor(m / 60), m: m % 60 });
}

/** A small status/priority pill; the raw value stays in textContent, CSS capitalises it. */
export function pill(kind, value, testid) {
  return h('span', {
    class: `pill pill-${kind} pill-${kind}-${value}`,
    'data-testid': testid,
    'data-value': value,
  }, t(`${kind}.${value}`));
}

/** Calls `fn` at most once per `ms`, trailing call included. */
export function throttle(fn, ms) {
  let last = 0;
  let timer = null;
  return (...args) => {
    const now = Date.now();
    const wait = last + ms - now;
    if (wait <= 0) {
      last = now;
      fn(...args);
    } else if (!timer) {
      timer = setTimeout(() => {
        timer = null;
        last = Date.now();
        fn(...args);
      }, wait);
    }
  };
}

export function debounce(fn, ms) {
  let timer = null;
  const wrapped = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}

const STEP_KEYS = new Set(['ArrowUp', 'ArrowDown', 'ArrowLeft', 'ArrowRight', 'Home', 'End', 'PageUp', 'PageDown']);

/**
 * Runs `fn(value)` when an option is picked from a select that triggers an action. A mouse
 * pick (or a scripted one) acts at once; stepping through a closed select with the keyboard
 * only stages the value, which Enter applies (and leaving the select reverts), so arrowing
 * through the options does not fire one action per step.
 */
export function onPick(sel, fn, { revert } = {}) {
  let keyed = false;
  let staged = false;
  sel.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && staged) {
      e.preventDefault();
      staged = false;
      sel.classList.remove('is-staged');
      fn(sel.value);
      return;
    }
    if (e.key === 'Escape' && staged) {
      staged = false;
      sel.classList.remove('is-staged');
      revert?.();
      return;
    }
    keyed = !e.altKey && (STEP_KEYS.has(e.key) || (e.key.length === 1 && e.key !== ' '));
  });
  sel.addEventListener('pointerdown', () => { keyed = false; });
  sel.addEventListener('change', () => {
    if (keyed) {
      keyed = false;
      staged = true;
      sel.classList.add('is-staged');
      return;
    }
    staged = false;
    sel.classList.remove('is-staged');
    fn(sel.value);
  });
  sel.addEventListener('blur', () => {
    keyed = false;
    if (staged) {
      staged = false;
      sel.classList.remove('is-staged');
      revert?.();
    }
  });
}
