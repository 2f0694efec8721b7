//! CONTRACT C7: the handover to agents. Availability, the no-agent policy, recategorization,
//! and ownership without races, observed as the exact requests the fakes receive.

use std::time::Duration;

use handover_core::config::{DEFAULT_HANDOVER_MESSAGE, DEFAULT_NO_AGENT_MESSAGE};
use handover_core::store::{EmergencyState, Owner};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

fn status_line(language: Option<&str>) -> String {
    let mut line = format!("GET /1.0/status?source_ids[]={SOURCE}&category_ids[]={AGENT_CATEGORY}");
    if let Some(language) = language {
        line.push_str(&format!("&spoken_languages[]={language}"));
    }
    line
}

fn handover_calls(message: &str) -> Vec<String> {
    vec![
        format!("POST /1.0/contents {{in_reply_to_id=c-h, body={message}, auto_submitted=true}}"),
        format!("GET /1.0/content_threads/{THREAD}"),
        format!(
            "PUT /1.0/content_threads/{THREAD}/update_categories {{thread_category_ids[]={OTHER_CATEGORY}, thread_category_ids[]={AGENT_CATEGORY}}}"
        ),
    ]
}

async fn handover_app(options: Options, agents: Value) -> TestApp {
    let app = TestApp::spawn(options).await;
    platform(&app, agents).await;
    app.bot_answers(json!({"replies": [], "action": "handover", "reason": "asked_for_agent"})).await;
    app
}

fn ask_for_agent(event_id: &str) -> String {
    content_body(event_id, "c-h", "I want to talk to a person", false)
}

#[tokio::test]
async fn with_an_available_agent_the_thread_goes_to_the_agents() {
    let app = handover_app(Options::default(), json!([agent_on(CHAT_CHANNEL, "available", "busy")])).await;
    assert_eq!(app.post_webhook(ask_for_agent("ev-h1")).await.status(), 200);
    let mut expected = vec![format!("GET /1.0/channels?limit=150"), status_line(Some("en"))];
    expected.extend(handover_calls(DEFAULT_HANDOVER_MESSAGE));
    assert_eq!(app.engage_calls().await, expected);
    let thread = app.thread().await;
    assert_eq!(thread.owner, Owner::Agent);
    assert_eq!(thread.categories, Some(vec![OTHER_CATEGORY.to_string(), AGENT_CATEGORY.to_string()]));
    assert_eq!(thread.pending_handover, None);

    // A late message still carrying the BOT category: no bot call, no reply.
    let before = app.engage_calls().await.len();
    assert_eq!(app.post_webhook(content_body("ev-h2", "c-h2", "hello?", false)).await.status(), 200);
    assert_eq!(app.bot_requests().await.len(), 1);
    assert_eq!(app.engage_calls().await.len(), before);
}

#[tokio::test]
async fn with_no_agent_the_bot_keeps_the_thread_and_says_so() {
    let nobody = [
        json!([]),
        json!([agent_on(CHAT_CHANNEL, "away", "unoccupied")]),
        json!([agent_on(CHAT_CHANNEL, "available", "full")]),
        json!([agent_on(OTHER_CHANNEL, "available", "ok")]),
    ];
    for agents in nobody {
        let app = handover_app(Options::default(), agents.clone()).await;
        assert_eq!(app.post_webhook(ask_for_agent("ev-n1")).await.status(), 200);
        let calls = app.engage_calls().await;
        assert_eq!(
            calls,
            vec![
                format!("GET /1.0/channels?limit=150"),
                status_line(Some("en")),
                status_line(None),
                format!(
                    "POST /1.0/contents {{in_reply_to_id=c-h, body={DEFAULT_NO_AGENT_MESSAGE}, auto_submitted=true}}"
                ),
            ],
            "{agents}"
        );
        let thread = app.thread().await;
        assert_eq!((thread.owner, thread.pending_handover), (Owner::Bot, None));

        // The next message goes to the bot again.
        assert_eq!(app.post_webhook(content_body("ev-n2", "c-n2", "hello", false)).await.status(), 200);
        assert_eq!(app.bot_requests().await.len(), 2, "{agents}");
    }
}

