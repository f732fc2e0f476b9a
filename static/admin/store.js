// The panel's state: the signed-in operator, every conversation summary seen (from the
// socket's welcome and conversation frames and from HTTP lists), unread counts, the outbox of
// unacknowledged messages, and the socket itself. Views subscribe with `on(type, fn)`.

import * as api from './api.js';
import { OperatorSocket } from './socket.js';
import { randomId } from './dom.js';
import { toastError } from './toast.js';
import { notifyAssigned } from './notify.js';

// ---------------------------------------------------------------------------- events

const listeners = new Map();

/** Subscribes to a store event; returns the unsubscribe function. */
export function on(type, fn) {
  if (!listeners.has(type)) listeners.set(type, new Set());
  listeners.get(type).add(fn);
  return () => listeners.get(type)?.delete(fn);
}

export function emit(type, detail) {
  for (const fn of [...(listeners.get(type) ?? [])]) {
    try { fn(detail); } catch (e) { console.error(e); }
  }
}

// ---------------------------------------------------------------------------- state

export const ROLE_RANK = { agent: 0, supervisor: 1, admin: 2 };
export const PRIORITY_RANK = { urgent: 0, high: 1, medium: 2, low: 3 };

export const state = {
  me: null, // {id, name, role}
  presence: 'online',
  socketState: 'closed',
  welcomed: false,
  /** id → summary */
  convs: new Map(),
  /** id → unread customer messages */
  unread: new Map(),
  /** id → highest seq the customer has read (`read` frames and summaries' `visitor_read_seq`) */
  visitorRead: new Map(),
  /** Conversations assigned to me since the panel loaded, not opened yet (a "New" mark). */
  fresh: new Set(),
  /** operator id → name, from lists and from system events */
  names: new Map(),
  /**
   * The signed-in operator's unacknowledged messages and notes:
   * client_id → {conversation_id, kind, text, status: 'pending'|'failed', tries, sentAt}.
   * Kept per operator (see outboxFor), so they outlive an expired session.
   */
  outbox: new Map(),
  /** The conversation open in the chat view: {id, lastSeq: () => number} */
  open: null,
  tags: null,
  groups: null,
  canned: null,
};

export function hasRole(role) {
  return state.me ? ROLE_RANK[state.me.role] >= ROLE_RANK[role] : false;
}

export const isSupervisor = () => hasRole('supervisor');

// ------------------------------------------------------------------ read positions

function readKey() {
  return `sb.read.${state.me?.id ?? 'anon'}`;
}

let readSeqs = {};

function loadReadSeqs() {
  try { readSeqs = JSON.parse(localStorage.getItem(readKey()) || '{}') || {}; } catch { readSeqs = {}; }
}

function saveReadSeqs() {
  const entries = Object.entries(readSeqs);
  if (entries.length > 400) {
    // Keep the positions of conversations still known, then the most recent ones.
    readSeqs = Object.fromEntries(entries.filter(([id]) => state.convs.has(id)).slice(-400));
  }
  try { localStorage.setItem(readKey(), JSON.stringify(readSeqs)); } catch { /* full or disabled */ }
}

export function readSeq(id) {
  return Math.max(readSeqs[id] ?? 0, unsentReads.get(id) ?? 0);
}

/** Read marks that could not be sent (no socket): conversation id → seq; sent after welcome. */
const unsentReads = new Map();
let unsentReadsOf = null; // the operator they belong to

/** Sends the read marks kept while the socket was down, and records those that went out. */
function flushReads() {
  let saved = false;
  for (const [id, seq] of [...unsentReads]) {
    if ((readSeqs[id] ?? 0) >= seq) { unsentReads.delete(id); continue; }
    if (!send({ type: 'read', conversation_id: id, seq })) return;
    unsentReads.delete(id);
    readSeqs[id] = seq;
    saved = true;
  }
  if (saved) saveReadSeqs();
}

// ---------------------------------------------------------------- conversations

