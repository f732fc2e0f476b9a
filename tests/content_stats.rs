//! Statistics on a known data set: conversations are opened through the API, then their
//! timestamps, statuses, assignees and ratings are set with SQL so that every figure —
//! volume, first response and resolution medians and p90, satisfaction, per-operator load and
//! handled counts — has one exact expected value.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::TestServer;
use serde_json::{json, Value};
use switchboard::domain::Role;

const PERIOD: &str = "from=2025-01-01T00:00:00Z&to=2025-01-08T00:00:00Z";

fn close_to(actual: &Value, expected: f64) -> bool {
    actual.as_f64().is_some_and(|a| (a - expected).abs() < 1e-6)
}

#[actix_rt::test]
async fn statistics_over_a_known_week() {
    let mut server = TestServer::start().await;
    let sam = server.add_operator("Sam Super", Role::Supervisor, 5).await;
    let ada = server.add_operator("Ada Admin", Role::Admin, 5).await;
    let ann = server.add_operator("Ann Agent", Role::Agent, 5).await;
    let bob = server.add_operator("Bob Agent", Role::Agent, 4).await;

    let mut ids = Vec::new();
    for _ in 0..10 {
        // Each with the customer's first message: an empty widget session is not counted.
        ids.push(server.open_chat("Hello").await.conversation_id);
    }
    // (created, channel, status, assignee, first response after, resolved after, closed after,
    //  rating); the period is [Jan 1, Jan 8).
    let (a, b) = (Some(ann.id.as_str()), Some(bob.id.as_str()));
    let data = [
        (
            "2025-01-02T10:00:00Z",
            "web",
            "resolved",
            a,
            Some(10),
            Some(60),
            None,
            Some(4),
        ),
        (
            "2025-01-03T10:00:00Z",
            "telegram",
            "resolved",
            a,
            Some(20),
            Some(120),
            None,
            Some(5),
        ),
        (
            "2025-01-04T10:00:00Z",
            "web",
            "closed",
            b,
            Some(30),
            Some(600),
            Some(700),
            Some(2),
        ),
        (
            "2025-01-05T10:00:00Z",
            "web",
            "active",
            a,
            Some(40),
            None,
            None,
            None,
        ),
        (
            "2025-01-06T10:00:00Z",
            "web",
            "active",
            b,
            Some(100),
            None,
            None,
            None,
        ),
        (
            "2025-01-07T10:00:00Z",
            "web",
            "pending",
            None,
            None,
            None,
            None,
            None,
        ),
        // Created before the period but resolved in it: Bob handled it; the period's
        // response and resolution times do not include it.
        (
            "2024-12-20T10:00:00Z",
            "web",
            "resolved",
            b,
            Some(5),
            Some(1_123_200),
            None,
            Some(3),
        ),
        // After the period (its end is exclusive).
        (
            "2025-01-09T10:00:00Z",
            "web",
            "resolved",
            a,
            Some(1),
            Some(2),
            None,
            Some(1),
        ),
        (
            "2025-01-08T00:00:00Z",
            "web",
            "pending",
            None,
            None,
            None,
            None,
            None,
        ),
    ];
    for (id, (created, channel, status, assignee, first, resolved, closed, rating)) in
        ids.iter().zip(data)
    {
        let after = |secs: Option<i64>| {
            secs.map_or("NULL".to_owned(), |s| {
                format!("'{created}'::timestamptz + interval '{s} seconds'")
            })
        };
        let or_null = |v: Option<&str>| v.map_or("NULL".to_owned(), |v| format!("'{v}'"));
        server
            .execute(&format!(
                "UPDATE conversations SET created_at = '{created}', channel = '{channel}', \
                 status = '{status}', assignee_id = {}, first_response_at = {}, \
                 resolved_at = {}, closed_at = {}, rating = {} WHERE id = '{id}'",
                or_null(assignee),
                after(first),
                after(resolved),
                after(closed),
                rating.map_or("NULL".to_owned(), |r: i32| r.to_string()),
            ))
            .await;
    }
    // The tenth conversation stays as opened: now, pending, in the default period only.

    let (status, stats) = server
        .get(&format!("/api/v1/stats?{PERIOD}"), &sam.token)
        .await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(stats["from"], "2025-01-01T00:00:00Z");
    assert_eq!(stats["to"], "2025-01-08T00:00:00Z");
    assert_eq!(
        stats["conversations"],
        json!({
            "total": 6,
            "by_status": {"pending": 1, "active": 2, "resolved": 2, "closed": 1},
            "by_channel": {"web": 5, "telegram": 1},
        })
    );
    // First responses 10, 20, 30, 40, 100 s: median 30; p90 interpolates 40 + 0.6 * 60 = 76.
    let first = &stats["first_response"];
    assert_eq!(first["count"], 5);
    assert!(close_to(&first["median_secs"], 30.0), "{first}");
    assert!(close_to(&first["p90_secs"], 76.0), "{first}");
    // Resolutions 60, 120, 600 s: median 120; p90 is 120 + 0.8 * 480 = 504.
    let resolution = &stats["resolution"];
    assert_eq!(resolution["count"], 3);
    assert!(close_to(&resolution["median_secs"], 120.0), "{resolution}");
    assert!(close_to(&resolution["p90_secs"], 504.0), "{resolution}");
    // Ratings 4, 5, 2.
    assert_eq!(stats["csat"]["count"], 3);
    assert!(close_to(&stats["csat"]["average"], 11.0 / 3.0));

    let operators = stats["operators"].as_array().unwrap();
    let names: Vec<&str> = operators
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Ada Admin", "Ann Agent", "Bob Agent", "Sam Super"]);
    let row = |name: &str| {
        operators
            .iter()
            .find(|o| o["name"] == name)
            .unwrap()
            .clone()
    };
    let ann_row = row("Ann Agent");
    assert_eq!(ann_row["id"], ann.id.as_str());
    assert_eq!(ann_row["role"], "agent");
    assert_eq!(
        (
            &ann_row["load"],
            &ann_row["max_concurrent"],
            &ann_row["handled"],
            &ann_row["rated"]
        ),
        (&json!(1), &json!(5), &json!(2), &json!(2))
    );
    assert!(close_to(&ann_row["csat"], 4.5));
    let bob_row = row("Bob Agent");
    assert_eq!(
        (
            &bob_row["load"],
            &bob_row["max_concurrent"],
            &bob_row["handled"],
            &bob_row["rated"]
        ),
        (&json!(1), &json!(4), &json!(2), &json!(2)),
        "the closed one and the one resolved in the period"
    );
    assert!(close_to(&bob_row["csat"], 2.5));
    let sam_row = row("Sam Super");
    assert_eq!(
        (&sam_row["load"], &sam_row["handled"], &sam_row["csat"]),
        (&json!(0), &json!(0), &Value::Null)
    );

    // A deleted operator still appears while they have handled conversations in the period.
    server
        .execute(&format!(
            "UPDATE operators SET deleted_at = now() WHERE id IN ('{}', '{}')",
            bob.id, sam.id
        ))
        .await;
    let (_, later) = server
        .get(&format!("/api/v1/stats?{PERIOD}"), &ada.token)
        .await;
    let names: Vec<(&str, bool)> = later["operators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["name"].as_str().unwrap(), o["deleted"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            ("Ada Admin", false),
            ("Ann Agent", false),
            ("Bob Agent", true)
        ]
    );

    // Without a period: the last seven days, which hold only the untouched conversation.
    let (status, recent) = server.get("/api/v1/stats", &ada.token).await;
    assert_eq!(status, 200, "{recent}");
    assert_eq!(recent["conversations"]["total"], 1);
    assert_eq!(recent["conversations"]["by_status"]["pending"], 1);
    assert_eq!(
        recent["first_response"],
        json!({"count": 0, "median_secs": null, "p90_secs": null})
    );
    // A widget session nobody wrote in is not a conversation (yet).
    server.open_widget(json!({})).await;
    let (_, recent) = server.get("/api/v1/stats", &ada.token).await;
    assert_eq!(recent["conversations"]["total"], 1, "{recent}");
    server.stop().await;
}

#[actix_rt::test]
async fn statistics_are_for_supervisors_and_admins_with_a_valid_period() {
    let mut server = TestServer::start().await;
    let ann = server.add_operator("Ann Agent", Role::Agent, 5).await;
    let sam = server.add_operator("Sam Super", Role::Supervisor, 5).await;
    let (status, body) = server.get("/api/v1/stats", &ann.token).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    for (query, field) in [
        ("from=last%20week", "from"),
        ("to=2025-02-30T00:00:00Z", "to"),
        ("from=2025-01-08T00:00:00Z&to=2025-01-01T00:00:00Z", "to"),
        ("from=2025-01-01T00:00:00Z&to=2025-01-01T00:00:00Z", "to"),
    ] {
        let (status, body) = server
            .get(&format!("/api/v1/stats?{query}"), &sam.token)
            .await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (422, Some(field)),
            "{query}"
        );
    }
    // Offsets are honoured: 02:00+02:00 is midnight UTC.
    let (status, body) = server
        .get(
            "/api/v1/stats?from=2025-01-01T02:00:00%2B02:00&to=2025-01-02T00:00:00Z",
            &sam.token,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["from"], "2025-01-01T00:00:00Z");
    server.stop().await;
}
