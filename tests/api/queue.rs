//! CONTRACT C14: receive, then process. The webhook answers once the events are queued; a
//! thread's events are processed one at a time, in order; a failing event is retried, then
//! dead-lettered, and blocks only its own thread.

use std::time::Duration;

use serde_json::json;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

fn replies_in_order(calls: &[String]) -> Vec<String> {
    calls.iter().filter(|c| c.starts_with("POST /1.0/contents")).cloned().collect()
}

#[tokio::test]
async fn a_second_message_during_a_slow_bot_answer_is_accepted_at_once_and_answered_after_the_first() {
    let app = TestApp::spawn(Options::default().env("BOT_TIMEOUT_MS", "10000")).await;
    app.engage_accepts_everything().await;
    // The bot takes 3 s over the first message (an LLM), and answers the second at once.
    Mock::given(method("POST"))
        .and(path("/bot"))
        .and(body_string_contains("first question"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"replies": ["First answer"]}))
                .set_delay(Duration::from_secs(3)),
        )
        .mount(&app.bot)
        .await;
    app.bot_answers(json!({"replies": ["Second answer"]})).await;
    let env = |m: &mut serde_json::Value| m["intervention_id"] = json!("int-0");

    let first =
        app.post_webhook_no_wait(content_body_with("ev-1", "c-1", "first question", false, env)).await;
    let second =
        app.post_webhook_no_wait(content_body_with("ev-2", "c-2", "second question", false, env)).await;
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 200),
        "both queued, neither waits on the bot"
    );
    assert!(
        replies_in_order(&app.engage_calls().await).is_empty(),
        "both answered 200 before the bot answered the first"
    );

    app.settle().await;
    assert_eq!(
        replies_in_order(&app.engage_calls().await),
        vec![
            "POST /1.0/contents {in_reply_to_id=c-1, body=First answer, auto_submitted=true}".to_string(),
            "POST /1.0/contents {in_reply_to_id=c-2, body=Second answer, auto_submitted=true}".to_string(),
        ],
        "answered in the order they came"
    );
}

#[tokio::test]
async fn a_message_failing_every_time_is_dead_lettered_and_blocks_only_its_own_thread() {
    let app = TestApp::spawn(Options::default()).await;
    let broken_thread = "thread-that-always-fails";
    // Every reply into the broken thread's content fails; the other thread's succeed.
    Mock::given(method("POST"))
        .and(path("/1.0/contents"))
        .and(body_string_contains("in_reply_to_id=c-broken"))
        .respond_with(
            ResponseTemplate::new(503)
                .set_body_json(json!({"error": "unavailable", "message": "down", "status": 503})),
        )
        .mount(&app.engage)
        .await;
    app.engage_accepts_everything().await;
    app.bot_answers(json!({"replies": ["Hello"]})).await;
    let in_thread = |thread: &'static str| move |m: &mut serde_json::Value| m["thread_id"] = json!(thread);

    let broken = content_body_with("ev-broken", "c-broken", "hello", false, in_thread(broken_thread));
    let behind = content_body_with("ev-behind", "c-behind", "still there?", false, in_thread(broken_thread));
    let other = content_body("ev-other", "c-other", "hello", false);
    for body in [broken, behind, other] {
        assert_eq!(app.post_webhook_no_wait(body).await.status(), 200);
    }
    app.settle().await;

    let dead = app.dead_letters();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(
        (dead[0].group.as_str(), dead[0].dedup_id.as_str(), dead[0].attempts),
        (broken_thread, "ev-broken", 5)
    );
    let replies = replies_in_order(&app.engage_calls().await);
    assert_eq!(replies.iter().filter(|c| c.contains("c-broken")).count(), 5, "five attempts: {replies:?}");
    assert!(replies.contains(
        &"POST /1.0/contents {in_reply_to_id=c-other, body=Hello, auto_submitted=true}".to_string()
    ));
    // Its own thread went on after it was given up; the bot was asked once for it.
    assert!(replies.contains(
        &"POST /1.0/contents {in_reply_to_id=c-behind, body=Hello, auto_submitted=true}".to_string()
    ));
    assert_eq!(app.bot_requests().await.len(), 3, "the failed event's answer was saved, not asked again");

    let snapshot: serde_json::Value = app.get("/queue").await.json().await.unwrap();
    assert_eq!(snapshot["dead_letters"][0]["dedup_id"], "ev-broken");
    assert_eq!(snapshot["pending"], json!({}));
}

#[tokio::test]
async fn queueing_is_refused_when_the_queue_is_unavailable_and_nothing_is_half_done() {
    use handover_core::edge::engage::{Endpoint, EngageReceiver};
    use handover_core::queue::{Job, JobQueue, QueueError};

    struct Unavailable;
    #[async_trait::async_trait]
    impl JobQueue for Unavailable {
        async fn enqueue(&self, _: Vec<Job>) -> Result<(), QueueError> {
            Err(QueueError::Unavailable("connection refused to sqs.internal:443 (request id 42)".into()))
        }
    }
    let app = TestApp::spawn(Options::default()).await;
    let receiver = EngageReceiver::new(app.functions.engage.auth.clone(), std::sync::Arc::new(Unavailable));
    let request = http::Request::builder()
        .method("POST")
        .uri("/engage/webhook")
        .body(bytes::Bytes::from(content_body("ev-q", "c-q", "hello", true)))
        .unwrap();
    let response = handover_core::edge::engage::handle(&receiver, Endpoint::Webhook, request).await;
    assert_eq!(response.status(), 503, "the platform sends it again");
    let body: serde_json::Value = serde_json::from_str(response.body()).unwrap();
    assert_eq!(body["error"], "retry_later");
    let correlation = body["correlation_id"].as_str().unwrap();
    assert!(correlation.len() == 16 && correlation.bytes().all(|b| b.is_ascii_hexdigit()), "{body}");
    assert!(!response.body().contains("sqs.internal"), "no internal detail: {}", response.body());
    assert!(app.engage_calls().await.is_empty());
}

/// Issue 24: `GET /queue` shows each failing event's attempts and when it is tried next, with
/// the worker's own backoff (about 2 s at first).
#[tokio::test]
async fn the_queue_shows_a_failing_events_attempts_and_next_try() {
    let delivery = handover_core::queue::DELIVERY;
    let app = TestApp::spawn(Options::default().delivery(delivery)).await;
    Mock::given(method("POST"))
        .and(path("/1.0/contents"))
        .respond_with(
            ResponseTemplate::new(503)
                .set_body_json(json!({"error": "unavailable", "message": "down", "status": 503})),
        )
        .mount(&app.engage)
        .await;
    app.engage_accepts_everything().await;
    app.bot_answers(json!({"replies": ["Hello"]})).await;
    assert_eq!(app.post_webhook_no_wait(content_body("ev-w", "c-w", "hello", false)).await.status(), 200);
    let mut waiting = serde_json::Value::Null;
    for _ in 0..50 {
        let queue: serde_json::Value = app.get("/queue").await.json().await.unwrap();
        if let Some(first) = queue["retrying"].as_array().and_then(|r| r.first()) {
            waiting = first.clone();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(waiting["group"], THREAD, "{waiting}");
    assert_eq!(waiting["attempts"], 1);
    let next = waiting["next_try_in_ms"].as_u64().unwrap();
    assert!(next <= 2_000, "tried again within 2 s: {next} ms");
    assert!(waiting["last_error"].as_str().unwrap().contains("503"), "{waiting}");
}
