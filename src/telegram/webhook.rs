//! `switchboard telegram webhook set|info|delete`: the bot's webhook at Telegram. The URL is
//! `SWITCHBOARD_PUBLIC_URL` + `/telegram/webhook`; the secret token goes with it, and only the
//! updates the gateway handles are asked for.

use teloxide::payloads::SetWebhookSetters;
use teloxide::prelude::Requester;
use teloxide::types::AllowedUpdate;
use teloxide::Bot;

use crate::config::Config;

pub enum Action {
    Set,
    Info,
    Delete,
}

fn bot(config: &Config) -> Result<Bot, String> {
    let token = config
        .telegram_token()
        .ok_or("TELEGRAM_BOT_TOKEN is not set")?;
    let api = url::Url::parse(config.telegram_api_url.trim_end_matches('/'))
        .map_err(|e| format!("TELEGRAM_API_URL is not a URL: {e}"))?;
    Ok(Bot::new(token).set_api_url(api))
}

/// Does `action` and says what happened (never the token).
pub async fn run(config: &Config, action: Action) -> Result<String, String> {
    let bot = bot(config)?;
    run_with(&bot, config, action).await
}

/// The same with a bot at hand (the server's own, for the admin pages).
pub async fn run_with(bot: &Bot, config: &Config, action: Action) -> Result<String, String> {
    use secrecy::ExposeSecret;
    match action {
        Action::Set => {
            let public = config
                .public_url
                .as_deref()
                .ok_or("SWITCHBOARD_PUBLIC_URL is not set")?;
            let url = url::Url::parse(&format!(
                "{}/telegram/webhook",
                public.trim_end_matches('/')
            ))
            .map_err(|e| format!("SWITCHBOARD_PUBLIC_URL is not a URL: {e}"))?;
            if url.scheme() != "https" {
                return Err(
                    "SWITCHBOARD_PUBLIC_URL must be https: Telegram calls HTTPS webhooks only"
                        .into(),
                );
            }
            let secret = config
                .telegram_webhook_secret
                .as_ref()
                .map(|s| s.expose_secret().to_owned())
                .ok_or("TELEGRAM_WEBHOOK_SECRET is not set")?;
            super::validate_secret(&secret)?;
            bot.set_webhook(url.clone())
                .secret_token(secret)
                .allowed_updates([
                    AllowedUpdate::Message,
                    AllowedUpdate::EditedMessage,
                    AllowedUpdate::CallbackQuery,
                    AllowedUpdate::MyChatMember,
                ])
                .await
                .map_err(|e| format!("setWebhook failed: {e}"))?;
            Ok(format!("webhook set to {url}"))
        }
        Action::Info => {
            let info = bot
                .get_webhook_info()
                .await
                .map_err(|e| format!("getWebhookInfo failed: {e}"))?;
            let url = info
                .url
                .map(|u| u.to_string())
                .unwrap_or_else(|| "(none)".into());
            let mut report = format!("url: {url}\npending updates: {}", info.pending_update_count);
            if let Some(message) = info.last_error_message {
                let at = info
                    .last_error_date
                    .map(|d| d.to_rfc3339())
                    .unwrap_or_default();
                report.push_str(&format!("\nlast error: {message} ({at})"));
            }
            Ok(report)
        }
        Action::Delete => {
            bot.delete_webhook()
                .await
                .map_err(|e| format!("deleteWebhook failed: {e}"))?;
            Ok("webhook deleted".into())
        }
    }
}
