//! CONTRACT C10: the Zenvia Chat external bot, against a fake Zenvia over real HTTP.

use handover_core::store::Owner;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

pub(crate) const HASH: &str = "0000a-000b-0c00-0d0e-f00d00f11111";

pub(crate) async fn zenvia_app(options: Options) -> TestApp {
    let app = TestApp::spawn(options).await;
    Mock::given(path_regex(r"^/core/api/v1/bot/[^/]+/(accept|message|transfer|finish)$"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"message": "Message received successfully", "status": 200})),
        )
        .mount(&app.zenvia)
        .await;
    app
}

/// Posts a Zenvia event and waits until what it queued is processed.
async fn post(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    let response = app
        .http
        .post(format!("{}/zenvia/webhook?token={token}", app.address))
        .json(&body)
        .send()
        .await
        .unwrap();
    app.settle().await;
    response
}

pub(crate) async fn event(app: &TestApp, body: Value) -> u16 {
    post(app, ZENVIA_WEBHOOK_TOKEN, body).await.status().as_u16()
}

pub(crate) fn new_interaction() -> Value {
    json!({"type": "new_interaction", "interaction_hash": HASH, "department_id": 7})
}

pub(crate) fn message(text: &str) -> Value {
    json!({"type": "new_message", "interaction_hash": HASH, "content": text, "content_type": "text"})
}

/// Every call Zenvia received: `METHOD /path {body}`, the API token checked in each body.
pub(crate) async fn zenvia_calls(app: &TestApp) -> Vec<String> {
    let requests = app.zenvia.received_requests().await.unwrap_or_default();
    requests
        .iter()
        .map(|r| {
            let mut body: Value = serde_json::from_slice(&r.body).expect("JSON body");
            assert_eq!(body["token"], ZENVIA_API_TOKEN, "the token travels in the body");
            assert!(!r.url.as_str().contains(ZENVIA_API_TOKEN), "never in the URL");
            body.as_object_mut().unwrap().remove("token");
            format!("{} {} {}", r.method, r.url.path(), body)
        })
        .collect()
}

#[tokio::test]
async fn accept_reply_then_transfer_and_the_bot_stays_quiet_after() {
    let app = zenvia_app(Options::default().bot(BotKind::Builtin)).await;
    assert_eq!(event(&app, new_interaction()).await, 200);
    assert_eq!(event(&app, message("hello")).await, 200);
    assert_eq!(event(&app, message("I want an agent")).await, 200);
    let base = format!("/core/api/v1/bot/{HASH}");
    assert_eq!(
        zenvia_calls(&app).await,
        vec![
            format!("PUT {base}/accept {{}}"),
            format!(
                "POST {base}/message {}",
                json!({"content": "Hello! I am the virtual assistant. How can I help you today?", "content_type": "text"})
            ),
            // Zenvia's customers speak ZENVIA_LANGUAGE (Portuguese by default).
            format!(
                "POST {base}/message {}",
                json!({"content": "Vou transferir você para um de nossos atendentes. Ele vai responder aqui em instantes.", "content_type": "text"})
            ),
            format!("PUT {base}/transfer {}", json!({"department_id": null})),
        ]
    );
    let interaction = app.store.get_thread(&format!("zenvia:{HASH}")).await.unwrap();
    assert_eq!(interaction.owner, Owner::Agent);
    assert_eq!(interaction.department_id, Some(7));

    // After the transfer: no bot, no call.
    let http_bot = app.bot_requests().await.len();
    assert_eq!(event(&app, message("hello?")).await, 200);
    assert_eq!(zenvia_calls(&app).await.len(), 4);
    assert_eq!(app.bot_requests().await.len(), http_bot);
}

#[tokio::test]
async fn a_conversation_ending_with_bye_is_finished() {
    let app = zenvia_app(Options::default().bot(BotKind::Builtin)).await;
    event(&app, new_interaction()).await;
    event(&app, message("ok bye")).await;
    let calls = zenvia_calls(&app).await;
    assert_eq!(calls.last().unwrap(), &format!("PUT /core/api/v1/bot/{HASH}/finish {{}}"));
    assert!(app.store.get_thread(&format!("zenvia:{HASH}")).await.unwrap().ended);
    // Ended: later messages are ignored.
    event(&app, message("hello")).await;
    assert_eq!(zenvia_calls(&app).await.len(), calls.len());
}

#[tokio::test]
async fn a_wrong_token_is_refused_and_does_nothing() {
    let app = zenvia_app(Options::default()).await;
    for token in ["", "sample-zenvia-webhook-tokem", ZENVIA_API_TOKEN] {
        let response = post(&app, token, new_interaction()).await;
        assert_eq!(response.status(), 403, "{token}");
        assert!(!response.text().await.unwrap().contains(ZENVIA_WEBHOOK_TOKEN));
    }
    let no_query = app
        .http
        .post(format!("{}/zenvia/webhook", app.address))
        .json(&new_interaction())
        .send()
        .await
        .unwrap();
    assert_eq!(no_query.status(), 403);
    assert!(zenvia_calls(&app).await.is_empty());
    assert_eq!(app.store.get_thread(&format!("zenvia:{HASH}")).await.unwrap().version, 0);
}

