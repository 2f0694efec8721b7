//! CONTRACT C15: the `openai` and `lex` bot backends, each against a fake over real HTTP that
//! checks the exact requests (the Chat Completions body with its tools; Lex's signed path and
//! body), through the whole product: webhook in, replies and handovers out.

use std::time::Duration;

use handover_core::bot::HistoryEntry;
use handover_core::bot::openai::DEFAULT_SYSTEM_PROMPT;
use handover_core::config::DEFAULT_HANDOVER_MESSAGE;
use handover_core::store::Owner;
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

const ANALYTICS_DAY: &str = "from_date=22/11/2026&to_date=22/11/2026";

/// The tool definitions every Chat Completions request carries, written out in full.
fn expected_tools() -> Value {
    json!([
        {"type": "function", "function": {
            "name": "handover",
            "description": "Hand the conversation to a human agent: when the customer asks for a person, when you cannot help, or when the matter is a complaint or sensitive.",
            "parameters": {
                "type": "object",
                "properties": {
                    "reason": {
                        "type": "string",
                        "enum": ["asked_for_agent", "cannot_help", "complaint", "sensitive"],
                        "description": "Why a person is needed."
                    },
                    "summary": {
                        "type": "string",
                        "description": "One short paragraph for the agent: what the customer wants and what was tried."
                    }
                },
                "required": ["reason"],
                "additionalProperties": false
            }
        }},
        {"type": "function", "function": {
            "name": "resolve",
            "description": "The customer's request is fully answered and the conversation is over.",
            "parameters": {"type": "object", "properties": {}, "additionalProperties": false}
        }}
    ])
}

fn completion(message: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "chatcmpl-1", "object": "chat.completion", "model": LLM_MODEL,
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]
    }))
}

fn tool_call(name: &str, arguments: &str) -> Value {
    json!({"id": "call_1", "type": "function", "function": {"name": name, "arguments": arguments}})
}

/// The fake (model or Lex) answers one request with `response`: answers mounted in turn
/// answer requests in turn (wiremock tries mocks in the order they were mounted). The
/// requests' paths are checked where they are read.
async fn answers_next(app: &TestApp, response: ResponseTemplate) {
    Mock::given(method("POST")).respond_with(response).up_to_n_times(1).mount(&app.bot).await;
}

fn user(text: &str) -> Value {
    json!({"role": "user", "content": text})
}

fn assistant(text: &str) -> Value {
    json!({"role": "assistant", "content": text})
}

fn chat_request(conversation: Vec<Value>) -> Value {
    let mut messages = vec![
        json!({"role": "system", "content": DEFAULT_SYSTEM_PROMPT}),
        json!({"role": "system", "content": "The customer's language: en."}),
    ];
    messages.extend(conversation);
    json!({"model": LLM_MODEL, "messages": messages, "tools": expected_tools(), "tool_choice": "auto"})
}

fn replies_posted(calls: &[String]) -> Vec<String> {
    calls.iter().filter(|c| c.starts_with("POST /1.0/contents")).cloned().collect()
}

