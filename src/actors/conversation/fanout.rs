//! How a conversation's events and acks look to each audience: customers see the team's name
//! and never a note; operators see who wrote and the details of system events.

use super::{Ack, Origin, SYSTEM_NAME};
use crate::actors::operator_session::OperatorPush;
use crate::actors::visitor_session::VisitorPush;
use crate::config::{Config, OperatorDisplay};
use crate::db::events::EventRow;
use crate::domain::{Author, EventKind};
use crate::protocol::{encode, OperatorOut, VisitorOut};

/// Customers never see notes, nor system events marked internal (tags, priority, escalation).
pub fn visible_to_visitor(event: &EventRow) -> bool {
    let internal = event
        .data
        .as_ref()
        .and_then(|d| d.get("internal"))
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    event.kind != EventKind::Note && !internal
}

/// The name a customer sees on an event: their own alias, the team's name (or an operator's
/// first name, if so configured), or "System" — never more about an operator.
pub fn visitor_facing_name(config: &Config, event: &EventRow) -> String {
    match event.author {
        Author::Visitor => event.author_name.clone(),
        Author::System => SYSTEM_NAME.to_owned(),
        Author::Operator => match config.operator_display {
            OperatorDisplay::Team => config.support_name.clone(),
            OperatorDisplay::FirstName => event
                .author_name
                .split_whitespace()
                .next()
                .unwrap_or(&config.support_name)
                .to_owned(),
        },
    }
}

/// What a system event reports (`data.action`), for clients that word it themselves.
pub fn system_action(event: &EventRow) -> Option<&str> {
    event
        .data
        .as_ref()
        .and_then(|d| d.get("action"))
        .and_then(|a| a.as_str())
}

/// The action a customer's client words in its own language; none for events the server
/// already wrote in the customer's language (`data.localized`), whose text is shown as is.
pub fn visitor_action(event: &EventRow) -> Option<&str> {
    let localized = event
        .data
        .as_ref()
        .and_then(|d| d.get("localized"))
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    if localized {
        None
    } else {
        system_action(event)
    }
}

pub fn visitor_event_frame(config: &Config, event: &EventRow) -> bytestring::ByteString {
    encode(&VisitorOut::Event {
        seq: event.seq,
        kind: event.kind,
        author: event.author,
        name: &visitor_facing_name(config, event),
        text: &event.body,
        at: event.created_at,
        action: visitor_action(event),
    })
}

pub fn operator_event_frame(event: &EventRow) -> bytestring::ByteString {
    encode(&OperatorOut::Event {
        conversation_id: event.conversation_id,
        seq: event.seq,
        kind: event.kind,
        author: event.author,
        name: &event.author_name,
        text: &event.body,
        at: event.created_at,
        data: event.data.as_ref(),
    })
}

pub(super) fn send_ack(origin: Option<&Origin>, ack: &Ack) {
    match origin {
        Some(Origin::Visitor(outlet)) => {
            let frame = encode(&VisitorOut::Ack {
                client_id: &ack.client_id,
                seq: ack.seq,
                at: ack.at,
            });
            outlet.push(VisitorPush::new(frame, None));
        }
        Some(Origin::Operator(outlet)) => {
            let frame = encode(&OperatorOut::Ack {
                conversation_id: ack.conversation_id,
                client_id: &ack.client_id,
                seq: ack.seq,
                at: ack.at,
            });
            outlet.push(OperatorPush::frame(frame, None));
        }
        None => {}
    }
}
