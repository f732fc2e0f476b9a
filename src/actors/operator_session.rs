//! One actor per operator socket: it authenticates `hello`, registers the operator with the
//! Router (which forwards the events they may see), relays their messages, notes, typing, read
//! marks and presence, and replays a conversation on `resume` without duplicating or losing an
//! event that arrives live meanwhile.

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;
use actix_web_actors::ws::{self, CloseCode};
use bytestring::ByteString;
use chrono::Utc;
use governor::{DefaultKeyedRateLimiter, RateLimiter};
use tokio::sync::watch;

use super::conversation::{
    operator_event_frame, By, MarkRead, Origin, PostMessage, Replay, Typing,
};
use super::outbox::{Counted, Outbox, Outlet};
use super::replay;
use super::router::{OperatorConnected, OperatorDisconnected, OperatorUpdated, Seen, SetPresence};
use super::socket::{self, AdmissionGuard, SocketState, TextSession};
use super::visitor_session::SessionDeps;
use crate::auth::{hash_token, OperatorIdentity};
use crate::config::{quota_per_second, Config};
use crate::db::conversations::{self, Visibility};
use crate::db::sessions;
use crate::domain::{EventKind, Presence};
use crate::error::{AppError, AppResult};
use crate::ids::{ConversationId, OperatorId, SessionId};
use crate::protocol::{decode, encode, OperatorFrame, OperatorOut, CLOSE_UNAUTHORIZED};

/// How many open conversations the `welcome` frame lists at most.
const WELCOME_LIMIT: i64 = 500;

/// Frames for an operator socket, already serialized.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub enum OperatorPush {
    /// A live frame; `event` is set for conversation events so they can be de-duplicated.
    Frame {
        frame: ByteString,
        event: Option<(ConversationId, i64)>,
        /// Counted by the socket's outbox (set by `Outlet::push`).
        live: bool,
    },
    /// The token was revoked, expired, or the operator deleted: close with 4401.
    Revoked { reason: &'static str },
}

impl OperatorPush {
    pub fn frame(frame: ByteString, event: Option<(ConversationId, i64)>) -> Self {
        OperatorPush::Frame {
            frame,
            event,
            live: false,
        }
    }
}

impl Counted for OperatorPush {
    fn bytes(&self) -> Option<usize> {
        match self {
            OperatorPush::Frame { frame, .. } => Some(frame.len()),
            _ => None,
        }
    }

    fn mark_live(&mut self) {
        if let OperatorPush::Frame { live, .. } = self {
            *live = true;
        }
    }
}

/// A signed-in socket knows only who it is; what that operator may do is the Router's, read
/// through `identity` (the Router updates it on every change) at the moment of each action.
struct SignedIn {
    id: OperatorId,
    identity: watch::Receiver<OperatorIdentity>,
    /// The token's hash: the key of the frame limits, shared by the token's sockets.
    token_hash: Vec<u8>,
}

/// What one operator token may send over all its sockets together: every frame counts
/// against `frames`, messages and notes also against `messages`.
pub struct OperatorFrameLimits {
    pub frames: DefaultKeyedRateLimiter<Vec<u8>>,
    pub messages: DefaultKeyedRateLimiter<Vec<u8>>,
}

impl OperatorFrameLimits {
    pub fn new(config: &Config) -> Self {
        OperatorFrameLimits {
            frames: RateLimiter::keyed(quota_per_second(
                config.operator_frames_per_sec,
                config.operator_frames_burst,
            )),
            messages: RateLimiter::keyed(quota_per_second(
                config.operator_messages_per_sec,
                config.operator_burst,
            )),
        }
    }
}

enum Phase {
    AwaitingHello,
    Greeting,
    Ready(SignedIn),
}

pub struct OperatorSession {
    id: SessionId,
    cookie_token: Option<String>,
    deps: SessionDeps,
    socket: SocketState,
    outbox: Arc<Outbox>,
    admission: Option<AdmissionGuard>,
    failed_hellos: u32,
    phase: Phase,
    /// Highest event seq written to the socket, per conversation.
    delivered: HashMap<ConversationId, i64>,
    /// Conversations being replayed: which replay is current, and the live events held back.
    replaying: HashMap<ConversationId, (u64, Vec<Held>)>,
    replay_generation: u64,
}

