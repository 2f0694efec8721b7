//! Uncertain outcomes, as production delivers them (issue 23): a call that did its work but
//! answered 502, an answer lost after a write, a redelivery hours later, an oversized bot
//! answer. Each on the in-process queue with the memory store and with DynamoDB Local,
//! asserting the exact platform calls.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use handover_core::engage::Envelope;
use handover_core::queue::Job;
use handover_core::store::{BotOutcome, Owner};
use serde_json::json;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

/// `GET /contents` as the product reads a thread's latest contents.
fn thread_contents_call() -> String {
    format!("GET /1.0/contents?q=thread:\"{THREAD}\"&limit=150")
}

fn reply_call(to: &str, body: &str) -> String {
    format!("POST /1.0/contents {{in_reply_to_id={to}, body={body}, auto_submitted=true}}")
}

/// Fault 1: Engage Digital posted the reply, but a proxy answered 502: the retry reads the thread,
/// finds the reply, and does not post it again; the thread answers its next message.
async fn a_reply_answered_502_is_not_posted_again(kind: StoreKind) {
    let app = TestApp::spawn(Options::default().store(kind)).await;
    Mock::given(method("POST"))
        .and(path("/1.0/contents"))
        .respond_with(ResponseTemplate::new(502).set_body_string("<html>Bad Gateway</html>"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&app.engage)
        .await;
    Mock::given(method("GET"))
        .and(path("/1.0/contents"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"count": 1, "records": [
            {"id": "reply-1", "thread_id": THREAD, "in_reply_to_id": "c-1"}
        ]})))
        .mount(&app.engage)
        .await;
    app.engage_accepts_everything().await;
    app.bot_answers(json!({"replies": ["Sure."]})).await;

    assert_eq!(app.post_webhook(content_body("ev-1", "c-1", "hello", false)).await.status(), 200);
    assert_eq!(app.engage_calls().await, vec![reply_call("c-1", "Sure."), thread_contents_call()]);
    assert!(app.dead_letters().is_empty());

    assert_eq!(app.post_webhook(content_body("ev-2", "c-2", "and then?", false)).await.status(), 200);
    assert_eq!(app.engage_calls().await[2..], [reply_call("c-2", "Sure.")]);
    assert_eq!(app.bot_requests().await.len(), 2, "the bot was asked once per message");
}

#[tokio::test]
async fn a_reply_answered_502_is_not_posted_again_memory() {
    a_reply_answered_502_is_not_posted_again(StoreKind::Memory).await;
}

#[tokio::test]
async fn a_reply_answered_502_is_not_posted_again_dynamodb() {
    a_reply_answered_502_is_not_posted_again(StoreKind::Dynamo).await;
}

/// Fault 2: Zenvia accepted the interaction but the answer was lost (502): the retry's accept is
/// refused, which follows our own attempt, so the interaction is ours and its messages are
/// answered.
async fn a_lost_zenvia_accept_still_answers_the_interaction(kind: StoreKind) {
    use crate::zenvia::{HASH, event, message, new_interaction, zenvia_calls};
    let base = format!("/core/api/v1/bot/{HASH}");
    let app = TestApp::spawn(Options::default().store(kind).bot(BotKind::Builtin)).await;
    Mock::given(path(format!("{base}/accept")))
        .respond_with(ResponseTemplate::new(502).set_body_string("<html>Bad Gateway</html>"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&app.zenvia)
        .await;
    Mock::given(path(format!("{base}/accept")))
        .respond_with(
            ResponseTemplate::new(422)
                .set_body_json(json!({"message": "Interaction already accepted", "status": 422})),
        )
        .with_priority(2)
        .mount(&app.zenvia)
        .await;
    let app = zenvia_app_on(app).await;
    assert_eq!(event(&app, new_interaction()).await, 200);
    assert_eq!(event(&app, message("hello")).await, 200);
    let calls = zenvia_calls(&app).await;
    assert_eq!(calls[..2], [format!("PUT {base}/accept {{}}"), format!("PUT {base}/accept {{}}")]);
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert!(calls[2].starts_with(&format!("POST {base}/message ")), "{calls:?}");
    let interaction = app.store.get_thread(&format!("zenvia:{HASH}")).await.unwrap();
    assert!(!interaction.ended);
}

/// The Zenvia fake's success answers, under the faults a test mounted first.
async fn zenvia_app_on(app: TestApp) -> TestApp {
    Mock::given(path_regex(r"^/core/api/v1/bot/[^/]+/(accept|message|transfer|finish)$"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"message": "Message received successfully", "status": 200})),
        )
        .with_priority(5)
        .mount(&app.zenvia)
        .await;
    app
}

#[tokio::test]
async fn a_lost_zenvia_accept_still_answers_the_interaction_memory() {
    a_lost_zenvia_accept_still_answers_the_interaction(StoreKind::Memory).await;
}

#[tokio::test]
async fn a_lost_zenvia_accept_still_answers_the_interaction_dynamodb() {
    a_lost_zenvia_accept_still_answers_the_interaction(StoreKind::Dynamo).await;
}

