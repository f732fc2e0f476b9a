//! Operator sockets (supervisors, who receive every conversation's events). The first operator
//! to receive a bench message records its visitor→operator latency; every operator counts what
//! it received so that missing deliveries show up per socket.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde::Deserialize;
use tokio::task::JoinHandle;
use tokio_tungstenite::connect_async_with_config;
use tokio_tungstenite::tungstenite::Message;

use crate::proto::{parse_text, InFrame};
use crate::shard::{reqwest_reason, wait_welcome, ws_config, ws_reason, ws_url, Ws};
use crate::sys::{new_histogram, unix_micros};

#[derive(Deserialize)]
struct LoginReply {
    token: String,
}

/// `POST /api/v1/auth/login` → the bearer token.
pub async fn login(
    http: &reqwest::Client,
    url: &str,
    email: &str,
    password: &str,
) -> Result<String, String> {
    let resp = http
        .post(format!("{}/api/v1/auth/login", url.trim_end_matches('/')))
        .json(&serde_json::json!({"email": email, "password": password}))
        .send()
        .await
        .map_err(|e| format!("login {email}: {}", reqwest_reason(&e)))?;
    let status = resp.status();
    if !status.is_success() {
        let body = resp.text().await.unwrap_or_default();
        return Err(format!("login {email}: HTTP {status}: {body}"));
    }
    let reply: LoginReply = resp
        .json()
        .await
        .map_err(|e| format!("login {email}: {}", reqwest_reason(&e)))?;
    Ok(reply.token)
}

/// Connects an operator socket and waits for `welcome`; returns the socket and how many
/// conversations the welcome listed.
pub async fn connect(url: &str, token: &str) -> Result<(Ws, usize), String> {
    let (mut ws, _) =
        connect_async_with_config(ws_url(url, "/ws/operator"), Some(ws_config()), true)
            .await
            .map_err(|e| format!("operator ws_connect:{}", ws_reason(&e)))?;
    let hello = serde_json::json!({"type": "hello", "token": token}).to_string();
    ws.send(Message::text(hello))
        .await
        .map_err(|e| format!("operator hello:{}", ws_reason(&e)))?;
    let welcome = wait_welcome(&mut ws)
        .await
        .map_err(|e| format!("operator {e}"))?;
    let listed = serde_json::from_str::<serde_json::Value>(&welcome)
        .ok()
        .and_then(|v| v.get("conversations")?.as_array().map(Vec::len))
        .unwrap_or(0);
    Ok((ws, listed))
}

pub struct OpShared {
    tag: String,
    first_seen: Mutex<HashSet<u64>>,
    latency: Mutex<Histogram<u64>>,
    /// Bench messages received, per operator socket.
    pub delivered: Vec<AtomicU64>,
    pub frames: AtomicU64,
    pub conversation_frames: AtomicU64,
    pub error_frames: AtomicU64,
    pub socket_failures: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
}

impl OpShared {
    pub fn new(tag: &str, operators: usize) -> Self {
        OpShared {
            tag: tag.to_owned(),
            first_seen: Mutex::new(HashSet::new()),
            latency: Mutex::new(new_histogram()),
            delivered: (0..operators).map(|_| AtomicU64::new(0)).collect(),
            frames: AtomicU64::new(0),
            conversation_frames: AtomicU64::new(0),
            error_frames: AtomicU64::new(0),
            socket_failures: AtomicU64::new(0),
            errors: Mutex::new(BTreeMap::new()),
        }
    }

    /// Distinct bench messages received by at least one operator.
    pub fn unique_delivered(&self) -> u64 {
        self.first_seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len() as u64
    }

    pub fn latency(&self) -> Histogram<u64> {
        self.latency
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn errors(&self) -> BTreeMap<String, u64> {
        self.errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn note_error(&self, reason: String) {
        *self
            .errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(reason)
            .or_default() += 1;
    }

    fn on_text(&self, op: usize, text: &str) {
        self.frames.fetch_add(1, Ordering::Relaxed);
        let Ok(frame) = serde_json::from_str::<InFrame>(text) else {
            self.note_error("operator:unparsable_frame".into());
            return;
        };
        match frame.kind.as_ref() {
            "event" => {
                let Some((key, sent)) =
                    frame.text.as_deref().and_then(|t| parse_text(&self.tag, t))
                else {
                    return;
                };
                let now = unix_micros();
                if let Some(n) = self.delivered.get(op) {
                    n.fetch_add(1, Ordering::Relaxed);
                }
                let first = self
                    .first_seen
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(key);
                if first {
                    self.latency
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .saturating_record(now.saturating_sub(sent).max(1));
                }
            }
            "conversation" => {
                self.conversation_frames.fetch_add(1, Ordering::Relaxed);
            }
            "error" => {
                self.error_frames.fetch_add(1, Ordering::Relaxed);
                let code = frame.code.as_deref().unwrap_or("?");
                self.note_error(format!("operator:error_frame:{code}"));
            }
            _ => {}
        }
    }
}

/// Reads an operator socket until it closes (or the task is aborted).
pub fn spawn(op: usize, mut ws: Ws, shared: Arc<OpShared>) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => shared.on_text(op, t.as_str()),
                Some(Ok(Message::Close(c))) => {
                    let code = c.map(|c| u16::from(c.code)).unwrap_or(0);
                    shared.socket_failures.fetch_add(1, Ordering::Relaxed);
                    shared.note_error(format!("operator:closed_by_server:{code}"));
                    return;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    shared.socket_failures.fetch_add(1, Ordering::Relaxed);
                    shared.note_error(format!("operator:recv:{}", ws_reason(&e)));
                    return;
                }
                None => {
                    shared.socket_failures.fetch_add(1, Ordering::Relaxed);
                    shared.note_error("operator:recv:eof".into());
                    return;
                }
            }
        }
    })
}
