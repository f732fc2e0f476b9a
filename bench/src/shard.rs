//! A visitor shard: opens its share of visitor sockets (one widget session and conversation
//! each), holds them, and on command sends messages at a fixed rate or as fast as acks allow,
//! recording visitor→ack latency. It runs in-process or as a child process (`bench shard`) so
//! that a run can exceed one process's open-file limit.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Semaphore};
use tokio::time::{sleep, sleep_until, timeout, MissedTickBehavior};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{connect_async_with_config, MaybeTlsStream, WebSocketStream};

use crate::proto::{
    client_id, message_key, message_text, parse_client_id, parse_text, ConnectReport, InFrame,
    LoadPlan, LoadReport, Mode, ShardCmd, ShardConfig, ShardEvent,
};
use crate::sys::{encode_histogram, new_histogram, unix_micros};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Small buffers: the bench holds many thousands of sockets.
pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(0)
}

/// `http://host:port` → `ws://host:port<path>`.
pub fn ws_url(base: &str, path: &str) -> String {
    let base = base.trim_end_matches('/');
    if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}{path}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}{path}")
    } else {
        format!("ws://{base}{path}")
    }
}

/// A short, aggregatable reason for a failed request.
pub fn reqwest_reason(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_decode() {
        "decode"
    } else {
        "request"
    }
}

/// A short, aggregatable reason for a socket error.
pub fn ws_reason(e: &tokio_tungstenite::tungstenite::Error) -> String {
    use tokio_tungstenite::tungstenite::Error as E;
    match e {
        E::ConnectionClosed => "closed".into(),
        E::AlreadyClosed => "already_closed".into(),
        E::Io(io) => format!("io:{:?}", io.kind()),
        E::Protocol(p) => format!("protocol:{p}"),
        E::Http(resp) => format!("http:{}", resp.status().as_u16()),
        other => {
            let s = other.to_string();
            s.chars().take(60).collect()
        }
    }
}

#[derive(Deserialize)]
struct SessionCreated {
    token: String,
}

enum VCmd {
    /// Send one message now.
    Send,
    /// Keep `window` messages in flight until `until`.
    Flood { window: u32, until: Instant },
}

#[derive(Default)]
struct Stats {
    ack_hist: Option<Histogram<u64>>,
    acks_per_sec: Vec<u64>,
    sent_per_sec: Vec<u64>,
    acked_in_window: u64,
    errors: BTreeMap<String, u64>,
}

fn bump(v: &mut Vec<u64>, index: usize) {
    if index < 100_000 {
        if v.len() <= index {
            v.resize(index + 1, 0);
        }
        v[index] += 1;
    }
}

struct Shared {
    cfg: ShardConfig,
    sent: AtomicU64,
    acked: AtomicU64,
    /// Messages answered by an error frame naming their client_id.
    refused: AtomicU64,
    error_frames: AtomicU64,
    socket_failures: AtomicU64,
    echoes: AtomicU64,
    stats: Mutex<Stats>,
    /// Start and end of the sending window.
    window: OnceLock<(Instant, Instant)>,
}

impl Shared {
    fn new(cfg: ShardConfig) -> Self {
        Shared {
            cfg,
            sent: AtomicU64::new(0),
            acked: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            error_frames: AtomicU64::new(0),
            socket_failures: AtomicU64::new(0),
            echoes: AtomicU64::new(0),
            stats: Mutex::new(Stats {
                ack_hist: Some(new_histogram()),
                ..Stats::default()
            }),
            window: OnceLock::new(),
        }
    }

    fn stats(&self) -> std::sync::MutexGuard<'_, Stats> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn second(&self, now: Instant) -> Option<usize> {
        let (start, _) = self.window.get()?;
        Some(now.saturating_duration_since(*start).as_secs() as usize)
    }

    fn note_sent(&self) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        if let Some(s) = self.second(Instant::now()) {
            bump(&mut self.stats().sent_per_sec, s);
        }
    }

    fn note_ack(&self, sent_at: Instant) {
        let now = Instant::now();
        self.acked.fetch_add(1, Ordering::Relaxed);
        let micros = now.saturating_duration_since(sent_at).as_micros();
        let micros = u64::try_from(micros).unwrap_or(u64::MAX).max(1);
        let in_window = self.window.get().is_some_and(|(_, end)| now <= *end);
        let second = self.second(now);
        let mut stats = self.stats();
        if let Some(h) = stats.ack_hist.as_mut() {
            h.saturating_record(micros);
        }
        if in_window {
            stats.acked_in_window += 1;
        }
        if let Some(s) = second {
            bump(&mut stats.acks_per_sec, s);
        }
    }

    fn note_error(&self, reason: String) {
        *self.stats().errors.entry(reason).or_default() += 1;
    }

    fn note_socket_failure(&self, reason: String) {
        self.socket_failures.fetch_add(1, Ordering::Relaxed);
        self.note_error(reason);
    }
}

