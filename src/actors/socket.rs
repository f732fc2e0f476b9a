//! What visitor and operator sockets share: heartbeat and hello timing, frame limits, the
//! reassembly of fragmented messages, close codes for protocol faults, and closing at shutdown.
//! Everything that touches actix-web-actors' socket types lives here and in the two sessions.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_web_actors::ws::{self, CloseCode, CloseReason, ProtocolError};
use bytes::BytesMut;
use parking_lot::Mutex;
use tokio::sync::watch;

use crate::error::{AppError, AppResult};
use crate::protocol::{
    error_frame, CLOSE_RESTART, CLOSE_TOO_MANY_SOCKETS, CLOSE_TOO_SLOW, CLOSE_UNAUTHORIZED,
    TOO_MANY_SOCKETS,
};
use crate::telemetry;

/// How often the server pings a socket.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(10);
/// A socket silent for this long (no frame, no pong) is dropped.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);
/// The first frame must be a valid `hello` within this time.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// A socket whose `hello` failed this many times is closed (4401): guessing tokens costs a
/// new connection each few tries, and those are capped per IP.
pub const MAX_FAILED_HELLOS: u32 = 3;

/// Sockets per client address that have not (yet) said a valid `hello`.
#[derive(Default)]
pub struct Admission {
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl Admission {
    /// A place for one more unauthenticated socket from `ip`, if it has fewer than `cap`.
    pub fn enter(self: &Arc<Self>, ip: IpAddr, cap: usize) -> Option<AdmissionGuard> {
        let mut open = self.open.lock();
        let n = open.entry(ip).or_insert(0);
        if *n >= cap {
            return None;
        }
        *n += 1;
        Some(AdmissionGuard {
            admission: self.clone(),
            ip,
        })
    }
}

/// Holds a socket's place among its address's unauthenticated ones; dropped once `hello`
/// succeeds or the socket closes.
pub struct AdmissionGuard {
    admission: Arc<Admission>,
    ip: IpAddr,
}

impl Drop for AdmissionGuard {
    fn drop(&mut self) {
        let mut open = self.admission.open.lock();
        if let Some(n) = open.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// A session that speaks JSON text frames over a socket.
pub trait TextSession: Actor<Context = ws::WebsocketContext<Self>> {
    /// `visitor` or `operator`, for metrics.
    const KIND: &'static str;
    fn socket(&mut self) -> &mut SocketState;
    fn on_text(&mut self, text: &str, ctx: &mut Self::Context);
    /// Whether the client has completed `hello`.
    fn greeted(&self) -> bool;
    /// Whether the socket's outbox refused a frame (the client reads too slowly).
    fn too_slow(&self) -> bool;
}

pub struct SocketState {
    pub heartbeat: Instant,
    max_message: usize,
    fragments: Option<Fragments>,
}

struct Fragments {
    buf: BytesMut,
    text: bool,
    overflow: bool,
}

impl SocketState {
    pub fn new(max_message: usize) -> Self {
        SocketState {
            heartbeat: Instant::now(),
            max_message,
            fragments: None,
        }
    }
}

/// Heartbeat, hello deadline and shutdown watch, started with every session.
pub fn start<S: TextSession>(ctx: &mut S::Context, mut shutdown: watch::Receiver<bool>) {
    metrics::gauge!(telemetry::SOCKETS_OPEN, "kind" => S::KIND).increment(1.0);
    ctx.run_interval(HEARTBEAT_INTERVAL, |act: &mut S, ctx| {
        if act.socket().heartbeat.elapsed() > CLIENT_TIMEOUT {
            ctx.stop();
        } else if act.too_slow() {
            close_too_slow::<S>(ctx);
        } else {
            ctx.ping(b"");
        }
    });
    ctx.run_later(HELLO_TIMEOUT, |act: &mut S, ctx| {
        if !act.greeted() {
            close::<S>(
                ctx,
                CloseCode::Other(CLOSE_UNAUTHORIZED),
                "no valid hello in time",
            );
        }
    });
    let signal = async move {
        let _ = shutdown.wait_for(|stopping| *stopping).await;
    };
    ctx.spawn(fut::wrap_future::<_, S>(signal).map(|(), _act, ctx| {
        close::<S>(
            ctx,
            CloseCode::Other(CLOSE_RESTART),
            "server restarting, reconnect",
        );
    }));
}

/// Called from each session's `stopped`.
pub fn stopped<S: TextSession>() {
    metrics::gauge!(telemetry::SOCKETS_OPEN, "kind" => S::KIND).decrement(1.0);
}

/// A refused `hello`: the error, and the socket closed when its token or operator already has
/// all the sockets allowed (4429), or after `MAX_FAILED_HELLOS` refused credentials (4401).
pub fn hello_failed<S: TextSession>(ctx: &mut S::Context, failures: &mut u32, err: &AppError) {
    send_error::<S>(ctx, err, None);
    if err.code_str() == TOO_MANY_SOCKETS {
        return close::<S>(
            ctx,
            CloseCode::Other(CLOSE_TOO_MANY_SOCKETS),
            "too many sockets open",
        );
    }
    // Only a refused credential counts: storage being briefly away is not the client's doing.
    if !matches!(
        err,
        AppError::Unauthorized(_) | AppError::Forbidden(_) | AppError::NotFound(_)
    ) {
        return;
    }
    *failures += 1;
    if *failures >= MAX_FAILED_HELLOS {
        close::<S>(
            ctx,
            CloseCode::Other(CLOSE_UNAUTHORIZED),
            "too many failed hellos",
        );
    }
}

/// The socket fell too far behind (its outbox refused a push): close it so the client
/// reconnects and resumes by `last_seq`.
pub fn close_too_slow<S: TextSession>(ctx: &mut S::Context) {
    close::<S>(
        ctx,
        CloseCode::Other(CLOSE_TOO_SLOW),
        "too slow reading frames; reconnect and resume",
    );
}

pub fn close<S: TextSession>(ctx: &mut S::Context, code: CloseCode, why: &str) {
    ctx.close(Some(CloseReason {
        code,
        description: Some(why.to_owned()),
    }));
    ctx.stop();
}

/// The error to report for an actor's reply, if any. A lost mailbox means the actor went away
/// mid-request: the client should retry (with the same client_id).
pub fn failure<T>(result: Result<AppResult<T>, MailboxError>) -> Option<AppError> {
    match result {
        Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(e),
        Err(_) => Some(AppError::Unavailable),
    }
}

pub fn send_error<S: TextSession>(ctx: &mut S::Context, err: &AppError, client_id: Option<&str>) {
    ctx.text(error_frame(err, client_id));
}

/// Common handling of everything a socket receives; whole text messages go to `on_text`.
pub fn incoming<S: TextSession>(
    act: &mut S,
    item: Result<ws::Message, ProtocolError>,
    ctx: &mut S::Context,
) {
    let msg = match item {
        Ok(msg) => msg,
        Err(ProtocolError::Overflow) => {
            return close::<S>(ctx, CloseCode::Size, "frame too large");
        }
        Err(ProtocolError::Io(e)) if e.kind() == std::io::ErrorKind::Other => {
            return close::<S>(ctx, CloseCode::Invalid, "text is not valid UTF-8");
        }
        Err(e) => {
            tracing::debug!(error = %e, "websocket protocol error");
            return close::<S>(ctx, CloseCode::Protocol, "protocol error");
        }
    };
    act.socket().heartbeat = Instant::now();
    match msg {
        ws::Message::Ping(bytes) => ctx.pong(&bytes),
        ws::Message::Pong(_) | ws::Message::Nop => {}
        ws::Message::Text(text) => deliver_text(act, &text, ctx),
        ws::Message::Binary(_) => send_error::<S>(
            ctx,
            &AppError::InvalidFrame("binary frames are not supported; send JSON text".into()),
            None,
        ),
        ws::Message::Continuation(item) => continuation(act, item, ctx),
        ws::Message::Close(reason) => {
            ctx.close(reason);
            ctx.stop();
        }
    }
}

fn deliver_text<S: TextSession>(act: &mut S, text: &str, ctx: &mut S::Context) {
    if text.len() > act.socket().max_message {
        let limit = act.socket().max_message;
        return send_error::<S>(
            ctx,
            &AppError::TooLong(format!("frames are limited to {limit} bytes")),
            None,
        );
    }
    act.on_text(text, ctx);
}

/// Reassembles a fragmented message, never holding more than the message limit.
fn continuation<S: TextSession>(act: &mut S, item: actix_http::ws::Item, ctx: &mut S::Context) {
    let limit = act.socket().max_message;
    let state = act.socket();
    let (data, last, first_text) = match item {
        actix_http::ws::Item::FirstText(data) => (data, false, Some(true)),
        actix_http::ws::Item::FirstBinary(data) => (data, false, Some(false)),
        actix_http::ws::Item::Continue(data) => (data, false, None),
        actix_http::ws::Item::Last(data) => (data, true, None),
    };
    if let Some(text) = first_text {
        if state.fragments.is_some() {
            return close::<S>(
                ctx,
                CloseCode::Protocol,
                "new message before the last one ended",
            );
        }
        state.fragments = Some(Fragments {
            buf: BytesMut::new(),
            text,
            overflow: false,
        });
    }
    let Some(fragments) = state.fragments.as_mut() else {
        return close::<S>(
            ctx,
            CloseCode::Protocol,
            "continuation without a first frame",
        );
    };
    if !fragments.overflow {
        if fragments.buf.len() + data.len() > limit {
            fragments.overflow = true;
            fragments.buf = BytesMut::new();
        } else {
            fragments.buf.extend_from_slice(&data);
        }
    }
    if !last {
        return;
    }
    let Some(done) = state.fragments.take() else {
        return;
    };
    if done.overflow {
        return send_error::<S>(
            ctx,
            &AppError::TooLong(format!("messages are limited to {limit} bytes")),
            None,
        );
    }
    if !done.text {
        return send_error::<S>(
            ctx,
            &AppError::InvalidFrame("binary frames are not supported; send JSON text".into()),
            None,
        );
    }
    match std::str::from_utf8(&done.buf) {
        Ok(text) => {
            let text = text.to_owned();
            act.on_text(&text, ctx);
        }
        Err(_) => close::<S>(ctx, CloseCode::Invalid, "text is not valid UTF-8"),
    }
}
