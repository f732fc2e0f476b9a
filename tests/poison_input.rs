//! Input PostgreSQL cannot store (the NUL character) is refused as `invalid_request` naming its
//! field, and one client's bad write never fails anyone else's: the writer isolates a refused
//! job from the rest of its batch. Also: 422s for a body of the wrong shape name the field.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use chrono::Utc;
use common::{Client, TestServer, Widget};
use serde_json::{json, Value};
use switchboard::db::conversations::{self, Snapshot};
use switchboard::db::event_writer::{EventWriter, WriteJob};
use switchboard::db::events::EventRow;
use switchboard::domain::{Author, EventKind, Role};
use switchboard::error::ErrorCode;
use switchboard::ids::ConversationId;

const NUL_TEXT: &str = "a\u{0}b";

/// The status and `error.field` of a 422, asserting it is `invalid_request`.
fn assert_invalid(what: &str, (status, body): (u16, Value), field: &str) {
    assert_eq!(status, 422, "{what}: {body}");
    assert_eq!(body["error"]["code"], "invalid_request", "{what}: {body}");
    assert_eq!(body["error"]["field"], field, "{what}: {body}");
}

async fn post_widget(server: &TestServer, body: Value) -> (u16, Value) {
    let res = server
        .http
        .post(server.url("/api/v1/widget/sessions"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Frames of type `ack` or `error` until `n` have arrived (or nothing comes for a while).
async fn outcomes(client: &mut Client, n: usize) -> Vec<Value> {
    let mut out = Vec::new();
    while out.len() < n {
        match client.next(Duration::from_secs(15)).await {
            Some(v) if v["type"] == "ack" || v["type"] == "error" => out.push(v),
            Some(_) => {}
            None => break,
        }
    }
    out
}

#[actix_rt::test]
async fn a_visitor_message_with_nul_is_invalid_request_stores_nothing_and_the_socket_lives_on() {
    let mut server = TestServer::start().await;
    let w = server.open_widget(json!({})).await;
    let (mut v, _) = server.visitor(&w, None).await;

    v.send(json!({"type": "message", "client_id": "c1", "text": NUL_TEXT}))
        .await;
    let err = v.recv_type("error").await;
    assert_eq!(err["code"], "invalid_request", "{err}");
    assert_eq!(err["client_id"], "c1");
    assert!(err["message"].as_str().unwrap().contains("text"), "{err}");

    v.send(json!({"type": "message", "client_id": "c\u{0}2", "text": "hi"}))
        .await;
    let err = v.recv_type("error").await;
    assert_eq!(err["code"], "invalid_request", "{err}");
    assert!(
        err["message"].as_str().unwrap().contains("client_id"),
        "{err}"
    );

    v.send(json!({"type": "message", "client_id": "c3", "text": "still here"}))
        .await;
    let ack = v.recv_type("ack").await;
    assert_eq!(ack["client_id"], "c3");
    assert_eq!(server.event_count(&w.conversation_id).await, 1);
    server.stop().await;
}

#[actix_rt::test]
async fn a_rating_comment_with_nul_is_invalid_request() {
    let mut server = TestServer::start().await;
    let ann = server.add_operator("Ann", Role::Agent, 5).await;
    let w = server.open_widget(json!({"message": "help"})).await;
    let id = &w.conversation_id;
    let (status, body) = server
        .post(
            &format!("/api/v1/conversations/{id}/take"),
            &ann.token,
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = server
        .post(
            &format!("/api/v1/conversations/{id}/resolve"),
            &ann.token,
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let (mut v, _) = server.visitor(&w, None).await;
    v.send(json!({"type": "rate", "score": 5, "comment": NUL_TEXT}))
        .await;
    let err = v.recv_type("error").await;
    assert_eq!(err["code"], "invalid_request", "{err}");
    assert!(
        err["message"].as_str().unwrap().contains("comment"),
        "{err}"
    );
    let rated = server
        .scalar(&format!(
            "SELECT count(*) AS n FROM conversations WHERE id = '{id}' AND rating IS NOT NULL"
        ))
        .await;
    assert_eq!(rated, 0);
    server.stop().await;
}

#[actix_rt::test]
async fn widget_sessions_with_nul_are_refused_naming_the_field() {
    let mut server = TestServer::start().await;
    for (what, body, field) in [
        (
            "nested value",
            json!({"metadata": {"a": {"b": ["ok", "x\u{0}"]}}}),
            "metadata",
        ),
        (
            "nested key",
            json!({"metadata": {"a": {"k\u{0}": 1}}}),
            "metadata",
        ),
        (
            "top-level key",
            json!({"metadata": {"\u{0}": "v"}}),
            "metadata",
        ),
        ("name", json!({"name": NUL_TEXT}), "name"),
        ("message", json!({"message": NUL_TEXT}), "message"),
        ("group", json!({"group": "sales\u{0}"}), "group"),
    ] {
        assert_invalid(what, post_widget(&server, body).await, field);
    }
    let opened = server
        .scalar("SELECT count(*) AS n FROM conversations")
        .await;
    assert_eq!(opened, 0, "nothing was stored");
    // The same shapes without NUL are fine.
    server
        .open_widget(json!({"name": "Ann", "message": "hi", "metadata": {"a": {"k": ["v"]}}}))
        .await;
    server.stop().await;
}

/// Visitors sending NUL texts alongside ordinary visitors: every ordinary message is acked,
/// every NUL one refused as `invalid_request`, none `unavailable`.
#[actix_rt::test]
async fn nul_senders_do_not_fail_other_visitors_messages() {
    const ORDINARY: usize = 20;
    const POISONERS: usize = 6;
    // Within the default burst of 10 per socket.
    const EACH: usize = 10;
    let mut server = TestServer::start().await;
    let mut widgets: Vec<Widget> = Vec::new();
    for _ in 0..ORDINARY + POISONERS {
        widgets.push(server.open_widget(json!({})).await);
    }
    let mut sockets = Vec::new();
    for w in &widgets {
        sockets.push(server.visitor(w, None).await.0);
    }
    let runs = sockets
        .into_iter()
        .enumerate()
        .map(|(i, mut socket)| async move {
            let poison = i >= ORDINARY;
            for n in 0..EACH {
                let text = if poison {
                    NUL_TEXT.to_owned()
                } else {
                    format!("message {n}")
                };
                socket
                    .send(json!({"type": "message", "client_id": format!("m{n}"), "text": text}))
                    .await;
            }
            (poison, outcomes(&mut socket, EACH).await)
        });
    let results = futures_util::future::join_all(runs).await;

    let (mut acked, mut refused_ordinary, mut unavailable) = (0, 0, 0);
    let (mut refused_poison, mut poison_otherwise) = (0, 0);
    for (poison, frames) in &results {
        assert_eq!(frames.len(), EACH, "every message gets an answer");
        for f in frames {
            if f["code"] == "unavailable" {
                unavailable += 1;
            }
            match (poison, f["type"].as_str().unwrap()) {
                (false, "ack") => acked += 1,
                (false, _) => refused_ordinary += 1,
                (true, "error") if f["code"] == "invalid_request" => refused_poison += 1,
                (true, _) => poison_otherwise += 1,
            }
        }
    }
    println!(
        "ordinary: {acked} acked, {refused_ordinary} refused; NUL: {refused_poison} refused \
         as invalid_request, {poison_otherwise} otherwise; {unavailable} unavailable in all"
    );
    assert_eq!(unavailable, 0);
    assert_eq!(refused_ordinary, 0);
    assert_eq!(acked, ORDINARY * EACH);
    assert_eq!(refused_poison, POISONERS * EACH);
    let stored = server
        .scalar("SELECT count(*) AS n FROM events WHERE kind = 'message'")
        .await;
    assert_eq!(stored as usize, ORDINARY * EACH);
    server.stop().await;
}

/// A job for `snap`'s conversation adding one visitor message.
fn message_job(snap: &Snapshot, client_id: &str, body: &str) -> WriteJob {
    let now = Utc::now();
    let mut snapshot = snap.clone();
    snapshot.last_seq += 1;
    snapshot.last_message_at = Some(now);
    snapshot.updated_at = now;
    WriteJob {
        events: vec![EventRow {
            conversation_id: snap.id,
            seq: snapshot.last_seq,
            kind: EventKind::Message,
            author: Author::Visitor,
            author_id: None,
            author_name: "User".into(),
            body: body.to_owned(),
            data: None,
            client_id: Some(client_id.to_owned()),
            created_at: now,
        }],
        snapshot,
        assignment: None,
        audit: Vec::new(),
        tag: None,
        outbox: Vec::new(),
        deadlines: Vec::new(),
    }
}

/// Even with validation bypassed, a job the database refuses fails alone: the good jobs in
/// its batch commit, and the bad ones get a 4xx-class error, never `unavailable` (except a
/// clash on the idempotency key, which a retry answers with the original ack).
#[actix_rt::test]
async fn the_writer_fails_only_the_job_the_database_refuses() {
    let mut server = TestServer::start().await;
    let pool = server.running.as_ref().unwrap().pool.clone();
    const CONVERSATIONS: usize = 14;
    let mut snaps = Vec::new();
    let mut conn = server.db.conn().await;
    for _ in 0..CONVERSATIONS {
        // Opened with a message, so seq 1 exists.
        let w = server.open_widget(json!({"message": "first"})).await;
        let id: ConversationId = w.conversation_id.parse().unwrap();
        let (row, _alias) = conversations::find(&mut conn, id).await.unwrap();
        snaps.push(Snapshot::from(&row));
    }

    let arbiter = actix::Arbiter::new();
    let writer = EventWriter::start(&arbiter.handle(), pool, 1, 10_000);
    // The last conversation already holds a message sent with client_id `again`.
    let author = Some(uuid::Uuid::new_v4());
    let mut earlier = message_job(&snaps[13], "again", "sent once");
    earlier.events[0].author_id = author;
    snaps[13] = earlier.snapshot.clone();
    writer.commit(earlier).await.unwrap();

    // Which jobs are poisoned, and how the writer must answer them.
    let bad: [(usize, ErrorCode); 5] = [
        (3, ErrorCode::InvalidRequest), // NUL in a text column
        (6, ErrorCode::InvalidRequest), // \u0000 in a jsonb column
        (9, ErrorCode::InvalidRequest), // a check constraint (level 0 to 2)
        (12, ErrorCode::Conflict),      // seq 1 again: the primary key
        // The idempotency key: stored before, so the sender retries and gets the original ack.
        (13, ErrorCode::Unavailable),
    ];
    let jobs: Vec<WriteJob> = snaps
        .iter()
        .enumerate()
        .map(|(i, snap)| {
            let mut job = message_job(snap, &format!("job-{i}"), &format!("good {i}"));
            match i {
                3 => job.events[0].body = NUL_TEXT.to_owned(),
                6 => job.events[0].data = Some(json!({"k": "\u{0}"})),
                9 => job.snapshot.level = 9,
                12 => job.events[0].seq = 1,
                13 => {
                    job.events[0].author_id = author;
                    job.events[0].client_id = Some("again".into());
                }
                _ => {}
            }
            job
        })
        .collect();

    // One transaction at a time and room for every job, all submitted before the first
    // finishes, so the poisoned jobs share batches with good ones.
    let results =
        futures_util::future::join_all(jobs.into_iter().map(|job| writer.commit(job))).await;

    for (i, result) in results.iter().enumerate() {
        let id = snaps[i].id;
        let stored = server
            .scalar(&format!(
                "SELECT count(*) AS n FROM events WHERE conversation_id = '{id}' AND client_id = 'job-{i}'"
            ))
            .await;
        let last_seq = server
            .scalar(&format!(
                "SELECT last_seq AS n FROM conversations WHERE id = '{id}'"
            ))
            .await;
        match bad.iter().find(|(b, _)| *b == i) {
            None => {
                assert!(result.is_ok(), "good job {i}: {result:?}");
                assert_eq!(stored, 1, "good job {i} stored");
                assert_eq!(last_seq, snaps[i].last_seq + 1, "job {i}'s snapshot");
            }
            Some((_, code)) => {
                let err = result.as_ref().expect_err("a poisoned job fails");
                assert_eq!(err.code(), *code, "job {i}: {err:?}");
                assert!(!err.to_string().contains("UTF8"), "no driver text: {err}");
                assert_eq!(stored, 0, "job {i} stored nothing");
                assert_eq!(
                    last_seq, snaps[i].last_seq,
                    "job {i}'s snapshot is unchanged"
                );
            }
        }
    }
    arbiter.stop();
    server.stop().await;
}

#[actix_rt::test]
async fn operator_input_with_nul_is_refused_naming_the_field() {
    let mut server = TestServer::start().await;
    let admin = server.add_operator("Root", Role::Admin, 5).await;
    let t = admin.token.as_str();
    let w = server.open_widget(json!({"message": "hello"})).await;
    let c = format!("/api/v1/conversations/{}", w.conversation_id);
    let (status, body) = server.post(&format!("{c}/take"), t, json!({})).await;
    assert_eq!(status, 200, "{body}");
    let events_before = server.event_count(&w.conversation_id).await;

    for (what, path, body, field) in [
        (
            "note text",
            format!("{c}/notes"),
            json!({"client_id": "n1", "text": NUL_TEXT}),
            "text",
        ),
        (
            "note client_id",
            format!("{c}/notes"),
            json!({"client_id": "n\u{0}", "text": "x"}),
            "client_id",
        ),
        (
            "message text",
            format!("{c}/messages"),
            json!({"client_id": "m1", "text": NUL_TEXT}),
            "text",
        ),
        (
            "tag by name",
            format!("{c}/tags"),
            json!({"name": NUL_TEXT}),
            "name",
        ),
        (
            "new tag",
            "/api/v1/tags".into(),
            json!({"name": NUL_TEXT}),
            "name",
        ),
        (
            "canned title",
            "/api/v1/canned-responses".into(),
            json!({"shortcut": "hi", "title": NUL_TEXT, "body": "Hello"}),
            "title",
        ),
        (
            "canned body",
            "/api/v1/canned-responses".into(),
            json!({"shortcut": "hi", "title": "Hi", "body": NUL_TEXT}),
            "body",
        ),
        (
            "group name",
            "/api/v1/groups".into(),
            json!({"name": NUL_TEXT}),
            "name",
        ),
        (
            "operator name",
            "/api/v1/operators".into(),
            json!({"email": "x@example.test", "name": NUL_TEXT, "password": "long enough pw", "role": "agent"}),
            "name",
        ),
        (
            "operator email",
            "/api/v1/operators".into(),
            json!({"email": "x\u{0}@example.test", "name": "X", "password": "long enough pw", "role": "agent"}),
            "email",
        ),
    ] {
        assert_invalid(what, server.post(&path, t, body).await, field);
    }
    let me = format!("/api/v1/operators/{}", admin.id);
    assert_invalid(
        "patch name",
        server.patch(&me, t, json!({"name": NUL_TEXT})).await,
        "name",
    );
    assert_invalid(
        "patch email",
        server
            .patch(&me, t, json!({"email": "r\u{0}@example.test"}))
            .await,
        "email",
    );
    for (what, path, field) in [
        ("search q", "/api/v1/search?q=a%00b", "q"),
        ("canned q", "/api/v1/canned-responses?q=a%00b", "q"),
        ("audit action", "/api/v1/audit?action=a%00b", "action"),
    ] {
        assert_invalid(what, server.get(path, t).await, field);
    }

    // Nothing was stored, and the same requests without NUL work.
    assert_eq!(server.event_count(&w.conversation_id).await, events_before);
    let stored = server
        .scalar("SELECT (SELECT count(*) FROM tags) + (SELECT count(*) FROM canned_responses) AS n")
        .await;
    assert_eq!(stored, 0, "no tag or canned response was created");
    let (status, body) = server
        .post(
            &format!("{c}/notes"),
            t,
            json!({"client_id": "n1", "text": "fine"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    server.stop().await;
}

#[actix_rt::test]
async fn a_wrong_priority_and_an_unknown_tag_name_name_their_field() {
    let mut server = TestServer::start().await;
    let admin = server.add_operator("Root", Role::Admin, 5).await;
    let t = admin.token.as_str();
    let w = server.open_widget(json!({"message": "hello"})).await;
    let c = format!("/api/v1/conversations/{}", w.conversation_id);
    server.post(&format!("{c}/take"), t, json!({})).await;

    for body in [
        json!({"priority": "extreme"}),
        json!({"priority": 3}),
        json!({}),
    ] {
        assert_invalid(
            &format!("priority {body}"),
            server.post(&format!("{c}/priority"), t, body.clone()).await,
            "priority",
        );
    }
    assert_invalid(
        "unknown tag name",
        server
            .post(&format!("{c}/tags"), t, json!({"name": "nope"}))
            .await,
        "name",
    );
    assert_invalid(
        "unknown tag id",
        server
            .post(
                &format!("{c}/tags"),
                t,
                json!({"tag_id": uuid::Uuid::new_v4().to_string()}),
            )
            .await,
        "tag_id",
    );
    // The operator endpoints name theirs too.
    assert_invalid(
        "unknown role",
        server
            .patch(
                &format!("/api/v1/operators/{}", admin.id),
                t,
                json!({"role": "wizard"}),
            )
            .await,
        "role",
    );
    assert_invalid(
        "unknown status",
        server
            .put(
                "/api/v1/operators/me/status",
                t,
                json!({"status": "asleep"}),
            )
            .await,
        "status",
    );
    server.stop().await;
}