impl OperatorSession {
    /// `cookie_token` is the panel's session cookie, if the upgrade request carried one.
    pub fn new(deps: SessionDeps, cookie_token: Option<String>, admission: AdmissionGuard) -> Self {
        OperatorSession {
            id: SessionId::new(),
            cookie_token,
            socket: SocketState::new(deps.config.max_frame_bytes),
            outbox: Outbox::new(deps.config.outbox_limits()),
            admission: Some(admission),
            failed_hellos: 0,
            phase: Phase::AwaitingHello,
            delivered: HashMap::new(),
            replaying: HashMap::new(),
            replay_generation: 0,
            deps,
        }
    }

    fn outlet(&self, ctx: &mut ws::WebsocketContext<Self>) -> Outlet<OperatorPush> {
        Outlet::new(ctx.address().recipient(), self.outbox.clone())
    }

    fn hello(&mut self, token: String, ctx: &mut ws::WebsocketContext<Self>) {
        self.phase = Phase::Greeting;
        let pool = self.deps.pool.clone();
        let router = self.deps.router.clone();
        let outlet = self.outlet(ctx);
        let session = self.id;
        let greet = async move {
            let token_hash = hash_token(&token);
            let mut conn = pool.get().await?;
            let (row, expires_at) =
                sessions::operator_session_by_token(&mut conn, &token_hash, Utc::now())
                    .await?
                    .ok_or_else(|| AppError::Unauthorized("invalid or expired token".into()))?;
            let operator_id = row.id;
            // Registered before the conversations are read: whatever changes from here on is
            // pushed (and queues behind the welcome), so nothing falls in between.
            let identity = router
                .send(OperatorConnected {
                    operator: OperatorIdentity::from(&row),
                    session,
                    token_hash: token_hash.clone(),
                    outlet,
                })
                .await??;
            let read = async {
                // Checked again now that the Router knows this socket: a revocation or change
                // the Router handled before it registered the socket is seen here instead.
                let current =
                    sessions::operator_session_by_token(&mut conn, &token_hash, Utc::now())
                        .await?
                        .ok_or_else(|| AppError::Unauthorized("invalid or expired token".into()))?;
                let fresh = OperatorIdentity::from(&current.0);
                if *identity.borrow() != fresh {
                    router
                        .send(OperatorUpdated {
                            operator: fresh,
                            deleted: false,
                        })
                        .await?;
                }
                let visibility = {
                    let current = identity.borrow();
                    if current.role.sees_all() {
                        Visibility::All
                    } else {
                        Visibility::Agent(current.id)
                    }
                };
                let open =
                    conversations::open_visible(&mut conn, visibility, WELCOME_LIMIT).await?;
                AppResult::Ok(conversations::summaries(&mut conn, &open).await?)
            };
            match read.await {
                Ok(summaries) => AppResult::Ok((identity, expires_at, summaries, token_hash)),
                Err(e) => {
                    router.do_send(OperatorDisconnected {
                        operator: operator_id,
                        session,
                    });
                    Err(e)
                }
            }
        };
        ctx.wait(
            fut::wrap_future::<_, Self>(greet).map(|result, act, ctx| match result {
                Ok((identity, expires_at, summaries, token_hash)) => {
                    let view = identity.borrow().view();
                    ctx.text(encode(&OperatorOut::Welcome {
                        operator: &view,
                        conversations: &summaries,
                    }));
                    act.phase = Phase::Ready(SignedIn {
                        id: view.id,
                        identity,
                        token_hash,
                    });
                    act.admission = None;
                    // The token's end is the socket's end.
                    let left = (expires_at - Utc::now()).to_std().unwrap_or_default();
                    ctx.run_later(left, |_act, ctx| {
                        socket::close::<Self>(
                            ctx,
                            CloseCode::Other(CLOSE_UNAUTHORIZED),
                            "session expired",
                        );
                    });
                }
                Err(e) => {
                    act.phase = Phase::AwaitingHello;
                    socket::hello_failed::<Self>(ctx, &mut act.failed_hellos, &e);
                }
            }),
        );
    }