/** Adds or refreshes summaries; `fromFrame` marks a live `conversation` frame. */
export function upsert(summaries, { fromFrame = false } = {}) {
  const list = Array.isArray(summaries) ? summaries : [summaries];
  for (const s of list) {
    if (!s || !s.id) continue;
    const prev = state.convs.get(s.id);
    const next = { ...prev, ...s };
    if (prev) {
      // Events may have moved these further than the summary knows.
      next.last_seq = Math.max(prev.last_seq ?? 0, s.last_seq ?? 0);
      if (prev.last_message_at && (!s.last_message_at || prev.last_message_at > s.last_message_at)) {
        next.last_message_at = prev.last_message_at;
      }
    }
    if (prev) {
      next.visitor_read_seq = Math.max(prev.visitor_read_seq ?? 0, s.visitor_read_seq ?? 0);
      next.operator_read_seq = Math.max(prev.operator_read_seq ?? 0, s.operator_read_seq ?? 0);
    }
    state.convs.set(s.id, next);
    noteVisitorRead(s.id, next.visitor_read_seq);
    // Without a position of my own, the shared operator mark decides: re-estimate when it moves.
    const sharedMoved = readSeqs[s.id] === undefined && prev
      && (next.operator_read_seq ?? 0) > (prev.operator_read_seq ?? 0);
    if (!state.unread.has(s.id) || (prev && next.last_seq > prev.last_seq) || sharedMoved) {
      state.unread.set(s.id, estimateUnread(next));
    }
    if (next.assignee !== state.me?.id || !isOpen(next)) state.fresh.delete(s.id);
    if (fromFrame && state.me && next.assignee === state.me.id && prev?.assignee !== state.me.id
        && (next.status === 'active' || next.status === 'pending') && !selfTaken(s.id)) {
      if (state.open?.id !== s.id) state.fresh.add(s.id);
      notifyAssigned(next);
    }
    emit('conv', next);
  }
  emit('convs');
}

/** Conversations this panel just took or reopened itself: no alert for those. */
const ownMoves = new Map();

export function noteOwnMove(id) {
  ownMoves.set(id, Date.now());
}

function selfTaken(id) {
  const at = ownMoves.get(id);
  ownMoves.delete(id);
  return at !== undefined && Date.now() - at < 10000;
}

/** Remembers how far the customer has read (only ever forward); emits `seen` when it moves. */
function noteVisitorRead(id, seq) {
  if (!seq) return;
  const prev = state.visitorRead.get(id) ?? 0;
  if (seq <= prev) return;
  state.visitorRead.set(id, seq);
  emit('seen', { conversation_id: id, seq });
}

/** How far I have read: my own position in this browser, else the one shared by operators. */
function readPosition(c) {
  const mine = readSeqs[c.id] ?? unsentReads.get(c.id);
  if (mine !== undefined) return Math.max(mine, unsentReads.get(c.id) ?? 0);
  return c.operator_read_seq > 0 ? c.operator_read_seq : undefined;
}

function estimateUnread(c) {
  const read = readPosition(c);
  if (state.open?.id === c.id && document.visibilityState === 'visible') return 0;
  const unanswered = c.unanswered ?? 0;
  if (read === undefined) return unanswered;
  if (read >= (c.last_seq ?? 0)) return 0;
  return Math.min(unanswered, c.last_seq - read);
}

export function conv(id) {
  return state.convs.get(id);
}

export function unreadOf(id) {
  return state.unread.get(id) ?? 0;
}

export const isOpen = (c) => c.status === 'pending' || c.status === 'active';

/** Conversations of one list, before the view's own filters. */
export function listOf(kind) {
  const me = state.me?.id;
  const all = [...state.convs.values()];
  switch (kind) {
    case 'queue': return all.filter((c) => c.status === 'pending');
    case 'mine': return all.filter((c) => c.assignee === me);
    default: return all;
  }
}

/** Badge numbers for the nav: conversations waiting / mine open / all open, and unread. */
export function counts() {
  const me = state.me?.id;
  const out = { queue: 0, mine: 0, all: 0, unreadQueue: 0, unreadMine: 0, unreadAll: 0 };
  for (const c of state.convs.values()) {
    const u = unreadOf(c.id);
    if (c.status === 'pending') { out.queue += 1; out.unreadQueue += u; }
    if (c.assignee === me && isOpen(c)) { out.mine += 1; out.unreadMine += u; }
    if (isOpen(c)) { out.all += 1; out.unreadAll += u; }
  }
  return out;
}

