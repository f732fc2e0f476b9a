//! The WebSocket wire protocol (PROTOCOL.md): one serde-tagged enum per direction and audience,
//! the conversation summary both sockets and HTTP share, and the close codes.

use bytestring::ByteString;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::db::conversations::WithAlias;
use crate::domain::{Author, Channel, ConversationStatus, EventKind, Presence, Priority, Role};
use crate::error::AppError;
use crate::ids::{ConversationId, GroupId, OperatorId};

/// Closed because no valid `hello` arrived in time.
pub const CLOSE_UNAUTHORIZED: u16 = 4401;
/// Closed because the server is restarting: reconnect.
pub const CLOSE_RESTART: u16 = 1012;
/// Closed because the client did not read its frames fast enough (its outbound queue filled,
/// or nothing drained for `socket_stall_secs`): reconnect and resume by `last_seq`.
pub const CLOSE_TOO_SLOW: u16 = 1008;
/// Closed because the token (or operator) already has as many sockets open as allowed.
pub const CLOSE_TOO_MANY_SOCKETS: u16 = 4429;
/// The error code of a `hello` refused for that cap (then closed with 4429).
pub const TOO_MANY_SOCKETS: &str = "too_many_sockets";

/// Frames a visitor's widget sends.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum VisitorFrame {
    Hello {
        token: String,
        #[serde(default)]
        last_seq: Option<i64>,
        /// Optional; when given it must be the token's own conversation.
        #[serde(default)]
        conversation_id: Option<ConversationId>,
    },
    Message {
        client_id: String,
        text: String,
        #[serde(default)]
        conversation_id: Option<ConversationId>,
    },
    Typing {
        active: bool,
    },
    Read {
        seq: i64,
    },
    Rate {
        score: i16,
        #[serde(default)]
        comment: Option<String>,
    },
}

/// Frames an operator's panel sends.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OperatorFrame {
    Hello {
        /// May be omitted when the socket was opened with the panel's session cookie.
        #[serde(default)]
        token: Option<String>,
    },
    Message {
        conversation_id: ConversationId,
        client_id: String,
        text: String,
    },
    Note {
        conversation_id: ConversationId,
        client_id: String,
        text: String,
    },
    Typing {
        conversation_id: ConversationId,
        active: bool,
    },
    Read {
        conversation_id: ConversationId,
        seq: i64,
    },
    Presence {
        status: Presence,
    },
    Resume {
        conversation_id: ConversationId,
        last_seq: i64,
    },
}

/// What every list, socket and API shows of a conversation: never the customer's identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConversationSummary {
    pub id: ConversationId,
    pub ticket: String,
    pub status: ConversationStatus,
    pub priority: Priority,
    pub level: i16,
    pub assignee: Option<OperatorId>,
    pub channel: Channel,
    pub group_id: GroupId,
    pub alias: String,
    pub tags: Vec<String>,
    pub last_seq: i64,
    pub last_message_at: Option<DateTime<Utc>>,
    pub unanswered: i32,
    /// The customer has read up to this seq.
    pub visitor_read_seq: i64,
    /// An operator has read up to this seq.
    pub operator_read_seq: i64,
    pub created_at: DateTime<Utc>,
    /// What the conversation is about (`order`, `payment`, ...): the intent its first
    /// auto-reply detected, or what an operator set.
    #[serde(default)]
    pub category: Option<String>,
}

impl ConversationSummary {
    pub fn is_dormant(&self) -> bool {
        self.status.is_dormant(self.last_message_at)
    }
}

impl From<&WithAlias> for ConversationSummary {
    fn from((row, alias): &WithAlias) -> Self {
        ConversationSummary {
            id: row.id,
            ticket: row.ticket.clone(),
            status: row.status,
            priority: row.priority,
            level: row.level,
            assignee: row.assignee_id,
            channel: row.channel,
            group_id: row.group_id,
            alias: alias.clone(),
            tags: Vec::new(),
            last_seq: row.last_seq,
            last_message_at: row.last_message_at,
            unanswered: row.unanswered,
            visitor_read_seq: row.visitor_read_seq,
            operator_read_seq: row.operator_read_seq,
            created_at: row.created_at,
            category: row.category.clone(),
        }
    }
}

/// The operator as shown to themselves and their colleagues.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OperatorView {
    pub id: OperatorId,
    pub name: String,
    pub role: Role,
}

