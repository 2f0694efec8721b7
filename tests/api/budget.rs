//! The request budgets of the README (issue 9), asserted on request counts, which are
//! deterministic (never on times): Engage Digital requests counted by the fake platform,
//! DynamoDB requests counted at the client, against DynamoDB Local.

use handover_testkit::meter::DynamoMeter;
use serde_json::json;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

struct Cost {
    engage: usize,
    dynamodb: u64,
    /// Capacity units consumed (reads and writes).
    capacity: f64,
}

async fn cost_of(app: &TestApp, meter: &DynamoMeter, body: String) -> Cost {
    let engage_before = app.engage_calls().await.len();
    // Issued now: the steady state records its facts into the open hour. (A fact for a closed
    // hour, a late redelivery, also deletes that hour's and day's summaries: one request more.)
    let now = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S.000Z").to_string();
    let body = body.replace("2026-11-22T10:00:00.000Z", &now);
    meter.reset();
    assert_eq!(app.post_webhook(body).await.status(), 200);
    // Every request the worker made here, its role may make in AWS.
    crate::template::assert_grants("ProcessFunction", &meter.operations());
    Cost {
        engage: app.engage_calls().await.len() - engage_before,
        dynamodb: meter.requests(),
        capacity: meter.capacity(),
    }
}

#[tokio::test]
async fn each_scenario_stays_within_its_request_budget() {
    let meter = DynamoMeter::new();
    // Function containers reuse the emergency switch's value for a few seconds.
    let app = TestApp::spawn(Options::default().metered(&meter).env("EMERGENCY_CACHE_SECONDS", "300")).await;
    platform(&app, json!([agent_on(CHAT_CHANNEL, "available", "ok")])).await;
    Mock::given(method("POST"))
        .and(path("/bot"))
        .and(body_string_contains("agent"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"replies": ["One moment"], "action": "handover"})),
        )
        .mount(&app.bot)
        .await;
    app.bot_answers(json!({"replies": ["Sure."]})).await;

    // A warm container: the emergency switch and the agents' availability already read once.
    let warm_up =
        content_body_with("ev-w", "c-w", "agent", true, |m| m["thread_id"] = json!("warm-up-thread"));
    assert_eq!(app.post_webhook(warm_up).await.status(), 200);

    let first = cost_of(&app, &meter, content_body("ev-1", "c-1", "hello", true)).await;
    assert_eq!(first.engage, 2, "first message: intervention and reply");
    assert!(
        first.dynamodb <= 4 && first.capacity <= 8.0,
        "first message: {} DynamoDB requests, {} units ({:?})",
        first.dynamodb,
        first.capacity,
        meter.operations()
    );

    let follow_up = cost_of(&app, &meter, content_body("ev-2", "c-2", "and then?", false)).await;
    assert_eq!(follow_up.engage, 1, "follow-up: the reply");
    assert!(
        follow_up.dynamodb <= 3 && follow_up.capacity <= 5.0,
        "follow-up: {} DynamoDB requests, {} units ({:?})",
        follow_up.dynamodb,
        follow_up.capacity,
        meter.operations()
    );

    let handover = cost_of(&app, &meter, content_body("ev-3", "c-3", "agent please", false)).await;
    let replies = 2; // the bot's "One moment" and the handover message
    assert!(
        handover.engage - replies <= 2,
        "handover: {} Engage requests besides the replies",
        handover.engage - replies
    );
    assert!(
        handover.dynamodb <= 4 && handover.capacity <= 10.0,
        "handover: {} DynamoDB requests, {} units ({:?})",
        handover.dynamodb,
        handover.capacity,
        meter.operations()
    );
    assert!(meter.capacity() > 0.0, "consumed capacity is reported");
    for (scenario, cost) in [("first message", &first), ("follow-up", &follow_up), ("handover", &handover)] {
        eprintln!(
            "{scenario}: {} Engage requests, {} DynamoDB requests, {} units",
            cost.engage, cost.dynamodb, cost.capacity
        );
    }
}

