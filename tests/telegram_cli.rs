//! The `switchboard` binary with the Telegram channel: `telegram webhook set|info|delete`
//! against a fake Bot API, and what a server logs at the default level while Telegram
//! customers write (no ids, names, usernames or message text; never the token).

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::fake_bot::FakeBot;
use common::telegram::{random_key, TgUser, GROUP, SECRET, TOKEN};
use common::TestDb;
use serde_json::json;

fn switchboard(bot: &FakeBot, db: &TestDb) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.env("DATABASE_URL", &db.url)
        .env("TELEGRAM_BOT_TOKEN", TOKEN)
        .env("TELEGRAM_WEBHOOK_SECRET", SECRET)
        .env("TELEGRAM_API_URL", &bot.url)
        .env("SWITCHBOARD_PUBLIC_URL", "https://support.example.com/")
        .env("SWITCHBOARD_IDENTITY_KEY", random_key())
        .env("TELEGRAM_SUPPORT_CHAT_ID", GROUP.to_string())
        .env("NO_COLOR", "1");
    cmd
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().expect("the binary runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[actix_rt::test]
async fn the_webhook_commands_set_show_and_delete_it_without_showing_the_token() {
    let bot = FakeBot::start(TOKEN).await;
    let db = TestDb::create().await;
    let (ok, text) = run(switchboard(&bot, &db).args(["telegram", "webhook", "set"]));
    assert!(ok, "{text}");
    assert!(
        text.contains("https://support.example.com/telegram/webhook"),
        "{text}"
    );
    let set = bot.calls_of("setWebhook");
    assert_eq!(set.len(), 1);
    assert_eq!(
        set[0].body["url"],
        "https://support.example.com/telegram/webhook"
    );
    assert_eq!(set[0].body["secret_token"], SECRET);
    let allowed = set[0].body["allowed_updates"].as_array().unwrap().clone();
    for kind in [
        "message",
        "edited_message",
        "callback_query",
        "my_chat_member",
    ] {
        assert!(allowed.contains(&json!(kind)), "{allowed:?}");
    }
    let (ok, text) = run(switchboard(&bot, &db).args(["telegram", "webhook", "info"]));
    assert!(ok, "{text}");
    assert!(text.contains("pending updates: 3"), "{text}");
    assert!(text.contains("Connection refused"), "{text}");
    let (ok, text) = run(switchboard(&bot, &db).args(["telegram", "webhook", "delete"]));
    assert!(ok, "{text}");
    assert_eq!(bot.calls_of("deleteWebhook").len(), 1);
    assert!(!text.contains(TOKEN), "{text}");
    // Without a secret, `set` refuses rather than open the webhook to anyone.
    let (ok, text) = run(switchboard(&bot, &db)
        .env_remove("TELEGRAM_WEBHOOK_SECRET")
        .args(["telegram", "webhook", "set"]));
    assert!(!ok);
    assert!(text.contains("TELEGRAM_WEBHOOK_SECRET"), "{text}");
    assert!(bot.calls().iter().all(|c| c.token_ok));
    bot.stop().await;
}

#[actix_rt::test]
async fn the_default_log_level_shows_no_customer_identity_nor_the_token() {
    let bot = FakeBot::start(TOKEN).await;
    let db = TestDb::create().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = switchboard(&bot, &db)
        .arg("serve")
        .env("SWITCHBOARD_LISTEN", format!("127.0.0.1:{port}"))
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while http.get(format!("{base}/health")).send().await.is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the server did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let user = TgUser::new(5_551_234_567, "en");
    let secret_text = "my card number is 4111 and my flat is 12B";
    let (_, photo) = user.photo("passport scan");
    for update in [
        user.text("/start"),
        user.press("support", None, 1),
        user.text(secret_text),
        photo,
        user.edited(9999, "no such message"),
        user.kicked(),
    ] {
        let status = http
            .post(format!("{base}/telegram/webhook"))
            .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
            .header("content-type", "application/json")
            .body(update.to_string())
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
    }
    bot.wait_sent(GROUP, secret_text).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // A graceful stop, then read everything it logged.
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let out = tokio::task::spawn_blocking(move || {
        let _ = child.wait();
        child.wait_with_output()
    })
    .await
    .unwrap()
    .unwrap();
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        logs.contains("Telegram channel on"),
        "the log was read: {logs}"
    );
    for secret in [
        user.id.to_string(),
        user.username.clone(),
        user.first_name.clone(),
        user.last_name.clone(),
        secret_text.to_owned(),
        "passport scan".to_owned(),
        TOKEN.to_owned(),
        TOKEN.split(':').nth(1).unwrap().to_owned(),
    ] {
        assert!(!logs.contains(&secret), "the log shows {secret:?}:\n{logs}");
    }
    bot.stop().await;
}

