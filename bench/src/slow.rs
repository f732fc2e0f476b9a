//! `bench slow`: what clients that stop reading cost the server. Some operator sockets say
//! hello and then never read again (a 4 KiB receive buffer, so the server's writes back up at
//! once), one operator socket reads normally, and one visitor sends large messages with a
//! window of acks in flight. The server's RSS is sampled throughout; at the end each stalled
//! socket is read to see how it was closed.

use std::time::{Duration, Instant};

use clap::Args;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::operators::{connect, login};
use crate::shard::ws_url;
use crate::sys::rss_kib;

#[derive(Args, Clone, Debug)]
pub struct SlowArgs {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// A supervisor's login (supervisors receive every conversation's events).
    #[arg(long)]
    pub email: String,
    #[arg(long)]
    pub password: String,
    /// Operator sockets that stop reading after `welcome`.
    #[arg(long, default_value_t = 5)]
    pub stalled: usize,
    /// Messages the visitor sends.
    #[arg(long, default_value_t = 2000)]
    pub messages: usize,
    /// Characters per message (the server's `max_text_chars` must allow it).
    #[arg(long, default_value_t = 20_000)]
    pub size: usize,
    /// Messages in flight (the next is sent when an ack arrives).
    #[arg(long, default_value_t = 20)]
    pub window: usize,
    /// The server's pid, for its RSS.
    #[arg(long)]
    pub server_pid: u32,
    #[arg(long, default_value = "slow")]
    pub label: String,
}

type Stalled = WebSocketStream<tokio::net::TcpStream>;

