//! Server configuration: defaults that work on a developer machine, overridden by an optional
//! TOML file and then by environment variables (`SWITCHBOARD_*`, and `DATABASE_URL`).

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::Path;
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Read from the environment without the `SWITCHBOARD_` prefix too, as deployments name them.
const RAW_ENV: [&str; 5] = [
    "DATABASE_URL",
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_WEBHOOK_SECRET",
    "TELEGRAM_SUPPORT_CHAT_ID",
    "TELEGRAM_API_URL",
];

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/switchboard";

/// How operators are named to customers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperatorDisplay {
    /// Every operator appears under `support_name` ("Live Support").
    Team,
    /// Operators appear under their first name.
    FirstName,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Never printed: it may carry a password.
    #[serde(skip_serializing)]
    pub database_url: Option<SecretString>,
    pub listen: SocketAddr,
    /// Extra origins allowed to open sockets, comma-separated; the server's own origin always is.
    pub allowed_origins: String,
    pub workers: usize,
    pub db_pool_size: usize,
    /// Seconds to wait for a pooled connection or a new one before answering `unavailable`.
    pub db_timeout_secs: u64,
    pub max_text_chars: usize,
    pub max_frame_bytes: usize,
    pub max_body_bytes: usize,
    /// Sustained messages per second a visitor may send in one conversation (all its sockets).
    pub visitor_messages_per_sec: u32,
    pub visitor_burst: u32,
    /// Sustained messages and notes per second one operator token may send (all its sockets).
    pub operator_messages_per_sec: u32,
    pub operator_burst: u32,
    /// Sustained frames of any kind per second one operator token may send (all its sockets).
    pub operator_frames_per_sec: u32,
    pub operator_frames_burst: u32,
    /// Open sockets one widget token (one conversation) may have; more are closed with 4429.
    pub sockets_per_widget_token: usize,
    /// Open sockets one operator may have; more are closed with 4429.
    pub sockets_per_operator: usize,
    /// Sockets one IP may hold open before their `hello` succeeds; more upgrades answer 429.
    pub unauthenticated_sockets_per_ip: usize,
    /// Frames and bytes waiting for one socket; a client that falls further behind is closed
    /// with 1008 and resumes by `last_seq`.
    pub socket_queue_frames: usize,
    pub socket_queue_bytes: usize,
    /// A socket with frames waiting and nothing drained for this long is closed; the kernel
    /// also drops a connection whose sent data stays unacknowledged this long.
    pub socket_stall_secs: u64,
    /// A conversation nobody has written in (a widget session opened and never used) is not
    /// queued; after this long it is deleted with its token.
    pub empty_conversation_ttl_secs: u64,
    /// Widget sessions one IP may open per minute.
    pub sessions_per_ip_per_min: u32,
    /// Login attempts one IP may make per minute.
    pub logins_per_ip_per_min: u32,
    pub operator_token_ttl_hours: i64,
    pub widget_token_ttl_days: i64,
    /// A resolved conversation reopens when the customer writes within this many hours.
    pub reopen_window_hours: i64,
    /// A Conversation actor with no sockets and no activity for this long stops.
    pub conversation_idle_secs: u64,
    pub conversation_threads: usize,
    /// An operator silent this long (no socket, no heartbeat) goes offline and their open
    /// conversations are redistributed.
    pub presence_timeout_secs: u64,
    /// An assignee who has not answered this long loses the conversation to another eligible
    /// operator; 0 turns this off.
    pub reassign_after_secs: u64,
    pub writer_concurrency: usize,
    pub writer_max_batch: usize,
    pub operator_display: OperatorDisplay,
    pub support_name: String,
    pub shutdown_timeout_secs: u64,
    /// `text` or `json`.
    pub log_format: String,
    /// The panel's session cookie is `__Host-sb_session` with `Secure` (sent over HTTPS only);
    /// false names it `sb_session` without `Secure`, for plain-HTTP development only.
    pub cookie_secure: bool,
    /// Reverse proxies whose `Forwarded`/`X-Forwarded-For` name the client (comma-separated
    /// addresses or CIDRs); empty: the TCP peer is the client.
    pub trusted_proxies: String,
    /// The header the trusted proxies append to: `x-forwarded-for` or `forwarded`. The other
    /// one is never read (a proxy passes it through as the client wrote it).
    pub forwarded_header: String,
    /// Operator API requests one token may make per second, after a burst of `api_burst`.
    pub api_requests_per_sec: u32,
    pub api_burst: u32,
    /// The Telegram bot's token; without one the Telegram channel is off. Never printed.
    #[serde(skip_serializing)]
    pub telegram_bot_token: Option<SecretString>,
    /// Telegram sends it in `X-Telegram-Bot-Api-Secret-Token` with every webhook call.
    #[serde(skip_serializing)]
    pub telegram_webhook_secret: Option<SecretString>,
    /// The support group operators answer from.
    pub telegram_support_chat_id: Option<i64>,
    /// The Bot API's base URL (tests point it at a local fake).
    pub telegram_api_url: String,
    /// The server's public HTTPS address, from which the webhook URL is made.
    pub public_url: Option<String>,
    /// Standard base64 of 32 random bytes: encrypts channel identities and stored updates.
    #[serde(skip_serializing)]
    pub identity_key: Option<SecretString>,
    /// Channels whose customer messages are posted to the support group (comma-separated).
    pub telegram_relay_channels: String,
    /// New tickets a Telegram user may open per day, and messages they may send per hour.
    pub telegram_tickets_per_day: u32,
    pub telegram_messages_per_hour: u32,
    /// How long handled update ids are remembered to drop re-sent updates.
    pub telegram_dedupe_hours: i64,
    /// Telegram's pace: calls per second in all, and the gap between two messages to one
    /// customer's chat and into the support group (about 20 a minute).
    pub telegram_calls_per_sec: u32,
    pub telegram_chat_interval_ms: u64,
    pub telegram_group_interval_ms: u64,
    /// A waiting Telegram customer is told their new place in the queue at most this often.
    pub telegram_queue_notice_secs: u64,
    /// Take updates by long polling instead of the webhook (`serve --telegram-polling`).
    pub telegram_polling: bool,
    /// Asking for a sign-in code again within this many seconds keeps the code already sent
    /// (nobody can flood an operator's chat, nor void their code, by asking for them).
    pub otp_resend_secs: u64,
    /// An open conversation nobody wrote in for this long is closed (the customer is told).
    pub auto_close_idle_hours: i64,
    /// A waiting conversation whose customer never wrote (Telegram's button pressed, nothing
    /// sent) is closed after this long.
    pub abandoned_close_hours: i64,
    /// Closed conversations and their events are deleted this many days after closing;
    /// 0 keeps them forever.
    pub retention_days: u32,
    /// Offline auto-replies and escalation by rule (keywords, unanswered messages, the
    /// first-response SLA). Tests of other features turn them off to see only their own events.
    pub automation: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            allowed_origins: String::new(),
            workers: 2,
            db_pool_size: 16,
            db_timeout_secs: 3,
            max_text_chars: 2000,
            max_frame_bytes: 64 * 1024,
            max_body_bytes: 1024 * 1024,
            visitor_messages_per_sec: 5,
            visitor_burst: 10,
            operator_messages_per_sec: 5,
            operator_burst: 20,
            operator_frames_per_sec: 20,
            operator_frames_burst: 200,
            sockets_per_widget_token: 5,
            sockets_per_operator: 10,
            unauthenticated_sockets_per_ip: 20,
            // A supervisor receives every conversation's events: at 12,000 messages a second
            // (the most this machine stores) this is over a second of backlog.
            socket_queue_frames: 20_000,
            socket_queue_bytes: 8 * 1024 * 1024,
            socket_stall_secs: 30,
            empty_conversation_ttl_secs: 3600,
            sessions_per_ip_per_min: 30,
            logins_per_ip_per_min: 10,
            operator_token_ttl_hours: 12,
            widget_token_ttl_days: 30,
            reopen_window_hours: 72,
            conversation_idle_secs: 300,
            conversation_threads: 2,
            presence_timeout_secs: 120,
            reassign_after_secs: 300,
            writer_concurrency: 4,
            writer_max_batch: 500,
            operator_display: OperatorDisplay::Team,
            support_name: "Live Support".to_owned(),
            shutdown_timeout_secs: 5,
            log_format: "text".to_owned(),
            cookie_secure: true,
            trusted_proxies: String::new(),
            forwarded_header: "x-forwarded-for".to_owned(),
            api_requests_per_sec: 20,
            api_burst: 100,
            telegram_bot_token: None,
            telegram_webhook_secret: None,
            telegram_support_chat_id: None,
            telegram_api_url: "https://api.telegram.org".to_owned(),
            public_url: None,
            identity_key: None,
            telegram_relay_channels: "web,telegram".to_owned(),
            telegram_tickets_per_day: 5,
            telegram_messages_per_hour: 50,
            telegram_dedupe_hours: 48,
            telegram_calls_per_sec: 30,
            telegram_chat_interval_ms: 1000,
            telegram_group_interval_ms: 3000,
            telegram_polling: false,
            otp_resend_secs: 60,
            telegram_queue_notice_secs: 60,
            auto_close_idle_hours: 24,
            abandoned_close_hours: 24,
            retention_days: 0,
            automation: true,
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let json = serde_json::to_string(self).map_err(|_| std::fmt::Error)?;
        write!(
            f,
            "Config {{ database_url: *****, {} }}",
            json.trim_start_matches('{')
        )
    }
}

