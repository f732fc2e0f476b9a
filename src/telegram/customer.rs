//! The customer's side, in a private chat with the bot: `/start`, the "Live Support" button and
//! `/support`, messages and media (right after a rating, the next text is its comment: see
//! `survey`), edits, `/status`, `/close`, and the limits that keep one
//! customer from flooding support. Nothing here reveals who the customer is to operators:
//! conversations carry the contact's alias only.

use std::time::Duration;

use chrono::Utc;
use serde_json::json;

use super::outbox::{self, Button};
use super::store::{self, Customer, Ticket};
use super::texts::{Lang, Say};
use super::update::{ChatMemberUpdated, Message, User};
use super::{Telegram, USER_SPACE};
use crate::actors::conversation::{
    self, Act, Action, By, Customer as Opener, First, OpenRequest, PostMessage,
};
use crate::actors::router::PositionOf;
use crate::domain::{Channel, ConversationStatus, EventKind};
use crate::error::{AppError, AppResult};
use crate::ids::{ContactId, ConversationId};

/// The button under the greeting; its `callback_data`.
pub const SUPPORT_BUTTON: &str = "support";
const REFUSAL_EVERY: Duration = Duration::from_secs(3600);
const BLOCKED_NOTICE_EVERY: chrono::TimeDelta = chrono::TimeDelta::days(1);

/// `Err` only for what may pass (the database); anything else is an outcome.
pub(super) fn settle(result: AppResult<&'static str>) -> AppResult<&'static str> {
    match result {
        Err(AppError::Unavailable) => Err(AppError::Unavailable),
        Err(AppError::RateLimited(_)) => Ok("limited"),
        Err(AppError::Blocked) => Ok("blocked"),
        Err(e) => {
            tracing::debug!(error = %e, "telegram update refused");
            Ok("refused")
        }
        ok => ok,
    }
}

pub(super) async fn message(tg: &Telegram, msg: &Message) -> AppResult<&'static str> {
    settle(message_inner(tg, msg).await)
}

async fn message_inner(tg: &Telegram, msg: &Message) -> AppResult<&'static str> {
    let Some(from) = msg.from.as_ref().filter(|u| !u.is_bot) else {
        return Ok("ignored");
    };
    let customer = customer_for(tg, from, msg.chat.id).await?;
    let lang = Lang::from_code(from.language_code.as_deref());
    let command = msg.command();
    if let Some(("link", code)) = command.as_ref().map(|(c, a)| (c.as_str(), *a)) {
        return super::group::link(tg, &customer, from, code, lang).await;
    }
    if customer.blocked {
        return refuse_blocked(tg, &customer, lang).await;
    }
    // Everything a customer sends counts, commands too: each costs a reply.
    if tg.hourly.check_key(&customer.contact).is_err() {
        return refuse(tg, customer.contact, lang, Say::TooManyMessages, "messages").await;
    }
    // Just after rating a conversation, the next text is the rating's comment.
    if let Some(outcome) = super::survey::comment(tg, &customer, lang, msg).await? {
        return Ok(outcome);
    }
    match command.as_ref().map(|(c, _)| c.as_str()) {
        Some("support") => open_ticket(tg, &customer, lang, None).await,
        Some("status") => status(tg, &customer, lang).await,
        Some("close") => close(tg, &customer, lang).await,
        Some(_) => greet(tg, customer.contact, lang).await,
        None => customer_message(tg, &customer, lang, msg).await,
    }
}

/// The Live Support button was pressed in a private chat.
pub(super) async fn support_button(
    tg: &Telegram,
    from: &User,
    chat: i64,
) -> AppResult<&'static str> {
    settle(
        async {
            let customer = customer_for(tg, from, chat).await?;
            let lang = Lang::from_code(from.language_code.as_deref());
            if customer.blocked {
                return refuse_blocked(tg, &customer, lang).await;
            }
            if tg.hourly.check_key(&customer.contact).is_err() {
                return refuse(tg, customer.contact, lang, Say::TooManyMessages, "messages").await;
            }
            open_ticket(tg, &customer, lang, None).await
        }
        .await,
    )
}