/// The LLM backend keeps the conversation in the thread's item: once its limits are reached
/// (12 messages, 4,000 characters by default), every follow-up costs the same, however long
/// the conversation goes on.
#[tokio::test]
async fn an_llm_conversation_costs_the_same_once_its_history_is_full() {
    let meter = DynamoMeter::new();
    let app = TestApp::spawn(
        Options::default().metered(&meter).bot(BotKind::OpenAi).env("EMERGENCY_CACHE_SECONDS", "300"),
    )
    .await;
    app.engage_accepts_everything().await;
    let reply = "r".repeat(400);
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": reply}}]}),
        ))
        .mount(&app.bot)
        .await;
    let text = "t".repeat(300);
    app.post_webhook(content_body("ev-0", "c-0", &text, true)).await;
    let mut costs = vec![];
    for i in 1..=40 {
        let cost =
            cost_of(&app, &meter, content_body(&format!("ev-{i}"), &format!("c-{i}"), &text, false)).await;
        costs.push((cost.dynamodb, cost.capacity));
    }
    let thread = app.thread().await;
    let kept: usize = thread.bot_memory.iter().map(|m| m.text().chars().count()).sum();
    assert!(kept <= 4000 && thread.bot_memory.len() <= 12, "{kept} characters kept");
    // Full after a few turns: from then on, the same requests and capacity at every event.
    let full = costs[10];
    assert_eq!(full.0, 3, "follow-up requests: {costs:?}");
    assert!(costs[10..].iter().all(|c| *c == full), "{costs:?}");
    assert!(full.1 <= 8.0, "a follow-up with a full history: {} units", full.1);
    eprintln!(
        "LLM follow-up with a full history: {} requests, {} units (first: {:?})",
        full.0, full.1, costs[0]
    );
}

/// With the agent's briefing on (the default in AWS), the thread keeps the conversation's last
/// messages (bounded) and a handover writes one comment: the DynamoDB budgets still hold.
#[tokio::test]
async fn the_agents_briefing_keeps_the_budgets() {
    let meter = DynamoMeter::new();
    let app = TestApp::spawn(
        Options::default().metered(&meter).env("EMERGENCY_CACHE_SECONDS", "300").env("AGENT_BRIEFING", "on"),
    )
    .await;
    app.engage_takes_briefings(ResponseTemplate::new(200).set_body_json(json!({"id": "note-1"}))).await;
    platform(&app, json!([agent_on(CHAT_CHANNEL, "available", "ok")])).await;
    Mock::given(method("POST"))
        .and(path("/bot"))
        .and(body_string_contains("agent"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"replies": ["One moment"], "action": "handover"})),
        )
        .mount(&app.bot)
        .await;
    // Long messages: the kept conversation reaches its 2,000-character bound.
    let reply = "r".repeat(300);
    app.bot_answers(json!({"replies": [reply]})).await;
    let warm_up =
        content_body_with("ev-w", "c-w", "agent", true, |m| m["thread_id"] = json!("warm-up-thread"));
    app.post_webhook(warm_up).await;
    app.post_webhook(content_body("ev-0", "c-0", "hello", true)).await;
    let text = "t".repeat(300);
    let mut follow_up = None;
    for i in 1..=6 {
        follow_up = Some(
            cost_of(&app, &meter, content_body(&format!("ev-{i}"), &format!("c-{i}"), &text, false)).await,
        );
    }
    let follow_up = follow_up.unwrap();
    assert!(
        follow_up.dynamodb <= 3 && follow_up.capacity <= 5.0,
        "follow-up with a full transcript: {} requests, {} units",
        follow_up.dynamodb,
        follow_up.capacity
    );
    let handover = cost_of(&app, &meter, content_body("ev-h", "c-h", "agent please", false)).await;
    assert!(
        handover.dynamodb <= 4 && handover.capacity <= 10.0,
        "handover with the briefing: {} requests, {} units ({:?})",
        handover.dynamodb,
        handover.capacity,
        meter.operations()
    );
    let notes = app.engage_calls().await.iter().filter(|c| c.contains("intervention_comments")).count();
    assert_eq!(notes, 2, "the warm-up's and this handover's");
    eprintln!(
        "with the briefing: follow-up {} requests, {} units; handover {} Engage requests, {} DynamoDB requests, {} units",
        follow_up.dynamodb, follow_up.capacity, handover.engage, handover.dynamodb, handover.capacity
    );
}
