//! CONTRACT C8: `intervention.closed` and `intervention.reopened` on `/engage/interventions`.

use handover_core::store::Owner;
use serde_json::json;

use crate::helpers::*;

fn intervention_body(
    event_type: &str,
    event_id: &str,
    intervention_id: &str,
    thread_id: &str,
    issued_at: &str,
) -> String {
    json!({"id": "d1", "domain_id": "582af25a799fc247acfcde38", "events": [{
        "type": event_type, "id": event_id, "issued_at": issued_at,
        "resource": {"type": "intervention", "id": intervention_id, "metadata": {
            "thread_id": thread_id, "category_ids": [OTHER_CATEGORY, AGENT_CATEGORY], "source_id": SOURCE, "user_id": "agent-1"
        }}
    }]})
    .to_string()
}

/// A customer's message written after the agents closed their intervention (11:00).
fn after_the_close(event_id: &str, content_id: &str) -> String {
    content_body(event_id, content_id, "hello", false)
        .replace("2026-11-22T10:00:00.000Z", "2026-11-22T11:05:00.000Z")
}

fn closed(event_id: &str, issued_at: &str) -> String {
    intervention_body("intervention.closed", event_id, "agent-int-1", THREAD, issued_at)
}

/// Posts to the interventions webhook and waits until what it queued is processed.
async fn post_interventions(app: &TestApp, body: String) -> reqwest::Response {
    let response = app
        .http
        .post(format!("{}/engage/interventions", app.address))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    app.settle().await;
    response
}

/// An app whose sample thread was handed over to the agents (at 2026-11-22T10:00:00Z).
async fn handed_over(options: Options) -> TestApp {
    let app = TestApp::spawn(options.env("HANDOVER_MESSAGE", "")).await;
    platform(&app, json!([agent_on(CHAT_CHANNEL, "available", "ok")])).await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path("/bot"))
        .and(wiremock::matchers::body_string_contains("agent"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(json!({"action": "handover"})))
        .mount(&app.bot)
        .await;
    app.bot_answers(json!({"replies": ["Welcome back!"]})).await;
    assert_eq!(app.post_webhook(content_body("ev-0", "c-0", "agent please", true)).await.status(), 200);
    assert_eq!(app.thread().await.owner, Owner::Agent);
    app
}

fn updates(calls: &[String]) -> Vec<&String> {
    calls.iter().filter(|c| c.contains("update_categories")).collect()
}

async fn policy_bot_gives_the_thread_back(store: StoreKind) {
    let app = handed_over(Options::default().store(store)).await;
    let before = app.engage_calls().await.len();
    let body = closed("ev-closed", "2026-11-22T11:00:00Z");
    assert_eq!(post_interventions(&app, body.clone()).await.status(), 200);
    // A redelivery does nothing.
    assert_eq!(post_interventions(&app, body).await.status(), 200);
    let calls = app.engage_calls().await;
    assert_eq!(
        calls[before..],
        [format!(
            "PUT /1.0/content_threads/{THREAD}/update_categories {{thread_category_ids[]={OTHER_CATEGORY}, thread_category_ids[]={BOT_CATEGORY}}}"
        )]
    );
    let thread = app.thread().await;
    assert_eq!(thread.owner, Owner::Bot);
    assert_eq!(thread.categories, Some(vec![OTHER_CATEGORY.to_string(), BOT_CATEGORY.to_string()]));

    // The next customer message gets a bot reply.
    assert_eq!(app.post_webhook(after_the_close("ev-next", "c-next")).await.status(), 200);
    assert_eq!(
        app.engage_calls().await.last().unwrap(),
        "POST /1.0/contents {in_reply_to_id=c-next, body=Welcome back!, auto_submitted=true}"
    );
}

#[tokio::test]
async fn policy_bot_gives_the_thread_back_memory() {
    policy_bot_gives_the_thread_back(StoreKind::Memory).await;
}

#[tokio::test]
async fn policy_bot_gives_the_thread_back_dynamodb() {
    policy_bot_gives_the_thread_back(StoreKind::Dynamo).await;
}