/// The customer as stored, created on first contact; their language follows Telegram's.
async fn customer_for(tg: &Telegram, from: &User, chat: i64) -> AppResult<Customer> {
    let hash = tg.key.lookup_hash(USER_SPACE, from.id);
    let lang = Lang::from_code(from.language_code.as_deref());
    let lang = lang.code();
    let mut conn = tg.pool().get().await?;
    let customer = match store::customer_by_hash(&mut conn, &hash).await? {
        Some(customer) => {
            if customer.language != lang && from.language_code.is_some() {
                store::set_language(&mut conn, customer.contact, lang).await?;
            }
            customer
        }
        None => store::create_customer(&mut conn, &hash, &tg.key.encrypt_id(chat), lang).await?,
    };
    // Writing to the bot again means the customer can be written to again.
    if customer.unreachable {
        store::set_reachable(&mut conn, customer.contact, true).await?;
    }
    Ok(customer)
}

async fn greet(tg: &Telegram, contact: ContactId, lang: Lang) -> AppResult<&'static str> {
    let button: Button = (
        Say::LiveSupportButton.rendered(tg.texts(), lang),
        SUPPORT_BUTTON.to_owned(),
    );
    tg.say(
        contact,
        Say::Greeting.rendered(tg.texts(), lang),
        vec![button],
    )
    .await?;
    Ok("greeted")
}

/// A blocked customer is told once a day; nothing they send is stored.
async fn refuse_blocked(tg: &Telegram, customer: &Customer, lang: Lang) -> AppResult<&'static str> {
    let due = customer
        .refused_at
        .is_none_or(|at| Utc::now() - at >= BLOCKED_NOTICE_EVERY);
    if due {
        let mut conn = tg.pool().get().await?;
        store::set_refused(&mut conn, customer.contact).await?;
        drop(conn);
        tg.say(
            customer.contact,
            Say::Blocked.rendered(tg.texts(), lang),
            Vec::new(),
        )
        .await?;
    }
    Ok("blocked")
}

/// Over a limit: told politely, at most once an hour per limit.
async fn refuse(
    tg: &Telegram,
    contact: ContactId,
    lang: Lang,
    say: Say<'_>,
    why: &'static str,
) -> AppResult<&'static str> {
    if tg.may_refuse(contact, why, REFUSAL_EVERY) {
        tg.say(contact, say.rendered(tg.texts(), lang), Vec::new())
            .await?;
    }
    Ok("limited")
}

/// The ticket a new message belongs in: open, or resolved within the reopen window.
fn continuing(tg: &Telegram, ticket: Option<Ticket>) -> Option<Ticket> {
    let window = chrono::Duration::hours(tg.config().reopen_window_hours);
    ticket.filter(|t| match t.status {
        ConversationStatus::Pending | ConversationStatus::Active => true,
        ConversationStatus::Resolved => t.resolved_at.is_some_and(|at| Utc::now() - at <= window),
        ConversationStatus::Closed => false,
    })
}

async fn latest(tg: &Telegram, contact: ContactId) -> AppResult<Option<Ticket>> {
    let mut conn = tg.pool().get().await?;
    Ok(store::latest_ticket(&mut conn, contact).await?)
}

/// Opens a ticket (with the customer's first message, or none: the button and `/support`) and
/// tells the customer its number and place in the queue.
async fn open_ticket(
    tg: &Telegram,
    customer: &Customer,
    lang: Lang,
    first: Option<First>,
) -> AppResult<&'static str> {
    let contact = customer.contact;
    if first.is_none() {
        if let Some(open) = latest(tg, contact).await?.filter(|t| t.status.is_open()) {
            tg.say(
                contact,
                Say::AlreadyOpen {
                    ticket: &open.ticket,
                }
                .rendered(tg.texts(), lang),
                Vec::new(),
            )
            .await?;
            return Ok("already_open");
        }
    }
    let today = {
        let mut conn = tg.pool().get().await?;
        store::tickets_today(&mut conn, contact).await?
    };
    if today >= i64::from(tg.config().telegram_tickets_per_day) {
        return refuse(tg, contact, lang, Say::TooManyTickets, "tickets").await;
    }
    let first = first.unwrap_or(First::Requested {
        text: "The customer asked for support".to_owned(),
    });
    let opened = conversation::open(
        &tg.deps,
        OpenRequest {
            group: None,
            channel: Channel::Telegram,
            language: lang.code().to_owned(),
            metadata: json!({}),
            first: Some(first),
            customer: Opener::Contact(contact),
        },
    )
    .await?;
    let ticket = opened.summary.ticket;
    let mut text = Say::TicketCreated { ticket: &ticket }.rendered(tg.texts(), lang);
    let position = tg
        .deps
        .router
        .send(PositionOf(opened.summary.id))
        .await
        .ok()
        .flatten();
    if let Some(position) = position {
        tg.queue_told_now(opened.summary.id, position);
        text.push('\n');
        text.push_str(&Say::QueuePosition { position }.rendered(tg.texts(), lang));
    }
    tg.say(contact, text, Vec::new()).await?;
    Ok("opened")
}

