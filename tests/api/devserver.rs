//! CONTRACT C13: the dev server as a newcomer uses it: the sandbox through HTTP (as with
//! curl), the demo's transcript, and the DynamoDB store against DynamoDB Local.

use std::collections::HashMap;

use handover::devserver::{self, DevServer};
use serde_json::{Value, json};

async fn post(dev: &DevServer, path: &str, body: Value) -> Value {
    let response = reqwest::Client::new()
        .post(format!("http://{}{path}", dev.address))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{path}: {}", response.status());
    response.json().await.unwrap()
}

async fn says(dev: &DevServer, text: &str) -> Value {
    post(dev, "/sandbox/customer", json!({"thread": "t1", "text": text})).await
}

const BOT: &str = devserver::DEFAULT_BOT_CATEGORY;
const AGENT: &str = devserver::DEFAULT_AGENT_CATEGORY;

async fn bot_reply_handover_and_rebot(dev: &DevServer) {
    let hello = says(dev, "hello").await;
    assert_eq!(hello["bot_replies"], json!(["Hello! I am the virtual assistant. How can I help you today?"]));
    assert_eq!(hello["thread_categories"], json!([BOT]));

    let human = says(dev, "I want to talk to a human").await;
    assert_eq!(human["thread_categories"], json!([AGENT]));
    assert_eq!(says(dev, "anyone?").await["bot_replies"], json!([]));

    let closed = post(dev, "/sandbox/agent/close", json!({"thread": "t1"})).await;
    assert_eq!(closed["webhook_status"], 200);
    assert_eq!(closed["thread_categories"], json!([BOT]));
    assert_eq!(says(dev, "hello again").await["bot_replies"].as_array().unwrap().len(), 1);

    let calls: Vec<String> =
        reqwest::get(format!("http://{}/sandbox/calls", dev.address)).await.unwrap().json().await.unwrap();
    assert!(
        calls.iter().any(|c| c.starts_with("PUT /content_threads/t1/update_categories") && c.contains(AGENT))
    );
    assert!(calls.last().unwrap().starts_with("POST /contents"), "{calls:#?}");
}

#[tokio::test]
async fn a_scripted_session_shows_a_reply_a_handover_and_a_rebot() {
    let dev = devserver::start("127.0.0.1", 0, HashMap::new()).await.unwrap();
    assert!(dev.banner().contains("/sandbox/customer"), "the start-up text tells how to play the customer");
    bot_reply_handover_and_rebot(&dev).await;
}

#[tokio::test]
async fn the_dev_server_keeps_state_in_dynamodb_local() {
    let table = format!("devserver{}", uuid::Uuid::new_v4().simple());
    let env = HashMap::from([
        ("STORE".to_string(), "dynamodb".to_string()),
        ("DYNAMODB_ENDPOINT".to_string(), handover_testkit::dynamodb_local::endpoint().to_string()),
        ("TABLE_NAME".to_string(), table),
    ]);
    let dev = devserver::start("127.0.0.1", 0, env).await.unwrap();
    bot_reply_handover_and_rebot(&dev).await;
}

