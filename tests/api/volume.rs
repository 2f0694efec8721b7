//! Production volume against DynamoDB Local: a thread with thousands of events keeps working
//! at the same cost per event, and its items stay small.

use handover_testkit::meter::DynamoMeter;
use serde_json::json;

use crate::helpers::*;

const EVENTS: usize = 2_000;

#[tokio::test]
async fn two_thousand_events_on_one_thread_are_all_answered_at_a_flat_cost() {
    let meter = DynamoMeter::new();
    let app = TestApp::spawn(
        Options::default().metered(&meter).bot(BotKind::Builtin).env("EMERGENCY_CACHE_SECONDS", "3600"),
    )
    .await;
    app.engage_accepts_everything().await;
    let mut costs = Vec::with_capacity(EVENTS);
    for i in 0..EVENTS {
        let body = content_body_with(
            &format!("ev-{i}"),
            &format!("c-{i}"),
            "what are your opening hours?",
            i == 0,
            |m| {
                if i > 0 {
                    m["intervention_id"] = json!("int-1");
                }
            },
        );
        meter.reset();
        assert_eq!(app.post_webhook(body).await.status(), 200);
        costs.push((meter.requests(), meter.capacity()));
    }
    assert!(app.dead_letters().is_empty());
    let replies = app.engage_calls().await.iter().filter(|c| c.starts_with("POST /1.0/contents")).count();
    assert_eq!(replies, EVENTS, "every message answered once");
    let thread = app.thread().await;
    assert_eq!((thread.bot_turns as usize, thread.events_committed as usize), (EVENTS, EVENTS));

    // A follow-up costs the same at the thread's 2nd and 2,000th event.
    let early = costs[1];
    for (i, cost) in costs.iter().enumerate().skip(1) {
        assert_eq!(*cost, early, "event {i} cost {cost:?}, the 2nd {early:?}");
    }
    assert!(early.0 <= 3 && early.1 <= 5.0, "follow-up: {early:?}");
    // The thread's item stays small (a capacity unit is 1 KB written).
    let state = serde_json::to_string(&thread).unwrap();
    assert!(state.len() < 1024, "{} bytes: {state}", state.len());
}

/// With the agent's briefing on (the default in AWS), the thread also keeps the conversation's
/// last messages: at its bound after a few turns, the same cost at every later event, and the
/// thread's item bounded (20 messages, 2,000 characters).
#[tokio::test]
async fn with_the_briefing_the_kept_conversation_is_bounded_and_the_cost_flat() {
    let meter = DynamoMeter::new();
    let app = TestApp::spawn(
        Options::default()
            .metered(&meter)
            .bot(BotKind::Builtin)
            .env("EMERGENCY_CACHE_SECONDS", "3600")
            .env("AGENT_BRIEFING", "on"),
    )
    .await;
    app.engage_accepts_everything().await;
    let text = format!("what are your opening hours? {}", "x".repeat(200));
    let mut costs = Vec::with_capacity(EVENTS);
    for i in 0..EVENTS {
        let body = content_body_with(&format!("ev-{i}"), &format!("c-{i}"), &text, i == 0, |m| {
            if i > 0 {
                m["intervention_id"] = json!("int-1");
            }
        });
        meter.reset();
        assert_eq!(app.post_webhook(body).await.status(), 200);
        costs.push((meter.requests(), meter.capacity()));
    }
    assert!(app.dead_letters().is_empty());
    let thread = app.thread().await;
    assert_eq!(thread.bot_turns as usize, EVENTS);
    let kept: usize = thread.transcript.iter().map(|m| m.text().chars().count()).sum();
    assert!(
        thread.transcript.len() <= 20 && kept <= 2_000,
        "{} messages, {kept} characters",
        thread.transcript.len()
    );
    // Full after a few turns: from then on, the same requests and capacity at every event.
    let full = costs[20];
    for (i, cost) in costs.iter().enumerate().skip(20) {
        assert_eq!(*cost, full, "event {i} cost {cost:?}, the 21st {full:?}");
    }
    assert!(full.0 <= 3 && full.1 <= 5.0, "follow-up: {full:?}");
    let state = serde_json::to_string(&thread).unwrap();
    assert!(state.len() < 4 * 1024, "{} bytes", state.len());
}
