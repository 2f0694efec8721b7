//! What the receiver writes to CloudWatch Logs per event, as Lambda runs it: a content event
//! through the Runtime API, queued on a FIFO queue of moto's server. The cost line (README,
//! docs/operations.md) is built on these bytes; a budget here keeps a chatty line from raising
//! every conversation's cost unnoticed.

use handover_testkit::lambda_runtime::invoke_once;
use handover_testkit::{moto, startup};

/// The receiver's budget per event, its lines with EMF's (Lambda's own records are apart): the
/// bench's cost line counts 263 bytes, as measured here on 2026-12-04.
const RECEIVER_LOG_BUDGET: usize = 270;

#[tokio::test]
async fn a_queued_event_stays_within_the_receiver_log_budget() {
    let queue = moto::create_fifo_queue(30).await;
    let sample = format!("{}/../../events/engage-first-message.json", env!("CARGO_MANIFEST_DIR"));
    let mut event: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sample).unwrap()).unwrap();
    event["headers"]["x-dimelo-secret"] = serde_json::json!(startup::WEBHOOK_SECRET);
    let env = [
        ("ENGAGE_VERIFY_TOKEN", "sample-verify-token"),
        ("ENGAGE_WEBHOOK_SECRET", startup::WEBHOOK_SECRET),
        ("QUEUE_URL", queue.as_str()),
        ("SQS_ENDPOINT", moto::endpoint()),
        ("HANDOVER_STACK", "prod-handover"),
    ];
    let invocation = invoke_once(env!("CARGO_BIN_EXE_webhook"), event, 30_000, &env).await;
    assert_eq!(
        invocation.answer.body["statusCode"], 200,
        "{:?} {}",
        invocation.answer.body, invocation.stderr
    );

    let (lines, bytes) = (invocation.lines(), invocation.log_bytes());
    println!("{} lines, {bytes} bytes:\n{}", lines.len(), lines.join("\n"));
    assert!(lines.iter().any(|l| l.contains("\"EventsReceived\":1")), "the event was counted: {lines:?}");
    assert!(bytes <= RECEIVER_LOG_BUDGET, "{bytes} bytes over {RECEIVER_LOG_BUDGET}: {lines:#?}");
    assert!(!lines.iter().any(|l| l.contains(startup::WEBHOOK_SECRET)));
}