    fn on_frame(&mut self, frame: OperatorFrame, ctx: &mut ws::WebsocketContext<Self>) {
        let operator = match (&self.phase, frame) {
            (Phase::AwaitingHello, OperatorFrame::Hello { token }) => {
                return match token.or_else(|| self.cookie_token.clone()) {
                    Some(token) => self.hello(token, ctx),
                    None => {
                        let err = AppError::Unauthorized(
                            "hello needs a token (or the session cookie)".into(),
                        );
                        socket::hello_failed::<Self>(ctx, &mut self.failed_hellos, &err)
                    }
                };
            }
            (Phase::Ready(_) | Phase::Greeting, OperatorFrame::Hello { .. }) => {
                let err = AppError::InvalidFrame("hello was already received".into());
                return socket::send_error::<Self>(ctx, &err, None);
            }
            (Phase::Ready(signed), frame) => {
                let limits = &self.deps.operator_limits;
                let is_post = matches!(
                    frame,
                    OperatorFrame::Message { .. } | OperatorFrame::Note { .. }
                );
                let limited = limits.frames.check_key(&signed.token_hash).is_err()
                    || (is_post && limits.messages.check_key(&signed.token_hash).is_err());
                if limited {
                    let client_id = match &frame {
                        OperatorFrame::Message { client_id, .. }
                        | OperatorFrame::Note { client_id, .. } => Some(client_id.as_str()),
                        _ => None,
                    };
                    return socket::send_error::<Self>(
                        ctx,
                        &AppError::rate_limited_soon(),
                        client_id,
                    );
                }
                (signed.identity.borrow().clone(), frame)
            }
            (_, _) => {
                let err = AppError::Unauthorized("send hello with a valid token first".into());
                return socket::send_error::<Self>(ctx, &err, None);
            }
        };
        let (operator, frame) = operator;
        match frame {
            OperatorFrame::Hello { .. } => {}
            OperatorFrame::Message {
                conversation_id,
                client_id,
                text,
            } => self.post(
                operator,
                conversation_id,
                EventKind::Message,
                client_id,
                text,
                ctx,
            ),
            OperatorFrame::Note {
                conversation_id,
                client_id,
                text,
            } => self.post(
                operator,
                conversation_id,
                EventKind::Note,
                client_id,
                text,
                ctx,
            ),
            OperatorFrame::Typing {
                conversation_id,
                active,
            } => {
                if let Some(addr) = self.deps.registry.running(conversation_id) {
                    addr.do_send(Typing {
                        by: By::Operator(operator),
                        active,
                    });
                }
            }
            OperatorFrame::Read {
                conversation_id,
                seq,
            } => {
                let addr = self.deps.registry.get_or_start(conversation_id);
                let read = MarkRead {
                    by: By::Operator(operator),
                    seq,
                };
                ctx.spawn(addr.send(read).into_actor(self).map(|result, _act, ctx| {
                    if let Some(err) = socket::failure(result) {
                        socket::send_error::<Self>(ctx, &err, None);
                    }
                }));
            }
            OperatorFrame::Presence { status } => {
                if status == Presence::Offline {
                    let err = AppError::invalid("status", "status must be online, busy or away");
                    return socket::send_error::<Self>(ctx, &err, None);
                }
                self.deps.router.do_send(SetPresence {
                    operator: operator.id,
                    presence: status,
                });
            }
            OperatorFrame::Resume {
                conversation_id,
                last_seq,
            } => self.resume(operator, conversation_id, last_seq, ctx),
        }
    }

    fn post(
        &mut self,
        operator: OperatorIdentity,
        conversation: ConversationId,
        kind: EventKind,
        client_id: String,
        text: String,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        let addr = self.deps.registry.get_or_start(conversation);
        let post = PostMessage {
            by: By::Operator(operator),
            kind,
            client_id: client_id.clone(),
            text,
            data: None,
            origin: Some(Origin::Operator(self.outlet(ctx))),
        };
        ctx.spawn(
            addr.send(post)
                .into_actor(self)
                .map(move |result, _act, ctx| {
                    if let Some(err) = socket::failure(result) {
                        socket::send_error::<Self>(ctx, &err, Some(&client_id));
                    }
                }),
        );
    }

    fn resume(
        &mut self,
        operator: OperatorIdentity,
        conversation: ConversationId,
        last_seq: i64,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        let after = last_seq.max(0);
        self.delivered.insert(conversation, after);
        // A second resume of the same conversation takes over; the first stops at its next page.
        self.replay_generation += 1;
        let generation = self.replay_generation;
        self.replaying.entry(conversation).or_default().0 = generation;
        let addr = self.deps.registry.get_or_start(conversation);
        ctx.spawn(
            addr.send(Replay { operator }).into_actor(self).map(
                move |result, act, ctx| match result {
                    _ if !act.current(conversation, generation) => {}
                    Ok(Ok(upto)) => act.replay_page(conversation, generation, after, upto, ctx),
                    other => {
                        act.finish_replay(conversation, ctx);
                        if let Some(err) = socket::failure(other) {
                            socket::send_error::<Self>(ctx, &err, None);
                        }
                    }
                },
            ),
        );
    }

