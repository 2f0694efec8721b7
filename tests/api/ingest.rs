//! CONTRACT C6: `content.imported`, the bot's turn, observed as the exact requests the fake
//! Engage Digital and the fake bot receive.

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

async fn app_with_bot(answer: Value) -> TestApp {
    let app = TestApp::spawn(Options::default()).await;
    app.engage_accepts_everything().await;
    app.bot_answers(answer).await;
    app
}

#[tokio::test]
async fn a_first_message_opens_the_intervention_then_posts_the_reply() {
    let app = app_with_bot(json!({"replies": ["We are open 9 to 6."]})).await;
    let response = app.post_webhook(content_body("ev-1", "c-1", "Opening hours?", true)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        app.engage_calls().await,
        vec![
            "POST /1.0/interventions?content_id=c-1".to_string(),
            "POST /1.0/contents {in_reply_to_id=c-1, body=We are open 9 to 6., auto_submitted=true}"
                .to_string(),
        ]
    );
    assert_eq!(
        app.bot_requests().await,
        vec![json!({
            "conversation_id": THREAD,
            "channel": "engage",
            "message": {"id": "c-1", "text": "Opening hours?", "type": "text", "language": "en", "author_id": AUTHOR, "first": true}
        })]
    );
    let thread = app.thread().await;
    assert_eq!(thread.version, 1, "the thread is kept");
    assert_eq!(thread.bot_intervention_id.as_deref(), Some("int-1"));
    assert_eq!(thread.source_id.as_deref(), Some(SOURCE));
}

#[tokio::test]
async fn a_follow_up_only_posts_the_replies_in_order() {
    let app = app_with_bot(json!({"replies": ["One.", "Two."], "action": "none"})).await;
    let body = content_body_with("ev-2", "c-2", "more", false, |m| m["intervention_id"] = json!("int-0"));
    assert_eq!(app.post_webhook(body).await.status(), 200);
    assert_eq!(
        app.engage_calls().await,
        vec![
            "POST /1.0/contents {in_reply_to_id=c-2, body=One., auto_submitted=true}".to_string(),
            "POST /1.0/contents {in_reply_to_id=c-2, body=Two., auto_submitted=true}".to_string(),
        ]
    );
}

#[tokio::test]
async fn markup_from_the_bot_is_posted_as_plain_text() {
    let app = app_with_bot(json!({"replies": ["<p>See <b>our</b> <a href=\"x\">FAQ</a></p>", "**Bold** [site](https://example.com)"]})).await;
    app.post_webhook(content_body("ev-3", "c-3", "help", false)).await;
    assert_eq!(
        app.engage_calls().await,
        vec![
            "POST /1.0/contents {in_reply_to_id=c-3, body=See our FAQ, auto_submitted=true}".to_string(),
            "POST /1.0/contents {in_reply_to_id=c-3, body=Bold site (https://example.com), auto_submitted=true}".to_string(),
        ]
    );
}

#[tokio::test]
async fn contents_that_are_not_the_bots_are_only_acknowledged() {
    let app = app_with_bot(json!({"replies": ["never sent"]})).await;
    let cases: Vec<(&str, Box<dyn FnOnce(&mut Value)>)> = vec![
        ("agent category", Box::new(|m| m["category_ids"] = json!([OTHER_CATEGORY, AGENT_CATEGORY]))),
        ("no category", Box::new(|m| m["category_ids"] = json!([]))),
        ("created through the API", Box::new(|m| m["creator_id"] = json!("bot-user-1"))),
        ("already replied", Box::new(|m| m["status"] = json!("replied"))),
        ("ignored", Box::new(|m| m["status"] = json!("ignored"))),
    ];
    for (i, (case, edit)) in cases.into_iter().enumerate() {
        let response =
            app.post_webhook(content_body_with(&format!("skip-{i}"), "c-9", "hello", true, edit)).await;
        assert_eq!(response.status(), 200, "{case}");
    }
    assert!(app.engage_calls().await.is_empty());
    assert!(app.bot_requests().await.is_empty());
}

#[tokio::test]
async fn only_the_configured_sources_are_the_bots() {
    let app = TestApp::spawn(Options::default().env("ENGAGE_SOURCE_IDS", "another-source")).await;
    app.engage_accepts_everything().await;
    app.bot_answers(json!({"replies": ["never sent"]})).await;
    assert_eq!(app.post_webhook(content_body("ev-src", "c-1", "hello", true)).await.status(), 200);
    assert!(app.bot_requests().await.is_empty());
    assert!(app.engage_calls().await.is_empty());
}

#[tokio::test]
async fn a_thread_with_the_agents_is_never_answered() {
    let app = app_with_bot(json!({"replies": ["never sent"]})).await;
    let mut thread = handover_core::store::ThreadState::new(THREAD);
    thread.owner = handover_core::store::Owner::Agent;
    app.store.save_thread(&thread).await.unwrap();
    assert_eq!(app.post_webhook(content_body("ev-agent", "c-1", "hello", false)).await.status(), 200);
    assert!(app.bot_requests().await.is_empty());
    assert!(app.engage_calls().await.is_empty());
}

