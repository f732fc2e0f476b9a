//! The durable outbox of Bot API calls. Rows are written in the same transaction as the events
//! they deliver (by the event writer) or by the gateway for what the bot says itself, and sent
//! in order per lane: one lane per customer chat, one for the support group. No chat id is
//! stored here; the gateway finds it from the lane when it sends.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::texts::{Lang, Say, Texts};
use crate::config::Config;
use crate::db::events::EventRow;
use crate::db::schema::telegram_outbox;
use crate::domain::{Author, Channel, ConversationStatus, EventKind, Priority};
use crate::ids::{ContactId, ConversationId};

/// Telegram's limits on one message's text and on a caption.
pub const MAX_TEXT: usize = 4096;
pub const MAX_CAPTION: usize = 1024;
pub const GROUP_LANE: &str = "group";

/// The lane of a customer's chat.
pub fn contact_lane(contact: ContactId) -> String {
    format!("contact:{}", contact.0)
}

/// The lane of an operator's private chat with the bot (sign-in codes).
pub fn operator_lane(operator: crate::ids::OperatorId) -> String {
    format!("operator:{}", operator.0)
}

pub fn lane_operator(lane: &str) -> Option<crate::ids::OperatorId> {
    lane.strip_prefix("operator:")
        .and_then(|id| Uuid::parse_str(id).ok())
        .map(crate::ids::OperatorId)
}

pub fn lane_contact(lane: &str) -> Option<ContactId> {
    lane.strip_prefix("contact:")
        .and_then(|id| Uuid::parse_str(id).ok())
        .map(ContactId)
}

/// An inline button: its label and `callback_data` (ours, at most 64 bytes).
pub type Button = (String, String);

/// One Bot API call to make.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Call {
    /// `sendMessage` to the lane's chat.
    Text {
        text: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        buttons: Vec<Button>,
        /// In the support group: a reply to the conversation's card (made first if missing).
        #[serde(default, skip_serializing_if = "is_false")]
        under_card: bool,
    },
    /// `copyMessage` of a customer's message (from their chat) into the lane's chat.
    Copy {
        from: ContactId,
        message_id: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        caption: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        buttons: Vec<Button>,
        #[serde(default, skip_serializing_if = "is_false")]
        under_card: bool,
        /// An album's item: the items are sent together (`copyMessages`), so the album stays one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        album: Option<String>,
    },
    /// The conversation's card in the support group shows its state as it is when sent
    /// (waiting, taken by whom, escalated, resolved, closed) with the buttons that still fit.
    SyncCard,
}

fn is_false(b: &bool) -> bool {
    !b
}

