//! Fifty concurrent deliveries against DynamoDB Local (issue 10): duplicates and different
//! messages of the same threads, one of which asks for an agent. Exactly one reply per distinct
//! customer message answered, never a reply after the handover, one recategorization.

use std::collections::HashMap;

use handover_core::store::Owner;
use serde_json::{Value, json};
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

fn message(thread: &str, n: usize, text: &str) -> String {
    content_body_with(&format!("{thread}-ev{n}"), &format!("{thread}-c{n}"), text, n == 0, |m| {
        m["thread_id"] = json!(thread)
    })
}

#[tokio::test]
async fn fifty_concurrent_deliveries_answer_each_message_once_and_never_after_a_handover() {
    let app = TestApp::spawn(Options::default().store(StoreKind::Dynamo).env("HANDOVER_MESSAGE", "")).await;
    platform(&app, json!([agent_on(CHAT_CHANNEL, "available", "ok")])).await;
    Mock::given(method("GET"))
        .and(path("/1.0/content_threads/t-agent"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": "t-agent", "thread_category_ids": [BOT_CATEGORY]})),
        )
        .mount(&app.engage)
        .await;
    Mock::given(method("PUT"))
        .and(path("/1.0/content_threads/t-agent/update_categories"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "t-agent"})))
        .mount(&app.engage)
        .await;
    Mock::given(method("POST"))
        .and(path("/bot"))
        .and(body_string_contains("agent"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"action": "handover"}))
                .set_delay(std::time::Duration::from_millis(20)),
        )
        .mount(&app.bot)
        .await;
    Mock::given(method("POST"))
        .and(path("/bot"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"replies": ["ok"]}))
                .set_delay(std::time::Duration::from_millis(20)),
        )
        .mount(&app.bot)
        .await;

    // Three threads, five messages each; in thread "t-agent" the third asks for an agent.
    let mut bodies = Vec::new();
    for thread in ["t-one", "t-two", "t-agent"] {
        for n in 0..5 {
            let text = if thread == "t-agent" && n == 2 { "agent please" } else { "hello" };
            bodies.push(message(thread, n, text));
        }
    }
    // Fifty deliveries: every message at least three times, some four.
    let deliveries: Vec<String> = (0..50).map(|i| bodies[i % bodies.len()].clone()).collect();
    let mut pending: Vec<String> = deliveries;
    let mut rounds = 0;
    while !pending.is_empty() {
        rounds += 1;
        assert!(rounds <= 10, "deliveries still refused after 10 rounds");
        let answers = futures::future::join_all(pending.iter().map(|b| app.post_webhook(b.clone()))).await;
        let statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
        assert!(statuses.iter().all(|s| *s == 200 || *s == 503), "{statuses:?}");
        // The platform redelivers what was not answered 200.
        pending = pending.into_iter().zip(statuses).filter(|(_, s)| *s != 200).map(|(b, _)| b).collect();
    }

    let calls = app.engage_calls().await;
    let mut replies: HashMap<String, usize> = HashMap::new();
    for call in calls.iter().filter(|c| c.starts_with("POST /1.0/contents")) {
        let to = call.split("in_reply_to_id=").nth(1).unwrap().split(',').next().unwrap().to_string();
        *replies.entry(to).or_default() += 1;
    }
    assert!(replies.values().all(|n| *n == 1), "a message answered twice: {replies:?}");
    for thread in ["t-one", "t-two"] {
        for n in 0..5 {
            assert_eq!(replies.get(&format!("{thread}-c{n}")), Some(&1), "{thread} message {n}: {calls:#?}");
        }
    }
    let handed_over_at = calls
        .iter()
        .position(|c| c.contains("/content_threads/t-agent/update_categories"))
        .expect("handed over");
    let after: Vec<&String> =
        calls[handed_over_at..].iter().filter(|c| c.contains("in_reply_to_id=t-agent")).collect();
    assert!(after.is_empty(), "replies after the handover: {after:?}");
    assert_eq!(calls.iter().filter(|c| c.contains("update_categories")).count(), 1);
    assert_eq!(app.store.get_thread("t-agent").await.unwrap().owner, Owner::Agent);
    // Each distinct message reached the bot at most once.
    let asked: Vec<Value> = app.bot_requests().await;
    let mut ids: Vec<&str> = asked.iter().map(|r| r["message"]["id"].as_str().unwrap()).collect();
    let total = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), total, "a message was asked twice");
}
