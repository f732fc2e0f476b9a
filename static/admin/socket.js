// The operator WebSocket: `hello` first, frames out as JSON, reconnect with exponential
// backoff and jitter. Catch-up (`resume`) and resending unacknowledged messages are done by
// the store on every `welcome`.

const MAX_DELAY = 30000;

/** Browser tests set `localStorage['sb.test'] = '1'` to get `window.__sbSocket` (pause/resume). */
function testMode() {
  try { return localStorage.getItem('sb.test') === '1'; } catch { return false; }
}

export class OperatorSocket {
  /**
   * @param {object} opts
   * @param {() => string|null} opts.token  the Bearer token, or null to rely on the cookie
   * @param {(frame: object) => void} opts.onFrame  every server frame, parsed
   * @param {(state: string, info?: object) => void} opts.onState  'connecting' | 'open' | 'closed'
   */
  constructor({ token, onFrame, onState }) {
    this.token = token;
    this.onFrame = onFrame;
    this.onState = onState;
    this.ws = null;
    this.ready = false;
    this.stopped = true;
    this.attempt = 0;
    this.timer = null;
    this.paused = false;
    this.onOnline = () => this.reconnectSoon(200);
  }

  url() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return `${scheme}//${location.host}/ws/operator`;
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    window.addEventListener('online', this.onOnline);
    if (testMode()) window.__sbSocket = this;
    this.connect();
  }

  /** Test hook: closes the socket and keeps it closed until resume(). */
  pause() {
    this.paused = true;
    clearTimeout(this.timer);
    this.ws?.close(4000, 'paused');
  }

  /** Test hook: reconnects at once after pause(). */
  resume() {
    if (!this.paused) return;
    this.paused = false;
    this.attempt = 0;
    this.reconnectSoon(0);
  }

  stop() {
    this.stopped = true;
    window.removeEventListener('online', this.onOnline);
    clearTimeout(this.timer);
    this.ready = false;
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onclose = null;
      try { ws.close(1000, 'bye'); } catch { /* already closed */ }
    }
  }

  connect() {
    clearTimeout(this.timer);
    if (this.stopped || this.paused) return;
    this.ready = false;
    this.onState('connecting', { attempt: this.attempt });
    let ws;
    try {
      ws = new WebSocket(this.url());
    } catch {
      this.scheduleReconnect(null);
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      const hello = { type: 'hello' };
      const token = this.token();
      if (token) hello.token = token;
      ws.send(JSON.stringify(hello));
    };
    ws.onmessage = (msg) => {
      if (typeof msg.data !== 'string') return;
      let frame;
      try { frame = JSON.parse(msg.data); } catch { return; }
      if (frame.type === 'welcome') {
        this.ready = true;
        this.attempt = 0;
        this.onState('open');
      }
      this.onFrame(frame);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.ready = false;
      this.onState('closed', { code: ev.code });
      this.scheduleReconnect(ev.code);
    };
    ws.onerror = () => { /* onclose follows */ };
  }

  scheduleReconnect(code) {
    if (this.stopped || this.paused) return;
    // 1012: the server is restarting, come back quickly; otherwise back off exponentially.
    const base = code === 1012 && this.attempt === 0
      ? 700
      : Math.min(MAX_DELAY, 1000 * 2 ** this.attempt);
    this.attempt += 1;
    const delay = base / 2 + Math.random() * base / 2;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  reconnectSoon(delay) {
    if (this.stopped || this.ws) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  /** Sends a frame when the socket is ready; returns whether it went out. */
  send(frame) {
    if (!this.ready || !this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    try {
      this.ws.send(JSON.stringify(frame));
      return true;
    } catch {
      return false;
    }
  }
}