    /// Writes the next page of a replay; the one after is read once this one is written.
    fn replay_page(
        &mut self,
        conversation: ConversationId,
        generation: u64,
        after: i64,
        upto: i64,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        if after >= upto {
            return self.finish_replay(conversation, ctx);
        }
        let read = replay::page(self.deps.pool.clone(), conversation, after);
        ctx.spawn(
            fut::wrap_future::<_, Self>(read).map(move |result, act, ctx| match result {
                _ if !act.current(conversation, generation) => {}
                Ok(page) => {
                    for event in page.iter().filter(|e| e.seq <= upto) {
                        act.deliver(conversation, event.seq, operator_event_frame(event), ctx);
                    }
                    match replay::next_after(&page, upto) {
                        Some(next) => act.replay_page(conversation, generation, next, upto, ctx),
                        None => act.finish_replay(conversation, ctx),
                    }
                }
                Err(e) => {
                    act.finish_replay(conversation, ctx);
                    socket::send_error::<Self>(ctx, &e, None);
                }
            }),
        );
    }

    /// Whether `generation` is still the replay of `conversation` under way.
    fn current(&self, conversation: ConversationId, generation: u64) -> bool {
        self.replaying
            .get(&conversation)
            .is_some_and(|(g, _)| *g == generation)
    }

    /// Writes an event unless this socket already has it.
    fn deliver(
        &mut self,
        conversation: ConversationId,
        seq: i64,
        frame: ByteString,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        let delivered = self.delivered.entry(conversation).or_insert(0);
        if seq > *delivered {
            *delivered = seq;
            ctx.text(frame);
        }
    }

    /// The replay is complete: the live events held meanwhile go out (and leave the outbox).
    fn finish_replay(
        &mut self,
        conversation: ConversationId,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        let (_, held) = self.replaying.remove(&conversation).unwrap_or_default();
        for held in held {
            if held.live {
                self.outbox.drained(held.frame.len());
            }
            self.deliver(conversation, held.seq, held.frame, ctx);
        }
    }
}

/// A live event held back while its conversation is replayed.
struct Held {
    frame: ByteString,
    seq: i64,
    live: bool,
}

impl Actor for OperatorSession {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        socket::start::<Self>(ctx, self.deps.shutdown.clone());
        // The presence heartbeat: a socket that keeps answering keeps its operator online.
        ctx.run_interval(socket::HEARTBEAT_INTERVAL, |act, _ctx| {
            if let Phase::Ready(signed) = &act.phase {
                if act.socket.heartbeat.elapsed() < socket::CLIENT_TIMEOUT {
                    act.deps.router.do_send(Seen(signed.id));
                }
            }
        });
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        socket::stopped::<Self>();
        if let Phase::Ready(signed) = &self.phase {
            self.deps.router.do_send(OperatorDisconnected {
                operator: signed.id,
                session: self.id,
            });
        }
    }
}

impl TextSession for OperatorSession {
    const KIND: &'static str = "operator";

    fn socket(&mut self) -> &mut SocketState {
        &mut self.socket
    }

    fn too_slow(&self) -> bool {
        self.outbox.is_shut()
    }

    fn greeted(&self) -> bool {
        matches!(self.phase, Phase::Ready(_))
    }

    fn on_text(&mut self, text: &str, ctx: &mut Self::Context) {
        match decode::<OperatorFrame>(text) {
            Ok(frame) => self.on_frame(frame, ctx),
            Err(e) => socket::send_error::<Self>(ctx, &e, None),
        }
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for OperatorSession {
    fn handle(&mut self, item: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        socket::incoming(self, item, ctx);
    }
}

impl Handler<OperatorPush> for OperatorSession {
    type Result = ();

    fn handle(&mut self, msg: OperatorPush, ctx: &mut Self::Context) {
        if let OperatorPush::Revoked { reason } = &msg {
            return socket::close::<Self>(ctx, CloseCode::Other(CLOSE_UNAUTHORIZED), reason);
        }
        if self.outbox.is_shut() {
            return socket::close_too_slow::<Self>(ctx);
        }
        let OperatorPush::Frame { frame, event, live } = msg else {
            return;
        };
        match event {
            Some((conversation, seq)) if self.replaying.contains_key(&conversation) => {
                if let Some((_, held)) = self.replaying.get_mut(&conversation) {
                    held.push(Held { frame, seq, live });
                }
            }
            Some((conversation, seq)) => {
                if live {
                    self.outbox.drained(frame.len());
                }
                self.deliver(conversation, seq, frame, ctx);
            }
            None => {
                if live {
                    self.outbox.drained(frame.len());
                }
                ctx.text(frame);
            }
        }
    }
}
