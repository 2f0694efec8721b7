//! CONTRACT C5: the subscription check, with and without a webhook secret.

use crate::helpers::{Options, TestApp, VERIFY_TOKEN};

fn verify_query(mode: &str, challenge: &str, token: &str) -> String {
    format!("/engage/webhook?hub.mode={mode}&hub.challenge={challenge}&hub.verify_token={token}")
}

async fn assert_no_side_effects(app: &TestApp) {
    assert!(app.engage_calls().await.is_empty(), "verification calls nothing");
    assert!(app.bot_requests().await.is_empty(), "verification asks no bot");
    assert_eq!(app.thread().await.version, 0, "verification writes nothing");
}

#[tokio::test]
async fn the_right_token_gets_the_challenge_back_as_text_html() {
    let app = TestApp::spawn(Options::default()).await;
    let response = app.get(&verify_query("subscribe", "jfkjdsvfqgbqsvbfqkv", VERIFY_TOKEN)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/html");
    assert_eq!(response.text().await.unwrap(), "jfkjdsvfqgbqsvbfqkv");
    assert_no_side_effects(&app).await;
}

#[tokio::test]
async fn a_wrong_token_is_forbidden() {
    let app = TestApp::spawn(Options::default()).await;
    let response = app.get(&verify_query("subscribe", "abc", "sample-verify-tokem")).await;
    assert_eq!(response.status(), 403);
    let body = response.text().await.unwrap();
    assert!(!body.contains(VERIFY_TOKEN), "the error never shows the real token");
    assert_no_side_effects(&app).await;
}

#[tokio::test]
async fn missing_parameters_or_a_wrong_mode_are_bad_requests() {
    let app = TestApp::spawn(Options::default()).await;
    for query in [
        "/engage/webhook",
        &format!("/engage/webhook?hub.challenge=abc&hub.verify_token={VERIFY_TOKEN}"),
        &format!("/engage/webhook?hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}"),
        "/engage/webhook?hub.mode=subscribe&hub.challenge=abc",
        &verify_query("unsubscribe", "abc", VERIFY_TOKEN),
    ] {
        let response = app.get(query).await;
        assert_eq!(response.status(), 400, "{query}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], "bad_request", "{query}");
    }
    assert_no_side_effects(&app).await;
}

#[tokio::test]
async fn with_a_secret_every_request_must_carry_it() {
    let app = TestApp::spawn(Options::default().env("ENGAGE_WEBHOOK_SECRET", "hook-secret-91")).await;
    let url = format!("{}{}", app.address, verify_query("subscribe", "xyz", VERIFY_TOKEN));

    let missing = app.http.get(&url).send().await.unwrap();
    assert_eq!(missing.status(), 403);
    let wrong = app.http.get(&url).header("X-Dimelo-Secret", "hook-secret-92").send().await.unwrap();
    assert_eq!(wrong.status(), 403);
    assert!(!wrong.text().await.unwrap().contains("hook-secret-91"));
    // Header names are case-insensitive (API Gateway lower-cases them).
    let right = app.http.get(&url).header("X-DIMELO-SECRET", "hook-secret-91").send().await.unwrap();
    assert_eq!(right.status(), 200);
    assert_eq!(right.text().await.unwrap(), "xyz");

    // The POST is refused too, before its body is even read.
    let post = app.post_webhook(crate::helpers::content_body("e1", "c1", "hello", true)).await;
    assert_eq!(post.status(), 403);
    assert_no_side_effects(&app).await;
}
