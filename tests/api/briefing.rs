//! Issue 25: the agent's briefing. At a handover, one comment on the bot's intervention
//! (`POST /intervention_comments`, as the intervention's user) says why the conversation comes
//! and what was said; it never blocks the handover and is never written twice.

use serde_json::json;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

async fn briefed_app(comment_answer: ResponseTemplate) -> TestApp {
    let app = TestApp::spawn(Options::default().env("AGENT_BRIEFING", "on")).await;
    Mock::given(method("POST"))
        .and(path("/1.0/interventions"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": "int-1", "user_id": "bot-user-1"})),
        )
        .with_priority(1)
        .mount(&app.engage)
        .await;
    Mock::given(method("POST"))
        .and(path("/1.0/intervention_comments"))
        .respond_with(comment_answer)
        .mount(&app.engage)
        .await;
    platform(&app, json!([agent_on(CHAT_CHANNEL, "available", "ok")])).await;
    Mock::given(method("POST"))
        .and(path("/bot"))
        .and(body_string_contains("a person"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"replies": ["Let me find you someone."], "action": "handover", "reason": "asked_for_agent"}),
        ))
        .with_priority(1)
        .mount(&app.bot)
        .await;
    app.bot_answers(json!({"replies": ["Hi! What is your order number?"]})).await;
    app
}

fn comments(calls: &[String]) -> Vec<&String> {
    calls.iter().filter(|c| c.starts_with("POST /1.0/intervention_comments")).collect()
}

#[tokio::test]
async fn a_handover_after_two_turns_briefs_the_agent_once_on_the_bots_intervention() {
    let app = briefed_app(ResponseTemplate::new(200).set_body_json(json!({"id": "comment-1"}))).await;
    app.post_webhook(content_body("ev-1", "c-1", "Hello, my parcel is late", true)).await;
    let handover = content_body("ev-2", "c-2", "I want to talk to a person", false);
    app.post_webhook(handover.clone()).await;
    let calls = app.engage_calls().await;
    let notes = comments(&calls);
    let expected_body = [
        "Handed over by the bot: the customer asked for a person.",
        "Customer's language: en.",
        "Conversation (latest last):",
        "Customer: Hello, my parcel is late",
        "Bot: Hi! What is your order number?",
        "Customer: I want to talk to a person",
        "Bot: Let me find you someone.",
    ]
    .join("\n");
    assert_eq!(
        notes,
        [&format!(
            "POST /1.0/intervention_comments {{intervention_id=int-1, user_id=bot-user-1, body={expected_body}}}"
        )],
    );
    // Before the recategorization that brings the agent.
    let note_at = calls.iter().position(|c| c.starts_with("POST /1.0/intervention_comments")).unwrap();
    let recategorized_at = calls.iter().position(|c| c.contains("update_categories")).unwrap();
    assert!(note_at < recategorized_at, "{calls:#?}");
    assert_eq!(app.thread().await.owner, handover_core::store::Owner::Agent);
    assert!(app.thread().await.transcript.is_empty(), "given to the agent, not kept");

    // Engage Digital redelivers the handover hours later: no second note.
    let event = handover_core::engage::Envelope::parse(handover.as_bytes()).unwrap().events.remove(0);
    app.functions.processor.process(&handover_core::queue::Job::engage(event)).await.unwrap();
    assert_eq!(comments(&app.engage_calls().await).len(), 1);
}

#[tokio::test]
async fn a_refused_briefing_never_blocks_the_handover() {
    let refused = json!({"error": "forbidden", "message": "no access to the source", "status": 403});
    let app = briefed_app(ResponseTemplate::new(403).set_body_json(refused)).await;
    app.post_webhook(content_body("ev-1", "c-1", "I want a person", true)).await;
    let calls = app.engage_calls().await;
    assert_eq!(comments(&calls).len(), 1, "tried once, not retried");
    assert!(calls.iter().any(|c| c.contains("update_categories")), "{calls:#?}");
    assert_eq!(app.thread().await.owner, handover_core::store::Owner::Agent);
    assert!(app.dead_letters().is_empty());
}

#[tokio::test]
async fn without_a_bot_intervention_or_with_the_briefing_off_there_is_no_note() {
    for env in [("OPEN_INTERVENTIONS", "false"), ("AGENT_BRIEFING", "off")] {
        let fresh = TestApp::spawn(Options::default().env("AGENT_BRIEFING", "on").env(env.0, env.1)).await;
        platform(&fresh, json!([agent_on(CHAT_CHANNEL, "available", "ok")])).await;
        fresh.bot_answers(json!({"replies": [], "action": "handover", "reason": "asked_for_agent"})).await;
        fresh.post_webhook(content_body("ev-1", "c-1", "a person please", true)).await;
        let calls = fresh.engage_calls().await;
        assert!(comments(&calls).is_empty(), "{env:?}: {calls:#?}");
        assert!(calls.iter().any(|c| c.contains("update_categories")), "{env:?}");
    }
}

/// With an LLM, the `handover` tool's `summary` comes first in the note.
#[tokio::test]
async fn the_models_summary_opens_the_briefing() {
    let app = TestApp::spawn(Options::default().bot(BotKind::OpenAi).env("AGENT_BRIEFING", "on")).await;
    app.engage_takes_briefings(ResponseTemplate::new(200).set_body_json(json!({"id": "comment-1"}))).await;
    platform(&app, json!([agent_on(CHAT_CHANNEL, "available", "ok")])).await;
    let arguments = json!({"reason": "complaint", "summary": "The parcel is two weeks late; the customer wants a refund."});
    let call = json!({"id": "call-1", "type": "function", "function": {"name": "handover", "arguments": arguments.to_string()}});
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"choices": [{"index": 0, "message": {
            "role": "assistant", "content": "I am sorry. A colleague will take over.", "tool_calls": [call]}}]})))
        .mount(&app.bot)
        .await;
    app.post_webhook(content_body("ev-1", "c-1", "My parcel is two weeks late, I want a refund", true)).await;
    let calls = app.engage_calls().await;
    let note = comments(&calls);
    assert_eq!(note.len(), 1, "{calls:#?}");
    let body = note[0].split_once("body=").unwrap().1;
    assert!(
        body.starts_with("The parcel is two weeks late; the customer wants a refund.\nHanded over by the bot: the customer has a complaint."),
        "{body}"
    );
    assert!(body.contains("Customer: My parcel is two weeks late, I want a refund"), "{body}");
}
