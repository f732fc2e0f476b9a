//! Finding things across conversations: full-text search over messages and notes (English and
//! Russian alike) within each operator's visibility, and a customer's earlier conversations
//! shown by alias only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Operator, TestServer, Widget};
use serde_json::{json, Value};
use switchboard::domain::Role;

fn items(body: &Value) -> &Vec<Value> {
    body["items"].as_array().expect("a list")
}

/// (conversation id, seq) of each result, in order.
fn hits(body: &Value) -> Vec<(String, i64)> {
    items(body)
        .iter()
        .map(|h| {
            (
                h["conversation_id"].as_str().unwrap().to_owned(),
                h["seq"].as_i64().unwrap(),
            )
        })
        .collect()
}

async fn search(server: &TestServer, who: &Operator, q: &str) -> Value {
    let (status, body) = server
        .get(&format!("/api/v1/search?q={}", encode(q)), &who.token)
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Percent-encodes every byte but unreserved ASCII, enough for query strings in tests.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn take(server: &TestServer, who: &Operator, w: &Widget) {
    let (status, body) = server
        .post(
            &format!("/api/v1/conversations/{}/take", w.conversation_id),
            &who.token,
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "take: {body}");
}

async fn write(server: &TestServer, who: &Operator, w: &Widget, kind: &str, text: &str) -> i64 {
    let (status, ack) = server
        .post(
            &format!("/api/v1/conversations/{}/messages", w.conversation_id),
            &who.token,
            json!({"client_id": uuid::Uuid::new_v4().to_string(), "text": text, "kind": kind}),
        )
        .await;
    assert_eq!(status, 201, "{ack}");
    ack["seq"].as_i64().unwrap()
}

#[actix_rt::test]
async fn search_finds_russian_and_english_words_each_operator_may_see() {
    let mut server = TestServer::start().await;
    let sam = server.add_operator("Sam Super", Role::Supervisor, 5).await;
    let ann = server.add_operator("Ann Agent", Role::Agent, 5).await;
    let bob = server.add_operator("Bob Agent", Role::Agent, 5).await;

    let anns = server
        .open_widget(json!({"message": "Здравствуйте, у меня не проходит оплата картой"}))
        .await;
    let bobs = server
        .open_widget(json!({"message": "Оплата не прошла, помогите!"}))
        .await;
    let queued = server
        .open_widget(json!({"message": "My PAYMENT failed twice, please help"}))
        .await;
    take(&server, &ann, &anns).await;
    take(&server, &bob, &bobs).await;
    let note_seq = write(
        &server,
        &ann,
        &anns,
        "note",
        "Refund approved by billing, card was charged twice",
    )
    .await;
    let reply_seq = write(
        &server,
        &ann,
        &anns,
        "message",
        "We are checking your payment now",
    )
    .await;

    // Agents find words in their own conversations and the queue, never in a colleague's.
    let a = anns.conversation_id.clone();
    let b = bobs.conversation_id.clone();
    let q = queued.conversation_id.clone();
    assert_eq!(
        hits(&search(&server, &ann, "оплата").await),
        [(a.clone(), 1)]
    );
    assert_eq!(
        hits(&search(&server, &bob, "оплата").await),
        [(b.clone(), 1)]
    );
    // A supervisor finds both, newest first; case does not matter.
    let all = search(&server, &sam, "ОПЛАТА").await;
    assert_eq!(hits(&all), [(b.clone(), 1), (a.clone(), 1)]);
    let first = &items(&all)[0];
    assert_eq!(first["ticket"], bobs.ticket.as_str());
    assert_eq!(first["alias"], format!("User-{}", &bobs.ticket[14..]));
    assert_eq!(
        (first["kind"].as_str(), first["author"].as_str()),
        (Some("message"), Some("visitor"))
    );
    assert_eq!(first["name"], first["alias"]);
    assert!(
        first["snippet"].as_str().unwrap().contains("Оплата"),
        "{first}"
    );
    assert!(first["at"].as_str().is_some());

    // English, across the queue and one's own conversation.
    assert_eq!(
        hits(&search(&server, &ann, "payment").await),
        [(a.clone(), reply_seq), (q.clone(), 1)]
    );
    assert_eq!(
        hits(&search(&server, &bob, "payment").await),
        [(q.clone(), 1)]
    );

    // Notes are found too, by the operators who may see them.
    let notes = search(&server, &ann, "refund").await;
    assert_eq!(hits(&notes), [(a.clone(), note_seq)]);
    assert_eq!(
        (
            items(&notes)[0]["kind"].as_str(),
            items(&notes)[0]["name"].as_str()
        ),
        (Some("note"), Some("Ann Agent"))
    );
    assert!(items(&search(&server, &bob, "refund").await).is_empty());

    // Web-search syntax: phrases and exclusions.
    assert_eq!(
        hits(&search(&server, &sam, "\"charged twice\"").await),
        [(a.clone(), note_seq)]
    );
    assert_eq!(
        hits(&search(&server, &sam, "twice -refund").await),
        [(q.clone(), 1)]
    );
    // System events ("An operator joined…") are not searched.
    assert!(items(&search(&server, &sam, "joined").await).is_empty());
    // Nothing to look for after punctuation is dropped: no results, no error.
    assert!(items(&search(&server, &sam, "!!!").await).is_empty());

    for path in [
        "/api/v1/search",
        "/api/v1/search?q=",
        "/api/v1/search?q=%20%20",
    ] {
        let (status, body) = server.get(path, &ann.token).await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (422, Some("q")),
            "{path}"
        );
    }
    let (status, body) = server
        .get("/api/v1/search?q=x&before=garbage", &ann.token)
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (422, Some("before"))
    );
    let (status, body) = server.get("/api/v1/search?q=x&limit=0", &ann.token).await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (422, Some("limit"))
    );
    server.stop().await;
}