/// Fault 3: Anything failing between the bot's answer and the first save (the availability check,
/// the claim's write): the bot was asked once, its answer posted once.
async fn the_bot_is_asked_once_whatever_fails_after_it(kind: StoreKind) {
    let faults = Arc::new(StoreFaults::default());
    let app = TestApp::spawn(Options::default().store(kind).faults(&faults)).await;
    Mock::given(method("GET"))
        .and(path("/1.0/status"))
        .respond_with(
            ResponseTemplate::new(503).set_body_json(json!({"error": "unavailable", "status": 503})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&app.engage)
        .await;
    platform(&app, json!([agent_on(CHAT_CHANNEL, "available", "ok")])).await;
    app.bot_answers(json!({"replies": ["Let me find someone."], "action": "handover", "reason": "asked"}))
        .await;

    // The availability check fails once after the bot answered.
    assert_eq!(app.post_webhook(content_body("ev-1", "c-1", "a person please", false)).await.status(), 200);
    assert_eq!(app.bot_requests().await.len(), 1, "asked once");
    let replies: Vec<String> =
        app.engage_calls().await.into_iter().filter(|c| c.starts_with("POST /1.0/contents")).collect();
    assert_eq!(replies.len(), 2, "the bot's reply and the handover message, once each: {replies:?}");
    assert_eq!(app.thread().await.owner, Owner::Agent);

    // The claim's write fails once after the bot answered (another thread).
    faults.failed_claims.store(1, Ordering::SeqCst);
    let other = content_body_with("ev-2", "c-2", "hello", false, |m| m["thread_id"] = json!("thread-2"));
    app.bot.reset().await;
    app.bot_answers(json!({"replies": ["Hi!"]})).await;
    assert_eq!(app.post_webhook(other).await.status(), 200);
    assert_eq!(app.bot_requests().await.len(), 1, "asked once");
    let calls = app.engage_calls().await;
    assert_eq!(calls.iter().filter(|c| **c == reply_call("c-2", "Hi!")).count(), 1, "{calls:?}");
}

#[tokio::test]
async fn the_bot_is_asked_once_whatever_fails_after_it_memory() {
    the_bot_is_asked_once_whatever_fails_after_it(StoreKind::Memory).await;
}

#[tokio::test]
async fn the_bot_is_asked_once_whatever_fails_after_it_dynamodb() {
    the_bot_is_asked_once_whatever_fails_after_it(StoreKind::Dynamo).await;
}

/// Fault 4: A customer message the agents had (the thread was theirs) is redelivered hours later,
/// past the queue's deduplication, once the thread is back with the bot: nothing is posted.
async fn a_late_redelivery_of_an_agents_message_is_not_answered(kind: StoreKind) {
    let app = TestApp::spawn(Options::default().store(kind)).await;
    platform(&app, json!([agent_on(CHAT_CHANNEL, "available", "ok")])).await;
    app.bot_answers(json!({"replies": [], "action": "handover", "reason": "asked"})).await;
    app.post_webhook(content_body("ev-1", "c-1", "a person please", false)).await;
    assert_eq!(app.thread().await.owner, Owner::Agent);

    // While the agents have the thread, the customer writes: recorded, not answered.
    let agents_message = content_body_with("ev-2", "c-2", "are you there?", false, |_| {})
        .replace("2026-11-22T10:00:00.000Z", "2026-11-22T10:05:00.000Z");
    app.post_webhook(agents_message.clone()).await;
    // The agent closes the intervention: the thread goes back to the bot.
    let closed = json!({"events": [{"type": "intervention.closed", "id": "ev-closed", "issued_at": "2026-11-22T11:00:00Z",
        "resource": {"type": "intervention", "id": "agent-int-1", "metadata": {
            "thread_id": THREAD, "category_ids": [OTHER_CATEGORY, AGENT_CATEGORY], "source_id": SOURCE, "user_id": "agent-1"}}}]});
    let response =
        app.http.post(format!("{}/engage/interventions", app.address)).json(&closed).send().await.unwrap();
    assert_eq!(response.status(), 200);
    app.settle().await;
    assert_eq!(app.thread().await.owner, Owner::Bot);
    let before = app.engage_calls().await.len();

    // Engage Digital redelivers the agents' message hours later: the queue no longer knows
    // its id, the worker gets it again.
    let redelivered = Envelope::parse(agents_message.as_bytes()).unwrap().events.remove(0);
    app.functions.processor.process(&Job::engage(redelivered.clone())).await.unwrap();
    // Even with its mark gone (past the record's TTL), it is older than the thread's last
    // change of hands.
    let mut renamed = redelivered;
    if let handover_core::engage::WebhookEvent::ContentImported(content) = &mut renamed {
        content.event_id = "ev-2-after-ttl".into();
    }
    app.functions.processor.process(&Job::engage(renamed)).await.unwrap();

    assert_eq!(app.engage_calls().await.len(), before, "nothing posted");
    assert_eq!(app.bot_requests().await.len(), 1, "the bot was not asked");
}

#[tokio::test]
async fn a_late_redelivery_of_an_agents_message_is_not_answered_memory() {
    a_late_redelivery_of_an_agents_message_is_not_answered(StoreKind::Memory).await;
}

#[tokio::test]
async fn a_late_redelivery_of_an_agents_message_is_not_answered_dynamodb() {
    a_late_redelivery_of_an_agents_message_is_not_answered(StoreKind::Dynamo).await;
}

/// Fault 5: A commit carried out whose answer was lost (the SDK's retry meets the write as a
/// conflict, or the error reaches the worker and the queue retries): the turn counts once.
async fn a_commit_whose_answer_is_lost_counts_once(kind: StoreKind) {
    let faults = Arc::new(StoreFaults::default());
    let app = TestApp::spawn(Options::default().store(kind).faults(&faults)).await;
    platform(&app, json!([agent_on(CHAT_CHANNEL, "available", "ok")])).await;
    app.bot_answers(json!({"replies": ["Sorry, I did not get that."], "reason": "fallback"})).await;

    faults.commits_meeting_their_own_write.store(1, Ordering::SeqCst);
    app.post_webhook(content_body("ev-1", "c-1", "blorp", false)).await;
    let thread = app.thread().await;
    assert_eq!((thread.bot_turns, thread.consecutive_fallbacks), (1, 1), "counted once");

    faults.commits_answer_lost.store(1, Ordering::SeqCst);
    app.post_webhook(content_body("ev-2", "c-2", "hello", false)).await;
    let thread = app.thread().await;
    // Two fallbacks in a row hand over (MAX_BOT_FAILURES=2), the turn counted once.
    assert_eq!((thread.bot_turns, thread.owner), (2, Owner::Agent), "counted once");
    let calls = app.engage_calls().await;
    let replies: Vec<&String> = calls.iter().filter(|c| c.starts_with("POST /1.0/contents")).collect();
    assert_eq!(replies.len(), 2, "the first fallback's reply, then the handover message: {replies:?}");
    assert_eq!(calls.iter().filter(|c| c.contains("update_categories")).count(), 1);
    assert_eq!(app.bot_requests().await.len(), 2);
}

#[tokio::test]
async fn a_commit_whose_answer_is_lost_counts_once_memory() {
    a_commit_whose_answer_is_lost_counts_once(StoreKind::Memory).await;
}

#[tokio::test]
async fn a_commit_whose_answer_is_lost_counts_once_dynamodb() {
    a_commit_whose_answer_is_lost_counts_once(StoreKind::Dynamo).await;
}

/// Fault 6: A bot answer past the product's bounds is a bot failure: handed over, nothing of it
/// posted or stored.
async fn an_answer_past_the_bounds_is_a_bot_failure(kind: StoreKind) {
    let huge = json!({"replies": ["x".repeat(2 << 20)]}).to_string();
    let answers = [
        json!({"replies": vec!["one more"; 11]}).to_string(),
        json!({"replies": ["y".repeat(5_000)]}).to_string(),
        json!({"replies": ["Let me check."], "action": "handover", "reason": "r".repeat(1_024)}).to_string(),
        huge,
    ];
    for (n, answer) in answers.into_iter().enumerate() {
        let saved = Arc::new(StoreFaults::default());
        let app = TestApp::spawn(Options::default().store(kind).faults(&saved)).await;
        platform(&app, json!([agent_on(CHAT_CHANNEL, "available", "ok")])).await;
        Mock::given(method("POST"))
            .and(path("/bot"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(answer, "application/json"))
            .mount(&app.bot)
            .await;
        app.post_webhook(content_body("ev-1", "c-1", "hello", false)).await;
        let thread = app.thread().await;
        assert_eq!(thread.owner, Owner::Agent, "answer {n}: handed over");
        let replies: Vec<String> =
            app.engage_calls().await.into_iter().filter(|c| c.starts_with("POST /1.0/contents")).collect();
        assert_eq!(replies.len(), 1, "answer {n}: the handover message only: {replies:?}");
        // Every journal saved (the memory store keeps none of a finished event; DynamoDB its last).
        let journals = saved.journals_saved.lock().unwrap().clone();
        let failed = Some(BotOutcome::Failed { reason: "bot_answer_too_large".into() });
        assert_eq!(journals.last().map(|j| &j.bot), Some(&failed), "answer {n}: a bot failure");
        for journal in journals {
            assert!(journal.bot.is_none() || journal.bot == failed, "answer {n}: nothing of it stored");
        }
    }
}

#[tokio::test]
async fn an_answer_past_the_bounds_is_a_bot_failure_memory() {
    an_answer_past_the_bounds_is_a_bot_failure(StoreKind::Memory).await;
}

#[tokio::test]
async fn an_answer_past_the_bounds_is_a_bot_failure_dynamodb() {
    an_answer_past_the_bounds_is_a_bot_failure(StoreKind::Dynamo).await;
}
