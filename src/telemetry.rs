//! Prometheus metrics: the names in one place, the recorder installed once per process, and
//! the text rendered at `/metrics`.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const SOCKETS_OPEN: &str = "switchboard_sockets_open";
pub const EVENTS_STORED: &str = "switchboard_events_stored_total";
pub const WRITE_BATCHES: &str = "switchboard_write_batches_total";
pub const WRITE_FAILURES: &str = "switchboard_write_failures_total";
pub const QUEUE_LENGTH: &str = "switchboard_queue_length";
pub const OPERATORS_ONLINE: &str = "switchboard_operators_online";
pub const ASSIGNMENT_LATENCY: &str = "switchboard_assignment_latency_seconds";
pub const DB_POOL_SIZE: &str = "switchboard_db_pool_connections";
pub const DB_POOL_AVAILABLE: &str = "switchboard_db_pool_available";
pub const DB_POOL_WAITING: &str = "switchboard_db_pool_waiting";
pub const CONVERSATIONS_LIVE: &str = "switchboard_conversation_actors";
pub const SLOW_SOCKETS_CLOSED: &str = "switchboard_slow_sockets_closed_total";
pub const TELEGRAM_UPDATES: &str = "switchboard_telegram_updates_total";
pub const TELEGRAM_SENT: &str = "switchboard_telegram_calls_sent_total";
pub const DEADLINES_FIRED: &str = "switchboard_deadlines_fired_total";
pub const AUTO_REPLIES: &str = "switchboard_auto_replies_total";
pub const ESCALATIONS: &str = "switchboard_escalations_total";

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process-wide recorder (several servers in one test process share it).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0, 600.0,
            ];
            let built = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(ASSIGNMENT_LATENCY.to_owned()), &buckets)
                .and_then(|b| b.install_recorder());
            match built {
                Ok(handle) => Some(handle),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

pub fn telegram_sent() {
    metrics::counter!(TELEGRAM_SENT).increment(1);
}
