//! The sample events in `events/` go through the Lambda adapter (`lambda_http`'s own parsing
//! of API Gateway HTTP API events) and the same handlers: one file, two uses.

use serde_json::json;

use crate::helpers::*;

fn sample(name: &str) -> String {
    std::fs::read_to_string(format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR")))
        .expect("sample event exists")
}

async fn replay_as(app: &TestApp, function: &str, name: &str) -> handover_core::edge::ApiResponse {
    handover::replay::replay(&app.functions, function, &sample(name))
        .await
        .expect("the sample is a valid event")
}

async fn replay(app: &TestApp, name: &str) -> handover_core::edge::ApiResponse {
    handover::replay::replay(&app.functions, "webhook", &sample(name))
        .await
        .expect("the sample is a valid event")
}

#[tokio::test]
async fn verification_samples() {
    let app = TestApp::spawn(Options::default()).await;
    let ok = replay(&app, "engage-verify-ok.json").await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["content-type"], "text/html");
    assert_eq!(ok.body(), "jfkjdsvfqgbqsvbfqkv");
    assert_eq!(replay(&app, "engage-verify-bad-token.json").await.status(), 403);
    assert!(app.engage_calls().await.is_empty());
}

#[tokio::test]
async fn message_samples() {
    let app = TestApp::spawn(Options::default()).await;
    app.engage_accepts_everything().await;
    app.bot_answers(json!({"replies": ["Sure."]})).await;

    assert_eq!(replay(&app, "engage-first-message.json").await.status(), 200);
    assert_eq!(replay(&app, "engage-follow-up.json").await.status(), 200);
    assert_eq!(replay(&app, "engage-agent-category.json").await.status(), 200);
    assert_eq!(replay(&app, "engage-malformed.json").await.status(), 400);
    // A replayed sample is a redelivery: nothing more happens.
    assert_eq!(replay(&app, "engage-first-message.json").await.status(), 200);

    assert_eq!(
        app.engage_calls().await,
        vec![
            "POST /1.0/interventions?content_id=5be5aeffd6cb009bde8e56e2".to_string(),
            "POST /1.0/contents {in_reply_to_id=5be5aeffd6cb009bde8e56e2, body=Sure., auto_submitted=true}"
                .to_string(),
            "POST /1.0/contents {in_reply_to_id=5be5aeffd6cb009bde8e56e3, body=Sure., auto_submitted=true}"
                .to_string(),
        ]
    );
    assert_eq!(app.bot_requests().await.len(), 2);
}

#[tokio::test]
async fn every_sample_replays_through_its_function() {
    let app = TestApp::spawn(Options::default()).await;
    app.engage_accepts_everything().await;
    app.bot_answers(json!({"replies": ["Sure."]})).await;
    let dir = format!("{}/events", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<_> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert!(!names.is_empty());
    for name in names {
        let function = if name.starts_with("engage-intervention") {
            "rebot"
        } else if name.starts_with("analytics-") {
            "analytics"
        } else if name.starts_with("zenvia-") {
            "zenvia"
        } else if name.starts_with("emergency-") {
            "emergency"
        } else if name.starts_with("engage-") {
            "webhook"
        } else {
            panic!("{name}: which function?")
        };
        let response = handover::replay::replay(&app.functions, function, &sample(&name)).await;
        let response = response.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(response.status().as_u16() < 500, "{name}: {}", response.status());
    }
}

#[tokio::test]
async fn asking_for_a_person_samples_hand_over_with_the_builtin_bot() {
    for name in ["engage-ask-for-agent.json", "engage-ask-for-agent-fr.json"] {
        let app = TestApp::spawn(Options::default().bot(BotKind::Builtin)).await;
        let agents = json!([agent_on(CHAT_CHANNEL, "available", "ok")]);
        platform(&app, agents).await;
        assert_eq!(replay(&app, name).await.status(), 200, "{name}");
        assert_eq!(app.thread().await.owner, handover_core::store::Owner::Agent, "{name}");
    }
}

#[tokio::test]
async fn intervention_samples_give_the_thread_back_once() {
    let app = TestApp::spawn(Options::default().bot(BotKind::Builtin)).await;
    let agents = json!([agent_on(CHAT_CHANNEL, "available", "ok")]);
    platform(&app, agents).await;
    assert_eq!(replay(&app, "engage-ask-for-agent.json").await.status(), 200);
    assert_eq!(app.thread().await.owner, handover_core::store::Owner::Agent);
    let rebot = |name: &'static str| {
        let functions = app.functions.clone();
        async move { handover::replay::replay(&functions, "rebot", &sample(name)).await.unwrap() }
    };
    let verify = rebot("engage-interventions-verify-ok.json").await;
    assert_eq!((verify.status().as_u16(), verify.body().as_str()), (200, "jfkjdsvfqgbqsvbfqkv"));
    for name in [
        "engage-intervention-reopened.json",
        "engage-intervention-closed-unknown-thread.json",
        "engage-intervention-closed.json",
        "engage-intervention-closed.json",
    ] {
        assert_eq!(rebot(name).await.status(), 200, "{name}");
    }
    let calls = app.engage_calls().await;
    let rebots: Vec<_> = calls.iter().filter(|c| c.contains("update_categories")).collect();
    assert_eq!(rebots.len(), 2, "one handover, one rebot: {calls:#?}");
    assert!(rebots[1].ends_with(&format!(
        "thread_category_ids[]={OTHER_CATEGORY}, thread_category_ids[]={BOT_CATEGORY}}}"
    )));
    assert_eq!(app.thread().await.owner, handover_core::store::Owner::Bot);
}