#[tokio::test]
async fn non_text_messages_reach_the_bot_with_their_type_and_department_transfer_is_configured() {
    let app = zenvia_app(Options::default().env("ZENVIA_TRANSFER_DEPARTMENT_ID", "42")).await;
    app.bot_answers(json!({"replies": ["Nice picture"], "action": "handover"})).await;
    event(&app, new_interaction()).await;
    let image = json!({"type": "new_message", "interaction_hash": HASH, "content": "https://x/y.png", "content_type": "image"});
    assert_eq!(event(&app, image).await, 200);
    let asked = app.bot_requests().await;
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0]["channel"], "zenvia");
    assert_eq!(asked[0]["conversation_id"], HASH);
    assert_eq!(asked[0]["message"]["type"], "image");
    assert_eq!(asked[0]["message"]["first"], true);
    assert_eq!(
        zenvia_calls(&app).await.last().unwrap(),
        &format!("PUT /core/api/v1/bot/{HASH}/transfer {}", json!({"department_id": 42}))
    );
}

#[tokio::test]
async fn redeliveries_finished_interactions_unknown_events_and_bad_bodies() {
    let app = zenvia_app(Options::default()).await;
    app.bot_answers(json!({"replies": ["hi"]})).await;
    event(&app, new_interaction()).await;
    event(&app, new_interaction()).await;
    assert_eq!(zenvia_calls(&app).await.len(), 1, "one accept");

    // A message for an interaction the bot never accepted: ignored.
    let stranger = json!({"type": "new_message", "interaction_hash": "ffff-1", "content": "hi"});
    assert_eq!(event(&app, stranger).await, 200);
    assert!(app.bot_requests().await.is_empty());

    assert_eq!(event(&app, json!({"type": "finished_interaction", "interaction_hash": HASH})).await, 200);
    assert_eq!(event(&app, message("still there?")).await, 200);
    assert!(app.bot_requests().await.is_empty(), "ended: no bot");

    assert_eq!(event(&app, json!({"type": "typing_started", "interaction_hash": HASH})).await, 200);
    for bad in [json!({"interaction_hash": HASH}), json!({"type": "new_message"}), json!("text")] {
        assert_eq!(event(&app, bad.clone()).await, 400, "{bad}");
    }
    let broken = app
        .http
        .post(format!("{}/zenvia/webhook?token={ZENVIA_WEBHOOK_TOKEN}", app.address))
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(broken.status(), 400);
    assert_eq!(zenvia_calls(&app).await.len(), 1);
}

#[tokio::test]
async fn a_refused_transfer_is_logged_and_recorded_not_left_half_done() {
    let app = TestApp::spawn(Options::default()).await;
    Mock::given(method("PUT"))
        .and(path(format!("/core/api/v1/bot/{HASH}/transfer")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"message": "Department is not active", "status": 422})),
        )
        .mount(&app.zenvia)
        .await;
    Mock::given(path_regex(r"^/core/api/v1/bot/[^/]+/(accept|message)$"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"message": "Message received successfully", "status": 200})),
        )
        .mount(&app.zenvia)
        .await;
    app.bot_answers(json!({"action": "handover", "reason": "asked_for_agent"})).await;
    event(&app, new_interaction()).await;
    assert_eq!(event(&app, message("agent")).await, 200);
    let interaction = app.store.get_thread(&format!("zenvia:{HASH}")).await.unwrap();
    assert_eq!(interaction.owner, Owner::Bot);
    assert_eq!(interaction.pending_handover.as_deref(), Some("transfer failed: asked_for_agent"));
}

#[tokio::test]
async fn in_an_emergency_zenvia_messages_are_transferred_without_the_bot() {
    let app = zenvia_app(Options::default()).await;
    app.bot_answers(json!({"replies": ["never"]})).await;
    event(&app, new_interaction()).await;
    let on = handover_core::store::EmergencyState { active: true, ..Default::default() };
    app.store.set_emergency(&on).await.unwrap();
    assert_eq!(event(&app, message("hello")).await, 200);
    assert!(app.bot_requests().await.is_empty());
    assert!(zenvia_calls(&app).await.last().unwrap().contains("/transfer"));
}

#[tokio::test]
async fn a_redelivery_after_a_failure_sends_nothing_twice() {
    let app = TestApp::spawn(Options::default()).await;
    // The transfer fails once (Zenvia unavailable): the queue delivers the message again.
    Mock::given(method("PUT"))
        .and(path(format!("/core/api/v1/bot/{HASH}/transfer")))
        .respond_with(
            ResponseTemplate::new(503).set_body_json(json!({"message": "unavailable", "status": 503})),
        )
        .up_to_n_times(1)
        .mount(&app.zenvia)
        .await;
    Mock::given(path_regex(r"^/core/api/v1/bot/[^/]+/(accept|message|transfer)$"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"message": "Message received successfully", "status": 200})),
        )
        .mount(&app.zenvia)
        .await;
    app.bot_answers(json!({"replies": ["One", "Two"], "action": "handover", "reason": "asked_for_agent"}))
        .await;
    assert_eq!(event(&app, new_interaction()).await, 200);
    assert_eq!(event(&app, message("agent")).await, 200);

    let calls = zenvia_calls(&app).await;
    let sent = |text: &str| calls.iter().filter(|c| c.contains(&format!("\"content\":\"{text}\""))).count();
    assert_eq!((sent("One"), sent("Two")), (1, 1), "{calls:?}");
    assert_eq!(
        calls.iter().filter(|c| c.contains("/transfer")).count(),
        2,
        "refused once, then done: {calls:?}"
    );
    assert_eq!(app.bot_requests().await.len(), 1, "the bot is not asked again");
    assert!(app.dead_letters().is_empty());
    assert_eq!(app.store.get_thread(&format!("zenvia:{HASH}")).await.unwrap().owner, Owner::Agent);
}
