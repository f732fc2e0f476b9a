//! Web security: changes carried by the panel's cookie from another site are refused (CSRF);
//! the session cookie is `__Host-`, Secure and strict; per-client limits see through trusted
//! proxies only; sign-in and the current-password check back off per account; the operator
//! API is rate-limited per token; and logs written to a pipe carry no colour codes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use chrono::Duration;
use common::{TestDb, TestServer};
use serde_json::{json, Value};
use switchboard::clock::ManualClock;
use switchboard::config::Config;
use switchboard::domain::Role;

const PASSWORD: &str = "correct horse battery";

/// A sign-in attempt, as a proxy in front of the server would pass it on when `via` is given.
async fn login(
    server: &TestServer,
    email: &str,
    password: &str,
    via: Option<&str>,
) -> reqwest::Response {
    let mut req = server
        .http
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({"email": email, "password": password}));
    if let Some(client) = via {
        req = req.header("X-Forwarded-For", client);
    }
    req.send().await.unwrap()
}

/// The status, the error code and the `Retry-After` of an answer.
async fn outcome(res: reqwest::Response) -> (u16, String, Option<u64>) {
    let status = res.status().as_u16();
    let retry_after = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    let body: Value = res.json().await.unwrap_or(Value::Null);
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (status, code, retry_after)
}

