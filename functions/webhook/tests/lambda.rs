//! The binary as Lambda runs it: an API Gateway event from the Runtime API in, an API Gateway
//! response out.

use handover_testkit::lambda_runtime::invoke_once;

/// The sample verification event, with the webhook's secret a deployed webhook requires on
/// every request, through the binary started with `env`: the Lambda response.
async fn verify_through_the_runtime_api(env: &[(&str, &str)]) -> serde_json::Value {
    let sample = format!("{}/../../events/engage-verify-ok.json", env!("CARGO_MANIFEST_DIR"));
    let mut event: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sample).unwrap()).unwrap();
    event["headers"]["x-dimelo-secret"] = serde_json::json!(handover_testkit::startup::WEBHOOK_SECRET);
    let answer = invoke_once(env!("CARGO_BIN_EXE_webhook"), event, 30_000, env).await.answer;
    assert!(answer.ok, "{:?}", answer.body);
    answer.body
}

#[tokio::test]
async fn answers_the_verification_event_through_the_runtime_api() {
    let body = verify_through_the_runtime_api(&[
        ("ENGAGE_VERIFY_TOKEN", "sample-verify-token"),
        ("QUEUE_URL", handover_testkit::startup::QUEUE_URL),
        ("ENGAGE_WEBHOOK_SECRET", handover_testkit::startup::WEBHOOK_SECRET),
    ])
    .await;
    assert_eq!(body["statusCode"], 200);
    assert_eq!(body["body"], "jfkjdsvfqgbqsvbfqkv");
    assert_eq!(body["headers"]["content-type"], "text/html");
}

/// In AWS the secrets come from Secrets Manager (moto's server here), read once at cold start:
/// the verification succeeds with the tokens that only the secret store holds.
#[tokio::test]
async fn reads_its_secrets_from_secrets_manager_at_cold_start() {
    use handover_testkit::{moto, startup};
    let verify = moto::create_secret("verify", "sample-verify-token").await;
    let webhook = moto::create_secret("webhook", startup::WEBHOOK_SECRET).await;
    let body = verify_through_the_runtime_api(&[
        ("ENGAGE_VERIFY_TOKEN_SECRET_ARN", verify.as_str()),
        ("ENGAGE_WEBHOOK_SECRET_SECRET_ARN", webhook.as_str()),
        ("SECRETS_ENDPOINT", moto::endpoint()),
        ("QUEUE_URL", startup::QUEUE_URL),
    ])
    .await;
    assert_eq!(body["statusCode"], 200, "{body:?}");
    assert_eq!(body["body"], "jfkjdsvfqgbqsvbfqkv");
}

#[test]
fn a_secret_that_cannot_be_read_stops_start_up_naming_its_variable() {
    let endpoint = handover_testkit::moto::endpoint();
    let mut env: Vec<(&str, &str)> = handover_testkit::startup::ENGAGE_FUNCTION_ENV
        .iter()
        .copied()
        .filter(|(name, _)| *name != "ENGAGE_VERIFY_TOKEN")
        .collect();
    env.push((
        "ENGAGE_VERIFY_TOKEN_SECRET_ARN",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf",
    ));
    env.push(("SECRETS_ENDPOINT", endpoint));
    let (code, stderr) = handover_testkit::startup::start_with(env!("CARGO_BIN_EXE_webhook"), &env);
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(
        stderr,
        "configuration error: ENGAGE_VERIFY_TOKEN is malformed: its secret could not be read (not found)\n"
    );
}