#[tokio::test]
async fn openai_keeps_the_conversation_and_hands_over_by_tool_call() {
    let app = TestApp::spawn(Options::default().bot(BotKind::OpenAi)).await;
    platform(&app, json!([agent_on(CHAT_CHANNEL, "available", "ok")])).await;
    answers_next(&app, completion(json!({"role": "assistant", "content": "Hello! How can I help?"}))).await;
    answers_next(
        &app,
        completion(json!({
            "role": "assistant", "content": "Let me find you a person.",
            "tool_calls": [tool_call("handover", r#"{"reason":"asked_for_agent"}"#)]
        })),
    )
    .await;

    assert_eq!(app.post_webhook(content_body("ev-1", "c-1", "Hi", true)).await.status(), 200);
    assert_eq!(app.post_webhook(content_body("ev-2", "c-2", "I want a person", false)).await.status(), 200);

    let requests = app.bot.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    for request in &requests {
        assert_eq!(request.url.path(), "/v1/chat/completions");
        assert_eq!(
            request.headers.get("authorization").and_then(|v| v.to_str().ok()),
            Some(format!("Bearer {LLM_API_KEY}").as_str())
        );
    }
    let bodies: Vec<Value> = requests.iter().map(|r| serde_json::from_slice(&r.body).unwrap()).collect();
    assert_eq!(bodies[0], chat_request(vec![user("Hi")]));
    // The second request carries the conversation so far, the new message last.
    assert_eq!(
        bodies[1],
        chat_request(vec![user("Hi"), assistant("Hello! How can I help?"), user("I want a person")])
    );

    let calls = app.engage_calls().await;
    assert_eq!(
        replies_posted(&calls),
        vec![
            "POST /1.0/contents {in_reply_to_id=c-1, body=Hello! How can I help?, auto_submitted=true}"
                .to_string(),
            "POST /1.0/contents {in_reply_to_id=c-2, body=Let me find you a person., auto_submitted=true}"
                .to_string(),
            format!(
                "POST /1.0/contents {{in_reply_to_id=c-2, body={DEFAULT_HANDOVER_MESSAGE}, auto_submitted=true}}"
            ),
        ]
    );
    assert!(calls.iter().any(|c| c.contains("/update_categories")), "{calls:?}");
    let thread = app.thread().await;
    assert_eq!(thread.owner, Owner::Agent);
    assert_eq!(
        thread.bot_memory,
        vec![
            HistoryEntry::Customer("Hi".into()),
            HistoryEntry::Bot("Hello! How can I help?".into()),
            HistoryEntry::Customer("I want a person".into()),
            HistoryEntry::Bot("Let me find you a person.".into()),
        ]
    );
    let (_, report) = analytics_report(&app, ANALYTICS_DAY).await;
    assert_eq!(report["interventions_by_reason"], json!({"asked_for_agent": 1}));
}

#[tokio::test]
async fn openai_resolve_closes_the_bots_intervention_and_forgets_the_conversation() {
    let app = TestApp::spawn(Options::default().bot(BotKind::OpenAi)).await;
    app.engage_accepts_everything().await;
    answers_next(
        &app,
        completion(json!({"content": "Glad I could help. Bye!", "tool_calls": [tool_call("resolve", "{}")]})),
    )
    .await;
    assert_eq!(app.post_webhook(content_body("ev-1", "c-1", "Thanks, bye", true)).await.status(), 200);
    let calls = app.engage_calls().await;
    assert!(calls.contains(&"PUT /1.0/interventions/int-1/close".to_string()), "{calls:?}");
    assert_eq!(
        replies_posted(&calls),
        vec![
            "POST /1.0/contents {in_reply_to_id=c-1, body=Glad I could help. Bye!, auto_submitted=true}"
                .to_string()
        ]
    );
    let thread = app.thread().await;
    assert!(thread.resolved);
    assert!(thread.bot_memory.is_empty(), "{:?}", thread.bot_memory);
}

/// A model may take its time: with `BOT_TIMEOUT_MS=30000`, an answer in 17 s is posted. No
/// client-wide time limit cuts it shorter than the bot's own.
#[tokio::test]
async fn a_slow_model_is_waited_for_up_to_the_bots_own_timeout() {
    let app = TestApp::spawn(Options::default().bot(BotKind::OpenAi).env("BOT_TIMEOUT_MS", "30000")).await;
    app.engage_accepts_everything().await;
    answers_next(&app, completion(json!({"content": "Worth the wait."})).set_delay(Duration::from_secs(17)))
        .await;
    assert_eq!(app.post_webhook(content_body("ev-1", "c-1", "Hi", false)).await.status(), 200);
    assert_eq!(
        replies_posted(&app.engage_calls().await),
        vec![
            "POST /1.0/contents {in_reply_to_id=c-1, body=Worth the wait., auto_submitted=true}".to_string()
        ]
    );
    assert_eq!(app.thread().await.owner, Owner::Bot, "no handover");
}

#[tokio::test]
async fn openai_timeouts_and_malformed_answers_are_bot_failures() {
    let cases = [
        (completion(json!({"content": "too late"})).set_delay(Duration::from_millis(1500)), "bot_timeout"),
        (ResponseTemplate::new(200).set_body_string("<html>gateway error</html>"), "bot_malformed_answer"),
        (ResponseTemplate::new(200).set_body_json(json!({"choices": []})), "bot_malformed_answer"),
        (
            ResponseTemplate::new(429).set_body_json(json!({"error": {"message": "rate limited"}})),
            "bot_http_429",
        ),
    ];
    for (response, reason) in cases {
        let app = TestApp::spawn(Options::default().bot(BotKind::OpenAi).env("BOT_TIMEOUT_MS", "300")).await;
        platform(&app, json!([agent_on(CHAT_CHANNEL, "available", "ok")])).await;
        answers_next(&app, response).await;
        assert_eq!(app.post_webhook(content_body("ev-1", "c-1", "Hi", true)).await.status(), 200);
        let calls = app.engage_calls().await;
        assert_eq!(
            replies_posted(&calls),
            vec![format!(
                "POST /1.0/contents {{in_reply_to_id=c-1, body={DEFAULT_HANDOVER_MESSAGE}, auto_submitted=true}}"
            )],
            "{reason}"
        );
        assert_eq!(app.thread().await.owner, Owner::Agent, "{reason}");
        let (_, report) = analytics_report(&app, ANALYTICS_DAY).await;
        assert_eq!(report["interventions_by_reason"], json!({reason: 1}));
    }
}

#[tokio::test]
async fn openai_empty_answers_count_toward_max_bot_failures() {
    let app = TestApp::spawn(Options::default().bot(BotKind::OpenAi)).await;
    platform(&app, json!([agent_on(CHAT_CHANNEL, "available", "ok")])).await;
    answers_next(&app, completion(json!({"content": null, "refusal": "I can't help with that."}))).await;
    answers_next(&app, completion(json!({"content": ""}))).await;
    app.post_webhook(content_body("ev-1", "c-1", "asdf", true)).await;
    assert_eq!(app.thread().await.consecutive_fallbacks, 1);
    app.post_webhook(content_body("ev-2", "c-2", "qwerty", false)).await;
    let calls = app.engage_calls().await;
    assert_eq!(
        replies_posted(&calls),
        vec![
            "POST /1.0/contents {in_reply_to_id=c-1, body=I can't help with that., auto_submitted=true}"
                .to_string(),
            format!(
                "POST /1.0/contents {{in_reply_to_id=c-2, body={DEFAULT_HANDOVER_MESSAGE}, auto_submitted=true}}"
            ),
        ]
    );
    let (_, report) = analytics_report(&app, ANALYTICS_DAY).await;
    assert_eq!(report["interventions_by_reason"], json!({"max_bot_failures": 1}));
}

fn lex_answer(messages: Value, intent: &str, state: &str, dialog_action: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "messages": messages,
        "sessionState": {
            "dialogAction": {"type": dialog_action},
            "intent": {"name": intent, "state": state, "confirmationState": "None", "slots": {}}
        },
        "interpretations": [{"intent": {"name": intent, "state": state, "slots": {}}}],
        "sessionId": THREAD
    }))
}

