// The sign-in form. POST /api/v1/auth/login sets the HttpOnly cookie; the token is also kept
// in sessionStorage for the Authorization header and the socket's hello.

import * as api from '../api.js';
import { h, replace, select, onPick } from '../dom.js';
import { t, lang, languages, setLanguage } from '../i18n.js';

export function showLogin(root, onSignedIn) {
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
      api.setToken(res.token);
      onSignedIn(res.operator);
    } catch (err) {
      showError(err.status === 401 ? t('auth.wrong') : err.message);
      submit.disabled = false;
      submit.textContent = t('auth.submit');
      password.select();
      password.focus();
    }
  });

  const langSel = select({ 'aria-label': t('lang.label'), class: 'lang-select' },
    languages.map((l) => [l.code, l.name]), lang);
  onPick(langSel, setLanguage, { revert: () => { langSel.value = lang; } });

  root.className = 'login-page';
  root.removeAttribute('aria-busy');
  delete root.dataset.layout;
  replace(root, h('main', { class: 'login-card' },
    h('div', { class: 'brand brand-login' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }, 'S'), 'Switchboard'),
    h('h1', { id: 'login-title' }, t('auth.title')),
    form,
    h('div', { class: 'login-foot' }, langSel)));
  document.title = 'Switchboard';
  email.focus();
}