#[tokio::test]
async fn policy_agent_leaves_the_thread_with_the_agents() {
    let app = handed_over(Options::default().env("REOPEN_POLICY", "agent")).await;
    let before = app.engage_calls().await.len();
    assert_eq!(post_interventions(&app, closed("ev-closed", "2026-11-22T11:00:00Z")).await.status(), 200);
    assert_eq!(app.post_webhook(content_body("ev-next", "c-next", "hello", false)).await.status(), 200);
    assert_eq!(app.engage_calls().await.len(), before, "no call, no reply");
    assert_eq!(app.bot_requests().await.len(), 1);
    assert_eq!(app.thread().await.owner, Owner::Agent);
}

#[tokio::test]
async fn other_intervention_events_are_only_recorded() {
    let app = handed_over(Options::default()).await;
    let before = app.engage_calls().await.len();
    let bots_own = intervention_body("intervention.closed", "ev-b", "int-1", THREAD, "2026-11-22T11:00:00Z");
    let unknown = intervention_body(
        "intervention.closed",
        "ev-u",
        "agent-int-9",
        "never-seen-thread",
        "2026-11-22T11:00:00Z",
    );
    let reopened =
        intervention_body("intervention.reopened", "ev-r", "agent-int-1", THREAD, "2026-11-22T11:00:00Z");
    let no_thread = json!({"events": [{"type": "intervention.closed", "id": "ev-n", "resource": {"id": "i", "metadata": {}}}]});
    for body in [bots_own, unknown, reopened, no_thread.to_string()] {
        assert_eq!(post_interventions(&app, body.clone()).await.status(), 200, "{body}");
    }
    assert_eq!(app.engage_calls().await.len(), before);
    assert_eq!(app.thread().await.owner, Owner::Agent);
}

#[tokio::test]
async fn a_late_close_of_an_earlier_intervention_does_not_take_the_thread_from_the_agents() {
    let app = handed_over(Options::default()).await;
    let before = app.engage_calls().await.len();
    // Issued before the handover (10:00:00Z), delivered after it.
    assert_eq!(post_interventions(&app, closed("ev-old", "2026-11-22T09:59:00Z")).await.status(), 200);
    assert_eq!(app.engage_calls().await.len(), before);
    assert_eq!(app.thread().await.owner, Owner::Agent);
}

#[tokio::test]
async fn events_sent_to_the_other_endpoint_are_still_handled() {
    let app = handed_over(Options::default()).await;
    // intervention.closed registered on the content webhook by mistake.
    assert_eq!(app.post_webhook(closed("ev-wrong", "2026-11-22T11:00:00Z")).await.status(), 200);
    assert_eq!(app.thread().await.owner, Owner::Bot);
    assert_eq!(updates(&app.engage_calls().await).len(), 2);
    // content.imported registered on the interventions webhook: the bot still answers.
    assert_eq!(post_interventions(&app, after_the_close("ev-c", "c-c")).await.status(), 200);
    assert_eq!(
        app.engage_calls().await.last().unwrap(),
        "POST /1.0/contents {in_reply_to_id=c-c, body=Welcome back!, auto_submitted=true}"
    );
}

#[tokio::test]
async fn the_interventions_endpoint_verifies_like_the_webhook() {
    let app = TestApp::spawn(Options::default().env("ENGAGE_WEBHOOK_SECRET", "s3")).await;
    let url = format!(
        "{}/engage/interventions?hub.mode=subscribe&hub.challenge=ch&hub.verify_token={VERIFY_TOKEN}",
        app.address
    );
    assert_eq!(app.http.get(&url).send().await.unwrap().status(), 403);
    let ok = app.http.get(&url).header("x-dimelo-secret", "s3").send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "ch");
    let bad = app
        .http
        .post(format!("{}/engage/interventions", app.address))
        .header("x-dimelo-secret", "s3")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert!(app.engage_calls().await.is_empty());
}
