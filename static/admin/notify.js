// A short beep (WebAudio, nothing fetched) and a desktop notification when a conversation is
// assigned to me, and (supervisors and admins) when one is escalated. Permission is asked only
// from a click on "Enable notifications".

import { t } from './i18n.js';
import { toast } from './toast.js';

let audio = null;

function context() {
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!Ctx) return null;
  if (!audio) audio = new Ctx();
  return audio;
}

// Browsers start audio suspended until the user interacts with the page.
function unlock() {
  try {
    const ctx = context();
    if (ctx && ctx.state === 'suspended') ctx.resume().catch(() => {});
  } catch { /* no audio */ }
}
window.addEventListener('pointerdown', unlock, { capture: true });
window.addEventListener('keydown', unlock, { capture: true });

export function beep() {
  try {
    const ctx = context();
    if (!ctx) return;
    if (ctx.state === 'suspended') ctx.resume().catch(() => {});
    const now = ctx.currentTime;
    const gain = ctx.createGain();
    gain.connect(ctx.destination);
    gain.gain.setValueAtTime(0.0001, now);
    gain.gain.exponentialRampToValueAtTime(0.2, now + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, now + 0.35);
    for (const [freq, start] of [[880, 0], [1320, 0.12]]) {
      const osc = ctx.createOscillator();
      osc.type = 'sine';
      osc.frequency.setValueAtTime(freq, now + start);
      osc.connect(gain);
      osc.start(now + start);
      osc.stop(now + start + 0.2);
    }
  } catch { /* audio is a nicety */ }
}

export const notificationsSupported = () => 'Notification' in window;

export function notificationPermission() {
  return notificationsSupported() ? Notification.permission : 'unsupported';
}

/** Must be called from a user gesture. */
export async function requestNotifications() {
  if (!notificationsSupported()) return 'unsupported';
  try {
    return await Notification.requestPermission();
  } catch {
    return Notification.permission;
  }
}

let raised = 0;

/**
 * A conversation was just assigned to me: a notice in the page, the beep and, if allowed, a
 * desktop notification. Each one is counted in `window.__sbNotifications` and on
 * `<html data-notifications data-last-notification>`, so tests and scripts can see it.
 */
export function notifyAssigned(summary) {
  raised += 1;
  window.__sbNotifications = raised;
  document.documentElement.dataset.notifications = String(raised);
  document.documentElement.dataset.lastNotification = summary.id;
  toast(t('notify.assigned.toast', { alias: summary.alias }), 'notice', {
    action: { label: t('notify.open'), href: `#/c/${encodeURIComponent(summary.id)}` },
  });
  beep();
  if (!notificationsSupported() || Notification.permission !== 'granted') return;
  try {
    const n = new Notification(t('notify.assigned.title'), {
      body: t('notify.assigned.body', { alias: summary.alias, ticket: summary.ticket }),
      tag: `sb-${summary.id}`,
    });
    n.onclick = () => {
      window.focus();
      location.hash = `#/c/${summary.id}`;
      n.close();
    };
  } catch { /* some browsers only allow notifications from a service worker */ }
}

const TRIGGERS = ['manual', 'unanswered', 'keyword', 'first_response'];

/** conversation id:level already announced, so a frame and an event make one notice. */
const escalationsSeen = new Set();
let escalations = 0;

/**
 * A conversation was escalated (`{conversation_id, ticket, alias, level, trigger}`, level after
 * it, 0–2): a notice naming the ticket, alias, level (L1–L3) and trigger in words, with a link
 * to the conversation, the beep and, if allowed, a desktop notification. Counted in
 * `window.__sbEscalations` and on `<html data-escalations data-last-escalation>`.
 */
export function notifyEscalation(e) {
  const key = `${e.conversation_id}:${e.level}`;
  if (escalationsSeen.has(key)) return;
  escalationsSeen.add(key);
  if (escalationsSeen.size > 500) escalationsSeen.delete(escalationsSeen.values().next().value);
  escalations += 1;
  window.__sbEscalations = escalations;
  document.documentElement.dataset.escalations = String(escalations);
  document.documentElement.dataset.lastEscalation = e.conversation_id;
  const words = {
    level: `L${Number(e.level ?? 0) + 1}`,
    alias: e.alias ?? '',
    ticket: e.ticket ?? '',
    trigger: TRIGGERS.includes(e.trigger) ? t(`trigger.${e.trigger}`) : String(e.trigger ?? ''),
  };
  const href = `#/c/${encodeURIComponent(e.conversation_id)}`;
  toast(t('notify.escalated.toast', words), 'notice', { action: { label: t('notify.open'), href } });
  beep();
  if (!notificationsSupported() || Notification.permission !== 'granted') return;
  try {
    const n = new Notification(t('notify.escalated.title', words), {
      body: t('notify.escalated.body', words),
      tag: `sb-escalation-${key}`,
    });
    n.onclick = () => {
      window.focus();
      location.hash = href;
      n.close();
    };
  } catch { /* some browsers only allow notifications from a service worker */ }
}