impl Config {
    /// Defaults, then `file` (if given), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment
            .merge(Env::prefixed("SWITCHBOARD_").ignore(&["config"]))
            .merge(Env::raw().only(&RAW_ENV));
        figment.extract().map_err(Box::new)
    }

    pub fn database_url(&self) -> &str {
        self.database_url
            .as_ref()
            .map(|s| s.expose_secret())
            .unwrap_or(DEFAULT_DATABASE_URL)
    }

    pub fn with_database_url(mut self, url: &str) -> Config {
        self.database_url = Some(SecretString::from(url.to_owned()));
        self
    }

    pub fn allowed_origins(&self) -> Vec<String> {
        self.allowed_origins
            .split(',')
            .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase())
            .filter(|o| !o.is_empty())
            .collect()
    }

    pub fn conversation_idle(&self) -> Duration {
        Duration::from_secs(self.conversation_idle_secs.max(1))
    }

    pub fn outbox_limits(&self) -> crate::actors::outbox::OutboxLimits {
        crate::actors::outbox::OutboxLimits {
            frames: self.socket_queue_frames.max(1),
            bytes: self.socket_queue_bytes.max(1024),
            stall: self.socket_stall(),
        }
    }

    pub fn socket_stall(&self) -> Duration {
        Duration::from_secs(self.socket_stall_secs.max(1))
    }

    pub fn telegram_token(&self) -> Option<&str> {
        self.telegram_bot_token
            .as_ref()
            .map(|s| s.expose_secret().trim())
            .filter(|t| !t.is_empty())
    }

    /// Whether customer messages of `channel` are posted to the support group.
    pub fn relays(&self, channel: crate::domain::Channel) -> bool {
        self.telegram_token().is_some()
            && self
                .telegram_relay_channels
                .split(',')
                .any(|c| c.trim().eq_ignore_ascii_case(channel.as_str()))
    }

    pub fn db_timeout(&self) -> Duration {
        Duration::from_secs(self.db_timeout_secs.max(1))
    }
}