/**
 * Marks the conversation read up to `seq` locally and tells the server. The position is
 * recorded once the `read` frame went out; without a socket it waits for the next welcome.
 */
export function markRead(id, seq) {
  if (!seq) return;
  const wasFresh = state.fresh.delete(id);
  const had = state.unread.get(id) || wasFresh;
  state.unread.set(id, 0);
  if ((readSeqs[id] ?? 0) < seq) {
    if (send({ type: 'read', conversation_id: id, seq })) {
      readSeqs[id] = seq;
      saveReadSeqs();
      if ((unsentReads.get(id) ?? 0) <= seq) unsentReads.delete(id);
    } else if ((unsentReads.get(id) ?? 0) < seq) {
      unsentReads.set(id, seq);
    }
  }
  if (had) emit('convs');
}

export function rememberName(id, name) {
  if (id && name) state.names.set(id, name);
}

// ---------------------------------------------------------------------- socket

let socket = null;

export function send(frame) {
  return socket ? socket.send(frame) : false;
}

export function socketReady() {
  return Boolean(socket?.ready);
}

export function connect() {
  if (socket) return;
  socket = new OperatorSocket({
    token: api.getToken,
    onFrame: handleFrame,
    onState: (s, info) => {
      state.socketState = s;
      emit('socket', { state: s, ...info });
    },
  });
  socket.start();
}

export function disconnect() {
  socket?.stop();
  socket = null;
  state.socketState = 'closed';
  state.welcomed = false;
}

function handleFrame(frame) {
  switch (frame.type) {
    case 'welcome': onWelcome(frame); break;
    case 'conversation': {
      const summary = { ...frame };
      delete summary.type;
      upsert(summary, { fromFrame: true });
      emit('conversation-frame', summary);
      break;
    }
    case 'event': onEvent(frame); break;
    case 'ack': onAck(frame); break;
    case 'typing': emit('typing', frame); break;
    case 'escalation': emit('escalation', frame); break;
    case 'read': onRead(frame); break;
    case 'presence':
      state.presence = frame.status;
      emit('presence', frame.status);
      break;
    case 'operator':
      // An admin changed my name or role: the socket already acts as the new one.
      state.me = { ...state.me, ...frame.operator };
      rememberName(frame.operator.id, frame.operator.name);
      emit('me', state.me);
      break;
    case 'error': onError(frame); break;
    default: break;
  }
}

/** The server lists at most this many open conversations in `welcome`. */
const WELCOME_LIMIT = 500;

function onWelcome(frame) {
  const again = state.welcomed;
  state.welcomed = true;
  if (frame.operator) {
    state.me = { ...state.me, ...frame.operator };
    rememberName(frame.operator.id, frame.operator.name);
  }
  // Read marks made while the socket was down go first, so unread counts below start from them.
  flushReads();
  // The welcome lists every open conversation this operator may see now: drop open ones that
  // are no longer there (taken by someone else while we were away).
  const listed = new Set((frame.conversations ?? []).map((c) => c.id));
  if (listed.size < WELCOME_LIMIT) {
    for (const [id, c] of state.convs) {
      if (isOpen(c) && !listed.has(id)) state.convs.delete(id);
    }
  }
  upsert(frame.conversations ?? []);
  if (again && state.presence !== 'online') {
    // A fresh first socket starts online: put back the presence the operator chose.
    send({ type: 'presence', status: state.presence });
  }
  const lastSeq = state.open?.lastSeq();
  if (state.open && lastSeq !== null && lastSeq !== undefined) {
    send({ type: 'resume', conversation_id: state.open.id, last_seq: lastSeq });
  }
  for (const [clientId, item] of state.outbox) {
    if (item.status === 'pending') transmit(clientId, item);
  }
  emit('welcome', { again });
}

