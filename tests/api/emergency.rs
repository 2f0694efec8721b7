//! CONTRACT C9: the emergency switch.

use std::sync::Arc;

use handover::Functions;
use handover_core::edge::emergency::{Authorization, CallerIdentity};
use handover_core::store::{Owner, ThreadState};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

const BOT_THREADS: [&str; 3] = ["thread-b1", "thread-b2", "thread-b3"];

/// Three bot-owned threads (one with unknown categories), one agent-owned, and a bot source.
async fn app_with_threads() -> TestApp {
    let app = TestApp::spawn(Options::default().env("ENGAGE_SOURCE_IDS", SOURCE)).await;
    for (i, id) in BOT_THREADS.iter().enumerate() {
        let categories = (i != 1).then(|| vec![OTHER_CATEGORY.to_string(), BOT_CATEGORY.to_string()]);
        // Conversations going on now (an idle one is not handed over).
        let active =
            ThreadState { categories, updated_at_ms: handover_core::now_millis(), ..ThreadState::new(id) };
        app.store.save_thread(&active).await.unwrap();
    }
    let agents = ThreadState { owner: Owner::Agent, ..ThreadState::new("thread-a1") };
    app.store.save_thread(&agents).await.unwrap();
    Mock::given(method("GET"))
        .and(path("/1.0/content_threads/thread-b2"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": "thread-b2", "thread_category_ids": [BOT_CATEGORY]})),
        )
        .mount(&app.engage)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/1.0/content_sources/{SOURCE}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"id": SOURCE, "name": "Chat", "default_category_ids": [BOT_CATEGORY, OTHER_CATEGORY]}),
        ))
        .mount(&app.engage)
        .await;
    Mock::given(method("PUT"))
        .and(path(format!("/1.0/content_sources/{SOURCE}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": SOURCE})))
        .mount(&app.engage)
        .await;
    Mock::given(method("PUT"))
        .and(wiremock::matchers::path_regex(r"^/1\.0/content_threads/[^/]+/update_categories$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "x"})))
        .mount(&app.engage)
        .await;
    app
}

async fn call(app: &TestApp, body: Option<Value>, token: Option<&str>) -> reqwest::Response {
    let url = format!("{}/emergency", app.address);
    let mut request = match &body {
        Some(body) => app.http.post(&url).json(body),
        None => app.http.get(&url),
    };
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

async fn switch(app: &TestApp, active: bool) -> reqwest::Response {
    call(app, Some(json!({"active": active, "reason": "bot answers nonsense"})), Some(EMERGENCY_TOKEN)).await
}

fn updates_of(calls: &[String], thread: &str) -> usize {
    calls
        .iter()
        .filter(|c| c.starts_with(&format!("PUT /1.0/content_threads/{thread}/update_categories")))
        .count()
}

#[tokio::test]
async fn switching_on_hands_every_bot_thread_over_and_switches_the_sources() {
    let app = app_with_threads().await;
    let response = switch(&app, true).await;
    assert_eq!(response.status(), 200);
    let status: Value = response.json().await.unwrap();
    assert_eq!(status["active"], true);
    assert_eq!(status["handed_over"], 3);
    assert_eq!(status["remaining"], 0);
    assert_eq!(status["reason"], "bot answers nonsense");
    assert_eq!(status["switched_by"], "emergency-token");
    assert!(status["since"].as_str().unwrap().ends_with('Z'));

    let calls = app.engage_calls().await;
    assert_eq!(calls[0], format!("GET /1.0/content_sources/{SOURCE}"));
    assert_eq!(
        calls[1],
        format!(
            "PUT /1.0/content_sources/{SOURCE} {{default_category_ids[]={OTHER_CATEGORY}, default_category_ids[]={AGENT_CATEGORY}}}"
        )
    );
    for thread in BOT_THREADS {
        assert_eq!(updates_of(&calls, thread), 1, "{thread}: {calls:#?}");
        assert_eq!(app.store.get_thread(thread).await.unwrap().owner, Owner::Agent);
    }
    assert_eq!(updates_of(&calls, "thread-a1"), 0);
    assert!(calls.contains(&format!(
        "PUT /1.0/content_threads/thread-b1/update_categories {{thread_category_ids[]={OTHER_CATEGORY}, thread_category_ids[]={AGENT_CATEGORY}}}"
    )));
    assert!(calls.contains(&"GET /1.0/content_threads/thread-b2".to_string()));

    // GET tells the same.
    let read: Value = call(&app, None, Some(EMERGENCY_TOKEN)).await.json().await.unwrap();
    assert_eq!(read, status);

    // A new bot message is handed over at once: no bot call, no availability check.
    platform(&app, json!([agent_on(CHAT_CHANNEL, "available", "ok")])).await;
    app.bot_answers(json!({"replies": ["never"]})).await;
    let before = app.engage_calls().await.len();
    assert_eq!(app.post_webhook(content_body("ev-e", "c-e", "hello", true)).await.status(), 200);
    let after = app.engage_calls().await[before..].to_vec();
    assert!(app.bot_requests().await.is_empty());
    assert!(!after.iter().any(|c| c.starts_with("GET /1.0/status")), "{after:?}");
    assert!(
        after.iter().any(|c| c.contains(&format!("/content_threads/{THREAD}/update_categories"))),
        "{after:?}"
    );
    assert_eq!(app.thread().await.owner, Owner::Agent);

    // Switching on again changes nothing.
    let again = app.engage_calls().await.len();
    assert_eq!(switch(&app, true).await.status(), 200);
    assert_eq!(app.engage_calls().await.len(), again);
}

#[tokio::test]
async fn an_interrupted_switch_is_finished_by_the_next_call_without_repeating_a_thread() {
    let app = app_with_threads().await;
    Mock::given(method("PUT"))
        .and(path("/1.0/content_threads/thread-b2/update_categories"))
        .respond_with(
            ResponseTemplate::new(503)
                .set_body_json(json!({"error": "unavailable", "message": "down", "status": 503})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&app.engage)
        .await;
    let interrupted = switch(&app, true).await;
    assert_eq!(interrupted.status(), 503);
    assert_eq!(app.store.get_thread("thread-b1").await.unwrap().owner, Owner::Agent);
    assert_eq!(app.store.get_thread("thread-b2").await.unwrap().owner, Owner::Bot);

    let status: Value = call(&app, None, Some(EMERGENCY_TOKEN)).await.json().await.unwrap();
    assert_eq!((status["handed_over"].as_u64(), status["remaining"].as_u64()), (Some(1), Some(2)));

    // The next invocation (here a second POST; in AWS also the schedule) finishes the work.
    let finished: Value = switch(&app, true).await.json().await.unwrap();
    assert_eq!((finished["handed_over"].as_u64(), finished["remaining"].as_u64()), (Some(3), Some(0)));
    let calls = app.engage_calls().await;
    assert_eq!(updates_of(&calls, "thread-b1"), 1, "{calls:#?}");
    assert_eq!(updates_of(&calls, "thread-b2"), 2, "one refused, one done: {calls:#?}");
    assert_eq!(updates_of(&calls, "thread-b3"), 1, "{calls:#?}");
    assert_eq!(calls.iter().filter(|c| c.starts_with("PUT /1.0/content_sources")).count(), 1);
}

#[tokio::test]
async fn switching_off_restores_the_sources_and_leaves_the_agents_their_threads() {
    let app = app_with_threads().await;
    assert_eq!(switch(&app, true).await.status(), 200);
    let before = app.engage_calls().await.len();
    let off: Value = switch(&app, false).await.json().await.unwrap();
    assert_eq!(off["active"], false);
    assert_eq!(off["remaining"], 0);
    let calls = app.engage_calls().await[before..].to_vec();
    assert_eq!(
        calls,
        vec![format!(
            "PUT /1.0/content_sources/{SOURCE} {{default_category_ids[]={BOT_CATEGORY}, default_category_ids[]={OTHER_CATEGORY}}}"
        )]
    );
    assert_eq!(app.store.get_thread("thread-b1").await.unwrap().owner, Owner::Agent);

    // A new thread's message reaches the bot.
    app.engage_accepts_everything().await;
    app.bot_answers(json!({"replies": ["Hi there"]})).await;
    assert_eq!(app.post_webhook(content_body("ev-new", "c-new", "hello", true)).await.status(), 200);
    assert_eq!(app.bot_requests().await.len(), 1);
    assert_eq!(
        app.engage_calls().await.last().unwrap(),
        "POST /1.0/contents {in_reply_to_id=c-new, body=Hi there, auto_submitted=true}"
    );
}

#[tokio::test]
async fn unauthorized_calls_are_refused_and_change_nothing() {
    let app = app_with_threads().await;
    let on = json!({"active": true});
    for token in [None, Some("wrong-token")] {
        assert_eq!(call(&app, Some(on.clone()), token).await.status(), 401);
        assert_eq!(call(&app, None, token).await.status(), 401);
    }
    assert!(app.engage_calls().await.is_empty());
    assert!(!app.store.get_emergency().await.unwrap().active);

    // Without a token configured locally, or without an IAM identity in AWS: refused.
    for authorization in [Authorization::Refuse, Authorization::Iam] {
        let functions =
            Functions { emergency_authorization: Arc::new(authorization), ..app.functions.clone() };
        let request = http::Request::post("/emergency").body(bytes::Bytes::from(on.to_string())).unwrap();
        let response = handover_core::edge::emergency::handle(
            &functions.emergency,
            &functions.emergency_authorization,
            request,
        )
        .await;
        assert_eq!(response.status(), 403);
    }
    assert!(!app.store.get_emergency().await.unwrap().active);

    // With an IAM identity, the caller is recorded as who switched it.
    let mut request = http::Request::get("/emergency").body(bytes::Bytes::new()).unwrap();
    request.extensions_mut().insert(CallerIdentity("arn:aws:iam::123456789012:user/ops".into()));
    let response =
        handover_core::edge::emergency::handle(&app.functions.emergency, &Authorization::Iam, request).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn bad_switch_requests_are_refused() {
    let app = app_with_threads().await;
    let url = format!("{}/emergency", app.address);
    for body in ["{", "{\"reason\": \"no active\"}", "{\"active\": \"yes\"}"] {
        let response = app.http.post(&url).bearer_auth(EMERGENCY_TOKEN).body(body).send().await.unwrap();
        assert_eq!(response.status(), 400, "{body}");
    }
    let long = json!({"active": true, "reason": "x".repeat(501)});
    assert_eq!(call(&app, Some(long), Some(EMERGENCY_TOKEN)).await.status(), 400);
    assert!(app.engage_calls().await.is_empty());
}

#[tokio::test]
async fn a_message_right_after_switching_on_in_the_same_process_goes_to_the_agents() {
    // A warm process that read the switch (off) a moment ago and would reuse it for 5 minutes.
    let app = TestApp::spawn(Options::default().env("EMERGENCY_CACHE_SECONDS", "300")).await;
    platform(&app, json!([agent_on(CHAT_CHANNEL, "available", "ok")])).await;
    app.bot_answers(json!({"replies": ["Hello"]})).await;
    let warm =
        content_body_with("ev-warm", "c-warm", "hello", true, |m| m["thread_id"] = json!("thread-warm"));
    assert_eq!(app.post_webhook(warm).await.status(), 200);
    assert_eq!(app.bot_requests().await.len(), 1);

    assert_eq!(switch(&app, true).await.status(), 200);
    assert_eq!(app.post_webhook(content_body("ev-now", "c-now", "hello", true)).await.status(), 200);
    assert_eq!(app.bot_requests().await.len(), 1, "the bot is not asked");
    assert_eq!(app.thread().await.owner, Owner::Agent, "straight to the agents");
}