#[tokio::test]
async fn lex_answers_with_cards_and_hands_over_on_its_intent() {
    let app = TestApp::spawn(Options::default().bot(BotKind::Lex)).await;
    platform(&app, json!([agent_on(CHAT_CHANNEL, "available", "ok")])).await;
    answers_next(
        &app,
        lex_answer(
            json!([
                {"contentType": "PlainText", "content": "Hello! What do you need?"},
                {"contentType": "ImageResponseCard", "imageResponseCard": {
                    "title": "Pick a topic", "buttons": [{"text": "Orders", "value": "orders"}, {"text": "Returns", "value": "returns"}]
                }},
                {"contentType": "CustomPayload", "content": "{\"widget\": true}"}
            ]),
            "Welcome",
            "Fulfilled",
            "ElicitIntent",
        ),
    )
    .await;
    answers_next(
        &app,
        lex_answer(
            json!([{"contentType": "PlainText", "content": "Sure, a person will help."}]),
            "TalkToAgent",
            "ReadyForFulfillment",
            "Close",
        ),
    )
    .await;

    app.post_webhook(content_body("ev-1", "c-1", "Hi", true)).await;
    app.post_webhook(content_body("ev-2", "c-2", "a person please", false)).await;

    let requests = app.bot.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    for (request, text) in requests.iter().zip(["Hi", "a person please"]) {
        assert_eq!(request.method.as_str(), "POST");
        assert_eq!(
            request.url.path(),
            format!("/bots/{LEX_BOT_ID}/botAliases/{LEX_ALIAS_ID}/botLocales/en_US/sessions/{THREAD}/text")
        );
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body, json!({"text": text}));
        let auth = request.headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(auth.starts_with("AWS4-HMAC-SHA256 Credential="), "signed with SigV4: {auth}");
        assert!(auth.contains("/lex/aws4_request"), "signed for Lex: {auth}");
    }

    let calls = app.engage_calls().await;
    assert_eq!(
        replies_posted(&calls),
        vec![
            "POST /1.0/contents {in_reply_to_id=c-1, body=Hello! What do you need?, auto_submitted=true}".to_string(),
            "POST /1.0/contents {in_reply_to_id=c-1, body=Pick a topic\n- Orders\n- Returns, auto_submitted=true}".to_string(),
            "POST /1.0/contents {in_reply_to_id=c-2, body=Sure, a person will help., auto_submitted=true}".to_string(),
            format!("POST /1.0/contents {{in_reply_to_id=c-2, body={DEFAULT_HANDOVER_MESSAGE}, auto_submitted=true}}"),
        ]
    );
    assert_eq!(app.thread().await.owner, Owner::Agent);
    // Lex keeps the conversation itself: nothing is kept in the thread for it.
    assert!(app.thread().await.bot_memory.is_empty());
    let (_, report) = analytics_report(&app, ANALYTICS_DAY).await;
    assert_eq!(report["interventions_by_reason"], json!({"TalkToAgent": 1}));
}