function onRead(frame) {
  const id = frame.conversation_id;
  const c = state.convs.get(id);
  if (frame.author === 'visitor') {
    if (c) c.visitor_read_seq = Math.max(c.visitor_read_seq ?? 0, frame.seq);
    noteVisitorRead(id, frame.seq);
  } else if (frame.author === 'operator' && c && frame.seq > (c.operator_read_seq ?? 0)) {
    c.operator_read_seq = frame.seq;
    if (readSeqs[id] === undefined) {
      const before = unreadOf(id);
      state.unread.set(id, estimateUnread(c));
      if (unreadOf(id) !== before) emit('convs');
    }
  }
  emit('read', frame);
}

function onEvent(ev) {
  const id = ev.conversation_id;
  const c = state.convs.get(id);
  if (ev.kind === 'system' && ev.data?.operator_id && ev.data?.operator_name) {
    rememberName(ev.data.operator_id, ev.data.operator_name);
  }
  if (c && ev.seq > (c.last_seq ?? 0)) {
    c.last_seq = ev.seq;
    if (ev.kind === 'message') {
      c.last_message_at = ev.at;
      if (ev.author === 'visitor') c.unanswered = (c.unanswered ?? 0) + 1;
      else if (ev.author === 'operator') c.unanswered = 0;
    }
    const viewing = state.open?.id === id && document.visibilityState === 'visible';
    if (ev.kind === 'message' && ev.author === 'visitor' && !viewing) {
      state.unread.set(id, unreadOf(id) + 1);
    }
    emit('conv', c);
    emit('convs');
  }
  emit('event', ev);
}

// ---------------------------------------------------------------------- outbox

// Each operator's outbox lives here for the life of the tab and in sessionStorage
// (`sb.outbox.<operator id>`), so unsent replies survive an expired session (and a reload) and
// go out, with their client_id, once the same operator is signed in again. Another operator
// signing in to this tab gets their own outbox and never sees or sends these.
const outboxes = new Map();

const outboxKey = (operatorId) => `sb.outbox.${operatorId}`;

function outboxFor(operatorId) {
  let box = outboxes.get(operatorId);
  if (box) return box;
  box = new Map();
  try {
    const saved = JSON.parse(sessionStorage.getItem(outboxKey(operatorId)) || '[]');
    for (const [clientId, item] of Array.isArray(saved) ? saved : []) {
      if (clientId && item?.conversation_id && item.text) box.set(clientId, { ...item, sentAt: 0 });
    }
  } catch { /* unreadable: start empty */ }
  outboxes.set(operatorId, box);
  return box;
}

function saveOutbox(box = state.outbox) {
  const owner = [...outboxes].find(([, b]) => b === box)?.[0];
  if (!owner) return;
  try {
    if (box.size) sessionStorage.setItem(outboxKey(owner), JSON.stringify([...box]));
    else sessionStorage.removeItem(outboxKey(owner));
  } catch { /* full or disabled: the tab still has them */ }
}

/** Sends a message or note; returns its client_id. Shown as pending until the ack. */
export function sendMessage(conversationId, kind, text) {
  const clientId = randomId();
  const item = { conversation_id: conversationId, kind, text, status: 'pending', tries: 0, sentAt: 0 };
  state.outbox.set(clientId, item);
  saveOutbox();
  emit('outbox', { clientId, item });
  transmit(clientId, item);
  return clientId;
}

/** Sends again with the same client_id: the server stores it at most once. */
export function retry(clientId) {
  const item = state.outbox.get(clientId);
  if (!item) return;
  item.status = 'pending';
  saveOutbox();
  emit('outbox', { clientId, item });
  transmit(clientId, item);
}

export function discard(clientId) {
  const item = state.outbox.get(clientId);
  state.outbox.delete(clientId);
  saveOutbox();
  if (item) emit('outbox', { clientId, item: { ...item, status: 'discarded' } });
}

function transmit(clientId, item) {
  const box = state.outbox;
  item.tries += 1;
  item.sentAt = Date.now();
  const frame = { type: item.kind, conversation_id: item.conversation_id, client_id: clientId, text: item.text };
  if (send(frame)) return;
  // No socket right now: the HTTP endpoint has the same idempotency.
  api.post(`/conversations/${item.conversation_id}/messages`, { client_id: clientId, text: item.text, kind: item.kind })
    .then((ack) => onAck({ ...ack, conversation_id: item.conversation_id }, box))
    .catch((err) => {
      if (err.code === 'network' || err.code === 'unavailable' || err.code === 'rate_limited') {
        return; // still pending: resent on the next welcome or by the ack timer
      }
      if (err.status === 401) {
        return; // the session ended: still pending, sent once this operator signs in again
      }
      fail(clientId, err, box);
    });
}

