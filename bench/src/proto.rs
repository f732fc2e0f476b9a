//! What the coordinator and its visitor shards say to each other (JSON lines over a child's
//! stdin/stdout, or channels when the shard runs in-process), and the parts of Switchboard's
//! server frames the bench reads.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How a shard is set up; passed to a child process as `bench shard --config <json>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardConfig {
    pub url: String,
    pub shard: u32,
    pub visitors: u32,
    pub connect_concurrency: usize,
    pub connect_timeout_secs: u64,
    pub text_bytes: usize,
    pub run_tag: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Only open sockets and hold them (RSS per idle socket).
    Idle,
    /// A fixed total message rate; delivery latency at the operators.
    Latency,
    /// As fast as acks allow, `window` messages in flight per visitor.
    Throughput,
}

/// One load phase for a shard; times are Unix micros so every process agrees on them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadPlan {
    pub mode: Mode,
    /// This shard's share of the total rate (latency mode).
    pub rate: f64,
    pub start_unix_micros: u64,
    pub duration_ms: u64,
    pub window: u32,
    pub drain_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum ShardCmd {
    Load(LoadPlan),
    Quit,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ConnectReport {
    pub connected: u64,
    pub failed: u64,
    /// Failure reason → count.
    pub failures: BTreeMap<String, u64>,
    pub elapsed_ms: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LoadReport {
    pub sent: u64,
    pub acked: u64,
    /// Acks that arrived before the end of the sending window (throughput is computed on them).
    pub acked_in_window: u64,
    /// Messages sent whose ack never came (after the drain) and that got no error frame.
    pub missing_acks: u64,
    /// Error frame code → count (`close:<code>` and `socket:<reason>` for socket failures).
    pub errors: BTreeMap<String, u64>,
    pub error_frames: u64,
    pub socket_failures: u64,
    /// The visitor's own copy of its message (`event` frame) — counted, not required.
    pub echoes: u64,
    /// Visitor send → ack, hdrhistogram V2 bytes.
    pub ack_histogram: Vec<u8>,
    /// Acks per second since the start of the phase.
    pub acks_per_sec: Vec<u64>,
    /// Messages sent per second since the start of the phase.
    pub sent_per_sec: Vec<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ShardEvent {
    Connected(ConnectReport),
    Result(Box<LoadReport>),
    /// The shard could not go on.
    Failed {
        message: String,
    },
}

/// The fields of a server frame that the bench looks at.
#[derive(Debug, Deserialize)]
pub struct InFrame<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(default, borrow)]
    pub client_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub code: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub author: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub text: Option<Cow<'a, str>>,
}

/// Visitor messages carry `bench <tag> k=<key hex> t=<unix micros> <padding>`; the key packs
/// shard, visitor and message number so that every message of a run is unique.
pub fn message_key(shard: u32, visitor: u32, n: u32) -> u64 {
    (u64::from(shard & 0xff) << 56) | (u64::from(visitor & 0x00ff_ffff) << 32) | u64::from(n)
}

pub fn message_text(tag: &str, key: u64, sent_micros: u64, text_bytes: usize) -> String {
    let mut text = format!("bench {tag} k={key:x} t={sent_micros} ");
    while text.len() < text_bytes {
        text.push('x');
    }
    text
}

pub fn client_id(tag: &str, key: u64) -> String {
    format!("{tag}-{key:x}")
}

/// The key in a `client_id` of this run.
pub fn parse_client_id(tag: &str, client_id: &str) -> Option<u64> {
    let hex = client_id.strip_prefix(tag)?.strip_prefix('-')?;
    u64::from_str_radix(hex, 16).ok()
}

/// `(key, sent_micros)` from a message text of this run.
pub fn parse_text(tag: &str, text: &str) -> Option<(u64, u64)> {
    let rest = text.strip_prefix("bench ")?.strip_prefix(tag)?;
    let mut parts = rest.split_ascii_whitespace();
    let key = u64::from_str_radix(parts.next()?.strip_prefix("k=")?, 16).ok()?;
    let sent = parts.next()?.strip_prefix("t=")?.parse().ok()?;
    Some((key, sent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_and_client_ids_round_trip() {
        let key = message_key(3, 9_999, 42);
        let text = message_text("ab12cd34", key, 1_700_000_000_123_456, 100);
        assert_eq!(text.len(), 100);
        assert_eq!(
            parse_text("ab12cd34", &text),
            Some((key, 1_700_000_000_123_456))
        );
        assert_eq!(parse_text("ffffffff", &text), None);
        let id = client_id("ab12cd34", key);
        assert!(id.len() <= 64);
        assert_eq!(parse_client_id("ab12cd34", &id), Some(key));
        assert_eq!(key & 0xffff_ffff, 42);
    }

    #[test]
    fn frames_parse_with_escapes() {
        let f: InFrame = serde_json::from_str(
            r#"{"type":"event","author":"visitor","text":"a \"quoted\" text","seq":3}"#,
        )
        .unwrap();
        assert_eq!(f.kind, "event");
        assert_eq!(f.text.as_deref(), Some("a \"quoted\" text"));
    }
}
