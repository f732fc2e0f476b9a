//! The Telegram channel end to end: real server, real PostgreSQL, a fake Bot API, and
//! updates shaped as Telegram sends them.

mod common;

use common::telegram::{group_chat, Tg, TgUser, GROUP};
use serde_json::{json, Value};
use switchboard::domain::Role;

#[actix_rt::test]
async fn a_wrong_or_missing_secret_is_refused_and_nothing_is_stored() {
    let tg = Tg::start().await;
    let user = TgUser::new(7001, "en");
    let update = user.text("hello");
    assert_eq!(
        tg.send_with_secret(&update, Some("wrong-secret")).await,
        401
    );
    assert_eq!(tg.send_with_secret(&update, None).await, 401);
    assert_eq!(
        tg.send_with_secret(&update, Some("hook-Secret_4")).await,
        401
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        tg.server
            .scalar("SELECT count(*) AS n FROM telegram_inbox")
            .await,
        0
    );
    assert_eq!(
        tg.server
            .scalar("SELECT count(*) AS n FROM conversations")
            .await,
        0
    );
    // (The gateway asks once, at start, whether the group is a forum.)
    assert!(
        tg.bot.calls().iter().all(|c| c.method == "getchat"),
        "nothing sent: {:?}",
        tg.bot.calls()
    );
    tg.stop().await;
}

#[actix_rt::test]
async fn start_greets_in_the_users_language_with_a_live_support_button() {
    let tg = Tg::start().await;
    let ru = TgUser::new(7002, "ru");
    let de = TgUser::new(7003, "de");
    assert_eq!(tg.send(&ru.text("/start")).await, 200);
    assert_eq!(tg.send(&de.text("/start")).await, 200);
    let greeting = tg.bot.wait_sent(ru.id, "Здравствуйте").await;
    assert_eq!(greeting.buttons(), vec!["support".to_owned()]);
    let label = greeting
        .body
        .pointer("/reply_markup/inline_keyboard/0/0/text")
        .cloned();
    assert_eq!(label, Some(json!("Live Support")));
    let english = tg.bot.wait_sent(de.id, "Hello").await;
    assert_eq!(english.buttons(), vec!["support".to_owned()]);
    assert!(
        tg.bot.calls().iter().all(|c| c.token_ok),
        "every call carries the token in its path"
    );
    tg.stop().await;
}

#[actix_rt::test]
async fn the_button_opens_a_ticket_and_messages_reach_operators_and_the_group() {
    let tg = Tg::start().await;
    let s = &tg.server;
    let sup = s.add_operator("Sam Super", Role::Supervisor, 5).await;
    let (mut ws, _) = s.operator_ws(&sup).await;
    let user = TgUser::new(7004, "en");
    assert_eq!(tg.send(&user.press("support", None, 1)).await, 200);
    let created = tg.bot.wait_sent(user.id, "Support ticket SUPP-").await;
    assert!(
        created.text().contains("An operator will answer shortly."),
        "{}",
        created.text()
    );
    tg.bot
        .wait_for("the button press is answered", |calls| {
            calls.iter().any(|c| c.method == "answercallbackquery")
        })
        .await;
    let conversation = tg.conversation_of_latest().await;
    assert_eq!(tg.send(&user.text("My order never arrived")).await, 200);
    let event = loop {
        let frame = ws.recv_type("event").await;
        if frame["text"] == "My order never arrived" {
            break frame;
        }
    };
    assert_eq!(event["conversation_id"], conversation.as_str());
    assert_eq!(event["author"], "visitor");
    let alias = event["name"].as_str().unwrap().to_owned();
    assert!(alias.starts_with("User-"), "{alias}");
    let post = tg.bot.wait_sent(GROUP, "My order never arrived").await;
    let ticket = s
        .text(&format!(
            "SELECT ticket AS value FROM conversations WHERE id = '{conversation}'"
        ))
        .await;
    assert!(post.text().contains(&ticket), "{}", post.text());
    assert!(post.text().contains(&alias), "{}", post.text());
    // The conversation's card carries the buttons, and says who took it (the supervisor
    // online was given it at once).
    let card = tg
        .bot
        .wait_for("the card says who took the conversation", |calls| {
            calls.iter().any(|c| {
                c.chat() == Some(GROUP)
                    && c.text().starts_with("🎫")
                    && c.text().contains(&ticket)
                    && c.text().contains("Taken by Sam Super")
            })
        })
        .await
        .into_iter()
        .rev()
        .find(|c| c.chat() == Some(GROUP) && c.text().contains("Taken by Sam Super"))
        .unwrap();
    let buttons = card.buttons();
    assert_eq!(
        buttons,
        vec![
            format!("close:{conversation}"),
            format!("escalate:{conversation}")
        ]
    );
    assert!(buttons.iter().all(|b| b.len() <= 64));
    assert_eq!(
        s.text(&format!(
            "SELECT channel AS value FROM conversations WHERE id = '{conversation}'"
        ))
        .await,
        "telegram"
    );
    tg.stop().await;
}