/// A rate limit of `per_sec` a second with `burst` on top, from settings where 0 counts as 1.
pub fn quota_per_second(per_sec: u32, burst: u32) -> governor::Quota {
    let per_sec = NonZeroU32::new(per_sec).unwrap_or(NonZeroU32::MIN);
    governor::Quota::per_second(per_sec).allow_burst(NonZeroU32::new(burst).unwrap_or(per_sec))
}

/// A rate limit of `n` a minute, from a setting where 0 counts as 1.
pub fn quota_per_minute(n: u32) -> governor::Quota {
    governor::Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_the_database_url() {
        let config = Config::default().with_database_url("postgres://u:hunter2@db/x");
        let printed = format!("{config:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("*****"));
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail closure returns figment::Error
    fn file_then_environment_override_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "switchboard.toml",
                "listen = \"0.0.0.0:9000\"\nmax_text_chars = 500\nsupport_name = \"Helpdesk\"",
            )?;
            jail.set_env("SWITCHBOARD_MAX_TEXT_CHARS", "700");
            jail.set_env("DATABASE_URL", "postgres://u:secret@db:5432/sb");
            let config =
                Config::load(Some(Path::new("switchboard.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(config.listen.to_string(), "0.0.0.0:9000");
            assert_eq!(
                config.max_text_chars, 700,
                "the environment wins over the file"
            );
            assert_eq!(config.support_name, "Helpdesk");
            assert_eq!(config.database_url(), "postgres://u:secret@db:5432/sb");
            assert_eq!(config.visitor_burst, 10, "unset values keep their defaults");
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)]
    fn a_bad_value_is_a_clear_error() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SWITCHBOARD_LISTEN", "not an address");
            let err = Config::load(None)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.to_lowercase().contains("listen"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn origins_are_split_and_normalised() {
        let config = Config {
            allowed_origins: "https://A.example/, http://b.example:8080 ,,".into(),
            ..Config::default()
        };
        assert_eq!(
            config.allowed_origins(),
            vec!["https://a.example", "http://b.example:8080"]
        );
    }
}