async fn status(tg: &Telegram, customer: &Customer, lang: Lang) -> AppResult<&'static str> {
    let text = match latest(tg, customer.contact).await? {
        Some(t) => Say::Status {
            ticket: &t.ticket,
            status: t.status.as_str(),
        }
        .rendered(tg.texts(), lang),
        None => Say::NoTicket.rendered(tg.texts(), lang),
    };
    tg.say(customer.contact, text, Vec::new()).await?;
    Ok("status")
}

/// `/close`: the customer resolves their open ticket (they are told by the usual system event).
async fn close(tg: &Telegram, customer: &Customer, lang: Lang) -> AppResult<&'static str> {
    match latest(tg, customer.contact)
        .await?
        .filter(|t| t.status.is_open())
    {
        Some(t) => {
            tg.registry
                .get_or_start(t.id)
                .send(Act(Action::ResolveByCustomer(customer.contact)))
                .await
                .map_err(|_| AppError::Unavailable)??;
            Ok("closed")
        }
        None => {
            tg.say(
                customer.contact,
                Say::NoTicket.rendered(tg.texts(), lang),
                Vec::new(),
            )
            .await?;
            Ok("no_ticket")
        }
    }
}

/// Text and captions become the customer's messages; media are recorded by kind and caption
/// (the file stays with Telegram and is copied to the support group by id).
async fn customer_message(
    tg: &Telegram,
    customer: &Customer,
    lang: Lang,
    msg: &Message,
) -> AppResult<&'static str> {
    let contact = customer.contact;
    let media = msg.media();
    let text = match (media, msg.content()) {
        (Some(kind), caption) => format!("[{kind}] {}", caption.unwrap_or_default())
            .trim_end()
            .to_owned(),
        (None, Some(text)) if !text.trim().is_empty() => text.to_owned(),
        _ => return refuse(tg, contact, lang, Say::Unsupported, "unsupported").await,
    };
    // An album's items arrive one update each: each is an event, marked with its album.
    let data = media.map(|kind| {
        json!({
            "media": kind,
            "telegram_message_id": msg.message_id,
            "caption": msg.caption,
            "media_group_id": msg.media_group_id,
        })
    });
    let client_id = format!("tg:{}", msg.message_id);
    post_or_open(tg, customer, lang, client_id, text, data).await
}

/// Into the customer's current ticket, or a new one when there is none to continue (or it
/// closed meanwhile). Text over the length limit goes in several messages.
async fn post_or_open(
    tg: &Telegram,
    customer: &Customer,
    lang: Lang,
    client_id: String,
    text: String,
    data: Option<serde_json::Value>,
) -> AppResult<&'static str> {
    let parts = outbox::split(&text, tg.config().max_text_chars.max(1));
    let id_of = |i: usize| part_id(&client_id, i);
    let mut target = continuing(tg, latest(tg, customer.contact).await?).map(|t| t.id);
    let mut i = 0;
    while i < parts.len() {
        let Some(conversation) = target else {
            let first = First::Message {
                text: parts[i].clone(),
                client_id: Some(id_of(i)),
                data: data.clone(),
            };
            let outcome = open_ticket(tg, customer, lang, Some(first)).await?;
            if outcome != "opened" {
                return Ok(outcome);
            }
            match latest(tg, customer.contact).await? {
                Some(t) => target = Some(t.id),
                None => return Ok("opened"),
            }
            i += 1;
            continue;
        };
        let part = parts[i].clone();
        match post(
            tg,
            conversation,
            customer.contact,
            id_of(i),
            part,
            data.clone(),
        )
        .await
        {
            Err(AppError::ConversationClosed) => target = None,
            other => {
                other?;
                i += 1;
            }
        }
    }
    Ok("message")
}

