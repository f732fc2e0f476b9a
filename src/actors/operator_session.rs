//! One actor per operator socket: it authenticates `hello`, registers the operator with the
//! Router (which forwards the events they may see), relays their messages, notes, typing, read
//! marks and presence, and replays a conversation on `resume` without duplicating or losing an
//! event that arrives live meanwhile.

use std::collections::HashMap;

use actix::prelude::*;
use actix_web_actors::ws;
use bytestring::ByteString;
use chrono::Utc;

use super::conversation::{By, MarkRead, Origin, PostMessage, Replay, Typing};
use super::router::{OperatorConnected, OperatorDisconnected, Seen, SetPresence};
use super::socket::{self, SocketState, TextSession};
use super::visitor_session::SessionDeps;
use crate::auth::{hash_token, OperatorIdentity};
use crate::db::conversations::{self, Visibility};
use crate::db::sessions;
use crate::domain::{EventKind, Presence};
use crate::error::{AppError, AppResult};
use crate::ids::{ConversationId, SessionId};
use crate::protocol::{decode, encode, OperatorFrame, OperatorOut};

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
    },
    /// An event replayed on `resume`.
    Replayed {
        frame: ByteString,
        conversation: ConversationId,
        seq: i64,
    },
    /// The replay of `conversation` is complete.
    ReplayDone { conversation: ConversationId },
}

enum Phase {
    AwaitingHello,
    Greeting,
    Ready(OperatorIdentity),
}

pub struct OperatorSession {
    id: SessionId,
    cookie_token: Option<String>,
    deps: SessionDeps,
    socket: SocketState,
    phase: Phase,
    /// Highest event seq written to the socket, per conversation.
    delivered: HashMap<ConversationId, i64>,
    /// Live events held back while a conversation is being replayed.
    replaying: HashMap<ConversationId, Vec<(ByteString, i64)>>,
}

impl OperatorSession {
    /// `cookie_token` is the panel's session cookie, if the upgrade request carried one.
    pub fn new(deps: SessionDeps, cookie_token: Option<String>) -> Self {
        OperatorSession {
            id: SessionId::new(),
            cookie_token,
            socket: SocketState::new(deps.config.max_frame_bytes),
            phase: Phase::AwaitingHello,
            delivered: HashMap::new(),
            replaying: HashMap::new(),
            deps,
        }
    }

    fn hello(&mut self, token: String, ctx: &mut ws::WebsocketContext<Self>) {
        self.phase = Phase::Greeting;
        let pool = self.deps.pool.clone();
        let router = self.deps.router.clone();
        let recipient = ctx.address().recipient();
        let session = self.id;
        let greet = async move {
            let mut conn = pool.get().await?;
            let row = sessions::operator_by_token(&mut conn, &hash_token(&token), Utc::now())
                .await?
                .ok_or_else(|| AppError::Unauthorized("invalid or expired token".into()))?;
            let operator = OperatorIdentity::from(&row);
            let visibility = if operator.role.sees_all() {
                Visibility::All
            } else {
                Visibility::Agent(operator.id)
            };
            let open = conversations::open_visible(&mut conn, visibility, WELCOME_LIMIT).await?;
            let summaries = conversations::summaries(&mut conn, &open).await?;
            drop(conn);
            // Registered before the welcome is written: live frames queue up behind it.
            router
                .send(OperatorConnected {
                    operator: operator.clone(),
                    session,
                    recipient,
                })
                .await?;
            AppResult::Ok((operator, summaries))
        };
        ctx.wait(
            fut::wrap_future::<_, Self>(greet).map(|result, act, ctx| match result {
                Ok((operator, summaries)) => {
                    let view = operator.view();
                    ctx.text(encode(&OperatorOut::Welcome {
                        operator: &view,
                        conversations: &summaries,
                    }));
                    act.phase = Phase::Ready(operator);
                }
                Err(e) => {
                    act.phase = Phase::AwaitingHello;
                    socket::send_error::<Self>(ctx, &e, None);
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
                        socket::send_error::<Self>(ctx, &err, None)
                    }
                };
            }
            (Phase::Ready(_) | Phase::Greeting, OperatorFrame::Hello { .. }) => {
                let err = AppError::InvalidFrame("hello was already received".into());
                return socket::send_error::<Self>(ctx, &err, None);
            }
            (Phase::Ready(op), frame) => (op.clone(), frame),
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
            origin: Some(Origin::Operator(ctx.address().recipient())),
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
        self.delivered.insert(conversation, last_seq.max(0));
        self.replaying.entry(conversation).or_default();
        let addr = self.deps.registry.get_or_start(conversation);
        let replay = Replay {
            operator,
            after: last_seq,
            recipient: ctx.address().recipient(),
        };
        ctx.spawn(
            addr.send(replay)
                .into_actor(self)
                .map(move |result, act, ctx| {
                    if let Some(err) = socket::failure(result) {
                        act.finish_replay(conversation, ctx);
                        socket::send_error::<Self>(ctx, &err, None);
                    }
                }),
        );
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

    fn finish_replay(
        &mut self,
        conversation: ConversationId,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        for (frame, seq) in self.replaying.remove(&conversation).unwrap_or_default() {
            self.deliver(conversation, seq, frame, ctx);
        }
    }
}

impl Actor for OperatorSession {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        socket::start::<Self>(ctx, self.deps.shutdown.clone());
        // The presence heartbeat: a socket that keeps answering keeps its operator online.
        ctx.run_interval(socket::HEARTBEAT_INTERVAL, |act, _ctx| {
            if let Phase::Ready(operator) = &act.phase {
                if act.socket.heartbeat.elapsed() < socket::CLIENT_TIMEOUT {
                    act.deps.router.do_send(Seen(operator.id));
                }
            }
        });
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        socket::stopped::<Self>();
        if let Phase::Ready(operator) = &self.phase {
            self.deps.router.do_send(OperatorDisconnected {
                operator: operator.id,
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
        match msg {
            OperatorPush::Frame { frame, event: None } => ctx.text(frame),
            OperatorPush::Frame {
                frame,
                event: Some((conversation, seq)),
            } => {
                if let Some(held) = self.replaying.get_mut(&conversation) {
                    held.push((frame, seq));
                } else {
                    self.deliver(conversation, seq, frame, ctx);
                }
            }
            OperatorPush::Replayed {
                frame,
                conversation,
                seq,
            } => self.deliver(conversation, seq, frame, ctx),
            OperatorPush::ReplayDone { conversation } => self.finish_replay(conversation, ctx),
        }
    }
}
