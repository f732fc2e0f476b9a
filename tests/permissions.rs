//! The permission matrix: every endpoint called by every role. A role below an endpoint's
//! minimum must get 401 (no token) or 403 and change nothing; a role at or above it must not be
//! refused. Agents may act only on the queue and their own conversations.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Operator, TestServer};
use serde_json::{json, Value};
use switchboard::domain::Role;

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Needs {
    Public,
    Operator,
    Supervisor,
    Admin,
    /// Any operator who may act on the conversation (its assignee, or a supervisor/admin).
    Assignee,
}

struct Call {
    method: &'static str,
    path: String,
    body: Value,
    needs: Needs,
}

fn call(method: &'static str, path: impl Into<String>, body: Value, needs: Needs) -> Call {
    Call {
        method,
        path: path.into(),
        body,
        needs,
    }
}

async fn send(server: &TestServer, c: &Call, token: Option<&str>) -> u16 {
    let url = server.url(&c.path);
    let mut req = match c.method {
        "GET" => server.http.get(&url),
        "POST" => server.http.post(&url).json(&c.body),
        "PUT" => server.http.put(&url).json(&c.body),
        "PATCH" => server.http.patch(&url).json(&c.body),
        "DELETE" => server.http.delete(&url),
        other => panic!("unknown method {other}"),
    };
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    req.send().await.unwrap().status().as_u16()
}

/// Everything a refused call could have changed.
async fn fingerprint(server: &TestServer) -> String {
    server
        .text(
            "SELECT concat_ws('|', \
               (SELECT string_agg(concat_ws(',', id, email, name, role, tier, max_concurrent, accepting, status, deleted_at, password_hash), ';' ORDER BY id) FROM operators), \
               (SELECT string_agg(concat_ws(',', id, name, strategy, is_default, deleted_at), ';' ORDER BY id) FROM groups), \
               (SELECT count(*) FROM group_members), \
               (SELECT string_agg(concat_ws(',', id, name, color), ';' ORDER BY id) FROM tags), \
               (SELECT string_agg(concat_ws(',', id, shortcut, title, body), ';' ORDER BY id) FROM canned_responses), \
               (SELECT string_agg(concat_ws(',', id, status, assignee_id, priority, level, group_id, last_seq), ';' ORDER BY id) FROM conversations), \
               (SELECT count(*) FROM conversation_tags), (SELECT count(*) FROM events), \
               (SELECT count(*) FROM assignments), (SELECT count(*) FROM audit_log), \
               (SELECT count(*) FROM operator_sessions WHERE revoked_at IS NOT NULL)) AS value",
        )
        .await
}

fn rank(role: Role) -> u8 {
    role.rank()
}

fn allowed(needs: Needs, role: Option<Role>, assignee: bool) -> bool {
    match (needs, role) {
        (Needs::Public, _) => true,
        (_, None) => false,
        (Needs::Operator, Some(_)) => true,
        (Needs::Supervisor, Some(r)) => rank(r) >= rank(Role::Supervisor),
        (Needs::Admin, Some(r)) => r == Role::Admin,
        (Needs::Assignee, Some(r)) => assignee || rank(r) >= rank(Role::Supervisor),
    }
}

