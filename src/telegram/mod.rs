//! The Telegram channel: customers talk to a bot, operators answer from the web panel or from
//! a support group. Updates arrive by webhook (or long polling in development), are stored in
//! a durable inbox first and handled in order per chat; everything the bot sends goes through
//! a durable outbox. Customers' Telegram ids are stored only encrypted, and operators only
//! ever see an alias.

pub mod customer;
pub mod gateway;
pub mod group;
pub mod identity;
pub mod login;
pub mod outbox;
pub mod polling;
pub mod store;
pub mod survey;
pub mod texts;
pub mod update;
pub mod webhook;

pub use gateway::{Intake, Telegram, TelegramGateway};
pub use identity::IdentityKey;

use crate::error::AppResult;
use update::Update;

/// Lookup-hash space of Telegram user ids.
pub(crate) const USER_SPACE: &str = "telegram-user";

/// Telegram's rule for `secret_token`: 1 to 256 of `A-Za-z0-9_-`.
pub fn validate_secret(secret: &str) -> Result<(), String> {
    let ok = (1..=256).contains(&secret.len())
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err("TELEGRAM_WEBHOOK_SECRET must be 1 to 256 of A-Z, a-z, 0-9, _ and -".into())
    }
}

/// Handles one stored update; the outcome is recorded with it. `Err` means "try again later"
/// (the database is away), never "this update is bad".
pub(crate) async fn handle(tg: &Telegram, update: &Update) -> AppResult<&'static str> {
    metrics::counter!(crate::telemetry::TELEGRAM_UPDATES).increment(1);
    let group = tg.group();
    if let Some(msg) = &update.message {
        if msg.chat.is_private() {
            return customer::message(tg, msg).await;
        }
        if Some(msg.chat.id) == group {
            return group::message(tg, msg).await;
        }
        return Ok("ignored");
    }
    if let Some(msg) = &update.edited_message {
        if msg.chat.is_private() {
            return customer::edited(tg, msg).await;
        }
        return Ok("ignored");
    }
    if let Some(query) = &update.callback_query {
        if query
            .data
            .as_deref()
            .is_some_and(|d| d.starts_with(survey::PREFIX))
        {
            return survey::pressed(tg, query).await;
        }
        return group::callback(tg, query).await;
    }
    if let Some(member) = &update.my_chat_member {
        if member.chat.is_private() {
            return customer::membership(tg, member).await;
        }
        return Ok("ignored");
    }
    Ok("ignored")
}