#[tokio::test]
async fn no_agent_policy_handover_recategorizes_anyway() {
    let options = Options::default().env("NO_AGENT_POLICY", "handover").env("HANDOVER_MESSAGE", "");
    let app = handover_app(options, json!([])).await;
    assert_eq!(app.post_webhook(ask_for_agent("ev-p1")).await.status(), 200);
    let calls = app.engage_calls().await;
    assert_eq!(calls.last().unwrap(), &handover_calls("-")[2]);
    assert!(
        !calls.iter().any(|c| c.starts_with("POST /1.0/contents")),
        "an empty message sends nothing: {calls:?}"
    );
    assert_eq!(app.thread().await.owner, Owner::Agent);
}

#[tokio::test]
async fn an_agent_speaking_another_language_is_found_by_the_fallback() {
    let app = TestApp::spawn(Options::default()).await;
    Mock::given(method("GET"))
        .and(path("/1.0/status"))
        .and(query_param("spoken_languages[]", "en"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&app.engage)
        .await;
    Mock::given(method("GET"))
        .and(path("/1.0/status"))
        .and(query_param_is_missing("spoken_languages[]"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([agent_on(
            CHAT_CHANNEL,
            "available",
            "ok"
        )])))
        .mount(&app.engage)
        .await;
    platform(&app, json!([])).await;
    app.bot_answers(json!({"action": "handover"})).await;
    assert_eq!(app.post_webhook(ask_for_agent("ev-l1")).await.status(), 200);
    let calls = app.engage_calls().await;
    assert_eq!(calls[1..3], [status_line(Some("en")), status_line(None)]);
    assert_eq!(app.thread().await.owner, Owner::Agent);
}

#[tokio::test]
async fn bot_failures_lead_to_the_handover() {
    let failures = [
        ("crash", ResponseTemplate::new(500)),
        ("garbage", ResponseTemplate::new(200).set_body_string("<html>502 Bad Gateway</html>")),
        (
            "timeout",
            ResponseTemplate::new(200)
                .set_body_json(json!({"replies": ["late"]}))
                .set_delay(Duration::from_secs(3)),
        ),
    ];
    for (case, answer) in failures {
        let app = TestApp::spawn(Options::default()).await;
        platform(&app, json!([agent_on(CHAT_CHANNEL, "available", "ok")])).await;
        Mock::given(method("POST")).and(path("/bot")).respond_with(answer).mount(&app.bot).await;
        assert_eq!(app.post_webhook(ask_for_agent("ev-f1")).await.status(), 200, "{case}");
        let calls = app.engage_calls().await;
        assert_eq!(calls[2..], handover_calls(DEFAULT_HANDOVER_MESSAGE), "{case}");
        assert_eq!(app.thread().await.owner, Owner::Agent, "{case}");
    }
}

#[tokio::test]
async fn repeated_fallbacks_hand_over() {
    let app = TestApp::spawn(Options::default()).await;
    platform(&app, json!([agent_on(CHAT_CHANNEL, "available", "ok")])).await;
    app.bot_answers(json!({"replies": ["Sorry, I did not get that."], "reason": "fallback"})).await;
    app.post_webhook(content_body("ev-fb1", "c-fb1", "blah", false)).await;
    assert_eq!(app.thread().await.owner, Owner::Bot);
    assert_eq!(app.thread().await.consecutive_fallbacks, 1);
    app.post_webhook(content_body("ev-fb2", "c-h", "blah blah", false)).await;
    let calls = app.engage_calls().await;
    assert_eq!(
        calls[0],
        "POST /1.0/contents {in_reply_to_id=c-fb1, body=Sorry, I did not get that., auto_submitted=true}"
    );
    assert_eq!(calls[3..], handover_calls(DEFAULT_HANDOVER_MESSAGE), "no second 'sorry' before the handover");
    assert_eq!(app.thread().await.owner, Owner::Agent);
}

#[tokio::test]
async fn the_builtin_bot_hands_over_when_asked_for_a_person_in_english_or_french() {
    for words in ["Can I talk to a human?", "Je voudrais parler à un conseiller"] {
        let app = TestApp::spawn(Options::default().bot(BotKind::Builtin)).await;
        platform(&app, json!([agent_on(CHAT_CHANNEL, "available", "ok")])).await;
        assert_eq!(app.post_webhook(content_body("ev-w", "c-h", words, false)).await.status(), 200);
        assert_eq!(app.thread().await.owner, Owner::Agent, "{words}");
    }
}

#[tokio::test]
async fn asynchronous_sources_skip_the_availability_check() {
    let app = handover_app(Options::default().env("ENGAGE_ASYNC_SOURCE_IDS", SOURCE), json!([])).await;
    assert_eq!(app.post_webhook(ask_for_agent("ev-a1")).await.status(), 200);
    assert_eq!(app.engage_calls().await, handover_calls(DEFAULT_HANDOVER_MESSAGE));
}

#[tokio::test]
async fn in_an_emergency_messages_go_straight_to_the_agents() {
    let app = handover_app(Options::default(), json!([])).await;
    app.store.set_emergency(&EmergencyState { active: true, ..EmergencyState::default() }).await.unwrap();
    assert_eq!(app.post_webhook(content_body("ev-e1", "c-h", "hello", true)).await.status(), 200);
    assert!(app.bot_requests().await.is_empty(), "the bot is not asked");
    assert_eq!(
        app.engage_calls().await,
        handover_calls(DEFAULT_HANDOVER_MESSAGE),
        "no intervention, no status check"
    );
    assert_eq!(app.thread().await.owner, Owner::Agent);
}

#[tokio::test]
async fn availability_answers_are_reused() {
    let app = TestApp::spawn(Options::default()).await;
    platform(&app, json!([agent_on(CHAT_CHANNEL, "away", "ok")])).await;
    app.bot_answers(json!({"action": "handover"})).await;
    for i in 0..3 {
        app.post_webhook(content_body(&format!("ev-c{i}"), "c-h", "agent", false)).await;
    }
    let calls = app.engage_calls().await;
    assert_eq!(calls.iter().filter(|c| c.starts_with("GET /1.0/status")).count(), 2, "{calls:?}");
    assert_eq!(calls.iter().filter(|c| c.starts_with("GET /1.0/channels")).count(), 1, "{calls:?}");
}

#[tokio::test]
async fn being_categorized_is_retried_until_it_succeeds() {
    let app = TestApp::spawn(Options::default()).await;
    Mock::given(method("PUT"))
        .and(path(format!("/1.0/content_threads/{THREAD}/update_categories")))
        .respond_with(
            ResponseTemplate::new(409)
                .set_body_json(json!({"error": "conflict", "message": "being categorized", "status": 409})),
        )
        .up_to_n_times(2)
        .mount(&app.engage)
        .await;
    platform(&app, json!([agent_on(CHAT_CHANNEL, "available", "ok")])).await;
    app.bot_answers(json!({"action": "handover"})).await;
    assert_eq!(app.post_webhook(ask_for_agent("ev-409")).await.status(), 200);
    let calls = app.engage_calls().await;
    assert_eq!(calls.iter().filter(|c| c.contains("update_categories")).count(), 3, "{calls:?}");
    assert_eq!(app.thread().await.owner, Owner::Agent);
}

#[tokio::test]
async fn a_final_recategorization_failure_is_finished_by_the_queues_retry() {
    let app = TestApp::spawn(Options::default()).await;
    Mock::given(method("PUT"))
        .and(path(format!("/1.0/content_threads/{THREAD}/update_categories")))
        .respond_with(
            ResponseTemplate::new(429).set_body_json(
                json!({"error": "rate_limit_exceeded", "message": "slow down", "status": 429}),
            ),
        )
        .up_to_n_times(4)
        .mount(&app.engage)
        .await;
    platform(&app, json!([agent_on(CHAT_CHANNEL, "available", "ok")])).await;
    app.bot_answers(json!({"action": "handover"})).await;

    // The webhook answers at once; the queue's second delivery finishes the handover, and
    // meanwhile nothing else of the thread is processed (the queue keeps its order).
    assert_eq!(app.post_webhook_no_wait(ask_for_agent("ev-429")).await.status(), 200);
    assert_eq!(app.post_webhook(ask_for_agent("ev-429")).await.status(), 200, "a duplicate is dropped");
    assert!(app.dead_letters().is_empty());
    let calls = app.engage_calls().await;
    assert_eq!(
        calls.iter().filter(|c| c.starts_with("POST /1.0/contents")).count(),
        1,
        "the handover message once: {calls:?}"
    );
    assert_eq!(calls.iter().filter(|c| c.starts_with("GET /1.0/content_threads")).count(), 1, "{calls:?}");
    assert_eq!(
        calls.iter().filter(|c| c.contains("update_categories")).count(),
        5,
        "4 refused, 1 accepted: {calls:?}"
    );
    assert_eq!(app.bot_requests().await.len(), 1);
    assert_eq!(app.thread().await.owner, Owner::Agent);
}

async fn concurrent_messages_of_a_handed_over_thread(store: StoreKind) {
    let app =
        handover_app(Options::default().store(store), json!([agent_on(CHAT_CHANNEL, "available", "ok")]))
            .await;
    app.post_webhook(ask_for_agent("ev-x0")).await;
    assert_eq!(app.thread().await.owner, Owner::Agent);
    let before = app.engage_calls().await.len();
    let deliveries =
        (1..=2).map(|i| app.post_webhook(content_body(&format!("ev-x{i}"), &format!("c-x{i}"), "hi", false)));
    for response in futures::future::join_all(deliveries).await {
        assert_eq!(response.status(), 200);
    }
    assert_eq!(app.engage_calls().await.len(), before, "zero replies");
    assert_eq!(app.bot_requests().await.len(), 1);
}

#[tokio::test]
async fn concurrent_messages_of_a_handed_over_thread_get_no_reply_memory() {
    concurrent_messages_of_a_handed_over_thread(StoreKind::Memory).await;
}

#[tokio::test]
async fn concurrent_messages_of_a_handed_over_thread_get_no_reply_dynamodb() {
    concurrent_messages_of_a_handed_over_thread(StoreKind::Dynamo).await;
}

/// A handover and other messages of the same thread arrive together: whatever the order, the
/// bot never replies after the recategorization, and the thread is handed over once.
async fn no_reply_after_a_concurrent_handover(store: StoreKind) {
    let app = TestApp::spawn(Options::default().store(store).env("HANDOVER_MESSAGE", "")).await;
    platform(&app, json!([agent_on(CHAT_CHANNEL, "available", "ok")])).await;
    Mock::given(method("POST"))
        .and(path("/bot"))
        .and(wiremock::matchers::body_string_contains("agent"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"action": "handover"}))
                .set_delay(Duration::from_millis(50)),
        )
        .mount(&app.bot)
        .await;
    app.bot_answers(json!({"replies": ["bot reply"]})).await;
    let bodies = [
        content_body("ev-y1", "c-y1", "hello", false),
        content_body("ev-y2", "c-y2", "agent please", false),
        content_body("ev-y3", "c-y3", "hello again", false),
        content_body("ev-y4", "c-y4", "agent now", false),
    ];
    let deliveries = bodies.iter().map(|b| app.post_webhook(b.clone()));
    for response in futures::future::join_all(deliveries).await {
        assert_eq!(response.status(), 200);
    }
    let calls = app.engage_calls().await;
    let handed_over_at = calls.iter().position(|c| c.contains("update_categories")).expect("handed over");
    assert!(!calls[handed_over_at..].iter().any(|c| c.starts_with("POST /1.0/contents")), "{calls:#?}");
    assert_eq!(calls.iter().filter(|c| c.contains("update_categories")).count(), 1, "{calls:#?}");
    assert_eq!(app.thread().await.owner, Owner::Agent);
}