/// Opens a widget session and its socket, and waits for `welcome`.
async fn connect_visitor(http: &reqwest::Client, cfg: &ShardConfig) -> Result<Ws, String> {
    let resp = http
        .post(format!(
            "{}/api/v1/widget/sessions",
            cfg.url.trim_end_matches('/')
        ))
        .json(&serde_json::json!({}))
        .send()
        .await
        .map_err(|e| format!("session:{}", reqwest_reason(&e)))?;
    if resp.status().as_u16() != 201 {
        return Err(format!("session:http {}", resp.status().as_u16()));
    }
    let created: SessionCreated = resp
        .json()
        .await
        .map_err(|e| format!("session:{}", reqwest_reason(&e)))?;
    let (mut ws, _) =
        connect_async_with_config(ws_url(&cfg.url, "/ws/visitor"), Some(ws_config()), true)
            .await
            .map_err(|e| format!("ws_connect:{}", ws_reason(&e)))?;
    let hello = serde_json::json!({"type": "hello", "token": created.token}).to_string();
    ws.send(Message::text(hello))
        .await
        .map_err(|e| format!("hello:{}", ws_reason(&e)))?;
    wait_welcome(&mut ws).await?;
    Ok(ws)
}

/// Reads frames until `welcome` (Ok) or an `error` frame or a closed socket (Err).
pub async fn wait_welcome(ws: &mut Ws) -> Result<String, String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                let Ok(frame) = serde_json::from_str::<InFrame>(t.as_str()) else {
                    continue;
                };
                match frame.kind.as_ref() {
                    "welcome" => return Ok(t.as_str().to_owned()),
                    "error" => {
                        return Err(format!(
                            "hello:error {}",
                            frame.code.as_deref().unwrap_or("?")
                        ))
                    }
                    _ => {}
                }
            }
            Some(Ok(Message::Close(c))) => {
                return Err(format!(
                    "hello:close {}",
                    c.map(|c| u16::from(c.code)).unwrap_or(0)
                ))
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("hello:{}", ws_reason(&e))),
            None => return Err("hello:eof".into()),
        }
    }
}

struct Visitor {
    idx: u32,
    ws: Ws,
    pending: HashMap<u32, Instant>,
    next_n: u32,
    sh: Arc<Shared>,
}

impl Visitor {
    async fn send_one(&mut self) -> Result<(), tokio_tungstenite::tungstenite::Error> {
        let n = self.next_n;
        self.next_n = self.next_n.wrapping_add(1);
        let cfg = &self.sh.cfg;
        let key = message_key(cfg.shard, self.idx, n);
        let text = message_text(&cfg.run_tag, key, unix_micros(), cfg.text_bytes);
        let frame = format!(
            r#"{{"type":"message","client_id":"{}","text":"{}"}}"#,
            client_id(&cfg.run_tag, key),
            text
        );
        self.pending.insert(n, Instant::now());
        self.sh.note_sent();
        self.ws.send(Message::text(frame)).await
    }

    async fn fill(
        &mut self,
        flood: Option<(u32, Instant)>,
    ) -> Result<(), tokio_tungstenite::tungstenite::Error> {
        if let Some((window, until)) = flood {
            while self.pending.len() < window as usize && Instant::now() < until {
                self.send_one().await?;
            }
        }
        Ok(())
    }

