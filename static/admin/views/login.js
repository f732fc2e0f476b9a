// The sign-in page: email and password, or a one-time code the support bot sends to the
// operator's linked Telegram account.
//   POST /auth/login        {email, password}  → {token, expires_at, operator} and the cookie
//   POST /auth/otp/request  {email}            → 202 whoever the email belongs to; 404 when the
//                                                Telegram channel is off
//   POST /auth/otp/verify   {email, code}      → as /auth/login; 401 wrong, used or expired
//                                                code; 429 with Retry-After after 5 wrong codes
// Both ways end the same: the token is kept in sessionStorage for the Authorization header and
// the socket's hello (the HttpOnly cookie is set too), then `onSignedIn(operator)`.

import * as api from '../api.js';
import { h, replace, select, onPick, uid } from '../dom.js';
import { t, lang, languages, setLanguage } from '../i18n.js';

// A 404 from the code endpoints: this server runs without the Telegram channel. Remembered
// while the page lives, so the sign-in page shown again after a sign-out says so at once.
let otpOff = false;

/** "in 15 minutes" / "через 15 минут" for a Retry-After in seconds. */
function inTime(secs) {
  const rtf = new Intl.RelativeTimeFormat(lang, { numeric: 'always' });
  return secs < 60 ? rtf.format(Math.ceil(secs), 'second') : rtf.format(Math.ceil(secs / 60), 'minute');
}

/** The words for a 429: the wait from Retry-After when the server gave one. */
function tooMany(err) {
  return err.retryAfter ? t('auth.tooManyWait', { when: inTime(err.retryAfter) }) : t('auth.tooMany');
}