#[tokio::test]
async fn no_reply_after_a_concurrent_handover_memory() {
    no_reply_after_a_concurrent_handover(StoreKind::Memory).await;
}

#[tokio::test]
async fn no_reply_after_a_concurrent_handover_dynamodb() {
    no_reply_after_a_concurrent_handover(StoreKind::Dynamo).await;
}

#[tokio::test]
async fn a_handover_the_platform_refuses_for_good_is_parked_not_retried_forever() {
    let app = TestApp::spawn(Options::default()).await;
    Mock::given(method("PUT"))
        .and(path(format!("/1.0/content_threads/{THREAD}/update_categories")))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(json!({"error": "not_found", "message": "no read access", "status": 404})),
        )
        .mount(&app.engage)
        .await;
    platform(&app, json!([agent_on(CHAT_CHANNEL, "available", "ok")])).await;
    app.bot_answers(json!({"action": "handover"})).await;
    assert_eq!(app.post_webhook(ask_for_agent("ev-404")).await.status(), 200);
    let thread = app.thread().await;
    assert_eq!(thread.owner, Owner::Bot);
    assert_eq!(thread.pending_handover.as_deref(), Some("refused by the platform: not_found"));
    // A redelivery does nothing more.
    let before = app.engage_calls().await.len();
    assert_eq!(app.post_webhook(ask_for_agent("ev-404")).await.status(), 200);
    assert_eq!(app.engage_calls().await.len(), before);
}