function onAck(ack, box = state.outbox) {
  const item = box.get(ack.client_id);
  box.delete(ack.client_id);
  if (item) saveOutbox(box);
  if (box !== state.outbox) return; // an operator who has signed out since
  if (item?.kind === 'message') state.unread.set(ack.conversation_id, 0);
  emit('ack', { ...ack, item });
}

function fail(clientId, err, box = state.outbox) {
  const item = box.get(clientId);
  if (!item) return;
  item.status = 'failed';
  item.error = err.message;
  saveOutbox(box);
  if (box !== state.outbox) return;
  emit('outbox', { clientId, item });
  toastError(err);
}

function onError(frame) {
  if (frame.client_id && state.outbox.has(frame.client_id)) {
    const item = state.outbox.get(frame.client_id);
    if ((frame.code === 'unavailable' || frame.code === 'rate_limited') && item.tries < 6) {
      setTimeout(() => { if (state.outbox.get(frame.client_id) === item) transmit(frame.client_id, item); }, 1000 * item.tries);
      return;
    }
    fail(frame.client_id, frame);
    return;
  }
  if (frame.code === 'unauthorized' && !state.welcomed) {
    emit('unauthorized');
    return;
  }
  emit('socket-error', frame);
  toastError(frame);
}

// Anything unacknowledged for 15 s while the socket is up is sent again (same client_id).
setInterval(() => {
  if (!socketReady()) return;
  const now = Date.now();
  for (const [clientId, item] of state.outbox) {
    if (item.status === 'pending' && now - item.sentAt > 15000) {
      if (item.tries >= 6) fail(clientId, { message: 'No answer from the server', code: 'timeout' });
      else transmit(clientId, item);
    }
  }
}, 5000);

// ------------------------------------------------------------------- presence

export async function setPresence(status) {
  state.presence = status;
  emit('presence', status);
  if (send({ type: 'presence', status })) return;
  try {
    await api.put('/operators/me/status', { status });
  } catch (err) {
    toastError(err);
  }
}

// --------------------------------------------------------------- reference data

export async function loadTags(force = false) {
  if (!state.tags || force) {
    const res = await api.get('/tags');
    state.tags = res.items ?? [];
    emit('tags', state.tags);
  }
  return state.tags;
}

export async function loadGroups(force = false) {
  if (!state.groups || force) {
    state.groups = await api.get('/groups');
    emit('groups', state.groups);
  }
  return state.groups;
}

export async function loadCanned(force = false) {
  if (!state.canned || force) {
    const res = await api.get('/canned-responses');
    state.canned = res.items ?? [];
  }
  return state.canned;
}

let operatorsPromise = null;
/** The team with live status and load (supervisors and admins only). */
export async function loadOperators(force = false) {
  if (!isSupervisor()) return [];
  if (!operatorsPromise || force) {
    operatorsPromise = api.get('/operators').then((ops) => {
      for (const op of ops) rememberName(op.id, op.name);
      emit('names');
      return ops;
    });
    operatorsPromise.catch(() => { operatorsPromise = null; });
  }
  return operatorsPromise;
}

// ------------------------------------------------------------------ session

export function signIn(me) {
  state.me = me;
  rememberName(me.id, me.name);
  loadReadSeqs();
  if (unsentReadsOf !== me.id) unsentReads.clear();
  unsentReadsOf = me.id;
  state.outbox = outboxFor(me.id);
}

export function signOut() {
  disconnect();
  state.me = null;
  state.convs.clear();
  state.unread.clear();
  state.visitorRead.clear();
  state.fresh.clear();
  // Unsent messages stay with their operator (outboxFor) for when they sign in again.
  state.outbox = new Map();
  state.open = null;
  state.tags = state.groups = state.canned = null;
  operatorsPromise = null;
}
