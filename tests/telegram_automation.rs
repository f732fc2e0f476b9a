//! Issue 11's automation for Telegram customers: the offline auto-reply in the customer's
//! `language_code`, escalation by keyword announced in the support group and the customer
//! reassured in their language, and a ticket requested but never written in closed after a
//! while (time driven by a manual clock).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::Duration;
use common::telegram::{Tg, TgUser, GROUP};
use switchboard::clock::ManualClock;
use switchboard::config::Config;
use switchboard::domain::Role;

fn automation_on(c: Config) -> Config {
    Config {
        automation: true,
        ..c
    }
}

#[actix_rt::test]
async fn a_telegram_customer_gets_the_auto_reply_in_their_language_and_escalation_is_announced() {
    let clock = ManualClock::new();
    let tg = Tg::start_with_clock(automation_on, clock.clone()).await;
    let boss = tg
        .server
        .add_operator("Sue Super", Role::Supervisor, 0)
        .await;
    let ivan = TgUser::new(5_550_001, "ru");

    assert_eq!(tg.send(&ivan.text("Где мой заказ?")).await, 200);
    tg.bot.wait_sent(GROUP, "Где мой заказ?").await;
    let conversation = tg.conversation_of_latest().await;
    // Nobody at work: the order template, in Russian, in the customer's chat.
    let reply = tg.bot.wait_sent(ivan.id, "заказ").await;
    assert!(reply.text().contains("операторов нет"), "{}", reply.text());
    let (_, summary) = tg
        .server
        .get(
            &format!("/api/v1/conversations/{conversation}"),
            &boss.token,
        )
        .await;
    assert_eq!(
        (summary["category"].as_str(), summary["priority"].as_str()),
        (Some("order"), Some("high"))
    );

    // A trigger word: escalated, the group told, the customer reassured once, in Russian.
    let (mut sup, _) = tg.server.operator_ws(&boss).await;
    assert_eq!(
        tg.send(&ivan.text("Позовите оператор немедленно")).await,
        200
    );
    let note = sup.recv_type("escalation").await;
    assert_eq!(
        (note["trigger"].as_str(), note["level"].as_i64()),
        (Some("keyword"), Some(1))
    );
    let post = tg.bot.wait_sent(GROUP, "Escalated to L2").await;
    assert!(post.text().contains("SUPP-"), "{}", post.text());
    tg.bot.wait_sent(ivan.id, "старшим специалистам").await;
    assert_eq!(tg.send(&ivan.text("оператор!!!")).await, 200);
    tg.bot.wait_sent(GROUP, "Escalated to L3").await;
    tg.outbox_quiet().await;
    let told = tg
        .bot
        .sent_to(ivan.id)
        .iter()
        .filter(|c| c.text().contains("старшим специалистам"))
        .count();
    assert_eq!(told, 1, "the customer is reassured once");
    // The group never learns who the customer is.
    for call in tg.bot.sent_to(GROUP) {
        assert!(!call.text().contains("5550001"), "{}", call.text());
    }
}

#[actix_rt::test]
async fn a_ticket_requested_and_never_written_in_is_closed_after_a_day() {
    let clock = ManualClock::new();
    let tg = Tg::start_with_clock(automation_on, clock.clone()).await;
    let boss = tg
        .server
        .add_operator("Sue Super", Role::Supervisor, 0)
        .await;
    let ann = TgUser::new(5_550_002, "en");
    assert_eq!(tg.send(&ann.text("/support")).await, 200);
    tg.bot.wait_sent(ann.id, "Support ticket SUPP-").await;
    tg.settled().await;
    let conversation = tg.conversation_of_latest().await;
    let scheduler = tg.server.running.as_ref().unwrap().scheduler.clone();

    clock.advance(Duration::hours(23));
    scheduler.fire_due().await.unwrap();
    let path = format!("/api/v1/conversations/{conversation}");
    assert_eq!(
        tg.server.get(&path, &boss.token).await.1["status"],
        "pending"
    );
    clock.advance(Duration::hours(1) + Duration::seconds(1));
    scheduler.fire_due().await.unwrap();
    assert_eq!(
        tg.server.get(&path, &boss.token).await.1["status"],
        "closed"
    );
    let reason = tg
        .server
        .text(&format!(
            "SELECT data->>'reason' AS value FROM events WHERE conversation_id = '{conversation}' \
             AND data->>'action' = 'closed'"
        ))
        .await;
    assert_eq!(reason, "abandoned");
    // Closed quietly: the customer is not messaged about a ticket they never used, and writing
    // again opens a new one.
    tg.outbox_quiet().await;
    assert!(!tg
        .bot
        .sent_to(ann.id)
        .iter()
        .any(|c| c.text().contains("is closed")));
    let again = tg.customer_writes(&ann, "Hello?").await;
    assert_ne!(again, conversation);
}