fn set_cookies(res: &reqwest::Response) -> Vec<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// A cookie-only request (as a browser sends it), with the given extra headers.
async fn with_cookie(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    cookie: &str,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let mut req = server
        .http
        .request(method, server.url(path))
        .header("Cookie", cookie);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[actix_rt::test]
async fn a_change_carried_by_the_cookie_from_another_site_is_refused() {
    let mut server = TestServer::start().await;
    let ann = server.add_operator("Ann Agent", Role::Agent, 5).await;
    let cookie = format!("__Host-sb_session={}", ann.token);
    let first = server.open_widget(json!({"message": "Hello"})).await;
    let take = format!("/api/v1/conversations/{}/take", first.conversation_id);
    let post = reqwest::Method::POST;

    // A form on a sibling subdomain posts to the API; the browser attaches the cookie.
    let foreign = [("Origin", "https://blog.example.com")];
    let (status, body) = with_cookie(&server, post.clone(), &take, &cookie, &foreign).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
    // Fetch metadata saying the same, and a request that shows neither header: refused too.
    let sibling = [("Sec-Fetch-Site", "same-site")];
    let (status, _) = with_cookie(&server, post.clone(), &take, &cookie, &sibling).await;
    assert_eq!(status, 403);
    let (status, _) = with_cookie(&server, post.clone(), &take, &cookie, &[]).await;
    assert_eq!(status, 403);
    assert_eq!(
        server.assignee(&first.conversation_id).await,
        None,
        "nothing changed"
    );

    // Reading with the cookie is not a change.
    let (status, me) = with_cookie(
        &server,
        reqwest::Method::GET,
        "/api/v1/auth/me",
        &cookie,
        &foreign,
    )
    .await;
    assert_eq!((status, me["id"].as_str()), (200, Some(ann.id.as_str())));

    // The panel itself: its own origin, or the browser's word that it is same-origin.
    let own = [("Origin", server.base.as_str())];
    let (status, body) = with_cookie(&server, post.clone(), &take, &cookie, &own).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        server.assignee(&first.conversation_id).await.as_deref(),
        Some(ann.id.as_str())
    );
    let resolve = format!("/api/v1/conversations/{}/resolve", first.conversation_id);
    let same_origin = [("Sec-Fetch-Site", "same-origin")];
    let (status, body) = with_cookie(&server, post.clone(), &resolve, &cookie, &same_origin).await;
    assert_eq!(status, 200, "{body}");

    // A bearer token is not sent by browsers on their own: the Origin does not matter.
    let second = server.open_widget(json!({"message": "Hi again"})).await;
    let res = server
        .http
        .post(server.url(&format!(
            "/api/v1/conversations/{}/take",
            second.conversation_id
        )))
        .bearer_auth(&ann.token)
        .header("Origin", "https://blog.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // Every unsafe method is covered, not only POST.
    let (status, _) = with_cookie(
        &server,
        reqwest::Method::PUT,
        "/api/v1/operators/me/status",
        &cookie,
        &foreign,
    )
    .await;
    assert_eq!(status, 403);
    server.stop().await;
}

#[actix_rt::test]
async fn the_session_cookie_is_host_only_secure_and_strict() {
    let mut server = TestServer::start().await;
    let ann = server.add_operator("Ann Agent", Role::Agent, 5).await;
    let res = login(&server, &ann.email, PASSWORD, None).await;
    assert_eq!(res.status(), 200);
    let cookies = set_cookies(&res);
    let session = cookies
        .iter()
        .find(|c| c.starts_with("__Host-sb_session="))
        .unwrap_or_else(|| panic!("a __Host- session cookie: {cookies:?}"));
    for attribute in ["Secure", "HttpOnly", "Path=/", "SameSite=Strict"] {
        assert!(
            session.split("; ").any(|a| a == attribute),
            "{attribute} in {session}"
        );
    }
    assert!(!session.contains("Domain"), "{session}");
    let token = res.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();

    let me = "/api/v1/auth/me";
    let get = reqwest::Method::GET;
    let host_cookie = format!("__Host-sb_session={token}");
    let (status, _) = with_cookie(&server, get.clone(), me, &host_cookie, &[]).await;
    assert_eq!(status, 200);
    // A plain `sb_session` could be planted by a sibling subdomain: it is not read.
    let plain = format!("sb_session={token}");
    let (status, _) = with_cookie(&server, get, me, &plain, &[]).await;
    assert_eq!(status, 401);

    // Signing out removes it under the same name and attributes (or browsers keep it).
    let res = server
        .http
        .post(server.url("/api/v1/auth/logout"))
        .header("Cookie", &host_cookie)
        .header("Origin", &server.base)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let removal = set_cookies(&res)
        .into_iter()
        .find(|c| c.starts_with("__Host-sb_session=;") || c.starts_with("__Host-sb_session=\"\""))
        .expect("the cookie is removed");
    assert!(
        removal.contains("Secure") && removal.contains("Path=/"),
        "{removal}"
    );
    assert!(removal.contains("Max-Age=0"), "{removal}");
    server.stop().await;
}

#[actix_rt::test]
async fn plain_http_development_uses_a_plain_cookie() {
    let mut server = TestServer::start_with(|c| Config {
        cookie_secure: false,
        ..c
    })
    .await;
    let ann = server.add_operator("Ann Agent", Role::Agent, 5).await;
    let res = login(&server, &ann.email, PASSWORD, None).await;
    let cookies = set_cookies(&res);
    let session = cookies
        .iter()
        .find(|c| c.starts_with("sb_session="))
        .unwrap_or_else(|| panic!("a plain session cookie: {cookies:?}"));
    assert!(!session.contains("Secure"), "{session}");
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Strict"));
    let token = res.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = with_cookie(
        &server,
        reqwest::Method::GET,
        "/api/v1/auth/me",
        &format!("sb_session={token}"),
        &[],
    )
    .await;
    assert_eq!(status, 200);
    server.stop().await;
}

#[actix_rt::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_login_budget() {
    let mut server = TestServer::start_with(|c| Config {
        trusted_proxies: "127.0.0.1".into(),
        logins_per_ip_per_min: 2,
        ..c
    })
    .await;
    let (a, b) = ("203.0.113.1", "203.0.113.2");
    for n in 0..2 {
        let res = login(&server, &format!("a{n}@example.test"), "nope", Some(a)).await;
        assert_eq!(res.status(), 401);
    }
    let (status, code, retry_after) =
        outcome(login(&server, "a2@example.test", "nope", Some(a)).await).await;
    assert_eq!((status, code.as_str()), (429, "rate_limited"));
    assert!(retry_after.unwrap() >= 1);
    // Another visitor behind the same proxy is not locked out.
    let res = login(&server, "b0@example.test", "nope", Some(b)).await;
    assert_eq!(res.status(), 401);
    // An address the client wrote itself (left of the proxy's) changes nothing.
    let forged = format!("198.51.100.7, {a}");
    let res = login(&server, "a3@example.test", "nope", Some(&forged)).await;
    assert_eq!(res.status(), 429);
    // A `Forwarded` header the client wrote itself is passed through by the proxy, which
    // appends only to X-Forwarded-For: it is not believed.
    let res = server
        .http
        .post(server.url("/api/v1/auth/login"))
        .header("Forwarded", "for=203.0.113.3;proto=https")
        .header("X-Forwarded-For", a)
        .json(&json!({"email": "a4@example.test", "password": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429, "a client cannot pick its address");
    server.stop().await;
}

#[actix_rt::test]
async fn proxies_that_write_forwarded_are_read_from_forwarded_only() {
    let mut server = TestServer::start_with(|c| Config {
        logins_per_ip_per_min: 1,
        trusted_proxies: "127.0.0.1".into(),
        forwarded_header: "forwarded".into(),
        ..c
    })
    .await;
    let attempt = |email: &'static str, forwarded: &'static str, xff: &'static str| {
        server
            .http
            .post(server.url("/api/v1/auth/login"))
            .header("Forwarded", forwarded)
            .header("X-Forwarded-For", xff)
            .json(&json!({"email": email, "password": "nope"}))
            .send()
    };
    let first = attempt("f0@example.test", "for=203.0.113.1", "198.51.100.1").await;
    assert_eq!(first.unwrap().status(), 401);
    // Same Forwarded address, another X-Forwarded-For: still the same client, now limited.
    let second = attempt("f1@example.test", "for=203.0.113.1", "198.51.100.2").await;
    assert_eq!(second.unwrap().status(), 429);
    let other = attempt(
        "f2@example.test",
        "for=\"[2001:db8::1]:4711\"",
        "198.51.100.1",
    )
    .await;
    assert_eq!(other.unwrap().status(), 401);
    server.stop().await;
}

#[actix_rt::test]
async fn forwarding_headers_from_an_untrusted_peer_are_ignored() {
    let mut server = TestServer::start_with(|c| Config {
        logins_per_ip_per_min: 2,
        ..c
    })
    .await;
    for (n, client) in ["203.0.113.1", "203.0.113.2"].iter().enumerate() {
        let res = login(&server, &format!("x{n}@example.test"), "nope", Some(client)).await;
        assert_eq!(res.status(), 401);
    }
    let res = login(&server, "x2@example.test", "nope", Some("203.0.113.3")).await;
    assert_eq!(res.status(), 429, "one budget: the header is not believed");
    server.stop().await;
}

#[actix_rt::test]
async fn a_bad_trusted_proxies_setting_stops_the_start() {
    let db = TestDb::create().await;
    let config = Config {
        trusted_proxies: "10.0.0.0/8, proxy.internal".into(),
        ..common::test_config(&db.url)
    };
    let err = switchboard::server::start(config)
        .await
        .err()
        .expect("the server refuses to start");
    assert!(err.to_string().contains("proxy.internal"), "{err}");
}

#[actix_rt::test]
async fn failed_logins_for_one_email_back_off_whatever_the_address() {
    let clock = ManualClock::new();
    let mut server = TestServer::start_with_clock(
        |c| Config {
            trusted_proxies: "127.0.0.1".into(),
            ..c
        },
        clock.clone(),
    )
    .await;
    let ann = server.add_operator("Ann Agent", Role::Agent, 5).await;
    for n in 1..=5 {
        let via = format!("203.0.113.{n}");
        let res = login(&server, &ann.email, "a wrong guess", Some(&via)).await;
        assert_eq!(res.status(), 401, "attempt {n}");
    }
    // Even the right password waits now, from any address.
    let (status, code, retry_after) =
        outcome(login(&server, &ann.email, PASSWORD, Some("203.0.113.99")).await).await;
    assert_eq!((status, code.as_str()), (429, "rate_limited"));
    let wait = retry_after.expect("Retry-After");
    assert!(wait >= 1);
    clock.advance(Duration::seconds(wait as i64));
    let res = login(&server, &ann.email, PASSWORD, Some("203.0.113.99")).await;
    assert_eq!(res.status(), 200, "the wait is over");

    // The success started the count afresh: five more tries before the next wait.
    for n in 1..=5 {
        let res = login(&server, &ann.email, "a wrong guess", Some("203.0.113.50")).await;
        assert_eq!(res.status(), 401, "attempt {n} after the reset");
    }
    let (status, _, first) =
        outcome(login(&server, &ann.email, PASSWORD, Some("203.0.113.50")).await).await;
    assert_eq!(status, 429);
    // Each further failure doubles the wait.
    clock.advance(Duration::seconds(first.unwrap() as i64));
    let res = login(&server, &ann.email, "a wrong guess", None).await;
    assert_eq!(res.status(), 401);
    let (status, _, second) = outcome(login(&server, &ann.email, PASSWORD, None).await).await;
    assert_eq!(status, 429);
    assert!(
        second.unwrap() >= 2 * first.unwrap(),
        "{second:?} after {first:?}"
    );
    server.stop().await;
}

#[actix_rt::test]
async fn an_unknown_email_backs_off_exactly_like_a_known_one() {
    let clock = ManualClock::new();
    let mut server = TestServer::start_with_clock(|c| c, clock.clone()).await;
    let ann = server.add_operator("Ann Agent", Role::Agent, 5).await;
    let mut answers = Vec::new();
    for email in [ann.email.as_str(), "nobody@example.test"] {
        let mut seen = Vec::new();
        for _ in 0..6 {
            let res = login(&server, email, "a wrong guess", None).await;
            let (status, code, retry_after) = outcome(res).await;
            seen.push((status, code, retry_after));
        }
        answers.push(seen);
    }
    assert_eq!(
        answers[0], answers[1],
        "the answers tell nothing about who exists"
    );
    assert_eq!(answers[1][4].0, 401);
    assert_eq!(answers[1][5].0, 429);
    clock.advance(Duration::seconds(answers[1][5].2.unwrap() as i64));
    let res = login(&server, "nobody@example.test", "a wrong guess", None).await;
    assert_eq!(res.status(), 401);
    server.stop().await;
}

#[actix_rt::test]
async fn wrong_current_passwords_lock_the_password_change_for_a_while() {
    let clock = ManualClock::new();
    let mut server = TestServer::start_with_clock(|c| c, clock.clone()).await;
    let ann = server.add_operator("Ann Agent", Role::Agent, 5).await;
    let bob = server.add_operator("Bob Agent", Role::Agent, 5).await;
    let change = |id: &str| format!("/api/v1/operators/{id}/password");
    let guess = json!({"current_password": "a wrong guess", "new_password": "a brand new one"});
    for n in 1..=5 {
        let (status, body) = server
            .post(&change(&ann.id), &ann.token, guess.clone())
            .await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (422, Some("current_password")),
            "attempt {n}: {body}"
        );
    }
    let right = json!({"current_password": PASSWORD, "new_password": "a brand new one"});
    let res = server
        .http
        .post(server.url(&change(&ann.id)))
        .bearer_auth(&ann.token)
        .json(&right)
        .send()
        .await
        .unwrap();
    let (status, code, retry_after) = outcome(res).await;
    assert_eq!((status, code.as_str()), (429, "rate_limited"));
    let wait = retry_after.unwrap();
    assert!((60..=15 * 60).contains(&wait), "{wait}");
    // Another operator is not affected.
    let (status, body) = server
        .post(&change(&bob.id), &bob.token, right.clone())
        .await;
    assert_eq!(status, 204, "{body}");
    clock.advance(Duration::seconds(wait as i64));
    let (status, body) = server.post(&change(&ann.id), &ann.token, right).await;
    assert_eq!(status, 204, "{body}");
    server.stop().await;
}

