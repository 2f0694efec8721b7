//! CONTRACT C6 exactly-once: redeliveries, concurrent deliveries and failures mid-way, against
//! both stores.

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

async fn redelivered_sequentially(store: StoreKind) {
    let app = TestApp::spawn(Options::default().store(store)).await;
    app.engage_accepts_everything().await;
    app.bot_answers(json!({"replies": ["Hello!"]})).await;
    let body = content_body("ev-dup", "c-1", "hello", true);
    assert_eq!(app.post_webhook(body.clone()).await.status(), 200);
    assert_eq!(app.post_webhook(body.clone()).await.status(), 200);
    assert_eq!(app.post_webhook(body).await.status(), 200);
    assert_eq!(app.bot_requests().await.len(), 1, "one bot call");
    assert_eq!(
        app.engage_calls().await,
        vec![
            "POST /1.0/interventions?content_id=c-1".to_string(),
            "POST /1.0/contents {in_reply_to_id=c-1, body=Hello!, auto_submitted=true}".to_string()
        ]
    );
}

#[tokio::test]
async fn a_redelivered_body_is_answered_once_memory() {
    redelivered_sequentially(StoreKind::Memory).await;
}

#[tokio::test]
async fn a_redelivered_body_is_answered_once_dynamodb() {
    redelivered_sequentially(StoreKind::Dynamo).await;
}

async fn delivered_concurrently(store: StoreKind) {
    let app = TestApp::spawn(Options::default().store(store)).await;
    app.engage_accepts_everything().await;
    // A slow bot keeps the first delivery busy while the others arrive.
    Mock::given(method("POST"))
        .and(path("/bot"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"replies": ["Hi"]}))
                .set_delay(std::time::Duration::from_millis(300)),
        )
        .mount(&app.bot)
        .await;
    let body = content_body("ev-conc", "c-1", "hello", false);
    let deliveries = (0..4).map(|_| app.post_webhook(body.clone()));
    let statuses: Vec<u16> =
        futures::future::join_all(deliveries).await.iter().map(|r| r.status().as_u16()).collect();
    // The duplicates wait for the first delivery to finish, then find it done.
    assert_eq!(statuses, vec![200; 4]);
    assert_eq!(app.bot_requests().await.len(), 1);
    assert_eq!(
        app.engage_calls().await,
        vec!["POST /1.0/contents {in_reply_to_id=c-1, body=Hi, auto_submitted=true}".to_string()]
    );
}

#[tokio::test]
async fn concurrent_deliveries_are_answered_once_memory() {
    delivered_concurrently(StoreKind::Memory).await;
}

#[tokio::test]
async fn concurrent_deliveries_are_answered_once_dynamodb() {
    delivered_concurrently(StoreKind::Dynamo).await;
}

/// The reply fails with a 503 after the intervention was opened: the webhook has already
/// answered 200 (the event was queued), and the queue's next delivery reads the thread (the
/// 503 may have followed the work), then posts the reply without opening a second intervention
/// or asking the bot again. A later duplicate does nothing.
async fn resumes_after_a_platform_failure(store: StoreKind) {
    let app = TestApp::spawn(Options::default().store(store)).await;
    Mock::given(method("POST"))
        .and(path("/1.0/contents"))
        .respond_with(
            ResponseTemplate::new(503)
                .set_body_json(json!({"error": "unavailable", "message": "try later", "status": 503})),
        )
        .up_to_n_times(1)
        .mount(&app.engage)
        .await;
    app.engage_accepts_everything().await;
    app.bot_answers(json!({"replies": ["First", "Second"]})).await;
    let body = content_body("ev-fail", "c-1", "hello", true);

    assert_eq!(app.post_webhook(body.clone()).await.status(), 200, "queued: the platform need not retry");
    assert!(app.dead_letters().is_empty(), "the retry finished it");
    assert_eq!(app.post_webhook(body).await.status(), 200);
    assert_eq!(app.bot_requests().await.len(), 1, "the saved answer is reused");
    assert_eq!(
        app.engage_calls().await,
        vec![
            "POST /1.0/interventions?content_id=c-1".to_string(),
            "POST /1.0/contents {in_reply_to_id=c-1, body=First, auto_submitted=true}".to_string(),
            // A 503 to a change may come after the work: the thread is read before the retry.
            format!("GET /1.0/contents?q=thread:\"{THREAD}\"&limit=150"),
            "POST /1.0/contents {in_reply_to_id=c-1, body=First, auto_submitted=true}".to_string(),
            "POST /1.0/contents {in_reply_to_id=c-1, body=Second, auto_submitted=true}".to_string(),
        ],
        "the failed reply is checked and retried once, nothing else is repeated"
    );
}

#[tokio::test]
async fn a_failed_step_resumes_without_repeating_the_others_memory() {
    resumes_after_a_platform_failure(StoreKind::Memory).await;
}

#[tokio::test]
async fn a_failed_step_resumes_without_repeating_the_others_dynamodb() {
    resumes_after_a_platform_failure(StoreKind::Dynamo).await;
}