#[actix_rt::test]
async fn a_duplicate_update_is_handled_once() {
    let tg = Tg::start().await;
    let user = TgUser::new(7005, "en");
    let update = user.text("only once please");
    for _ in 0..3 {
        assert_eq!(tg.send(&update).await, 200);
    }
    tg.settled().await;
    tg.bot.wait_sent(GROUP, "only once please").await;
    assert_eq!(
        tg.server
            .scalar("SELECT count(*) AS n FROM events WHERE body = 'only once please'")
            .await,
        1
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let posts = tg
        .bot
        .sent_to(GROUP)
        .into_iter()
        .filter(|c| c.text().contains("only once please"))
        .count();
    assert_eq!(posts, 1);
    tg.stop().await;
}

#[actix_rt::test]
async fn web_and_group_replies_reach_the_customer_and_notes_never_do() {
    let tg = Tg::start().await;
    let s = &tg.server;
    let agent = s.add_operator("Alice Agent", Role::Agent, 5).await;
    let user = TgUser::new(7006, "en");
    let conversation = tg.customer_writes(&user, "Need help with billing").await;
    tg.take(&agent, &conversation).await;
    let (code, _) = s
        .post(
            &format!("/api/v1/conversations/{conversation}/messages"),
            &agent.token,
            json!({"client_id": "r1", "text": "Let me check that for you"}),
        )
        .await;
    assert_eq!(code, 201, "the reply is acked once committed");
    let reply = tg.bot.wait_sent(user.id, "Let me check that for you").await;
    assert_eq!(reply.method, "sendmessage");
    assert_eq!(reply.text(), "Live Support: Let me check that for you");
    let (code, _) = s
        .post(
            &format!("/api/v1/conversations/{conversation}/notes"),
            &agent.token,
            json!({"client_id": "n1", "text": "internal: customer sounds upset"}),
        )
        .await;
    assert!(code == 200 || code == 201, "{code}");

    // The same agent links Telegram and answers from the support group.
    let agent_tg = TgUser::new(9001, "en");
    tg.link(&agent, &agent_tg).await;
    let (_, me) = s.get("/api/v1/operators/me", &agent.token).await;
    assert_eq!(me["telegram_linked"], true, "{me}");

    tg.bot.wait_sent(GROUP, "Need help with billing").await;
    let post_id = tg.post_of(&conversation).await;
    assert_eq!(
        tg.send(&agent_tg.group_reply(post_id, "Refund issued today"))
            .await,
        200
    );
    let from_group = tg.bot.wait_sent(user.id, "Refund issued today").await;
    assert_eq!(from_group.text(), "Live Support: Refund issued today");
    assert_eq!(
        tg.send(&agent_tg.group_reply(post_id, "/note check refund in 2 days"))
            .await,
        200
    );
    tg.settled().await;
    assert_eq!(
        s.scalar(&format!(
            "SELECT count(*) AS n FROM events WHERE conversation_id = '{conversation}' \
             AND kind = 'note' AND body = 'check refund in 2 days'"
        ))
        .await,
        1
    );
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    for call in tg.bot.sent_to(user.id) {
        assert!(
            !call.text().contains("internal"),
            "a note reached the customer: {call:?}"
        );
        assert!(
            !call.text().contains("check refund"),
            "a note reached the customer: {call:?}"
        );
    }
    assert!(tg.bot.calls_of("forwardMessage").is_empty());
    tg.stop().await;
}

#[actix_rt::test]
async fn media_is_recorded_by_kind_and_copied_never_forwarded() {
    let tg = Tg::start().await;
    let s = &tg.server;
    let user = TgUser::new(7007, "en");
    let conversation = tg.customer_writes(&user, "I have screenshots").await;
    let (photo_id, photo) = user.photo("the error screen");
    let (_, document) = user.document();
    let (_, voice) = user.voice();
    let (_, sticker) = user.sticker();
    for update in [&photo, &document, &voice, &sticker] {
        assert_eq!(tg.send(update).await, 200);
    }
    tg.settled().await;
    let bodies: Vec<String> = (2..=5)
        .map(|seq| {
            let s = &s;
            let conversation = conversation.clone();
            async move {
                s.text(&format!(
                    "SELECT body AS value FROM events WHERE conversation_id = '{conversation}' AND seq = {seq}"
                ))
                .await
            }
        })
        .collect::<futures_util::stream::FuturesOrdered<_>>()
        .collect_all()
        .await;
    assert_eq!(
        bodies,
        vec![
            "[photo] the error screen",
            "[document]",
            "[voice]",
            "[sticker]"
        ]
    );
    let copies = tg
        .bot
        .wait_for("four copies into the group", |calls| {
            calls.iter().filter(|c| c.method == "copymessage").count() >= 4
        })
        .await;
    let photo_copy = copies
        .iter()
        .find(|c| c.method == "copymessage" && c.body["message_id"] == photo_id)
        .unwrap();
    assert_eq!(photo_copy.chat(), Some(GROUP));
    assert_eq!(photo_copy.body["from_chat_id"], user.id);
    assert!(photo_copy.text().contains("the error screen"));
    let card = tg.post_of(&conversation).await;
    assert!(
        photo_copy.body["reply_parameters"]["message_id"]
            .as_i64()
            .is_some(),
        "the copy replies to the conversation's card: {:?} (card {card})",
        photo_copy.body
    );
    assert!(
        tg.bot.calls_of("forwardMessage").is_empty(),
        "forwardMessage shows the sender"
    );
    tg.stop().await;
}

trait CollectAll: futures_util::Stream + Sized {
    async fn collect_all(self) -> Vec<Self::Item> {
        use futures_util::StreamExt;
        self.collect().await
    }
}
impl<S: futures_util::Stream> CollectAll for S {}

#[actix_rt::test]
async fn an_edit_is_a_new_event_naming_the_original() {
    let tg = Tg::start().await;
    let s = &tg.server;
    let user = TgUser::new(7008, "en");
    let message_id = common::telegram::next_message_id();
    assert_eq!(
        tg.send(&user.text_with_id(message_id, "My adress is Main st 1"))
            .await,
        200
    );
    tg.bot.wait_sent(GROUP, "Main st 1").await;
    let conversation = tg.conversation_of_latest().await;
    assert_eq!(
        tg.send(&user.edited(message_id, "My address is Main st 1"))
            .await,
        200
    );
    tg.settled().await;
    let edited = s
        .text(&format!(
            "SELECT body || '|' || (data->>'edit_of') AS value FROM events \
             WHERE conversation_id = '{conversation}' AND data ? 'edit_of'"
        ))
        .await;
    assert_eq!(edited, "edited: My address is Main st 1|1");
    assert_eq!(
        s.text(&format!(
            "SELECT body AS value FROM events WHERE conversation_id = '{conversation}' AND seq = 1"
        ))
        .await,
        "My adress is Main st 1",
        "history is never rewritten"
    );
    tg.stop().await;
}

#[actix_rt::test]
async fn status_and_close_commands() {
    let tg = Tg::start().await;
    let s = &tg.server;
    let user = TgUser::new(7009, "en");
    assert_eq!(tg.send(&user.text("/status")).await, 200);
    tg.bot.wait_sent(user.id, "You have no open ticket").await;
    let conversation = tg.customer_writes(&user, "Where is my parcel").await;
    // Nobody is online: the ticket waits, and the customer is told where.
    let created = tg.bot.wait_sent(user.id, "Support ticket SUPP-").await;
    assert!(
        created.text().contains("Your place in the queue: 1."),
        "{}",
        created.text()
    );
    assert_eq!(tg.send(&user.text("/status")).await, 200);
    tg.bot.wait_sent(user.id, "waiting for an operator").await;
    assert_eq!(tg.send(&user.text("/close")).await, 200);
    tg.bot.wait_sent(user.id, "was resolved").await;
    assert_eq!(
        s.text(&format!(
            "SELECT status AS value FROM conversations WHERE id = '{conversation}'"
        ))
        .await,
        "resolved"
    );
    // Within the reopen window, the next message reopens the same ticket.
    assert_eq!(tg.send(&user.text("one more thing")).await, 200);
    tg.bot.wait_sent(GROUP, "one more thing").await;
    assert_eq!(tg.conversation_of_latest().await, conversation);
    assert_eq!(
        s.text(&format!(
            "SELECT status AS value FROM conversations WHERE id = '{conversation}'"
        ))
        .await,
        "pending"
    );
    tg.stop().await;
}

#[actix_rt::test]
async fn updates_we_do_not_handle_are_accepted_and_change_nothing() {
    let tg = Tg::start().await;
    let other_group = json!({
        "update_id": common::telegram::next_update_id(),
        "message": {
            "message_id": 5, "date": 1764590000, "text": "hello bot",
            "from": TgUser::new(7010, "en").user_json(),
            "chat": {"id": -100999, "title": "Random group", "type": "supergroup"}
        }
    });
    let channel_post = json!({
        "update_id": common::telegram::next_update_id(),
        "channel_post": {
            "message_id": 6, "date": 1764590000, "text": "news",
            "chat": {"id": -100777, "title": "News", "type": "channel"},
            "sender_chat": {"id": -100777, "title": "News", "type": "channel"}
        }
    });
    let unknown = json!({
        "update_id": common::telegram::next_update_id(),
        "poll_answer": {"poll_id": "123", "user": TgUser::new(7011, "en").user_json(), "option_ids": [0]}
    });
    let garbage: Value = json!({"no": "update id here"});
    for update in [&other_group, &channel_post, &unknown, &garbage] {
        assert_eq!(tg.send(update).await, 200, "{update}");
    }
    let status = tg
        .server
        .http
        .post(tg.server.url("/telegram/webhook"))
        .header("X-Telegram-Bot-Api-Secret-Token", common::telegram::SECRET)
        .body("{not json at all")
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(status, 200);
    tg.settled().await;
    assert_eq!(
        tg.server
            .scalar("SELECT count(*) AS n FROM conversations")
            .await,
        0
    );
    assert_eq!(
        tg.server
            .scalar("SELECT count(*) AS n FROM telegram_inbox")
            .await,
        5
    );
    // The server is still fine.
    let user = TgUser::new(7012, "en");
    tg.customer_writes(&user, "still working?").await;
    let _ = group_chat();
    tg.stop().await;
}

#[actix_rt::test]
async fn operators_never_see_who_a_telegram_customer_is() {
    let tg = Tg::start().await;
    let s = &tg.server;
    let sup = s.add_operator("Ada Admin", Role::Admin, 5).await;
    let (mut ws, _) = s.operator_ws(&sup).await;
    // A distinctive id, so that it cannot turn up by chance in a timestamp or a counter.
    let user = TgUser::new(5_550_123_987, "ru");
    assert_eq!(tg.send(&user.text("/start")).await, 200);
    assert_eq!(tg.send(&user.press("support", None, 3)).await, 200);
    assert_eq!(
        tg.send(&user.text("Привет, у меня проблема с заказом"))
            .await,
        200
    );
    let (_, photo) = user.photo("screenshot");
    assert_eq!(tg.send(&photo).await, 200);
    assert_eq!(
        tg.send(&user.edited(common::telegram::next_message_id(), "x"))
            .await,
        200
    );
    tg.settled().await;
    let conversation = tg.conversation_of_latest().await;
    tg.bot
        .wait_for("the photo copied to the group", |calls| {
            calls.iter().any(|c| c.method == "copymessage")
        })
        .await;
    let mut seen = Vec::new();
    while let Some(frame) = ws.next(std::time::Duration::from_millis(300)).await {
        seen.push(("socket frame".to_owned(), frame.to_string()));
    }
    for path in [
        "/api/v1/conversations".to_owned(),
        format!("/api/v1/conversations/{conversation}"),
        format!("/api/v1/conversations/{conversation}/events"),
        format!("/api/v1/conversations/{conversation}/contact"),
        "/api/v1/search?q=%D0%B7%D0%B0%D0%BA%D0%B0%D0%B7%D0%BE%D0%BC".to_owned(),
        "/api/v1/stats".to_owned(),
        "/api/v1/audit".to_owned(),
    ] {
        let (code, body) = s.get(&path, &sup.token).await;
        assert_eq!(code, 200, "{path}: {body}");
        seen.push((path, body.to_string()));
    }
    // What the group sees of a post: its text or caption and its buttons (`from_chat_id` of
    // a copy is for Telegram; a copied message shows no sender).
    for call in tg.bot.sent_to(GROUP) {
        let shown = json!([
            call.body["text"],
            call.body["caption"],
            call.body["reply_markup"]
        ]);
        seen.push(("group post".to_owned(), shown.to_string()));
    }
    assert!(
        seen.iter()
            .any(|(_, body)| body.contains("у меня проблема")),
        "the scan saw the message"
    );
    let secrets = [
        user.id.to_string(),
        user.username.clone(),
        user.first_name.clone(),
        user.last_name.clone(),
    ];
    for (place, body) in &seen {
        for secret in &secrets {
            assert!(
                !body.contains(secret.as_str()),
                "{place} shows {secret:?}: {body}"
            );
        }
    }
    // The id is stored only sealed: no column holds it in clear.
    assert_eq!(
        s.scalar(&format!(
            "SELECT count(*) AS n FROM channel_identities WHERE position('{}'::bytea in external_id) > 0",
            user.id
        ))
        .await,
        0
    );
    assert_eq!(
        s.scalar(
            "SELECT count(*) AS n FROM telegram_inbox WHERE payload IS NOT NULL \
             AND outcome NOT IN ('ignored', 'unreadable', 'failed')"
        )
        .await,
        0,
        "handled updates are erased (what could not be acted on is kept, sealed)"
    );
    assert_eq!(
        s.scalar(&format!(
            "SELECT count(*) AS n FROM telegram_inbox WHERE position('{}'::bytea in payload) > 0",
            user.id
        ))
        .await,
        0,
        "stored updates are sealed"
    );
    tg.stop().await;
}

#[actix_rt::test]
async fn a_web_customers_messages_are_posted_to_the_support_group_too() {
    let tg = Tg::start().await;
    let widget = tg.server.open_chat("Hi from the website").await;
    let post = tg.bot.wait_sent(GROUP, "Hi from the website").await;
    assert!(post.text().contains(&widget.ticket), "{}", post.text());
    let (mut visitor, _) = tg.server.visitor(&widget, None).await;
    visitor
        .send(json!({"type": "message", "client_id": "w2", "text": "second line"}))
        .await;
    visitor.recv_type("ack").await;
    tg.bot.wait_sent(GROUP, "second line").await;
    tg.stop().await;
}

#[actix_rt::test]
async fn a_blocked_contact_is_refused_politely_and_nothing_they_send_is_stored() {
    let tg = Tg::start().await;
    let s = &tg.server;
    let sup = s.add_operator("Sam Super", Role::Supervisor, 5).await;
    let agent = s.add_operator("Alice Agent", Role::Agent, 5).await;
    let user = TgUser::new(7020, "en");
    let conversation = tg.customer_writes(&user, "first message").await;
    let (code, contact) = s
        .get(
            &format!("/api/v1/conversations/{conversation}/contact"),
            &sup.token,
        )
        .await;
    assert_eq!(code, 200);
    let contact_id = contact["id"].as_str().unwrap().to_owned();
    assert_eq!(contact["blocked"], Value::Null);
    let (code, body) = s
        .post(
            &format!("/api/v1/contacts/{contact_id}/block"),
            &agent.token,
            json!({"reason": "spam"}),
        )
        .await;
    assert_eq!(code, 403, "agents may not block: {body}");
    let (code, body) = s
        .post(
            &format!("/api/v1/contacts/{contact_id}/block"),
            &sup.token,
            json!({"reason": "", "until": null}),
        )
        .await;
    assert_eq!(
        (code, body["error"]["field"].clone()),
        (422, json!("reason"))
    );
    let (code, body) = s
        .post(
            &format!("/api/v1/contacts/{contact_id}/block"),
            &sup.token,
            json!({"reason": "abusive"}),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let before = s.event_count(&conversation).await;
    for text in ["you there?", "hello??", "answer me"] {
        assert_eq!(tg.send(&user.text(text)).await, 200);
    }
    tg.settled().await;
    assert_eq!(s.event_count(&conversation).await, before, "nothing stored");
    tg.bot.wait_sent(user.id, "cannot accept messages").await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let refusals = tg
        .bot
        .sent_to(user.id)
        .into_iter()
        .filter(|c| c.text().contains("cannot accept messages"))
        .count();
    assert_eq!(refusals, 1, "one polite refusal a day");
    let (_, contact) = s
        .get(
            &format!("/api/v1/conversations/{conversation}/contact"),
            &sup.token,
        )
        .await;
    assert_eq!(contact["blocked"]["reason"], "abusive");
    assert_eq!(
        s.scalar("SELECT count(*) AS n FROM audit_log WHERE action = 'contact.block'")
            .await,
        1
    );

    // Unblocked, they are heard again.
    let (code, _) = s
        .delete(&format!("/api/v1/contacts/{contact_id}/block"), &sup.token)
        .await;
    assert_eq!(code, 204);
    assert_eq!(tg.send(&user.text("sorry about that")).await, 200);
    tg.bot.wait_sent(GROUP, "sorry about that").await;

    // A blocked web visitor gets `blocked` on the socket.
    let widget = s.open_chat("web hello").await;
    let (_, web_contact) = s
        .get(
            &format!("/api/v1/conversations/{}/contact", widget.conversation_id),
            &sup.token,
        )
        .await;
    let web_contact_id = web_contact["id"].as_str().unwrap().to_owned();
    let (mut visitor, _) = s.visitor(&widget, None).await;
    let (code, _) = s
        .post(
            &format!("/api/v1/contacts/{web_contact_id}/block"),
            &sup.token,
            json!({"reason": "spam"}),
        )
        .await;
    assert_eq!(code, 200);
    let before = s.event_count(&widget.conversation_id).await;
    visitor
        .send(json!({"type": "message", "client_id": "b1", "text": "let me in"}))
        .await;
    let error = visitor.recv_type("error").await;
    assert_eq!(error["code"], "blocked", "{error}");
    assert_eq!(s.event_count(&widget.conversation_id).await, before);
    tg.stop().await;
}

#[actix_rt::test]
async fn waiting_customers_are_told_when_their_place_changes_at_most_so_often() {
    let tg = Tg::start_with(|c| switchboard::config::Config {
        telegram_queue_notice_secs: 1,
        ..c
    })
    .await;
    let s = &tg.server;
    let first = TgUser::new(7030, "en");
    let second = TgUser::new(7031, "en");
    let c1 = tg.customer_writes(&first, "first in line").await;
    tg.customer_writes(&second, "second in line").await;
    let created = tg.bot.wait_sent(second.id, "Support ticket").await;
    assert!(
        created.text().contains("Your place in the queue: 2."),
        "{}",
        created.text()
    );
    // The first one is taken after the notice interval: the second moves up and is told.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let agent = s.add_operator("Alice Agent", Role::Agent, 5).await;
    tg.take(&agent, &c1).await;
    tg.bot
        .wait_sent(second.id, "Your place in the queue: 1.")
        .await;
    tg.stop().await;
}

#[actix_rt::test]
async fn one_chats_trouble_never_holds_up_another_chat() {
    let tg = Tg::start().await;
    let s = &tg.server;
    let sup = s.add_operator("Sam Super", Role::Supervisor, 5).await;
    let slow = TgUser::new(7040, "en");
    let fine = TgUser::new(7041, "en");
    let c_slow = tg.customer_writes(&slow, "slow chat here").await;
    let c_fine = tg.customer_writes(&fine, "fine chat here").await;
    tg.bot.wait_sent(slow.id, "Support ticket").await;
    tg.bot.wait_sent(fine.id, "Support ticket").await;
    // Telegram makes the first chat wait half a minute.
    tg.bot.fail_next(
        "sendMessage",
        Some(slow.id),
        common::fake_bot::Failure::RetryAfter(30),
    );
    for (conversation, text) in [(&c_slow, "to the slow chat"), (&c_fine, "to the fine chat")] {
        let (code, body) = s
            .post(
                &format!("/api/v1/conversations/{conversation}/messages"),
                &sup.token,
                json!({"client_id": text, "text": text}),
            )
            .await;
        assert_eq!(code, 201, "{body}");
    }
    tg.bot.wait_sent(fine.id, "to the fine chat").await;
    let refused = tg
        .bot
        .sent_to(slow.id)
        .into_iter()
        .filter(|c| c.text().contains("to the slow chat"))
        .count();
    assert_eq!(
        refused, 1,
        "the slow chat's reply was tried once and waits for retry_after"
    );
    assert_eq!(
        s.scalar("SELECT count(*) AS n FROM telegram_outbox WHERE delivered_at IS NULL AND failed_at IS NULL AND lane LIKE 'contact:%'")
            .await,
        1,
        "only the slow chat's reply is still waiting"
    );
    tg.stop().await;
}

#[actix_rt::test]
async fn an_admin_may_unlink_anyone_and_an_agent_only_themselves() {
    let tg = Tg::start().await;
    let s = &tg.server;
    let admin = s.add_operator("Ada Admin", Role::Admin, 5).await;
    let agent = s.add_operator("Alice Agent", Role::Agent, 5).await;
    let other = s.add_operator("Bob Agent", Role::Agent, 5).await;
    let (_, link) = s
        .post(
            "/api/v1/operators/me/telegram-link",
            &agent.token,
            json!({}),
        )
        .await;
    let code = link["code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 8);
    assert!(link["command"].as_str().unwrap().ends_with(&code));
    let phone = TgUser::new(9101, "en");
    assert_eq!(
        tg.send(&phone.text(&format!("/link {}", code.to_lowercase())))
            .await,
        200
    );
    tg.bot.wait_sent(phone.id, "now linked").await;
    // A code works once.
    assert_eq!(tg.send(&phone.text(&format!("/link {code}"))).await, 200);
    tg.bot.wait_sent(phone.id, "unknown or has expired").await;
    let (_, me) = s.get("/api/v1/operators/me", &agent.token).await;
    assert_eq!(me["telegram_linked"], true);
    let (code_other, _) = s
        .delete(
            &format!("/api/v1/operators/{}/telegram-link", agent.id),
            &other.token,
        )
        .await;
    assert_eq!(code_other, 403);
    let (code_admin, _) = s
        .delete(
            &format!("/api/v1/operators/{}/telegram-link", agent.id),
            &admin.token,
        )
        .await;
    assert_eq!(code_admin, 204);
    let (_, me) = s.get("/api/v1/operators/me", &agent.token).await;
    assert_eq!(me["telegram_linked"], false);
    assert_eq!(
        s.scalar("SELECT count(*) AS n FROM audit_log WHERE action = 'operator.telegram_unlink'")
            .await,
        1
    );
    tg.stop().await;
}

#[actix_rt::test]
async fn group_commands_never_reach_the_customer() {
    let tg = Tg::start().await;
    let s = &tg.server;
    let agent = s.add_operator("Alice Agent", Role::Agent, 5).await;
    let user = TgUser::new(7050, "en");
    let conversation = tg.customer_writes(&user, "please help").await;
    tg.take(&agent, &conversation).await;
    let phone = TgUser::new(9201, "en");
    tg.link(&agent, &phone).await;
    let post_id = tg.post_of(&conversation).await;
    for text in [
        "/note@SupportBot secret one",
        "/Note secret two",
        "/note\nsecret three",
        "/refund secret four",
    ] {
        assert_eq!(tg.send(&phone.group_reply(post_id, text)).await, 200);
    }
    tg.settled().await;
    assert_eq!(
        s.scalar(&format!(
            "SELECT count(*) AS n FROM events WHERE conversation_id = '{conversation}' AND kind = 'note'"
        ))
        .await,
        3
    );
    tg.bot.wait_sent(GROUP, "is a command").await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    for call in tg.bot.sent_to(user.id) {
        assert!(
            !call.text().contains("secret"),
            "reached the customer: {}",
            call.text()
        );
    }
    tg.stop().await;
}

#[actix_rt::test]
async fn an_answer_that_cannot_be_read_counts_as_sent_and_is_not_repeated() {
    let tg = Tg::start().await;
    let s = &tg.server;
    let sup = s.add_operator("Sam Super", Role::Supervisor, 5).await;
    let user = TgUser::new(7051, "en");
    let conversation = tg.customer_writes(&user, "hello there").await;
    tg.bot.wait_sent(user.id, "Support ticket").await;
    tg.bot.fail_next(
        "sendMessage",
        Some(user.id),
        common::fake_bot::Failure::Garbled,
    );
    let (code, _) = s
        .post(
            &format!("/api/v1/conversations/{conversation}/messages"),
            &sup.token,
            json!({"client_id": "g1", "text": "only once"}),
        )
        .await;
    assert_eq!(code, 201);
    tg.bot.wait_sent(user.id, "only once").await;
    s.eventually("the reply is recorded as delivered", || async {
        s.scalar("SELECT count(*) AS n FROM telegram_outbox WHERE delivered_at IS NULL AND failed_at IS NULL")
            .await
            == 0
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let sends = tg
        .bot
        .sent_to(user.id)
        .into_iter()
        .filter(|c| c.text().contains("only once"))
        .count();
    assert_eq!(sends, 1);
    assert_eq!(
        s.scalar("SELECT count(*) AS n FROM telegram_outbox WHERE error LIKE '%Ivan%'")
            .await,
        0,
        "the answer's contents are never stored"
    );
    tg.stop().await;
}

#[actix_rt::test]
async fn commands_count_toward_the_hourly_limit_and_long_edits_are_kept_whole() {
    let tg = Tg::start_with(|c| switchboard::config::Config {
        telegram_messages_per_hour: 4,
        ..c
    })
    .await;
    let s = &tg.server;
    let user = TgUser::new(7052, "en");
    let message_id = common::telegram::next_message_id();
    assert_eq!(
        tg.send(&user.text_with_id(message_id, "short text")).await,
        200
    );
    tg.bot.wait_sent(GROUP, "short text").await;
    let conversation = tg.conversation_of_latest().await;
    let long = "word ".repeat(700);
    assert_eq!(tg.send(&user.edited(message_id, long.trim())).await, 200);
    tg.settled().await;
    let stored: String = s
        .text(&format!(
            "SELECT string_agg(body, '' ORDER BY seq) AS value FROM events \
             WHERE conversation_id = '{conversation}' AND data ? 'edit_of'"
        ))
        .await;
    assert_eq!(
        stored,
        format!("edited: {}", long.trim()),
        "split, nothing lost"
    );
    for _ in 0..3 {
        assert_eq!(tg.send(&user.text("/status")).await, 200);
    }
    tg.bot.wait_sent(user.id, "too fast").await;
    tg.settled().await;
    let statuses = tg
        .bot
        .sent_to(user.id)
        .into_iter()
        .filter(|c| c.text().starts_with("Ticket "))
        .count();
    assert_eq!(statuses, 2, "two /status answered, the third refused");
    tg.stop().await;
}

#[actix_rt::test]
async fn the_support_command_opens_one_ticket_and_says_so_again_if_open() {
    let tg = Tg::start().await;
    let s = &tg.server;
    let user = TgUser::new(7060, "ru");
    assert_eq!(tg.send(&user.text("/support")).await, 200);
    let created = tg.bot.wait_sent(user.id, "Обращение SUPP-").await;
    assert!(created.text().contains("создано"), "{}", created.text());
    assert_eq!(tg.send(&user.text("/support@SupportBot")).await, 200);
    tg.bot.wait_sent(user.id, "открыто").await;
    tg.settled().await;
    assert_eq!(
        s.scalar("SELECT count(*) AS n FROM conversations WHERE channel = 'telegram'")
            .await,
        1
    );
    // Opened by the command, the ticket waits in the queue like any other.
    let conversation = tg.conversation_of_latest().await;
    assert_eq!(
        s.text(&format!(
            "SELECT status AS value FROM conversations WHERE id = '{conversation}'"
        ))
        .await,
        "pending"
    );
    s.router_settled(1).await;
    tg.stop().await;
}

#[actix_rt::test]
async fn the_card_follows_the_conversation_wherever_it_is_acted_on() {
    let tg = Tg::start().await;
    let s = &tg.server;
    let user = TgUser::new(7070, "en");
    let conversation = tg.customer_writes(&user, "card please").await;
    let card_sent = tg
        .bot
        .wait_for("the card", |calls| {
            calls.iter().any(|c| c.text().starts_with("🎫"))
        })
        .await
        .into_iter()
        .find(|c| c.text().starts_with("🎫"))
        .unwrap();
    assert!(
        card_sent.text().contains("Waiting for an operator"),
        "{}",
        card_sent.text()
    );
    assert_eq!(card_sent.buttons().len(), 3);
    let card = s
        .scalar(&format!(
            "SELECT message_id AS n FROM telegram_posts WHERE card AND conversation_id = '{conversation}'"
        ))
        .await;
    let agent = s.add_operator("Alice Agent", Role::Agent, 5).await;
    // Telegram makes the first edit wait: it is retried after retry_after.
    tg.bot.fail_next(
        "editMessageText",
        Some(GROUP),
        common::fake_bot::Failure::RetryAfter(1),
    );
    tg.take(&agent, &conversation).await;
    let edits = tg
        .bot
        .wait_for("the card edited after the 429", |calls| {
            calls
                .iter()
                .filter(|c| {
                    c.method == "editmessagetext" && c.text().contains("Taken by Alice Agent")
                })
                .count()
                >= 2
        })
        .await;
    let tries: Vec<_> = edits
        .iter()
        .filter(|c| c.method == "editmessagetext" && c.text().contains("Taken by Alice Agent"))
        .collect();
    assert_eq!(tries[1].body["message_id"], card);
    assert!(tries[1].at.duration_since(tries[0].at) >= std::time::Duration::from_millis(900));
    assert_eq!(
        tries[1].buttons(),
        vec![
            format!("close:{conversation}"),
            format!("escalate:{conversation}")
        ]
    );
    // A reply written in the panel shows in the group, under the card.
    tg.operator_says(&agent, &conversation, "p1", "Checking your order now")
        .await;
    let shown = tg.bot.wait_sent(GROUP, "Alice Agent → customer:").await;
    assert!(shown.text().contains("Checking your order now"));
    assert_eq!(shown.body["reply_parameters"]["message_id"], card);
    // An escalation is announced; resolving leaves the card without buttons.
    let (code, _) = s
        .post(
            &format!("/api/v1/conversations/{conversation}/escalate"),
            &agent.token,
            json!({}),
        )
        .await;
    assert_eq!(code, 200);
    tg.bot.wait_sent(GROUP, "Supervisors, please look").await;
    let (code, _) = s
        .post(
            &format!("/api/v1/conversations/{conversation}/resolve"),
            &agent.token,
            json!({}),
        )
        .await;
    assert_eq!(code, 200);
    let resolved = tg
        .bot
        .wait_for("the card says resolved", |calls| {
            calls
                .iter()
                .any(|c| c.method == "editmessagetext" && c.text().contains("Resolved"))
        })
        .await
        .into_iter()
        .find(|c| c.method == "editmessagetext" && c.text().contains("Resolved"))
        .unwrap();
    assert!(resolved.buttons().is_empty(), "{:?}", resolved.body);
    assert!(
        resolved.text().contains("escalated to L2"),
        "{}",
        resolved.text()
    );
    tg.stop().await;
}

#[actix_rt::test]
async fn an_album_stays_one_album_in_the_group() {
    let tg = Tg::start().await;
    let s = &tg.server;
    let user = TgUser::new(7080, "en");
    let conversation = tg.customer_writes(&user, "three photos coming").await;
    let mut ids = Vec::new();
    for (i, caption) in ["the box", "", ""].iter().enumerate() {
        let (id, mut update) = user.photo(caption);
        update["message"]["media_group_id"] = json!("13845674419478912");
        if i > 0 {
            update["message"].as_object_mut().unwrap().remove("caption");
        }
        ids.push(id);
        assert_eq!(tg.send(&update).await, 200);
    }
    let calls = tg
        .bot
        .wait_for("the album copied in one call", |calls| {
            calls.iter().any(|c| c.method == "copymessages")
        })
        .await;
    let album: Vec<_> = calls
        .iter()
        .filter(|c| c.method == "copymessages")
        .collect();
    assert_eq!(album.len(), 1, "{album:?}");
    assert_eq!(album[0].chat(), Some(GROUP));
    assert_eq!(album[0].body["from_chat_id"], user.id);
    assert_eq!(album[0].body["message_ids"], json!(ids));
    assert!(
        calls.iter().all(|c| c.method != "copymessage"),
        "no item was copied alone"
    );
    tg.bot.wait_sent(GROUP, "an album of 3").await;
    // One event per item, each marked with its album.
    assert_eq!(
        s.scalar(&format!(
            "SELECT count(*) AS n FROM events WHERE conversation_id = '{conversation}' \
             AND data->>'media_group_id' = '13845674419478912'"
        ))
        .await,
        3
    );
    tg.stop().await;
}

#[actix_rt::test]
async fn a_conversation_turned_urgent_is_announced_in_the_group() {
    let tg = Tg::start().await;
    let s = &tg.server;
    let sup = s.add_operator("Sam Super", Role::Supervisor, 5).await;
    let user = TgUser::new(7095, "en");
    let conversation = tg.customer_writes(&user, "it is on fire").await;
    let (code, body) = s
        .post(
            &format!("/api/v1/conversations/{conversation}/priority"),
            &sup.token,
            json!({"priority": "urgent"}),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let said = tg.bot.wait_sent(GROUP, "is urgent now").await;
    assert!(
        said.text().contains("Supervisors, please look"),
        "{}",
        said.text()
    );
    tg.stop().await;
}
