//! The binary as Lambda runs it: an API Gateway event from the Runtime API in, an API Gateway
//! response out.

use std::process::{Command, Stdio};
use std::time::Duration;

use handover_testkit::lambda_runtime::{lambda_environment, serve_one};

#[tokio::test]
async fn answers_the_verification_event_through_the_runtime_api() {
    let sample = format!("{}/../../events/engage-verify-ok.json", env!("CARGO_MANIFEST_DIR"));
    let mut event: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sample).unwrap()).unwrap();
    // A deployed webhook requires its secret on every request, the verification included.
    event["headers"]["x-dimelo-secret"] = serde_json::json!(handover_testkit::startup::WEBHOOK_SECRET);
    let (runtime, mut answers) = serve_one(event).await.unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_webhook"))
        .env_clear()
        .envs(lambda_environment(runtime))
        .envs([
            ("ENGAGE_API_URL", "https://acme.api.engagement.dimelo.com/1.0"),
            ("ENGAGE_ACCESS_TOKEN", "token"),
            ("ENGAGE_VERIFY_TOKEN", "sample-verify-token"),
            ("BOT_CATEGORY_ID", "bot"),
            ("AGENT_CATEGORY_ID", "agent"),
            ("QUEUE_URL", handover_testkit::startup::QUEUE_URL),
            ("ENGAGE_WEBHOOK_SECRET", handover_testkit::startup::WEBHOOK_SECRET),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(20), answers.recv()).await;
    let _ = child.kill();
    let _ = child.wait();
    let answer = answer.expect("an answer in time").expect("an answer");
    assert!(answer.ok, "{:?}", answer.body);
    assert_eq!(answer.body["statusCode"], 200);
    assert_eq!(answer.body["body"], "jfkjdsvfqgbqsvbfqkv");
    assert_eq!(answer.body["headers"]["content-type"], "text/html");
}