#[tokio::test]
async fn lex_resolves_closed_fulfilled_intents_and_maps_the_language_to_a_locale() {
    let app = TestApp::spawn(Options::default().bot(BotKind::Lex)).await;
    app.engage_accepts_everything().await;
    answers_next(
        &app,
        lex_answer(
            json!([{"contentType": "PlainText", "content": "Au revoir !"}]),
            "Goodbye",
            "Fulfilled",
            "Close",
        ),
    )
    .await;
    let french = content_body_with("ev-1", "c-1", "Merci, au revoir", true, |m| m["language"] = json!("fr"));
    app.post_webhook(french).await;
    let requests = app.bot.received_requests().await.unwrap();
    assert_eq!(
        requests[0].url.path(),
        format!("/bots/{LEX_BOT_ID}/botAliases/{LEX_ALIAS_ID}/botLocales/fr_FR/sessions/{THREAD}/text")
    );
    assert!(app.engage_calls().await.contains(&"PUT /1.0/interventions/int-1/close".to_string()));
    assert!(app.thread().await.resolved);
}

#[tokio::test]
async fn lex_fallbacks_timeouts_and_errors() {
    // FallbackIntent twice: the second is a handover for max_bot_failures.
    let app = TestApp::spawn(Options::default().bot(BotKind::Lex)).await;
    platform(&app, json!([agent_on(CHAT_CHANNEL, "available", "ok")])).await;
    let sorry = || {
        lex_answer(
            json!([{"contentType": "PlainText", "content": "Sorry?"}]),
            "FallbackIntent",
            "Failed",
            "ElicitIntent",
        )
    };
    answers_next(&app, sorry()).await;
    answers_next(&app, sorry()).await;
    app.post_webhook(content_body("ev-1", "c-1", "asdf", true)).await;
    app.post_webhook(content_body("ev-2", "c-2", "qwerty", false)).await;
    assert_eq!(app.thread().await.owner, Owner::Agent);
    let (_, report) = analytics_report(&app, ANALYTICS_DAY).await;
    assert_eq!(report["interventions_by_reason"], json!({"max_bot_failures": 1}));

    let cases = [
        (sorry().set_delay(Duration::from_millis(1500)), "bot_timeout"),
        (ResponseTemplate::new(200).set_body_string("{not json"), "bot_malformed_answer"),
        (
            ResponseTemplate::new(404).set_body_json(json!({"message": "bot alias not found"})).insert_header(
                "x-amzn-errortype",
                "ResourceNotFoundException:http://internal.amazon.com/coral/com.amazonaws.deepsense.runtimeservice/",
            ),
            "bot_http_404",
        ),
    ];
    for (response, reason) in cases {
        let app = TestApp::spawn(Options::default().bot(BotKind::Lex).env("BOT_TIMEOUT_MS", "300")).await;
        platform(&app, json!([agent_on(CHAT_CHANNEL, "available", "ok")])).await;
        answers_next(&app, response).await;
        app.post_webhook(content_body("ev-1", "c-1", "Hi", true)).await;
        assert_eq!(app.thread().await.owner, Owner::Agent, "{reason}");
        let (_, report) = analytics_report(&app, ANALYTICS_DAY).await;
        assert_eq!(report["interventions_by_reason"], json!({reason: 1}));
    }
}