#[tokio::test]
async fn several_events_in_one_body_are_all_processed_and_domain_id_may_be_a_number() {
    let app = app_with_bot(json!({"replies": ["ok"]})).await;
    let first: Value = serde_json::from_str(&content_body("ev-a", "c-a", "one", false)).unwrap();
    let second: Value = serde_json::from_str(&content_body("ev-b", "c-b", "two", false)).unwrap();
    let body = json!({
        "id": "x", "domain_id": 12345, "something_new": true,
        "events": [first["events"][0], {"type": "user.created", "id": "ev-u", "resource": {}}, second["events"][0]]
    });
    assert_eq!(app.post_webhook(body.to_string()).await.status(), 200);
    assert_eq!(
        app.engage_calls().await,
        vec![
            "POST /1.0/contents {in_reply_to_id=c-a, body=ok, auto_submitted=true}".to_string(),
            "POST /1.0/contents {in_reply_to_id=c-b, body=ok, auto_submitted=true}".to_string(),
        ]
    );
}

#[tokio::test]
async fn bad_bodies_are_refused_and_change_nothing() {
    let app = app_with_bot(json!({"replies": ["never sent"]})).await;
    let cases = [
        ("{\"events\": [", 400),
        ("{\"id\": \"x\"}", 400),
        ("{\"events\": \"no\"}", 400),
        ("[]", 400),
        ("{\"events\": [{\"type\": \"content.imported\", \"resource\": {}}]}", 400),
    ];
    for (body, status) in cases {
        let response = app.post_webhook(body).await;
        assert_eq!(response.status(), status, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"], "bad_request");
        assert!(!error["message"].as_str().unwrap().is_empty());
    }
    // One valid event followed by a broken one: the whole body is refused, nothing is done.
    let valid: Value = serde_json::from_str(&content_body("ev-ok", "c-1", "hi", false)).unwrap();
    let mixed = json!({"events": [valid["events"][0], {"type": "content.imported"}]});
    assert_eq!(app.post_webhook(mixed.to_string()).await.status(), 400);

    let huge = format!("{{\"events\": [], \"pad\": \"{}\"}}", "x".repeat(1024 * 1024));
    assert_eq!(app.post_webhook(huge).await.status(), 413);

    assert!(app.engage_calls().await.is_empty());
    assert!(app.bot_requests().await.is_empty());
    assert_eq!(app.thread().await.version, 0);
}

#[tokio::test]
async fn resolve_closes_the_bots_intervention_and_optionally_the_thread() {
    let app = TestApp::spawn(Options::default().env("CLOSE_THREAD_ON_RESOLVE", "true")).await;
    app.engage_accepts_everything().await;
    app.bot_answers(json!({"replies": ["Bye!"], "action": "resolve"})).await;
    assert_eq!(app.post_webhook(content_body("ev-r", "c-r", "bye", true)).await.status(), 200);
    assert_eq!(
        app.engage_calls().await,
        vec![
            "POST /1.0/interventions?content_id=c-r".to_string(),
            "POST /1.0/contents {in_reply_to_id=c-r, body=Bye!, auto_submitted=true}".to_string(),
            "PUT /1.0/interventions/int-1/close".to_string(),
            format!("PUT /1.0/content_threads/{THREAD}/close"),
        ]
    );
    assert_eq!(app.thread().await.bot_intervention_id, None);
}

#[tokio::test]
async fn a_refused_intervention_close_is_logged_not_retried() {
    let app = TestApp::spawn(Options::default()).await;
    Mock::given(method("PUT"))
        .and(path("/1.0/interventions/int-1/close"))
        .respond_with(
            ResponseTemplate::new(403)
                .set_body_json(json!({"error": "forbidden", "message": "no agent replies", "status": 403})),
        )
        .mount(&app.engage)
        .await;
    app.engage_accepts_everything().await;
    app.bot_answers(json!({"replies": ["Bye!"], "action": "resolve"})).await;
    assert_eq!(app.post_webhook(content_body("ev-r2", "c-r2", "bye", true)).await.status(), 200);
    let calls = app.engage_calls().await;
    assert_eq!(calls.iter().filter(|c| c.ends_with("/close")).count(), 1, "{calls:?}");
}

#[tokio::test]
async fn a_422_on_the_intervention_does_not_stop_the_reply() {
    let app = TestApp::spawn(Options::default()).await;
    Mock::given(method("POST"))
        .and(path("/1.0/interventions"))
        .respond_with(
            ResponseTemplate::new(422)
                .set_body_json(json!({"error": "unprocessable", "message": "already opened", "status": 422})),
        )
        .mount(&app.engage)
        .await;
    app.engage_accepts_everything().await;
    app.bot_answers(json!({"replies": ["Hi"]})).await;
    assert_eq!(app.post_webhook(content_body("ev-422", "c-1", "hello", true)).await.status(), 200);
    assert_eq!(
        app.engage_calls().await,
        vec![
            "POST /1.0/interventions?content_id=c-1".to_string(),
            // Perhaps opened by an earlier delivery that died: the content would name it.
            "GET /1.0/contents/c-1".to_string(),
            "POST /1.0/contents {in_reply_to_id=c-1, body=Hi, auto_submitted=true}".to_string()
        ]
    );
}

#[tokio::test]
async fn the_builtin_bot_answers_from_its_rules() {
    let app = TestApp::spawn(Options::default().bot(BotKind::Builtin)).await;
    app.engage_accepts_everything().await;
    assert_eq!(app.post_webhook(content_body("ev-b1", "c-b1", "Hello!", false)).await.status(), 200);
    assert_eq!(
        app.engage_calls().await,
        vec!["POST /1.0/contents {in_reply_to_id=c-b1, body=Hello! I am the virtual assistant. How can I help you today?, auto_submitted=true}".to_string()]
    );
}

#[tokio::test]
async fn other_methods_are_not_allowed() {
    let app = TestApp::spawn(Options::default()).await;
    let response = app.http.delete(format!("{}/engage/webhook", app.address)).send().await.unwrap();
    assert_eq!(response.status(), 405);
}