#[actix_rt::test]
async fn search_pages_newest_first_without_gaps() {
    let mut server = TestServer::start().await;
    let sam = server.add_operator("Sam Super", Role::Supervisor, 5).await;
    let w = server
        .open_widget(json!({"message": "invoice question"}))
        .await;
    // Taken, so that the writes below do not depend on supervisors writing to the queue.
    take(&server, &sam, &w).await;
    let mut expected = vec![(w.conversation_id.clone(), 1)];
    for i in 0..6 {
        let seq = write(&server, &sam, &w, "message", &format!("invoice number {i}")).await;
        expected.push((w.conversation_id.clone(), seq));
    }
    let other = server
        .open_widget(json!({"message": "another invoice"}))
        .await;
    expected.push((other.conversation_id.clone(), 1));
    expected.reverse();

    let mut seen = Vec::new();
    let mut before: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &before {
            Some(b) => format!("/api/v1/search?q=invoice&limit=3&before={b}"),
            None => "/api/v1/search?q=invoice&limit=3".to_owned(),
        };
        let (status, page) = server.get(&path, &sam.token).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        seen.extend(hits(&page));
        match page["next"].as_str() {
            Some(next) => before = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, expected);
    assert_eq!(pages, 3);
    server.stop().await;
}

#[actix_rt::test]
async fn contact_history_lists_the_customers_other_conversations_by_alias_only() {
    let mut server = TestServer::start().await;
    let admin = server.add_operator("Ada Admin", Role::Admin, 5).await;
    let ann = server.add_operator("Ann Agent", Role::Agent, 5).await;
    let bob = server.add_operator("Bob Agent", Role::Agent, 5).await;

    let first = server
        .open_widget(json!({"name": "Irina Petrova", "message": "first visit"}))
        .await;
    let second = server.open_widget(json!({"message": "second visit"})).await;
    let third = server.open_widget(json!({"message": "third visit"})).await;
    let stranger = server.open_widget(json!({"message": "someone else"})).await;
    // The same customer came back twice (as a returning Telegram user would).
    server
        .execute(&format!(
            "UPDATE conversations SET contact_id = \
             (SELECT contact_id FROM conversations WHERE id = '{}') WHERE id IN ('{}', '{}')",
            first.conversation_id, second.conversation_id, third.conversation_id
        ))
        .await;
    let (status, vip) = server
        .post("/api/v1/tags", &admin.token, json!({"name": "vip"}))
        .await;
    assert_eq!(status, 201);
    server
        .execute(&format!(
            "INSERT INTO conversation_tags (conversation_id, tag_id) VALUES ('{}', '{}')",
            first.conversation_id,
            vip["id"].as_str().unwrap()
        ))
        .await;
    take(&server, &ann, &third).await;

    let path = format!("/api/v1/conversations/{}/contact", third.conversation_id);
    let (status, body) = server.get(&path, &ann.token).await;
    assert_eq!(status, 200, "{body}");
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    // The contact's own id (for blocking), whether it is blocked and reachable: nothing
    // about who the customer is.
    assert_eq!(
        keys,
        [
            "alias",
            "blocked",
            "channel",
            "conversations",
            "id",
            "reachable"
        ],
        "nothing else about the customer"
    );
    assert_eq!(body["alias"], format!("User-{}", &first.ticket[14..]));
    assert_eq!(body["channel"], "web");
    let listed: Vec<&str> = body["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        [
            second.conversation_id.as_str(),
            first.conversation_id.as_str()
        ],
        "the others, newest first"
    );
    let oldest = &body["conversations"][1];
    assert_eq!(oldest["ticket"], first.ticket.as_str());
    assert_eq!(oldest["status"], "pending");
    assert_eq!(oldest["tags"], json!(["vip"]));
    let text = body.to_string();
    assert!(!text.contains("Irina") && !text.contains("Petrova"));
    assert!(!text.contains("external_id") && !text.contains("identit"));

    // Bob may not see Ann's conversation, so not its customer either; the queue he may.
    let (status, body) = server.get(&path, &bob.token).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    let (status, body) = server
        .get(
            &format!("/api/v1/conversations/{}/contact", second.conversation_id),
            &bob.token,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["conversations"].as_array().unwrap().len(), 2);
    let (status, body) = server
        .get(
            &format!("/api/v1/conversations/{}/contact", stranger.conversation_id),
            &bob.token,
        )
        .await;
    assert_eq!((status, body["conversations"].clone()), (200, json!([])));

    let (status, body) = server
        .get(
            &format!("/api/v1/conversations/{}/contact", uuid::Uuid::new_v4()),
            &admin.token,
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (status, _) = server
        .get("/api/v1/conversations/nope/contact", &admin.token)
        .await;
    assert_eq!(status, 404);
    server.stop().await;
}