async fn stalled_socket(url: &str, token: &str) -> Result<Stalled, String> {
    let host = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let addr = tokio::net::lookup_host(&host)
        .await
        .map_err(|e| format!("resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("no address for {host}"))?;
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(|e| e.to_string())?;
    socket
        .set_recv_buffer_size(4096)
        .map_err(|e| e.to_string())?;
    let stream = socket.connect(addr).await.map_err(|e| e.to_string())?;
    let (mut ws, _) = tokio_tungstenite::client_async(ws_url(url, "/ws/operator"), stream)
        .await
        .map_err(|e| format!("stalled upgrade: {e}"))?;
    let hello = serde_json::json!({"type": "hello", "token": token}).to_string();
    ws.send(Message::text(hello))
        .await
        .map_err(|e| e.to_string())?;
    while let Some(msg) = ws.next().await {
        if let Ok(Message::Text(t)) = msg {
            if t.contains("\"welcome\"") {
                return Ok(ws);
            }
        }
    }
    Err("stalled socket closed before welcome".into())
}

/// Reads what a stalled socket still gets: (event frames, how it ended). A socket that is
/// still open once 10 s pass without an event (pings do not count) is reported as such.
async fn drain(mut ws: Stalled) -> (u64, String) {
    let mut events = 0;
    let mut quiet_until = Instant::now() + Duration::from_secs(10);
    loop {
        let left = quiet_until.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, ws.next()).await {
            Err(_) => return (events, "still open".into()),
            Ok(None) => return (events, "ended".into()),
            Ok(Some(Err(e))) => return (events, format!("error: {e}")),
            Ok(Some(Ok(Message::Close(frame)))) => {
                let code = frame.map(|f| u16::from(f.code).to_string());
                return (events, format!("close {}", code.unwrap_or_default()));
            }
            Ok(Some(Ok(Message::Text(t)))) => {
                if t.contains("\"type\":\"event\"") {
                    events += 1;
                    quiet_until = Instant::now() + Duration::from_secs(10);
                }
            }
            Ok(Some(Ok(_))) => {}
        }
    }
}

pub async fn slow(args: SlowArgs) -> Result<(), String> {
    let http = reqwest::Client::new();
    let url = args.url.trim_end_matches('/').to_owned();
    let token = login(&http, &url, &args.email, &args.password).await?;
    let rss = || rss_kib(args.server_pid).unwrap_or(0);
    let before = rss();

    let mut stalled = Vec::new();
    for _ in 0..args.stalled {
        stalled.push(stalled_socket(&url, &token).await?);
    }
    let (mut healthy, _) = connect(&url, &token).await?;
    let created: serde_json::Value = http
        .post(format!("{url}/api/v1/widget/sessions"))
        .json(&serde_json::json!({"message": "slow-reader bench"}))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let widget = created["token"].as_str().ok_or("no widget token")?;
    let (mut visitor, _) = tokio_tungstenite::connect_async(ws_url(&url, "/ws/visitor"))
        .await
        .map_err(|e| e.to_string())?;
    let hello = serde_json::json!({"type": "hello", "token": widget}).to_string();
    visitor
        .send(Message::text(hello))
        .await
        .map_err(|e| e.to_string())?;

    let text = "x".repeat(args.size);
    let started = Instant::now();
    let (mut sent, mut acked, mut refused, mut seen) = (0usize, 0usize, 0usize, 0usize);
    let mut peak = before;
    let mut sampler = tokio::time::interval(Duration::from_millis(200));
    let mut samples = Vec::new();
    while sent < args.window.min(args.messages) {
        let frame =
            serde_json::json!({"type": "message", "client_id": format!("s{sent}"), "text": text});
        visitor
            .send(Message::text(frame.to_string()))
            .await
            .map_err(|e| e.to_string())?;
        sent += 1;
    }
    while acked + refused < args.messages || seen < acked {
        tokio::select! {
            msg = visitor.next() => {
                let Some(Ok(Message::Text(t))) = msg else { return Err("visitor socket ended".into()) };
                if t.contains("\"type\":\"ack\"") { acked += 1; }
                else if t.contains("\"type\":\"error\"") { refused += 1; }
                else { continue; }
                if sent < args.messages {
                    let frame = serde_json::json!({"type": "message", "client_id": format!("s{sent}"), "text": text});
                    visitor.send(Message::text(frame.to_string())).await.map_err(|e| e.to_string())?;
                    sent += 1;
                }
            }
            msg = healthy.next() => {
                if let Some(Ok(Message::Text(t))) = msg {
                    if t.contains("\"type\":\"event\"") && t.contains("\"author\":\"visitor\"") { seen += 1; }
                }
            }
            _ = sampler.tick() => {
                let now = rss();
                peak = peak.max(now);
                samples.push((started.elapsed().as_secs_f64(), now));
            }
        }
        if started.elapsed() > Duration::from_secs(600) {
            return Err("gave up after 10 minutes".into());
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss();
    let mut outcomes = Vec::new();
    for ws in stalled {
        outcomes.push(drain(ws).await);
    }
    let mb = |kib: u64| kib as f64 / 1024.0;
    println!(
        "{}: {} messages of {} chars in {:.1} s ({} acked, {} refused); the reading operator saw {}",
        args.label, args.messages, args.size, elapsed, acked, refused, seen
    );
    println!(
        "server RSS: {:.1} MiB before, peak {:.1} MiB, {:.1} MiB 2 s after",
        mb(before),
        mb(peak),
        mb(after)
    );
    for (i, (events, how)) in outcomes.iter().enumerate() {
        println!("stalled socket {i}: {events} events read afterwards, then {how}");
    }
    let json = serde_json::json!({
        "label": args.label, "messages": args.messages, "size": args.size,
        "stalled": args.stalled, "elapsed_secs": elapsed, "acked": acked, "refused": refused,
        "healthy_seen": seen, "rss_before_kib": before, "rss_peak_kib": peak,
        "rss_after_kib": after,
        "stalled_outcomes": outcomes.iter().map(|(e, h)| serde_json::json!({"events": e, "end": h})).collect::<Vec<_>>(),
        "rss_samples": samples,
    });
    println!("{json}");
    Ok(())
}