    fn on_text(&mut self, text: &str) {
        let Ok(frame) = serde_json::from_str::<InFrame>(text) else {
            self.sh.note_error("unparsable_frame".into());
            return;
        };
        let tag = self.sh.cfg.run_tag.as_str();
        let n_of = |id: &Option<std::borrow::Cow<'_, str>>| {
            id.as_deref()
                .and_then(|c| parse_client_id(tag, c))
                .map(|k| (k & 0xffff_ffff) as u32)
        };
        match frame.kind.as_ref() {
            "ack" => {
                if let Some(sent_at) = n_of(&frame.client_id).and_then(|n| self.pending.remove(&n))
                {
                    self.sh.note_ack(sent_at);
                }
            }
            "error" => {
                self.sh.error_frames.fetch_add(1, Ordering::Relaxed);
                let code = frame.code.as_deref().unwrap_or("?");
                self.sh.note_error(format!("error_frame:{code}"));
                if n_of(&frame.client_id).is_some_and(|n| self.pending.remove(&n).is_some()) {
                    self.sh.refused.fetch_add(1, Ordering::Relaxed);
                }
            }
            "event"
                if frame.author.as_deref() == Some("visitor")
                    && frame
                        .text
                        .as_deref()
                        .is_some_and(|t| parse_text(tag, t).is_some()) =>
            {
                self.sh.echoes.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<VCmd>) {
        let mut flood: Option<(u32, Instant)> = None;
        loop {
            tokio::select! {
                cmd = rx.recv() => {
                    let result = match cmd {
                        None => {
                            let _ = self.ws.close(None).await;
                            return;
                        }
                        Some(VCmd::Send) => self.send_one().await,
                        Some(VCmd::Flood { window, until }) => {
                            flood = Some((window, until));
                            self.fill(flood).await
                        }
                    };
                    if let Err(e) = result {
                        self.sh.note_socket_failure(format!("send:{}", ws_reason(&e)));
                        return;
                    }
                }
                frame = self.ws.next() => match frame {
                    Some(Ok(Message::Text(t))) => {
                        self.on_text(t.as_str());
                        if let Err(e) = self.fill(flood).await {
                            self.sh.note_socket_failure(format!("send:{}", ws_reason(&e)));
                            return;
                        }
                    }
                    Some(Ok(Message::Close(c))) => {
                        let code = c.map(|c| u16::from(c.code)).unwrap_or(0);
                        self.sh.note_socket_failure(format!("closed_by_server:{code}"));
                        return;
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        self.sh.note_socket_failure(format!("recv:{}", ws_reason(&e)));
                        return;
                    }
                    None => {
                        self.sh.note_socket_failure("recv:eof".into());
                        return;
                    }
                }
            }
        }
    }
}

/// Runs a shard: connect, report, then obey commands until `Quit` or the command channel ends.
pub async fn run_shard(
    cfg: ShardConfig,
    mut cmds: mpsc::UnboundedReceiver<ShardCmd>,
    events: mpsc::UnboundedSender<ShardEvent>,
) {
    let http = match reqwest::Client::builder()
        .pool_max_idle_per_host(cfg.connect_concurrency.max(1))
        .timeout(Duration::from_secs(cfg.connect_timeout_secs.max(1)))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            let _ = events.send(ShardEvent::Failed {
                message: format!("http client: {e}"),
            });
            return;
        }
    };
    let sh = Arc::new(Shared::new(cfg.clone()));
    let started = Instant::now();
    let sem = Arc::new(Semaphore::new(cfg.connect_concurrency.max(1)));
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let limit = Duration::from_secs(cfg.connect_timeout_secs.max(1));
    for idx in 0..cfg.visitors {
        let (sem, ready_tx, http, sh) = (sem.clone(), ready_tx.clone(), http.clone(), sh.clone());
        tokio::spawn(async move {
            let Ok(permit) = sem.acquire_owned().await else {
                return;
            };
            let connected = timeout(limit, connect_visitor(&http, &sh.cfg)).await;
            drop(permit);
            match connected {
                Ok(Ok(ws)) => {
                    let (tx, rx) = mpsc::unbounded_channel();
                    let reported = ready_tx.send(Ok(tx)).is_ok();
                    // The shard counts the visitors that report; this one is done reporting.
                    drop(ready_tx);
                    if reported {
                        let visitor = Visitor {
                            idx,
                            ws,
                            pending: HashMap::new(),
                            next_n: 0,
                            sh,
                        };
                        visitor.run(rx).await;
                    }
                }
                Ok(Err(reason)) => {
                    let _ = ready_tx.send(Err(reason));
                }
                Err(_) => {
                    let _ = ready_tx.send(Err("connect:timeout".to_owned()));
                }
            }
        });
    }
    drop(ready_tx);
    let mut visitors = Vec::with_capacity(cfg.visitors as usize);
    let mut report = ConnectReport::default();
    for _ in 0..cfg.visitors {
        // Every visitor task reports once (its connect is bounded by `limit`).
        let Some(ready) = ready_rx.recv().await else {
            break;
        };
        match ready {
            Ok(tx) => visitors.push(tx),
            Err(reason) => {
                report.failed += 1;
                *report.failures.entry(reason).or_default() += 1;
            }
        }
    }
    report.connected = visitors.len() as u64;
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    if events.send(ShardEvent::Connected(report)).is_err() {
        return;
    }
    while let Some(cmd) = cmds.recv().await {
        match cmd {
            ShardCmd::Quit => break,
            ShardCmd::Load(plan) => {
                let report = run_load(&sh, &visitors, &plan).await;
                if events.send(ShardEvent::Result(Box::new(report))).is_err() {
                    break;
                }
            }
        }
    }
    // Dropping the senders makes every visitor close its socket.
    drop(visitors);
    sleep(Duration::from_millis(300)).await;
}

