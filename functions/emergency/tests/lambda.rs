//! The binary as Lambda runs it: the HTTP routes and the scheduled continuation share one
//! entry point.

use handover_testkit::dynamodb_local;
use handover_testkit::lambda_runtime::{Answer, invoke_once};
use serde_json::{Value, json};

async fn invoke(event: Value) -> Answer {
    let (_, table) = dynamodb_local::fresh_table().await;
    let env = [
        ("ENGAGE_API_URL", "https://acme.api.engagement.dimelo.com/1.0"),
        ("ENGAGE_ACCESS_TOKEN", "token"),
        ("BOT_CATEGORY_ID", "bot"),
        ("AGENT_CATEGORY_ID", "agent"),
        ("TABLE_NAME", table.as_str()),
        ("DYNAMODB_ENDPOINT", dynamodb_local::endpoint()),
    ];
    invoke_once(env!("CARGO_BIN_EXE_emergency"), event, 30_000, &env).await.answer
}

#[tokio::test]
async fn the_http_route_answers_as_api_gateway_expects() {
    let sample = format!("{}/../../events/emergency-status.json", env!("CARGO_MANIFEST_DIR"));
    let event: Value = serde_json::from_str(&std::fs::read_to_string(sample).unwrap()).unwrap();
    let answer = invoke(event).await;
    assert!(answer.ok, "{:?}", answer.body);
    assert_eq!(answer.body["statusCode"], 200);
    let status: Value = serde_json::from_str(answer.body["body"].as_str().unwrap()).unwrap();
    assert_eq!(status["active"], false);
    assert_eq!(status["remaining"], 0);
}

#[tokio::test]
async fn a_scheduled_event_goes_to_the_continuation_not_to_the_http_handler() {
    // EventBridge Scheduler's invocation: not an HTTP event.
    let answer = invoke(json!({})).await;
    assert!(answer.ok, "{:?}", answer.body);
    assert_eq!(answer.body, Value::Null);
}