/// The platform's own sample (client walkthrough) carries the intervention's thread, categories
/// and source directly under `resource`: it gives the thread back as well.
#[tokio::test]
async fn an_intervention_closed_in_the_platforms_documented_shape_gives_the_thread_back() {
    let app = TestApp::spawn(Options::default().bot(BotKind::Builtin)).await;
    platform(&app, json!([agent_on(CHAT_CHANNEL, "available", "ok")])).await;
    assert_eq!(replay(&app, "engage-ask-for-agent.json").await.status(), 200);
    assert_eq!(app.thread().await.owner, handover_core::store::Owner::Agent);
    let closed = handover::replay::replay(
        &app.functions,
        "rebot",
        &sample("engage-intervention-closed-resource-shape.json"),
    )
    .await
    .unwrap();
    assert_eq!(closed.status(), 200);
    assert_eq!(app.thread().await.owner, handover_core::store::Owner::Bot);
    let calls = app.engage_calls().await;
    assert!(
        calls.last().unwrap().ends_with(&format!(
            "thread_category_ids[]={OTHER_CATEGORY}, thread_category_ids[]={BOT_CATEGORY}}}"
        )),
        "{calls:#?}"
    );
}

#[tokio::test]
async fn emergency_samples_switch_with_the_iam_caller_recorded() {
    let app = TestApp::spawn(Options::default()).await;
    app.engage_accepts_everything().await;
    let run = |name: &'static str| {
        let functions = app.functions.clone();
        async move { handover::replay::replay(&functions, "emergency", &sample(name)).await.unwrap() }
    };
    let on = run("emergency-on.json").await;
    assert_eq!(on.status(), 200, "{}", on.body());
    let status: serde_json::Value = serde_json::from_str(run("emergency-status.json").await.body()).unwrap();
    assert_eq!(status["active"], true);
    assert_eq!(status["switched_by"], "arn:aws:iam::123456789012:user/oncall");
    assert_eq!(status["reason"], "the bot answers nonsense");
    assert_eq!(run("emergency-off.json").await.status(), 200);
    assert!(!app.store.get_emergency().await.unwrap().active);
}

#[tokio::test]
async fn zenvia_samples_accept_answer_and_end() {
    let app = TestApp::spawn(Options::default().bot(BotKind::Builtin)).await;
    wiremock::Mock::given(wiremock::matchers::path_regex(r"^/core/api/v1/bot/[^/]+/(accept|message)$"))
        .respond_with(
            wiremock::ResponseTemplate::new(200).set_body_json(json!({"message": "ok", "status": 200})),
        )
        .mount(&app.zenvia)
        .await;
    let run = |name: &'static str| {
        let functions = app.functions.clone();
        async move { handover::replay::replay(&functions, "zenvia", &sample(name)).await.unwrap() }
    };
    for name in ["zenvia-new-interaction.json", "zenvia-new-message.json", "zenvia-finished-interaction.json"]
    {
        let response = run(name).await;
        assert_eq!(response.status(), 200, "{name}: {}", response.body());
    }
    let calls = app.zenvia.received_requests().await.unwrap();
    let paths: Vec<_> = calls.iter().map(|r| r.url.path().rsplit('/').next().unwrap().to_string()).collect();
    assert_eq!(paths, vec!["accept", "message"]);
    let interaction = app.store.get_thread("zenvia:0000a-000b-0c00-0d0e-f00d00f11111").await.unwrap();
    assert!(interaction.ended);
}

#[tokio::test]
async fn the_analytics_sample_reports() {
    let app = TestApp::spawn(Options::default()).await;
    let response = replay_as(&app, "analytics", "analytics-report.json").await;
    assert_eq!(response.status(), 200, "{}", response.body());
    let body: serde_json::Value = serde_json::from_str(response.body()).unwrap();
    assert_eq!(body["stats"].as_array().unwrap().len(), 9);
}