#[actix_rt::test]
async fn every_role_against_every_endpoint() {
    let mut server = TestServer::start().await;
    let admin = server.add_operator("Ada Admin", Role::Admin, 0).await;
    let sup = server.add_operator("Sue Super", Role::Supervisor, 0).await;
    let owner = server.add_operator("Olga Owner", Role::Agent, 0).await;
    let other = server.add_operator("Otto Other", Role::Agent, 0).await;
    let victim = server.add_operator("Vic Victim", Role::Agent, 0).await;

    let (_, g) = server
        .post("/api/v1/groups", &admin.token, json!({"name": "Target"}))
        .await;
    let group = g["id"].as_str().unwrap().to_owned();
    let (_, t) = server
        .post("/api/v1/tags", &admin.token, json!({"name": "target"}))
        .await;
    let tag = t["id"].as_str().unwrap().to_owned();
    let (_, c) = server
        .post(
            "/api/v1/canned-responses",
            &admin.token,
            json!({"shortcut": "hi", "title": "Hi", "body": "Hello!"}),
        )
        .await;
    let canned = c["id"].as_str().unwrap().to_owned();
    let w = server.open_widget(json!({"message": "help"})).await;
    let conv = w.conversation_id.clone();
    let (s, _) = server
        .post(
            &format!("/api/v1/conversations/{conv}/take"),
            &owner.token,
            json!({}),
        )
        .await;
    assert_eq!(s, 200);

    let v = &victim.id;
    let matrix = vec![
        // Public.
        call("GET", "/health", json!(null), Needs::Public),
        call("GET", "/api/openapi.json", json!(null), Needs::Public),
        // Any operator.
        call("GET", "/api/v1/auth/me", json!(null), Needs::Operator),
        call("GET", "/api/v1/conversations", json!(null), Needs::Operator),
        call("GET", "/api/v1/groups", json!(null), Needs::Operator),
        call("GET", "/api/v1/tags", json!(null), Needs::Operator),
        call(
            "GET",
            format!("/api/v1/tags/{tag}"),
            json!(null),
            Needs::Operator,
        ),
        call(
            "GET",
            "/api/v1/canned-responses",
            json!(null),
            Needs::Operator,
        ),
        call(
            "GET",
            format!("/api/v1/canned-responses/{canned}"),
            json!(null),
            Needs::Operator,
        ),
        call("GET", "/api/v1/search?q=help", json!(null), Needs::Operator),
        // Conversation-scoped: the owner, or supervisors and admins.
        call(
            "GET",
            format!("/api/v1/conversations/{conv}"),
            json!(null),
            Needs::Assignee,
        ),
        call(
            "GET",
            format!("/api/v1/conversations/{conv}/events"),
            json!(null),
            Needs::Assignee,
        ),
        call(
            "GET",
            format!("/api/v1/conversations/{conv}/contact"),
            json!(null),
            Needs::Assignee,
        ),
        call(
            "POST",
            format!("/api/v1/conversations/{conv}/messages"),
            json!({"client_id": "pm", "text": "hi"}),
            Needs::Assignee,
        ),
        call(
            "POST",
            format!("/api/v1/conversations/{conv}/notes"),
            json!({"client_id": "pn", "text": "n"}),
            Needs::Assignee,
        ),
        call(
            "POST",
            format!("/api/v1/conversations/{conv}/tags"),
            json!({"tag_id": tag}),
            Needs::Assignee,
        ),
        call(
            "DELETE",
            format!("/api/v1/conversations/{conv}/tags/{tag}"),
            json!(null),
            Needs::Assignee,
        ),
        call(
            "POST",
            format!("/api/v1/conversations/{conv}/priority"),
            json!({"priority": "high"}),
            Needs::Assignee,
        ),
        call(
            "POST",
            format!("/api/v1/conversations/{conv}/escalate"),
            json!({}),
            Needs::Assignee,
        ),
        call(
            "POST",
            format!("/api/v1/conversations/{conv}/transfer"),
            json!({"operator_id": owner.id}),
            Needs::Assignee,
        ),
        call(
            "POST",
            format!("/api/v1/conversations/{conv}/take"),
            json!({}),
            Needs::Assignee,
        ),
        call(
            "POST",
            format!("/api/v1/conversations/{conv}/resolve"),
            json!({}),
            Needs::Assignee,
        ),
        call(
            "POST",
            format!("/api/v1/conversations/{conv}/reopen"),
            json!({}),
            Needs::Assignee,
        ),
        // Supervisors and admins.
        call("GET", "/api/v1/operators", json!(null), Needs::Supervisor),
        call(
            "GET",
            format!("/api/v1/operators/{v}"),
            json!(null),
            Needs::Supervisor,
        ),
        call("GET", "/api/v1/stats", json!(null), Needs::Supervisor),
        call(
            "POST",
            format!("/api/v1/conversations/{conv}/assign"),
            json!({"operator_id": owner.id}),
            Needs::Supervisor,
        ),
        // Admins.
        call("GET", "/api/v1/audit", json!(null), Needs::Admin),
        call(
            "POST",
            "/api/v1/operators",
            json!({"email": "new@example.test", "name": "New", "password": "long enough pw", "role": "agent"}),
            Needs::Admin,
        ),
        call(
            "PATCH",
            format!("/api/v1/operators/{v}"),
            json!({"max_concurrent": 3}),
            Needs::Admin,
        ),
        call(
            "POST",
            format!("/api/v1/operators/{v}/password"),
            json!({"new_password": "another long pw"}),
            Needs::Admin,
        ),
        call(
            "POST",
            format!("/api/v1/operators/{v}/revoke-sessions"),
            json!({}),
            Needs::Admin,
        ),
        call(
            "DELETE",
            format!("/api/v1/operators/{v}"),
            json!(null),
            Needs::Admin,
        ),
        call(
            "POST",
            format!("/api/v1/operators/{v}/restore"),
            json!({}),
            Needs::Admin,
        ),
        call(
            "POST",
            "/api/v1/groups",
            json!({"name": "Another"}),
            Needs::Admin,
        ),
        call(
            "PATCH",
            format!("/api/v1/groups/{group}"),
            json!({"strategy": "round_robin"}),
            Needs::Admin,
        ),
        call(
            "PUT",
            format!("/api/v1/groups/{group}/members/{v}"),
            json!({}),
            Needs::Admin,
        ),
        call(
            "DELETE",
            format!("/api/v1/groups/{group}/members/{v}"),
            json!(null),
            Needs::Admin,
        ),
        call(
            "POST",
            "/api/v1/tags",
            json!({"name": "fresh"}),
            Needs::Admin,
        ),
        call(
            "PATCH",
            format!("/api/v1/tags/{tag}"),
            json!({"color": "#112233"}),
            Needs::Admin,
        ),
        call(
            "POST",
            "/api/v1/canned-responses",
            json!({"shortcut": "bye", "title": "Bye", "body": "Bye!"}),
            Needs::Admin,
        ),
        call(
            "PATCH",
            format!("/api/v1/canned-responses/{canned}"),
            json!({"title": "Hello"}),
            Needs::Admin,
        ),
        call(
            "DELETE",
            format!("/api/v1/canned-responses/{canned}"),
            json!(null),
            Needs::Admin,
        ),
        call(
            "DELETE",
            format!("/api/v1/groups/{group}"),
            json!(null),
            Needs::Admin,
        ),
        call(
            "DELETE",
            format!("/api/v1/tags/{tag}"),
            json!(null),
            Needs::Admin,
        ),
        // Last: closing ends the conversation for everyone after.
        call(
            "POST",
            format!("/api/v1/conversations/{conv}/close"),
            json!({}),
            Needs::Assignee,
        ),
    ];

    // Refusals first, all of them, then check nothing changed.
    let callers: [(&str, Option<&Operator>, Option<Role>, bool); 5] = [
        ("anonymous", None, None, false),
        (
            "agent (not assignee)",
            Some(&other),
            Some(Role::Agent),
            false,
        ),
        ("agent (assignee)", Some(&owner), Some(Role::Agent), true),
        ("supervisor", Some(&sup), Some(Role::Supervisor), false),
        ("admin", Some(&admin), Some(Role::Admin), false),
    ];
    let before = fingerprint(&server).await;
    let mut refusals = 0;
    for c in &matrix {
        for (who, op, role, assignee) in &callers {
            if allowed(c.needs, *role, *assignee) {
                continue;
            }
            let status = send(&server, c, op.map(|o| o.token.as_str())).await;
            let expected = if op.is_none() { 401 } else { 403 };
            assert_eq!(
                status, expected,
                "{who} calling {} {} must be refused",
                c.method, c.path
            );
            refusals += 1;
        }
    }
    assert!(refusals > 60, "the matrix checked {refusals} refusals");
    assert_eq!(
        fingerprint(&server).await,
        before,
        "a refused call changed something"
    );

    // Then every allowed caller is let through (the result may still be a 4xx about the data,
    // e.g. a conflict, but never 401 or 403).
    for c in &matrix {
        for (who, op, role, assignee) in &callers {
            if !allowed(c.needs, *role, *assignee) {
                continue;
            }
            let status = send(&server, c, op.map(|o| o.token.as_str())).await;
            assert!(
                status != 401 && status != 403,
                "{who} calling {} {} was refused with {status}",
                c.method,
                c.path
            );
        }
        // Transfers and takes move the conversation around: give it back to its owner so the
        // next rows see the same scoping.
        if c.path.contains(&conv) && !c.path.ends_with("/close") {
            let back = server
                .post(
                    &format!("/api/v1/conversations/{conv}/assign"),
                    &sup.token,
                    json!({"operator_id": owner.id}),
                )
                .await;
            assert!(back.0 == 200 || back.0 == 409, "{back:?}");
        }
    }
    server.stop().await;
}