/// The client id of part `i` of a message split for length.
fn part_id(client_id: &str, i: usize) -> String {
    if i == 0 {
        client_id.to_owned()
    } else {
        format!("{client_id}:{i}")
    }
}

async fn post(
    tg: &Telegram,
    conversation: ConversationId,
    contact: ContactId,
    client_id: String,
    text: String,
    data: Option<serde_json::Value>,
) -> AppResult<()> {
    tg.registry
        .get_or_start(conversation)
        .send(PostMessage {
            by: By::Visitor(contact),
            kind: EventKind::Message,
            client_id,
            text,
            data,
            origin: None,
        })
        .await
        .map_err(|_| AppError::Unavailable)?
        .map(drop)
}

/// An edited message is a new event naming the original; history is never rewritten.
pub(super) async fn edited(tg: &Telegram, msg: &Message) -> AppResult<&'static str> {
    settle(
        async {
            let Some(from) = msg.from.as_ref().filter(|u| !u.is_bot) else {
                return Ok("ignored");
            };
            let customer = customer_for(tg, from, msg.chat.id).await?;
            if customer.blocked {
                return Ok("blocked");
            }
            let original = format!("tg:{}", msg.message_id);
            let found = {
                let mut conn = tg.pool().get().await?;
                crate::db::events::find_by_client_id(&mut conn, customer.contact.0, &original)
                    .await?
            };
            let Some((conversation, seq)) = found else {
                return Ok("ignored");
            };
            if tg.hourly.check_key(&customer.contact).is_err() {
                return Ok("limited");
            }
            let content = msg.content().unwrap_or_default();
            let text = format!("edited: {content}");
            let data = json!({"edit_of": seq, "telegram_message_id": msg.message_id});
            let client_id = format!("{original}:edit:{}", msg.edit_date.unwrap_or_default());
            let parts = outbox::split(&text, tg.config().max_text_chars.max(1));
            for (i, part) in parts.into_iter().enumerate() {
                let id = part_id(&client_id, i);
                post(
                    tg,
                    conversation,
                    customer.contact,
                    id,
                    part,
                    Some(data.clone()),
                )
                .await?;
            }
            Ok("edited")
        }
        .await,
    )
}

/// The customer blocked the bot (`kicked`) or came back (`member`).
pub(super) async fn membership(
    tg: &Telegram,
    update: &ChatMemberUpdated,
) -> AppResult<&'static str> {
    let hash = tg.key.lookup_hash(USER_SPACE, update.chat.id);
    let mut conn = tg.pool().get().await?;
    let Some(customer) = store::customer_by_hash(&mut conn, &hash).await? else {
        return Ok("ignored");
    };
    match update.new_chat_member.status.as_str() {
        "kicked" | "left" => {
            let changed = store::set_reachable(&mut conn, customer.contact, false).await?;
            outbox::fail_lane(
                &mut conn,
                &outbox::contact_lane(customer.contact),
                "the customer blocked the bot",
            )
            .await?;
            drop(conn);
            if changed {
                unreachable(tg, customer.contact).await;
            }
            Ok("unreachable")
        }
        "member" => {
            store::set_reachable(&mut conn, customer.contact, true).await?;
            Ok("reachable")
        }
        _ => Ok("ignored"),
    }
}

/// Operators are told in the customer's open ticket that replies cannot reach them.
pub(super) async fn unreachable(tg: &Telegram, contact: ContactId) {
    let open = match latest(tg, contact).await {
        Ok(Some(t)) if t.status.is_open() => t,
        _ => return,
    };
    let result = tg
        .registry
        .get_or_start(open.id)
        .send(Act(Action::CustomerUnreachable))
        .await;
    if !matches!(result, Ok(Ok(_))) {
        tracing::debug!("unreachable customer not noted in the conversation");
    }
}

/// A waiting customer's new place in the queue.
pub async fn tell_position(
    tg: &Telegram,
    conversation: ConversationId,
    position: usize,
) -> AppResult<()> {
    let (contact, language) = {
        let mut conn = tg.pool().get().await?;
        let (row, _) = crate::db::conversations::find(&mut conn, conversation).await?;
        if row.status != ConversationStatus::Pending {
            return Ok(());
        }
        (row.contact_id, row.language)
    };
    let lang = Lang::from_code(Some(&language));
    tg.say(
        contact,
        Say::QueuePosition { position }.rendered(tg.texts(), lang),
        Vec::new(),
    )
    .await
}