#[tokio::test]
async fn the_demo_prints_the_transcript() {
    let mut out = Vec::new();
    handover::demo::run(&mut out).await.unwrap();
    let transcript = String::from_utf8(out).unwrap();
    for line in [
        "[t1] customer> Hello",
        "[t1] bot> Hello! I am the virtual assistant. How can I help you today?",
        "     platform: POST /interventions?content_id=content-1 -> 200",
        "[t1] bot> Glad I could help. Goodbye!",
        "     platform: PUT /interventions/intervention-3/close -> 200",
        "[t2] thread category: AGENT",
        // The agent's briefing, on the bot's intervention.
        "[t2] note for the agent> Handed over by the bot: the customer asked for a person.",
        "[t2] (no bot reply)",
        // The French customer hears the French no-agent message.
        "[t3] bot> Tous nos conseillers sont occupés pour le moment. Je reste à votre disposition : dites-m'en plus, ou réessayez un peu plus tard.",
        "[t2] agent closes the intervention",
        "emergency on: active=true handed_over=3 remaining=0",
        "[t6] (no bot reply)",
        "emergency off: active=false",
        "[t7] bot> Hello! I am the virtual assistant. How can I help you today?",
        // The LLM backend against the scripted model: the second answer shows the first
        // message was sent again (the conversation kept in the thread's state).
        r#"[t8] bot> (scripted model) You said "It has not arrived"; earlier, "Hi, I have a question about my order"."#,
        "[t8] bot> I'll find you a person.",
        "[t8] thread category: AGENT",
    ] {
        assert!(transcript.lines().any(|l| l == line), "missing line {line:?} in:\n{transcript}");
    }
    assert!(transcript.contains(
        "platform: PUT /content_threads/t2/update_categories [\"5be59e0a13047d01f46caa62\"] -> 200"
    ));
    // Closed: the time sheet is read, the bot says when the agents are back, the thread stays.
    assert!(
        transcript
            .lines()
            .any(|l| l.starts_with("[t9] bot> Our agents are away right now; they will be back ")
                && l.ends_with("(UTC). I am still here if I can help.")),
        "{transcript}"
    );
    assert!(transcript.lines().any(|l| l == "[t9] thread category: BOT"), "{transcript}");
}

/// Stops the child process when the test ends, whatever happens.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_readme_command_starts_the_server() {
    use std::io::{BufRead, BufReader};
    // This test's own HTTP client needs the process's TLS provider, whichever test runs first.
    handover_core::wiring::install_crypto_provider();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_handover"))
        .args(["--port", &port.to_string()])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _running = Running(child);
    // The banner is printed once the server listens: wait for it, not for a time.
    let banner: Vec<String> = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .take_while(|l| !l.contains("/sandbox/calls"))
            .collect()
    })
    .await
    .unwrap();
    // The first line leads to the console, and the console is there.
    assert_eq!(banner[0], format!("handover console: http://127.0.0.1:{port}/  (open it in a browser)"));
    let page = reqwest::get(format!("http://127.0.0.1:{port}/")).await.unwrap();
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    assert!(page.text().await.unwrap().contains("<title>handover console</title>"));
    let url = format!(
        "http://127.0.0.1:{port}/engage/webhook?hub.mode=subscribe&hub.challenge=it-works&hub.verify_token={}",
        devserver::DEFAULT_VERIFY_TOKEN
    );
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "it-works");
}

/// The README's walk-through: right after every agent is made away, a request for a person
/// gets the no-agent message (the availability answer the server had is forgotten at once).
#[tokio::test]
async fn making_the_agents_away_takes_effect_at_once() {
    let dev = devserver::start("127.0.0.1", 0, HashMap::new()).await.unwrap();
    let ask = |thread: &'static str| {
        let dev = &dev;
        async move {
            post(dev, "/sandbox/customer", json!({"thread": thread, "text": "I want to talk to a human"}))
                .await
        }
    };
    assert_eq!(ask("t-before").await["thread_categories"], json!([AGENT]), "an agent was available");
    post(&dev, "/sandbox/agents", json!({"available": false})).await;
    let after = ask("t-after").await;
    assert_eq!(after["thread_categories"], json!([BOT]), "nobody available: the bot keeps it");
    assert_eq!(after["bot_replies"], json!([handover_core::config::DEFAULT_NO_AGENT_MESSAGE]));

    // Full agents (connected, no room) are no more available than away ones.
    post(&dev, "/sandbox/agents", json!({"status": "available"})).await;
    assert_eq!(ask("t-back").await["thread_categories"], json!([AGENT]));
    assert_eq!(post(&dev, "/sandbox/agents", json!({"status": "full"})).await["status"], "full");
    assert_eq!(ask("t-full").await["thread_categories"], json!([BOT]));
    let refused = reqwest::Client::new()
        .post(format!("http://{}/sandbox/agents", dev.address))
        .json(&json!({"busy": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
}