export function showLogin(root, onSignedIn) {
  let finished = false; // signed in: late timers leave the page alone

  // ------------------------------------------------------------------ password

  const email = h('input', { id: 'login-email', type: 'email', name: 'email', autocomplete: 'username', required: true, autofocus: true });
  const password = h('input', { id: 'login-password', type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const error = h('p', { class: 'form-error', 'data-testid': 'login-error', role: 'alert', hidden: true });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block', 'data-testid': 'login-submit' }, t('auth.submit'));

  const form = h('form', { class: 'login-form', novalidate: true, 'aria-labelledby': 'login-title' },
    h('div', { class: 'field' }, h('label', { for: 'login-email' }, t('auth.email')), email),
    h('div', { class: 'field' }, h('label', { for: 'login-password' }, t('auth.password')), password),
    error,
    submit);

  const showError = (message) => {
    error.textContent = message;
    error.hidden = !message;
  };

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    showError('');
    if (!email.value.trim() || !password.value) {
      showError(t('auth.missing'));
      (email.value.trim() ? password : email).focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = t('auth.signingIn');
    try {
      const res = await api.api('POST', '/auth/login', {
        body: { email: email.value.trim(), password: password.value },
        auth: false,
      });
      finished = true;
      api.setToken(res.token);
      onSignedIn(res.operator);
    } catch (err) {
      showError(err.status === 401 ? t('auth.wrong') : err.status === 429 ? tooMany(err) : err.message);
      submit.disabled = false;
      submit.textContent = t('auth.submit');
      password.select();
      password.focus();
    }
  });

  const offNoteId = uid('otp-off');
  const otpMode = h('button', { type: 'button', class: 'btn btn-secondary btn-block', 'data-testid': 'otp-mode' }, t('otp.mode'));
  const otpOffNote = h('p', { id: offNoteId, class: 'login-note', 'data-testid': 'otp-off', hidden: true }, t('otp.off'));
  const passwordPane = h('div', { class: 'login-pane' },
    form,
    h('p', { class: 'login-or', 'aria-hidden': 'true' }, h('span', {}, t('auth.or'))),
    otpMode,
    otpOffNote);

  // ------------------------------------------------------------------ Telegram code

  const otpHeadingId = uid('otp-title');
  const otpEmail = h('input', { id: 'otp-email', type: 'email', name: 'email', autocomplete: 'username', required: true, 'data-testid': 'otp-email' });
  const send = h('button', { type: 'submit', class: 'btn btn-primary btn-block', 'data-testid': 'otp-send' }, t('otp.send'));
  const emailForm = h('form', { class: 'login-form', novalidate: true, 'aria-labelledby': otpHeadingId },
    h('div', { class: 'field' }, h('label', { for: 'otp-email' }, t('auth.email')), otpEmail),
    send);

  const hintId = uid('otp-code-hint');
  const code = h('input', {
    id: 'otp-code',
    type: 'text',
    name: 'code',
    inputmode: 'numeric',
    autocomplete: 'one-time-code',
    pattern: '[0-9]*',
    maxlength: '12', // room for a pasted "123 456"
    spellcheck: 'false',
    required: true,
    'aria-describedby': hintId,
    'data-testid': 'otp-code',
  });
  const otpSubmit = h('button', { type: 'submit', class: 'btn btn-primary btn-block', 'data-testid': 'otp-submit' }, t('auth.submit'));
  const sent = h('p', { class: 'login-sent', role: 'status', 'data-testid': 'otp-sent' });
  const resend = h('button', { type: 'button', class: 'btn btn-link', 'data-testid': 'otp-resend' }, t('otp.resend'));
  const change = h('button', { type: 'button', class: 'btn btn-link', 'data-testid': 'otp-change' }, t('otp.change'));
  const codeForm = h('form', { class: 'login-form', novalidate: true, 'aria-labelledby': otpHeadingId, hidden: true },
    sent,
    h('div', { class: 'field' },
      h('label', { for: 'otp-code' }, t('otp.code')),
      code,
      h('span', { id: hintId, class: 'hint' }, t('otp.codeHint'))),
    otpSubmit,
    h('div', { class: 'login-links' }, resend, change));

  const otpError = h('p', { class: 'form-error', 'data-testid': 'otp-error', role: 'alert', hidden: true });
  const intro = h('p', { class: 'login-note', 'data-testid': 'otp-intro' }, t('otp.intro'));
  const back = h('button', { type: 'button', class: 'btn btn-link', 'data-testid': 'otp-back' }, t('otp.back'));
  const otpPane = h('section', { class: 'login-pane', 'aria-labelledby': otpHeadingId, hidden: true },
    h('h2', { id: otpHeadingId, class: 'login-subtitle' }, t('otp.title')),
    intro,
    otpError,
    emailForm,
    codeForm,
    h('div', { class: 'login-links' }, back));

  // The address the last code was asked for (the code step), or null (the email step).
  let sentTo = null;
  let lockTimer = null;

  const showOtpError = (message) => {
    otpError.textContent = message;
    otpError.hidden = !message;
  };

  /** The password pane's button and note follow `otpOff`. */
  function renderOff() {
    otpMode.disabled = otpOff;
    otpOffNote.hidden = !otpOff;
    if (otpOff) otpMode.setAttribute('aria-describedby', offNoteId);
    else otpMode.removeAttribute('aria-describedby');
  }

  function setMode(mode) {
    const otp = mode === 'otp';
    passwordPane.hidden = otp;
    otpPane.hidden = !otp;
    if (otp) {
      if (!otpEmail.value.trim()) otpEmail.value = email.value.trim();
      showOtpError(otpOff ? t('otp.off') : '');
      setStep(otpOff ? 'off' : sentTo ? 'code' : 'email');
    } else {
      if (!email.value.trim()) email.value = otpEmail.value.trim();
      renderOff();
      (email.value ? password : email).focus();
    }
  }

  function setStep(step) {
    intro.hidden = step === 'off';
    emailForm.hidden = step !== 'email';
    codeForm.hidden = step !== 'code';
    if (step === 'email') otpEmail.focus();
    else if (step === 'code') code.focus();
    else back.focus();
  }

  /** The channel is off: say so, offer only the way back. */
  function turnOff() {
    otpOff = true;
    sentTo = null;
    showOtpError(t('otp.off'));
    setStep('off');
  }

  async function requestCode(address, { again = false } = {}) {
    const button = again ? resend : send;
    button.disabled = true;
    if (!again) send.textContent = t('otp.sending');
    try {
      await api.api('POST', '/auth/otp/request', { body: { email: address }, auth: false });
      if (finished) return;
      sentTo = address;
      code.value = '';
      code.removeAttribute('aria-invalid');
      sent.textContent = t(again ? 'otp.resent' : 'otp.sent', { email: address });
      setStep('code');
    } catch (err) {
      if (finished) return;
      if (err.status === 404) { turnOff(); return; }
      showOtpError(err.status === 429 ? tooMany(err) : err.message);
      (again ? code : otpEmail).focus();
    } finally {
      button.disabled = false;
      send.textContent = t('otp.send');
    }
  }

  emailForm.addEventListener('submit', (e) => {
    e.preventDefault();
    showOtpError('');
    const address = otpEmail.value.trim();
    if (!address) {
      otpEmail.setAttribute('aria-invalid', 'true');
      showOtpError(t('otp.emailMissing'));
      otpEmail.focus();
      return;
    }
    otpEmail.removeAttribute('aria-invalid');
    requestCode(address);
  });

  resend.addEventListener('click', () => {
    if (!sentTo) return;
    showOtpError('');
    requestCode(sentTo, { again: true });
  });

  change.addEventListener('click', () => {
    sentTo = null;
    showOtpError('');
    sent.textContent = '';
    setStep('email');
    otpEmail.select();
  });

  back.addEventListener('click', () => {
    showOtpError('');
    setMode('password');
  });

  otpMode.addEventListener('click', () => {
    if (!otpOff) setMode('otp');
  });

  codeForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (otpSubmit.disabled || !sentTo) return;
    showOtpError('');
    const digits = code.value.replace(/\s+/g, '');
    if (!/^[0-9]{6}$/.test(digits)) {
      code.setAttribute('aria-invalid', 'true');
      showOtpError(t('otp.codeMissing'));
      code.focus();
      return;
    }
    code.removeAttribute('aria-invalid');
    otpSubmit.disabled = true;
    otpSubmit.textContent = t('auth.signingIn');
    let lockedFor = 0;
    try {
      const res = await api.api('POST', '/auth/otp/verify', {
        body: { email: sentTo, code: digits },
        auth: false,
      });
      finished = true;
      clearTimeout(lockTimer);
      api.setToken(res.token);
      onSignedIn(res.operator);
      return;
    } catch (err) {
      if (err.status === 404) {
        turnOff();
      } else if (err.status === 401) {
        code.setAttribute('aria-invalid', 'true');
        showOtpError(t('otp.wrong'));
      } else if (err.status === 429) {
        showOtpError(tooMany(err));
        lockedFor = err.retryAfter ?? 0;
      } else {
        if (err.field === 'code') code.setAttribute('aria-invalid', 'true');
        showOtpError(err.message);
      }
    }
    otpSubmit.textContent = t('auth.submit');
    // Locked out: the button stays off until the wait is over (the message says how long).
    clearTimeout(lockTimer);
    if (lockedFor > 0) {
      lockTimer = setTimeout(() => { otpSubmit.disabled = false; }, lockedFor * 1000);
    } else {
      otpSubmit.disabled = false;
    }
    if (!codeForm.hidden) {
      code.select();
      code.focus();
    }
  });

  // ------------------------------------------------------------------ page

  const langSel = select({ 'aria-label': t('lang.label'), class: 'lang-select' },
    languages.map((l) => [l.code, l.name]), lang);
  onPick(langSel, setLanguage, { revert: () => { langSel.value = lang; } });

  renderOff();
  root.className = 'login-page';
  root.removeAttribute('aria-busy');
  delete root.dataset.layout;
  replace(root, h('main', { class: 'login-card' },
    h('div', { class: 'brand brand-login' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }, 'S'), 'Switchboard'),
    h('h1', { id: 'login-title' }, t('auth.title')),
    passwordPane,
    otpPane,
    h('div', { class: 'login-foot' }, langSel)));
  document.title = 'Switchboard';
  email.focus();
}
