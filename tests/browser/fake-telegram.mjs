// A fake Telegram Bot API for the browser tests, and Update shapes as Telegram sends them.
// It answers like Telegram does (sendMessage with a message, copyMessage with an id, getMe,
// getUpdates with nothing, `true` to anything else) and records every call. A test may
// answer some methods itself (`answers`: method in lower case → function of the body) and
// refuse some (`fail`: method → description). teloxide sends setWebhook as multipart: its
// body is kept raw.

import { createServer } from 'node:http';
import { once } from 'node:events';

const BOT = { id: 42, is_bot: true, first_name: 'SupportBot', username: 'support_bot' };

export async function fakeBotApi({ answers = {}, bot = BOT } = {}) {
  const calls = [];
  const fail = new Map();
  let nextId = 1000;
  const api = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const method = (req.url.split('/').pop() || '').split('?')[0].toLowerCase();
      const contentType = req.headers['content-type'] ?? '';
      let body = {};
      try { body = raw && /json/.test(contentType) ? JSON.parse(raw) : {}; } catch { body = {}; }
      calls.push({ method, body, raw, contentType });
      res.writeHead(200, { 'Content-Type': 'application/json' });
      if (fail.has(method)) {
        res.end(JSON.stringify({ ok: false, error_code: 400, description: fail.get(method) }));
        return;
      }
      nextId += 1;
      let result = true;
      if (answers[method]) {
        result = answers[method](body, nextId);
      } else if (method === 'sendmessage' || method === 'forwardmessage' || method === 'editmessagetext') {
        const chatId = Number(body.chat_id ?? 0);
        result = {
          message_id: nextId,
          date: Math.floor(Date.now() / 1000),
          chat: chatId < 0 ? { id: chatId, type: 'supergroup', title: 'Support' } : { id: chatId, type: 'private', first_name: 'Someone' },
          from: bot,
          text: body.text ?? '',
        };
      } else if (method === 'copymessage') {
        result = { message_id: nextId };
      } else if (method === 'getme') {
        result = bot;
      } else if (method === 'getupdates') {
        result = [];
      }
      res.end(JSON.stringify({ ok: true, result }));
    });
  });
  api.listen(0, '127.0.0.1');
  await once(api, 'listening');
  return { url: `http://127.0.0.1:${api.address().port}`, calls, fail, close: () => api.close() };
}

let updateId = 700000000;
let messageId = 10;

export function nextUpdateId() {
  return (updateId += 1);
}

/** A Telegram user's private-chat message, as the Bot API sends it. */
export function privateText(user, text, name = 'Ivan') {
  const who = { first_name: `${name}${user}`, last_name: 'Petrovsky', username: `${name.toLowerCase()}_${user}` };
  const message = {
    message_id: (messageId += 1),
    from: { id: user, is_bot: false, ...who, language_code: 'en' },
    chat: { id: user, ...who, type: 'private' },
    date: Math.floor(Date.now() / 1000),
    text,
  };
  if (text.startsWith('/')) message.entities = [{ offset: 0, length: text.split(' ')[0].length, type: 'bot_command' }];
  return { update_id: nextUpdateId(), message };
}
