//! Long polling for development (`serve --telegram-polling`): `getUpdates` in a loop, each
//! update stored in the inbox exactly as the webhook stores it, the offset persisted so a
//! restart neither loses nor repeats updates.

use std::sync::Arc;
use std::time::Duration;

use teloxide::prelude::Requester;

use super::store;
use super::Telegram;
use crate::error::AppResult;

/// Seconds Telegram holds a `getUpdates` open when there is nothing to return.
const POLL_TIMEOUT_SECS: u64 = 25;
const OFFSET_KEY: &str = "polling_offset";
const OFFSET_KEPT: chrono::TimeDelta = chrono::TimeDelta::days(6);

pub async fn run(tg: Arc<Telegram>, ready: Arc<tokio::sync::Notify>) {
    // Telegram refuses getUpdates while a webhook is set.
    if let Err(e) = tg.bot().delete_webhook().await {
        tracing::warn!(error = %e, "webhook not deleted before polling");
    }
    tracing::info!("telegram long polling started");
    loop {
        match poll_once(&tg).await {
            Ok(0) => {}
            Ok(_) => ready.notify_one(),
            Err(e) => {
                tracing::warn!(error = %e, "telegram polling failed; retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum PollError {
    #[error("{0}")]
    Http(String),
    #[error("{0}")]
    Store(#[from] crate::error::AppError),
    #[error("telegram answered: {0}")]
    Api(String),
}

/// A Bot API call made by hand, its `result` as raw JSON (for what must not go through
/// teloxide's types: updates, which it would drop when it cannot read them, and `getChat`,
/// whose full shape changes often). Errors never hold the URL, which holds the token.
pub(crate) async fn raw_call(
    tg: &Telegram,
    method: &str,
    body: serde_json::Value,
) -> Result<serde_json::Value, PollError> {
    let url = format!(
        "{}/bot{}/{method}",
        tg.bot().api_url().as_str().trim_end_matches('/'),
        tg.bot().token()
    );
    let response = tg
        .bot()
        .client()
        .post(url)
        .timeout(Duration::from_secs(POLL_TIMEOUT_SECS + 10))
        .json(&body)
        .send()
        .await
        .map_err(|e| PollError::Http(e.without_url().to_string()))?;
    let text = response
        .text()
        .await
        .map_err(|e| PollError::Http(e.without_url().to_string()))?;
    let parsed: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| PollError::Api(e.to_string()))?;
    if parsed.get("ok").and_then(|v| v.as_bool()) != Some(true) {
        let description = parsed
            .get("description")
            .and_then(|d| d.as_str())
            .unwrap_or("no description");
        return Err(PollError::Api(description.to_owned()));
    }
    Ok(parsed
        .get("result")
        .cloned()
        .unwrap_or(serde_json::Value::Null))
}

async fn poll_once(tg: &Telegram) -> Result<usize, PollError> {
    let offset = stored_offset(tg).await?;
    let body = serde_json::json!({"offset": offset, "timeout": POLL_TIMEOUT_SECS});
    let parsed = serde_json::json!({"result": raw_call(tg, "getUpdates", body).await?});
    let updates = parsed
        .get("result")
        .and_then(|r| r.as_array())
        .cloned()
        .unwrap_or_default();
    let mut next = offset;
    let mut conn = tg
        .pool()
        .get()
        .await
        .map_err(crate::error::AppError::from)?;
    for update in &updates {
        let raw = update.to_string();
        let id = update.get("update_id").and_then(|v| v.as_i64());
        store::store_update(&mut conn, id, &tg.key.encrypt(raw.as_bytes()))
            .await
            .map_err(crate::error::AppError::from)?;
        if let Some(id) = id {
            next = next.max(id + 1);
        }
    }
    if next != offset {
        store::set_fact(&mut conn, OFFSET_KEY, &next.to_string())
            .await
            .map_err(crate::error::AppError::from)?;
    }
    Ok(updates.len())
}

/// The offset stored by the last poll that got updates. After about a week without updates
/// Telegram may restart `update_id` lower, and an old offset would then hide every new update:
/// one that old is dropped.
async fn stored_offset(tg: &Telegram) -> AppResult<i64> {
    let mut conn = tg.pool().get().await?;
    let stored = store::fact_with_time(&mut conn, OFFSET_KEY).await?;
    Ok(match stored {
        Some((value, at)) if chrono::Utc::now() - at < OFFSET_KEPT => value.parse().unwrap_or(0),
        _ => 0,
    })
}