#[actix_rt::test]
async fn a_runaway_script_is_throttled_per_token() {
    let mut server = TestServer::start_with(|c| Config {
        api_requests_per_sec: 1,
        api_burst: 20,
        ..c
    })
    .await;
    let ann = server.add_operator("Ann Agent", Role::Agent, 5).await;
    let bob = server.add_operator("Bob Agent", Role::Agent, 5).await;
    let burst = (0..40).map(|_| {
        server
            .http
            .get(server.url("/api/v1/auth/me"))
            .bearer_auth(&ann.token)
            .send()
    });
    let mut answered = Vec::new();
    for res in futures_util::future::join_all(burst).await {
        answered.push(outcome(res.unwrap()).await);
    }
    let ok = answered.iter().filter(|a| a.0 == 200).count();
    let limited: Vec<_> = answered.iter().filter(|a| a.0 == 429).collect();
    assert!(ok >= 20, "the burst is allowed: {answered:?}");
    assert!(!limited.is_empty(), "then the limit holds: {answered:?}");
    for (_, code, retry_after) in &limited {
        assert_eq!(code, "rate_limited");
        assert!(retry_after.unwrap() >= 1);
    }
    let (status, _) = server.get("/api/v1/auth/me", &bob.token).await;
    assert_eq!(status, 200, "another operator's token has its own budget");
    server.stop().await;
}

#[actix_rt::test]
async fn logs_written_to_a_pipe_carry_no_colour_codes() {
    let db = TestDb::create().await;
    // The port is taken, so `serve` logs its start-up (migrations applied) and then fails.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("serve")
        .env("DATABASE_URL", &db.url)
        .env(
            "SWITCHBOARD_LISTEN",
            taken.local_addr().unwrap().to_string(),
        )
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .output()
        .expect("the binary runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!output.status.success(), "{text}");
    assert!(text.contains("migrations applied"), "{text}");
    assert!(!text.contains("\x1b["), "{text:?}");
}

#[actix_rt::test]
async fn a_login_email_no_operator_could_have_is_refused_before_anything_is_kept() {
    let mut server = TestServer::start().await;
    for email in [
        "a\u{0}b@example.test".to_owned(),
        format!("{}@example.test", "x".repeat(300)),
    ] {
        let res = server
            .http
            .post(server.url("/api/v1/auth/login"))
            .json(&json!({"email": email, "password": "whatever-it-is"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 422);
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"]["field"], "email", "{body}");
    }
    server.stop().await;
}