/// Frames sent to a visitor.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum VisitorOut<'a> {
    Welcome {
        conversation_id: ConversationId,
        ticket: &'a str,
        status: ConversationStatus,
        last_seq: i64,
        /// The name operator replies carry when `operator_display` is `team`.
        support_name: &'a str,
    },
    Ack {
        client_id: &'a str,
        seq: i64,
        at: DateTime<Utc>,
    },
    Event {
        seq: i64,
        kind: EventKind,
        author: Author,
        name: &'a str,
        text: &'a str,
        at: DateTime<Utc>,
        /// System events only: what happened (`assigned`, `resolved`, …), so that a client
        /// can word it in its own language.
        #[serde(skip_serializing_if = "Option::is_none")]
        action: Option<&'a str>,
    },
    Typing {
        author: Author,
        active: bool,
    },
    Queue {
        position: usize,
        /// Seconds until an operator is likely free; absent until there is history.
        #[serde(skip_serializing_if = "Option::is_none")]
        estimated_wait_secs: Option<u64>,
    },
    Status {
        status: ConversationStatus,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<&'a str>,
    },
    Read {
        author: Author,
        seq: i64,
    },
    Rated {
        score: i16,
    },
    Error {
        code: &'a str,
        message: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        client_id: Option<&'a str>,
    },
}

/// Frames sent to an operator.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OperatorOut<'a> {
    Welcome {
        operator: &'a OperatorView,
        conversations: &'a [ConversationSummary],
    },
    Conversation(&'a ConversationSummary),
    Event {
        conversation_id: ConversationId,
        seq: i64,
        kind: EventKind,
        author: Author,
        name: &'a str,
        text: &'a str,
        at: DateTime<Utc>,
        #[serde(skip_serializing_if = "Option::is_none")]
        data: Option<&'a serde_json::Value>,
    },
    Ack {
        conversation_id: ConversationId,
        client_id: &'a str,
        seq: i64,
        at: DateTime<Utc>,
    },
    Typing {
        conversation_id: ConversationId,
        author: Author,
        active: bool,
    },
    Read {
        conversation_id: ConversationId,
        author: Author,
        seq: i64,
    },
    Presence {
        status: Presence,
    },
    /// To supervisors and admins: a conversation was escalated (by a rule or an operator).
    Escalation {
        conversation_id: ConversationId,
        ticket: &'a str,
        alias: &'a str,
        /// 0–2 (L1–L3), after the escalation.
        level: i16,
        priority: Priority,
        /// `unanswered`, `keyword`, `first_response` or `manual`.
        trigger: &'a str,
        at: DateTime<Utc>,
    },
    /// The signed-in operator changed (name, role): from now on the socket acts as this.
    Operator {
        operator: &'a OperatorView,
    },
    Error {
        code: &'a str,
        message: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        client_id: Option<&'a str>,
    },
}

/// Serializes a frame once, into a buffer every recipient can share.
pub fn encode<T: Serialize>(frame: &T) -> ByteString {
    match serde_json::to_string(frame) {
        Ok(text) => ByteString::from(text),
        Err(e) => {
            tracing::error!(error = %e, "frame failed to serialize");
            ByteString::from_static(
                r#"{"type":"error","code":"internal","message":"internal error"}"#,
            )
        }
    }
}

/// An `error` frame for either audience (both use the same shape).
pub fn error_frame(err: &AppError, client_id: Option<&str>) -> ByteString {
    encode(&VisitorOut::Error {
        code: err.code_str(),
        message: err.to_string(),
        client_id,
    })
}

/// Parses a client frame, telling malformed JSON apart from an unknown or incomplete frame.
pub fn decode<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, AppError> {
    // The common case parses once; only a bad frame pays for the diagnosis below.
    if let Ok(frame) = serde_json::from_str(text) {
        return Ok(frame);
    }
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| AppError::InvalidFrame(format!("malformed JSON: {e}")))?;
    let kind = value
        .get("type")
        .and_then(|t| t.as_str())
        .ok_or_else(|| {
            AppError::InvalidFrame("a frame must be an object with a string 'type'".into())
        })?
        .to_owned();
    serde_json::from_value(value).map_err(|e| {
        let msg = e.to_string();
        if msg.starts_with("unknown variant") {
            AppError::InvalidFrame(format!("unknown frame type '{kind}'"))
        } else {
            AppError::InvalidFrame(format!("invalid '{kind}' frame: {msg}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_names_the_problem() {
        let err = decode::<VisitorFrame>("{nope").unwrap_err();
        assert!(err.to_string().starts_with("malformed JSON"), "{err}");
        let err = decode::<VisitorFrame>(r#"{"type":"dance"}"#).unwrap_err();
        assert_eq!(err.to_string(), "unknown frame type 'dance'");
        let err = decode::<VisitorFrame>(r#"{"type":"message","text":"hi"}"#).unwrap_err();
        assert!(err.to_string().contains("client_id"), "{err}");
        let ok = decode::<VisitorFrame>(r#"{"type":"typing","active":true}"#).unwrap();
        assert!(matches!(ok, VisitorFrame::Typing { active: true }));
    }
}