impl Call {
    /// Text to a chat, with no buttons.
    pub fn text(text: impl Into<String>) -> Call {
        Call::Text {
            text: text.into(),
            buttons: Vec::new(),
            under_card: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Insertable)]
#[diesel(table_name = telegram_outbox)]
pub struct NewCall {
    pub lane: String,
    pub conversation_id: Option<ConversationId>,
    pub seq: Option<i64>,
    pub payload: serde_json::Value,
}

impl NewCall {
    pub fn new(lane: String, about: Option<(ConversationId, Option<i64>)>, call: &Call) -> NewCall {
        NewCall {
            lane,
            conversation_id: about.map(|(c, _)| c),
            seq: about.and_then(|(_, s)| s),
            payload: serde_json::to_value(call).unwrap_or(serde_json::Value::Null),
        }
    }
}

#[derive(Debug, Clone, QueryableByName)]
#[diesel(table_name = telegram_outbox, check_for_backend(diesel::pg::Pg))]
pub struct CallRow {
    pub id: i64,
    pub lane: String,
    pub conversation_id: Option<ConversationId>,
    pub seq: Option<i64>,
    pub payload: serde_json::Value,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// What a conversation's new events mean for Telegram; built by the Conversation actor and
/// committed with the events.
pub struct Conversation<'a> {
    pub id: ConversationId,
    pub channel: Channel,
    pub contact: ContactId,
    pub ticket: &'a str,
    pub alias: &'a str,
    pub language: &'a str,
}

pub fn calls_for(
    config: &Config,
    texts: &Texts,
    conv: &Conversation<'_>,
    events: &[EventRow],
) -> Vec<NewCall> {
    if config.telegram_token().is_none() {
        return Vec::new();
    }
    let relay = config.telegram_support_chat_id.is_some() && config.relays(conv.channel);
    let lang = Lang::from_code(Some(conv.language));
    let mut calls = Vec::new();
    let mut synced = false;
    for event in events {
        let about = Some((conv.id, Some(event.seq)));
        if conv.channel == Channel::Telegram {
            if let Some((text, buttons)) = to_customer(config, texts, conv, lang, event) {
                let parts = split(&text, MAX_TEXT);
                let last = parts.len().saturating_sub(1);
                for (i, part) in parts.into_iter().enumerate() {
                    // The buttons go under the end of what they belong to.
                    let buttons = if i == last {
                        buttons.clone()
                    } else {
                        Vec::new()
                    };
                    let call = Call::Text {
                        text: part,
                        buttons,
                        under_card: false,
                    };
                    calls.push(NewCall::new(contact_lane(conv.contact), about, &call));
                }
            }
        }
        if !relay {
            continue;
        }
        let to_group = match (event.kind, event.author) {
            (EventKind::Message, Author::Visitor) => group_post(conv, event),
            (EventKind::Message, Author::Operator) if !from_the_group(event) => {
                text_calls(&format!("{} → customer:", event.author_name), &event.body)
            }
            (EventKind::System, _) => {
                let action = crate::actors::conversation::system_action(event);
                let changes_card = matches!(
                    action,
                    Some(
                        "assigned"
                            | "transferred"
                            | "unassigned"
                            | "escalated"
                            | "priority"
                            | "resolved"
                            | "closed"
                            | "reopened"
                    )
                );
                // Where the change happens, so that a reopened topic is open before the
                // message that reopened it is posted (the card shows the state when sent).
                let mut calls = Vec::new();
                if changes_card && !synced {
                    synced = true;
                    calls.push(Call::SyncCard);
                }
                calls.extend(announcement(conv, event));
                calls
            }
            _ => Vec::new(),
        };
        calls.extend(
            to_group
                .iter()
                .map(|call| NewCall::new(GROUP_LANE.to_owned(), about, call)),
        );
    }
    calls
}

/// A reply an operator wrote in the support group is there already.
fn from_the_group(event: &EventRow) -> bool {
    event
        .client_id
        .as_deref()
        .is_some_and(|id| id.starts_with(GROUP_CLIENT_PREFIX))
}

/// The client id prefix of replies operators write in the support group.
pub const GROUP_CLIENT_PREFIX: &str = "tg:group:";

/// Escalations and urgent conversations are announced in the group, for the supervisors.
fn announcement(conv: &Conversation<'_>, e: &EventRow) -> Option<Call> {
    let data = e.data.as_ref()?;
    let urgent = data.get("priority").and_then(|p| p.as_str()) == Some("urgent");
    let text = match crate::actors::conversation::system_action(e)? {
        "escalated" => format!(
            "⚠️ {} · {}: {}. Supervisors, please look.",
            conv.ticket, conv.alias, e.body
        ),
        "priority" if urgent => format!(
            "⚠️ {} · {} is urgent now. Supervisors, please look.",
            conv.ticket, conv.alias
        ),
        _ => return None,
    };
    Some(Call::Text {
        text,
        buttons: Vec::new(),
        under_card: true,
    })
}

/// What the customer is sent for an event, with its buttons: operators' messages under the
/// team's name (or a first name); the end of the conversation (a resolved one with the 1–5
/// rating buttons); what automation says to them (written in their language by the server);
/// never notes, internal events, nor their own messages.
fn to_customer(
    config: &Config,
    texts: &Texts,
    conv: &Conversation<'_>,
    lang: Lang,
    e: &EventRow,
) -> Option<(String, Vec<Button>)> {
    let data = e.data.as_ref();
    let internal = data
        .and_then(|d| d.get("internal"))
        .and_then(serde_json::Value::as_bool)
        == Some(true);
    if internal {
        return None;
    }
    let body = || Some(e.body.clone()).filter(|b| !b.trim().is_empty());
    let text = match (e.kind, e.author) {
        (EventKind::Message, Author::Operator) => format!(
            "{}: {}",
            crate::actors::conversation::visitor_facing_name(config, e),
            e.body
        ),
        (EventKind::System, _) => match crate::actors::conversation::system_action(e) {
            Some("resolved") => {
                let text = format!(
                    "{}\n\n{}",
                    Say::Resolved {
                        ticket: conv.ticket,
                    }
                    .rendered(texts, lang),
                    Say::RatingPrompt.rendered(texts, lang)
                );
                return Some((text, super::survey::buttons(conv.id, None)));
            }
            Some("auto_reply" | "prioritised" | "after_hours") => body()?,
            Some("closed")
                if data.and_then(|d| d.get("reason")).and_then(|r| r.as_str()) == Some("idle") =>
            {
                body().unwrap_or_else(|| {
                    Say::Closed {
                        ticket: conv.ticket,
                    }
                    .rendered(texts, lang)
                })
            }
            Some("closed") => Say::Closed {
                ticket: conv.ticket,
            }
            .rendered(texts, lang),
            _ => return None,
        },
        _ => return None,
    };
    Some((text, Vec::new()))
}

/// What a conversation's card shows.
pub struct CardFacts {
    pub ticket: String,
    pub alias: String,
    pub status: ConversationStatus,
    pub level: i16,
    pub priority: Priority,
    pub assignee: Option<String>,
}

/// The card's text: the ticket, the alias, and where the conversation stands.
pub fn card_text(f: &CardFacts) -> String {
    let state = match (f.status, &f.assignee) {
        (ConversationStatus::Pending, _) => "Waiting for an operator".to_owned(),
        (ConversationStatus::Active, Some(name)) => format!("Taken by {name}"),
        (ConversationStatus::Active, None) => "Active".to_owned(),
        (ConversationStatus::Resolved, _) => "Resolved".to_owned(),
        (ConversationStatus::Closed, _) => "Closed".to_owned(),
    };
    let mut text = format!("🎫 {} · {}\n{state}", f.ticket, f.alias);
    if f.level > 0 {
        text.push_str(&format!(" · escalated to L{}", f.level + 1));
    }
    if f.priority == Priority::Urgent {
        text.push_str(" · urgent");
    }
    text
}

/// The buttons that still make sense on a card; the data carries only our ids.
pub fn card_buttons(conversation: ConversationId, f: &CardFacts) -> Vec<Button> {
    let mut actions: Vec<(&str, &str)> = Vec::new();
    match f.status {
        ConversationStatus::Pending => actions.push(("take", "Take")),
        ConversationStatus::Active => {}
        ConversationStatus::Resolved | ConversationStatus::Closed => return Vec::new(),
    }
    actions.push(("close", "Close"));
    if f.level < 2 {
        actions.push(("escalate", "Escalate"));
    }
    actions
        .into_iter()
        .map(|(action, label)| (label.to_owned(), format!("{action}:{}", conversation.0)))
        .collect()
}

/// A customer message as the support group sees it, under the conversation's card: the
/// ticket, the alias, the text (or the media, copied so nothing shows who sent it).
fn group_post(conv: &Conversation<'_>, e: &EventRow) -> Vec<Call> {
    let header = format!("{} · {}", conv.ticket, conv.alias);
    let media = e.data.as_ref().and_then(|d| {
        let kind = d.get("media")?.as_str()?;
        let message_id = d.get("telegram_message_id")?.as_i64()?;
        Some((kind.to_owned(), message_id))
    });
    let album = e
        .data
        .as_ref()
        .and_then(|d| d.get("media_group_id")?.as_str())
        .map(str::to_owned);
    match media {
        Some((_, message_id)) if conv.channel == Channel::Telegram => {
            let caption = e.data.as_ref().and_then(|d| d.get("caption")?.as_str());
            let full = match caption {
                Some(c) if !c.is_empty() => format!("{header}\n{c}"),
                _ => header.clone(),
            };
            if full.chars().count() <= MAX_CAPTION {
                return vec![Call::Copy {
                    from: conv.contact,
                    message_id,
                    // An album keeps its own captions (copyMessages takes none).
                    caption: Some(full),
                    buttons: Vec::new(),
                    under_card: true,
                    album,
                }];
            }
            // Too long for a caption: the media with the ticket, then the caption as text.
            let mut calls = vec![Call::Copy {
                from: conv.contact,
                message_id,
                caption: Some(header.clone()),
                buttons: Vec::new(),
                under_card: true,
                album,
            }];
            calls.extend(text_calls(&header, caption.unwrap_or_default()));
            calls
        }
        _ => text_calls(&header, &e.body),
    }
}

/// `header` and `body` under the card, in as many messages as Telegram's text limit needs.
fn text_calls(header: &str, body: &str) -> Vec<Call> {
    split(&format!("{header}\n{body}"), MAX_TEXT)
        .into_iter()
        .map(|text| Call::Text {
            text,
            buttons: Vec::new(),
            under_card: true,
        })
        .collect()
}

/// `text` in pieces of at most `max` characters, cut at a line break or space where one is
/// near the end of a piece.
pub fn split(text: &str, max: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= max {
        return vec![text.to_owned()];
    }
    let mut parts = Vec::new();
    let mut start = 0;
    while start < chars.len() {
        let mut end = (start + max).min(chars.len());
        if end < chars.len() {
            let window = &chars[start..end];
            if let Some(cut) = window.iter().rposition(|c| *c == '\n' || *c == ' ') {
                if cut > max / 2 {
                    end = start + cut + 1;
                }
            }
        }
        parts.push(chars[start..end].iter().collect::<String>());
        start = end;
    }
    parts
}

pub async fn insert(conn: &mut AsyncPgConnection, calls: &[NewCall]) -> QueryResult<()> {
    if calls.is_empty() {
        return Ok(());
    }
    diesel::insert_into(telegram_outbox::table)
        .values(calls)
        .execute(conn)
        .await
        .map(drop)
}

/// The first undelivered call of every lane (whatever its retry time: a lane waits for its
/// head, which keeps its order), oldest first, so that no lane waits behind newer ones.
pub async fn heads(conn: &mut AsyncPgConnection, limit: i64) -> QueryResult<Vec<CallRow>> {
    diesel::sql_query(
        "SELECT id, lane, conversation_id, seq, payload, attempts, next_attempt_at, created_at \
         FROM ( \
           SELECT DISTINCT ON (lane) id, lane, conversation_id, seq, payload, attempts, \
                  next_attempt_at, created_at \
           FROM telegram_outbox WHERE delivered_at IS NULL AND failed_at IS NULL \
           ORDER BY lane, id) AS heads \
         ORDER BY id LIMIT $1",
    )
    .bind::<diesel::sql_types::BigInt, _>(limit)
    .load(conn)
    .await
}

/// Delivered; with the support-group post it made (chat, message, conversation, seq), so
/// that replies to it find their conversation. Both or neither.
pub async fn delivered(
    conn: &mut AsyncPgConnection,
    id: i64,
    post: Option<(i64, i64, ConversationId, Option<i64>)>,
) -> QueryResult<()> {
    use diesel_async::AsyncConnection;
    use telegram_outbox::dsl as o;
    conn.transaction(async |conn| {
        diesel::update(o::telegram_outbox.find(id))
            .set((
                o::delivered_at.eq(Utc::now()),
                o::attempts.eq(o::attempts + 1),
            ))
            .execute(conn)
            .await?;
        if let Some((chat, message_id, conversation, seq)) = post {
            super::store::record_post(conn, chat, message_id, conversation, seq).await?;
        }
        // A sign-in code is not kept once it is on its way.
        diesel::delete(
            o::telegram_outbox
                .find(id)
                .filter(o::lane.like("operator:%")),
        )
        .execute(conn)
        .await?;
        Ok(())
    })
    .await
}

/// The undelivered items of an album in the group lane, oldest first (at most 10: Telegram's
/// album size): their row ids and the customer's message ids.
pub async fn album_items(
    conn: &mut AsyncPgConnection,
    conversation: ConversationId,
    album: &str,
) -> QueryResult<Vec<(i64, i64)>> {
    use diesel::sql_types::{BigInt, Text, Uuid as SqlUuid};
    #[derive(QueryableByName)]
    struct Item {
        #[diesel(sql_type = BigInt)]
        id: i64,
        #[diesel(sql_type = BigInt)]
        message_id: i64,
    }
    let items: Vec<Item> = diesel::sql_query(
        "SELECT id, (payload->>'message_id')::bigint AS message_id FROM telegram_outbox \
         WHERE lane = 'group' AND conversation_id = $1 AND payload->>'album' = $2 \
           AND delivered_at IS NULL AND failed_at IS NULL \
         ORDER BY id LIMIT 10",
    )
    .bind::<SqlUuid, _>(conversation.0)
    .bind::<Text, _>(album)
    .load(conn)
    .await?;
    Ok(items.into_iter().map(|i| (i.id, i.message_id)).collect())
}

/// Several rows sent by one call (an album), with the posts it made.
pub async fn delivered_together(
    conn: &mut AsyncPgConnection,
    ids: &[i64],
    posts: &[(i64, i64, ConversationId)],
) -> QueryResult<()> {
    use diesel_async::AsyncConnection;
    use telegram_outbox::dsl as o;
    conn.transaction(async |conn| {
        diesel::update(o::telegram_outbox.filter(o::id.eq_any(ids)))
            .set((
                o::delivered_at.eq(Utc::now()),
                o::attempts.eq(o::attempts + 1),
            ))
            .execute(conn)
            .await?;
        for (chat, message_id, conversation) in posts {
            super::store::record_post(conn, *chat, *message_id, *conversation, None).await?;
        }
        Ok(())
    })
    .await
}

/// Given up for good (the chat is gone, the call is refused): the lane moves on.
pub async fn failed(conn: &mut AsyncPgConnection, id: i64, error: &str) -> QueryResult<()> {
    use telegram_outbox::dsl as o;
    diesel::update(o::telegram_outbox.find(id))
        .set((
            o::failed_at.eq(Utc::now()),
            o::error.eq(error),
            o::attempts.eq(o::attempts + 1),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Every undelivered call of a lane given up (a customer who blocked the bot).
pub async fn fail_lane(
    conn: &mut AsyncPgConnection,
    lane: &str,
    error: &str,
) -> QueryResult<usize> {
    use telegram_outbox::dsl as o;
    diesel::update(
        o::telegram_outbox
            .filter(o::lane.eq(lane))
            .filter(o::delivered_at.is_null())
            .filter(o::failed_at.is_null()),
    )
    .set((o::failed_at.eq(Utc::now()), o::error.eq(error)))
    .execute(conn)
    .await
}

pub async fn retry_at(
    conn: &mut AsyncPgConnection,
    id: i64,
    at: DateTime<Utc>,
    error: &str,
) -> QueryResult<()> {
    use telegram_outbox::dsl as o;
    diesel::update(o::telegram_outbox.find(id))
        .set((
            o::next_attempt_at.eq(at),
            o::error.eq(error),
            o::attempts.eq(o::attempts + 1),
        ))
        .execute(conn)
        .await
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_split_within_the_limit_without_losing_anything() {
        let text = "word ".repeat(2000);
        let parts = split(&text, MAX_TEXT);
        assert!(parts.len() >= 3);
        assert!(parts.iter().all(|p| p.chars().count() <= MAX_TEXT));
        assert_eq!(parts.concat(), text);
        let dense = "я".repeat(5000);
        let parts = split(&dense, MAX_TEXT);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts.concat(), dense);
    }

    fn media_event(caption: &str) -> EventRow {
        EventRow {
            conversation_id: ConversationId::new(),
            seq: 3,
            kind: EventKind::Message,
            author: Author::Visitor,
            author_id: None,
            author_name: "User-ABC".into(),
            body: format!("[photo] {caption}"),
            data: Some(serde_json::json!({
                "media": "photo", "telegram_message_id": 77, "caption": caption
            })),
            client_id: None,
            created_at: Utc::now(),
        }
    }

    #[test]
    fn a_caption_over_the_limit_follows_the_media_as_text() {
        let conv = Conversation {
            id: ConversationId::new(),
            channel: Channel::Telegram,
            contact: ContactId::new(),
            ticket: "SUPP-20261202-ABCDEF",
            alias: "User-ABCDEF",
            language: "en",
        };
        let short = group_post(&conv, &media_event("a screenshot"));
        assert_eq!(short.len(), 1);
        assert!(
            matches!(&short[0], Call::Copy { caption: Some(c), under_card: true, .. }
            if c.ends_with("a screenshot"))
        );
        let long_caption = "x".repeat(MAX_CAPTION + 10);
        let long = group_post(&conv, &media_event(&long_caption));
        assert_eq!(long.len(), 2, "{long:?}");
        assert!(
            matches!(&long[0], Call::Copy { caption: Some(c), .. } if c.chars().count() <= MAX_CAPTION)
        );
        assert!(
            matches!(&long[1], Call::Text { text, under_card: true, .. } if text.contains(&long_caption))
        );
    }

    fn telegram_conv() -> Conversation<'static> {
        Conversation {
            id: ConversationId::new(),
            channel: Channel::Telegram,
            contact: ContactId::new(),
            ticket: "SUPP-20261203-ABCDEF",
            alias: "User-ABCDEF",
            language: "en",
        }
    }

    fn system_event(conv: &Conversation<'_>, seq: i64, body: &str, data: Value) -> EventRow {
        EventRow {
            conversation_id: conv.id,
            seq,
            kind: EventKind::System,
            author: Author::System,
            author_id: None,
            author_name: "System".into(),
            body: body.into(),
            data: Some(data),
            client_id: None,
            created_at: Utc::now(),
        }
    }

    fn channel_on() -> Config {
        Config {
            telegram_bot_token: Some(secrecy::SecretString::from("1:token".to_owned())),
            telegram_support_chat_id: Some(-100_123),
            ..Config::default()
        }
    }

    /// What the customer's lane is sent for `events`: each call's text and buttons.
    fn to_the_customer(conv: &Conversation<'_>, events: &[EventRow]) -> Vec<(String, Vec<Button>)> {
        calls_for(&channel_on(), &Texts::default(), conv, events)
            .into_iter()
            .filter(|c| c.lane == contact_lane(conv.contact))
            .map(|c| match serde_json::from_value::<Call>(c.payload) {
                Ok(Call::Text { text, buttons, .. }) => (text, buttons),
                other => panic!("not a text: {other:?}"),
            })
            .collect()
    }

    use serde_json::{json, Value};

    #[test]
    fn what_automation_says_reaches_the_customer_as_written_and_internal_events_never_do() {
        let conv = telegram_conv();
        let events = [
            system_event(
                &conv,
                1,
                "We are offline; we answer from 9:00.",
                json!({"action": "after_hours"}),
            ),
            system_event(
                &conv,
                2,
                "Спасибо! Оператор скоро ответит.",
                json!({"action": "auto_reply"}),
            ),
            system_event(
                &conv,
                3,
                "Your request is now a priority.",
                json!({"action": "prioritised"}),
            ),
            system_event(
                &conv,
                4,
                "Escalated after 3 unanswered messages",
                json!({"action": "escalated", "internal": true}),
            ),
            system_event(
                &conv,
                5,
                "An internal auto-reply note",
                json!({"action": "auto_reply", "internal": true}),
            ),
            system_event(&conv, 6, "", json!({"action": "auto_reply"})),
            system_event(
                &conv,
                7,
                "The customer blocked the bot",
                json!({"action": "unreachable", "internal": true}),
            ),
        ];
        let sent = to_the_customer(&conv, &events);
        let texts: Vec<&str> = sent.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            texts,
            [
                "We are offline; we answer from 9:00.",
                "Спасибо! Оператор скоро ответит.",
                "Your request is now a priority.",
            ]
        );
        assert!(sent.iter().all(|(_, buttons)| buttons.is_empty()));
    }

    #[test]
    fn an_idle_close_says_why_and_any_other_close_says_closed_unless_internal() {
        let conv = telegram_conv();
        let idle = system_event(
            &conv,
            1,
            "We closed this chat after 24 hours without messages. Write again any time.",
            json!({"action": "closed", "reason": "idle"}),
        );
        let by_operator = system_event(&conv, 2, "Closed by Ann", json!({"action": "closed"}));
        let internal = system_event(
            &conv,
            3,
            "Closed: abandoned",
            json!({"action": "closed", "reason": "abandoned", "internal": true}),
        );
        let sent = to_the_customer(&conv, &[idle, by_operator, internal]);
        assert_eq!(sent.len(), 2, "{sent:?}");
        assert!(sent[0].0.starts_with("We closed this chat after 24 hours"));
        assert_eq!(
            sent[1].0,
            "Ticket SUPP-20261203-ABCDEF is closed. Thank you! Write again any time."
        );
    }

    #[test]
    fn every_close_changes_the_card_even_an_internal_one() {
        let conv = telegram_conv();
        for data in [
            json!({"action": "closed", "reason": "idle"}),
            json!({"action": "closed", "internal": true}),
            json!({"action": "closed"}),
        ] {
            let event = system_event(&conv, 1, "closed", data.clone());
            let calls = calls_for(&channel_on(), &Texts::default(), &conv, &[event]);
            let syncs = calls
                .iter()
                .filter(|c| c.lane == GROUP_LANE)
                .filter(|c| {
                    matches!(
                        serde_json::from_value(c.payload.clone()),
                        Ok(Call::SyncCard)
                    )
                })
                .count();
            assert_eq!(syncs, 1, "{data}");
        }
        // Automation's words to the customer are not card changes.
        let reply = system_event(&conv, 1, "Hello", json!({"action": "auto_reply"}));
        let calls = calls_for(&channel_on(), &Texts::default(), &conv, &[reply]);
        assert!(calls.iter().all(|c| c.lane != GROUP_LANE), "{calls:?}");
    }

    #[test]
    fn a_resolved_conversation_asks_for_a_rating_with_five_buttons() {
        let conv = telegram_conv();
        let resolved = system_event(&conv, 1, "Resolved", json!({"action": "resolved"}));
        let sent = to_the_customer(&conv, &[resolved]);
        assert_eq!(sent.len(), 1);
        let (text, buttons) = &sent[0];
        assert!(text.contains("SUPP-20261203-ABCDEF was resolved"), "{text}");
        assert!(text.contains("Rate our help from 1 to 5"), "{text}");
        let data: Vec<&str> = buttons.iter().map(|(_, d)| d.as_str()).collect();
        let expected: Vec<String> = (1..=5).map(|n| format!("rate:{}:{n}", conv.id.0)).collect();
        assert_eq!(data, expected);
        assert!(buttons.iter().all(|(_, d)| d.len() <= 64));
        // The web channel's customer is not sent anything through Telegram.
        let web = Conversation {
            channel: Channel::Web,
            ..telegram_conv()
        };
        let resolved = system_event(&web, 1, "Resolved", json!({"action": "resolved"}));
        assert!(to_the_customer(&web, &[resolved]).is_empty());
    }

    #[test]
    fn card_buttons_fit_telegrams_callback_limit_and_follow_the_state() {
        let mut facts = CardFacts {
            ticket: "SUPP-20261202-ABCDEF".into(),
            alias: "User-ABCDEF".into(),
            status: ConversationStatus::Pending,
            level: 0,
            priority: Priority::Medium,
            assignee: None,
        };
        let id = ConversationId::new();
        let labels = |f: &CardFacts| {
            card_buttons(id, f)
                .into_iter()
                .map(|(l, _)| l)
                .collect::<Vec<_>>()
        };
        assert_eq!(labels(&facts), ["Take", "Close", "Escalate"]);
        facts.status = ConversationStatus::Active;
        facts.assignee = Some("Anna".into());
        facts.level = 2;
        assert_eq!(labels(&facts), ["Close"]);
        assert!(card_text(&facts).contains("Taken by Anna · escalated to L3"));
        facts.status = ConversationStatus::Closed;
        assert!(labels(&facts).is_empty());
        facts.status = ConversationStatus::Pending;
        for (_, data) in card_buttons(ConversationId::new(), &facts) {
            assert!(data.len() <= 64, "{data}");
        }
    }
}