#[actix_rt::test]
async fn admins_see_the_telegram_channel_and_can_register_the_webhook_again() {
    let tg = common::telegram::Tg::start_with(|c| switchboard::config::Config {
        public_url: Some("https://support.example.com".into()),
        ..c
    })
    .await;
    let s = &tg.server;
    let admin = s
        .add_operator("Ada Admin", switchboard::domain::Role::Admin, 5)
        .await;
    let sup = s
        .add_operator("Sam Super", switchboard::domain::Role::Supervisor, 5)
        .await;
    let phone = TgUser::new(9501, "en");
    tg.link(&sup, &phone).await;
    let (code, _) = s.get("/api/v1/admin/telegram", &sup.token).await;
    assert_eq!(code, 403, "admins only");
    let (code, body) = s.get("/api/v1/admin/telegram", &admin.token).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["enabled"], true);
    assert_eq!(body["bot_username"], "support_bot");
    assert_eq!(body["support_chat"]["id"], GROUP);
    assert_eq!(body["support_chat"]["title"], "Support team");
    assert_eq!(body["webhook"]["pending_update_count"], 3);
    assert_eq!(body["webhook"]["last_error_message"], "Connection refused");
    assert_eq!(body["linked_operators"][0]["name"], "Sam Super");
    assert_eq!(body["problems"], json!([]));
    assert!(
        !body.to_string().contains(TOKEN),
        "the token is never shown"
    );
    let (code, body) = s
        .post("/api/v1/admin/telegram/webhook", &admin.token, json!({}))
        .await;
    assert_eq!(code, 200, "{body}");
    let set = tg.bot.calls_of("setWebhook");
    assert_eq!(set.len(), 1);
    assert_eq!(
        set[0].body["url"],
        "https://support.example.com/telegram/webhook"
    );
    assert_eq!(
        s.scalar("SELECT count(*) AS n FROM audit_log WHERE action = 'telegram.webhook_set'")
            .await,
        1
    );
    tg.stop().await;
}

#[actix_rt::test]
async fn admins_edit_what_the_bot_says_per_language() {
    let tg = common::telegram::Tg::start().await;
    let s = &tg.server;
    let admin = s
        .add_operator("Ada Admin", switchboard::domain::Role::Admin, 5)
        .await;
    let (code, list) = s.get("/api/v1/admin/telegram/texts", &admin.token).await;
    assert_eq!(code, 200);
    let created_ru = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["key"] == "ticket_created" && t["language"] == "ru")
        .unwrap();
    assert_eq!(created_ru["custom"], false);
    assert_eq!(created_ru["placeholders"], json!(["{ticket}"]));
    // A text must keep its placeholders and know no others.
    let path = "/api/v1/admin/telegram/texts/ticket_created/ur";
    let (code, body) = s
        .put(path, &admin.token, json!({"text": "ٹکٹ بن گیا"}))
        .await;
    assert_eq!(
        (code, body["error"]["field"].clone()),
        (422, json!("text")),
        "{body}"
    );
    let (code, _) = s
        .put(path, &admin.token, json!({"text": "ٹکٹ {ticket} {name}"}))
        .await;
    assert_eq!(code, 422);
    let (code, _) = s
        .put(
            "/api/v1/admin/telegram/texts/nonsense/ur",
            &admin.token,
            json!({"text": "x"}),
        )
        .await;
    assert_eq!(code, 404);
    let (code, body) = s
        .put(
            path,
            &admin.token,
            json!({"text": "آپ کا ٹکٹ {ticket} بن گیا ہے۔"}),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let urdu = TgUser::new(7301, "ur");
    assert_eq!(tg.send(&urdu.text("/support")).await, 200);
    let said = tg.bot.wait_sent(urdu.id, "آپ کا ٹکٹ SUPP-").await;
    assert!(said.text().contains("بن گیا ہے"), "{}", said.text());
    // Other languages keep theirs.
    let russian = TgUser::new(7302, "ru");
    assert_eq!(tg.send(&russian.text("/support")).await, 200);
    tg.bot.wait_sent(russian.id, "Обращение SUPP-").await;
    // Reset: back to the built-in text (English for Urdu).
    let (code, _) = s.delete(path, &admin.token).await;
    assert_eq!(code, 204);
    assert_eq!(tg.send(&urdu.text("/close")).await, 200);
    tg.bot.wait_sent(urdu.id, "was resolved").await;
    assert_eq!(
        s.scalar("SELECT count(*) AS n FROM audit_log WHERE action LIKE 'telegram.text_%'")
            .await,
        2
    );
    tg.stop().await;
}
