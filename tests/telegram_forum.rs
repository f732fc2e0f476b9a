//! A forum support group (issue 10, part 4): each conversation has its own topic, made once;
//! everything about the conversation goes there; operators simply type in it; a topic deleted
//! by hand is made again and nothing is lost; the topic closes and reopens with the
//! conversation.

mod common;

use common::fake_bot::BotCall;
use common::telegram::{Tg, TgUser, GROUP};
use serde_json::json;
use switchboard::domain::Role;

/// The thread a call went to.
fn thread_of(call: &BotCall) -> Option<i64> {
    call.body.get("message_thread_id").and_then(|t| t.as_i64())
}

/// A message written in a topic, as Telegram delivers it: it carries the topic's first
/// message as `reply_to_message`, which is not a reply.
fn in_topic(from: &TgUser, thread: i64, text: &str) -> serde_json::Value {
    let group =
        json!({"id": GROUP, "title": "Support team", "type": "supergroup", "is_forum": true});
    json!({
        "update_id": common::telegram::next_update_id(),
        "message": {
            "message_id": common::telegram::next_message_id(),
            "message_thread_id": thread,
            "is_topic_message": true,
            "from": from.user_json(),
            "chat": group,
            "date": 1764590300,
            "text": text,
            "reply_to_message": {
                "message_id": thread,
                "message_thread_id": thread,
                "is_topic_message": true,
                "from": {"id": 42, "is_bot": true, "first_name": "SupportBot"},
                "chat": group,
                "date": 1764590000,
                "forum_topic_created": {"name": "SUPP", "icon_color": 7322096}
            }
        }
    })
}

#[actix_rt::test]
async fn each_conversation_gets_one_topic_and_operators_just_type_in_it() {
    let tg = Tg::start_forum().await;
    let s = &tg.server;
    let agent = s.add_operator("Alice Agent", Role::Agent, 5).await;
    let user = TgUser::new(7090, "en");
    // Two first messages at once: one topic.
    let (a, b) = (user.text("first at once"), user.text("second at once"));
    let (ra, rb) = futures_util::join!(tg.send(&a), tg.send(&b));
    assert_eq!((ra, rb), (200, 200));
    tg.bot.wait_sent(GROUP, "second at once").await;
    let topics = tg.bot.calls_of("createForumTopic");
    assert_eq!(topics.len(), 1, "{topics:?}");
    let conversation = tg.conversation_of_latest().await;
    let ticket = s
        .text(&format!(
            "SELECT ticket AS value FROM conversations WHERE id = '{conversation}'"
        ))
        .await;
    assert!(topics[0].body["name"]
        .as_str()
        .unwrap()
        .starts_with(&ticket));
    let thread = s
        .scalar(&format!(
            "SELECT thread_id AS n FROM telegram_topics WHERE conversation_id = '{conversation}'"
        ))
        .await;
    for call in tg.bot.sent_to(GROUP) {
        assert_eq!(
            thread_of(&call),
            Some(thread),
            "everything goes into the topic: {call:?}"
        );
    }
    tg.take(&agent, &conversation).await;
    let phone = TgUser::new(9401, "en");
    tg.link(&agent, &phone).await;
    assert_eq!(
        tg.send(&in_topic(&phone, thread, "Typed in the topic"))
            .await,
        200
    );
    let answer = tg.bot.wait_sent(user.id, "Typed in the topic").await;
    assert_eq!(answer.text(), "Live Support: Typed in the topic");
    assert_eq!(
        tg.send(&in_topic(&phone, thread, "/note only for us"))
            .await,
        200
    );
    tg.settled().await;
    assert_eq!(
        s.scalar(&format!(
            "SELECT count(*) AS n FROM events WHERE conversation_id = '{conversation}' AND kind = 'note'"
        ))
        .await,
        1
    );
    assert!(tg
        .bot
        .sent_to(user.id)
        .iter()
        .all(|c| !c.text().contains("only for us")));
    tg.stop().await;
}

#[actix_rt::test]
async fn a_topic_deleted_by_hand_is_made_again_and_nothing_is_lost() {
    let tg = Tg::start_forum().await;
    let user = TgUser::new(7091, "en");
    let conversation = tg.customer_writes(&user, "before the deletion").await;
    let thread = tg
        .server
        .scalar(&format!(
            "SELECT thread_id AS n FROM telegram_topics WHERE conversation_id = '{conversation}'"
        ))
        .await;
    tg.bot.delete_topic(thread);
    assert_eq!(tg.send(&user.text("after the deletion")).await, 200);
    let delivered = tg
        .bot
        .wait_for("the message delivered in a new topic", |calls| {
            calls.iter().any(|c| {
                c.method == "sendmessage"
                    && c.text().contains("after the deletion")
                    && thread_of(c).is_some_and(|t| t != thread)
            })
        })
        .await;
    assert_eq!(
        delivered
            .iter()
            .filter(|c| c.method == "createforumtopic")
            .count(),
        2,
        "one topic, made again once"
    );
    let new_thread = tg
        .server
        .scalar(&format!(
            "SELECT thread_id AS n FROM telegram_topics WHERE conversation_id = '{conversation}'"
        ))
        .await;
    assert_ne!(new_thread, thread);
    tg.stop().await;
}

#[actix_rt::test]
async fn the_topic_closes_and_reopens_with_the_conversation() {
    let tg = Tg::start_forum().await;
    let s = &tg.server;
    let sup = s.add_operator("Sam Super", Role::Supervisor, 5).await;
    let user = TgUser::new(7092, "en");
    let conversation = tg.customer_writes(&user, "close me later").await;
    let thread = s
        .scalar(&format!(
            "SELECT thread_id AS n FROM telegram_topics WHERE conversation_id = '{conversation}'"
        ))
        .await;
    let (code, _) = s
        .post(
            &format!("/api/v1/conversations/{conversation}/resolve"),
            &sup.token,
            json!({}),
        )
        .await;
    assert_eq!(code, 200);
    let closed = tg
        .bot
        .wait_for("the topic closed", |calls| {
            calls.iter().any(|c| c.method == "closeforumtopic")
        })
        .await;
    let close = closed
        .iter()
        .find(|c| c.method == "closeforumtopic")
        .unwrap();
    assert_eq!(close.body["message_thread_id"], thread);
    // The customer writes again within the reopen window: the topic reopens.
    assert_eq!(tg.send(&user.text("one more question")).await, 200);
    tg.bot
        .wait_for("the topic reopened", |calls| {
            calls
                .iter()
                .any(|c| c.method == "reopenforumtopic" && c.body["message_thread_id"] == thread)
        })
        .await;
    tg.bot.wait_sent(GROUP, "one more question").await;
    tg.stop().await;
}
