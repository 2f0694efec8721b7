//! Issue 25: the product's own messages in the customer's language (CONTRACT C17): the
//! handover, no-agent and closed-hours messages in the content's `language`, built-in for en,
//! fr, es, pt, de and it, overridden per language; an unknown language gets the default one's.

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;
use crate::hours::{next_open_text, sheet_around_now};

/// What the product posted after the bot asked for a person, for a customer writing in
/// `language`, with `agents` connected and the contact center open or not.
async fn message_after_a_handover(
    language: &str,
    agents: Value,
    closed: bool,
    env: &[(&'static str, &str)],
) -> String {
    let mut options = Options::default();
    for (name, value) in env {
        options = options.env(name, value);
    }
    if closed {
        options = options.env("BUSINESS_HOURS", "platform");
    }
    let app = TestApp::spawn(options).await;
    platform(&app, agents).await;
    let sheet = sheet_around_now(2, 10, SOURCE);
    Mock::given(method("GET"))
        .and(path("/1.0/time_sheets"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"count": 1, "records": [sheet]})))
        .mount(&app.engage)
        .await;
    app.bot_answers(json!({"replies": [], "action": "handover", "reason": "asked_for_agent"})).await;
    let body = content_body_with("ev-1", "c-1", "...", false, |m| m["language"] = json!(language));
    assert_eq!(app.post_webhook(body).await.status(), 200);
    let calls = app.engage_calls().await;
    let posted: Vec<&String> = calls.iter().filter(|c| c.starts_with("POST /1.0/contents")).collect();
    assert_eq!(posted.len(), 1, "{posted:?}");
    let form = posted[0].split_once(" {").unwrap().1;
    form.split(", ").find_map(|p| p.strip_prefix("body=")).unwrap().to_string()
}

fn available() -> Value {
    json!([agent_on(CHAT_CHANNEL, "available", "ok")])
}

fn away() -> Value {
    json!([agent_on(CHAT_CHANNEL, "away", "ok")])
}

#[tokio::test]
async fn a_french_a_portuguese_and_an_unknown_language_customer_get_their_default_texts() {
    let cases = [
        (
            "fr",
            "Je vous mets en relation avec l'un de nos conseillers.",
            "Tous nos conseillers sont occupés",
            "Nos conseillers sont absents pour le moment ; ils seront de retour",
        ),
        (
            "pt",
            "Vou transferir você para um de nossos atendentes.",
            "Todos os nossos atendentes estão ocupados",
            "Nossos atendentes não estão disponíveis agora; eles voltam",
        ),
        (
            "ja",
            "I am passing you to one of our agents.",
            "All our agents are busy right now.",
            "Our agents are away right now; they will be back",
        ),
    ];
    for (language, handover, no_agent, closed) in cases {
        let text = message_after_a_handover(language, available(), false, &[]).await;
        assert!(text.starts_with(handover), "{language}: {text}");
        let text = message_after_a_handover(language, away(), false, &[]).await;
        assert!(text.starts_with(no_agent), "{language}: {text}");
        let text = message_after_a_handover(language, available(), true, &[]).await;
        assert!(text.starts_with(closed), "{language}: {text}");
        // `{next_open}` rendered in the customer's language (weekday names, `ja` as English).
        let rendered =
            next_open_text(&sheet_around_now(2, 10, SOURCE), if language == "ja" { "en" } else { language });
        assert!(text.contains(&rendered), "{language}: {text} lacks {rendered}");
    }
}

#[tokio::test]
async fn an_override_per_language_wins_and_the_default_languages_is_unsuffixed() {
    let env = [
        ("HANDOVER_MESSAGE_FR", "Un conseiller arrive."),
        ("HANDOVER_MESSAGE", "An agent is coming."),
        ("DEFAULT_LANGUAGE", "en"),
    ];
    assert_eq!(message_after_a_handover("fr", available(), false, &env).await, "Un conseiller arrive.");
    assert_eq!(message_after_a_handover("de", available(), false, &env).await.split(' ').next(), Some("Ich"));
    assert_eq!(message_after_a_handover("ja", available(), false, &env).await, "An agent is coming.");
    let spanish_default = [("DEFAULT_LANGUAGE", "es")];
    assert!(
        message_after_a_handover("ja", available(), false, &spanish_default).await.starts_with("Le paso")
    );
}