async fn run_load(
    sh: &Arc<Shared>,
    visitors: &[mpsc::UnboundedSender<VCmd>],
    plan: &LoadPlan,
) -> LoadReport {
    let now = unix_micros();
    if plan.start_unix_micros > now {
        sleep(Duration::from_micros(plan.start_unix_micros - now)).await;
    }
    let start = Instant::now();
    let end = start + Duration::from_millis(plan.duration_ms);
    let _ = sh.window.set((start, end));
    match plan.mode {
        Mode::Latency => {
            let mut tick = tokio::time::interval(Duration::from_millis(1));
            tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
            let mut issued: u64 = 0;
            let mut next = 0usize;
            loop {
                tick.tick().await;
                let now = Instant::now();
                let elapsed = now.min(end).saturating_duration_since(start);
                let due = (plan.rate * elapsed.as_secs_f64()) as u64;
                while issued < due && !visitors.is_empty() {
                    // Skip visitors whose socket has gone; give up after one full round.
                    for _ in 0..visitors.len() {
                        let ok = visitors[next].send(VCmd::Send).is_ok();
                        next = (next + 1) % visitors.len();
                        if ok {
                            break;
                        }
                    }
                    issued += 1;
                }
                if now >= end {
                    break;
                }
            }
        }
        Mode::Throughput => {
            for v in visitors {
                let _ = v.send(VCmd::Flood {
                    window: plan.window.max(1),
                    until: end,
                });
            }
            sleep_until(end.into()).await;
        }
        Mode::Idle => sleep_until(end.into()).await,
    }
    // Drain: wait for outstanding acks, bounded.
    let drain_end = Instant::now() + Duration::from_millis(plan.drain_ms);
    while Instant::now() < drain_end {
        let sent = sh.sent.load(Ordering::Relaxed);
        let done = sh.acked.load(Ordering::Relaxed) + sh.refused.load(Ordering::Relaxed);
        if done >= sent {
            break;
        }
        sleep(Duration::from_millis(50)).await;
    }
    let sent = sh.sent.load(Ordering::Relaxed);
    let acked = sh.acked.load(Ordering::Relaxed);
    let refused = sh.refused.load(Ordering::Relaxed);
    let stats = sh.stats();
    LoadReport {
        sent,
        acked,
        acked_in_window: stats.acked_in_window,
        missing_acks: sent.saturating_sub(acked + refused),
        errors: stats.errors.clone(),
        error_frames: sh.error_frames.load(Ordering::Relaxed),
        socket_failures: sh.socket_failures.load(Ordering::Relaxed),
        echoes: sh.echoes.load(Ordering::Relaxed),
        ack_histogram: stats
            .ack_hist
            .as_ref()
            .map(encode_histogram)
            .unwrap_or_default(),
        acks_per_sec: stats.acks_per_sec.clone(),
        sent_per_sec: stats.sent_per_sec.clone(),
    }
}

/// `bench shard`: a shard in a child process, commands on stdin, events on stdout (JSON lines).
pub async fn shard_main(cfg: ShardConfig) {
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        loop {
            match lines.next_line().await {
                Ok(Some(line)) => match serde_json::from_str::<ShardCmd>(&line) {
                    Ok(cmd) => {
                        if cmd_tx.send(cmd).is_err() {
                            return;
                        }
                    }
                    Err(e) => eprintln!("bench shard: bad command {line:?}: {e}"),
                },
                // The coordinator went away: stop.
                Ok(None) | Err(_) => {
                    let _ = cmd_tx.send(ShardCmd::Quit);
                    return;
                }
            }
        }
    });
    let writer = tokio::spawn(async move {
        let mut out = tokio::io::stdout();
        while let Some(ev) = ev_rx.recv().await {
            let Ok(mut line) = serde_json::to_string(&ev) else {
                continue;
            };
            line.push('\n');
            if out.write_all(line.as_bytes()).await.is_err() || out.flush().await.is_err() {
                return;
            }
        }
    });
    run_shard(cfg, cmd_rx, ev_tx).await;
    let _ = writer.await;
}
