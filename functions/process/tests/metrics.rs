//! What the worker as Lambda runs it writes to CloudWatch Logs: its metrics as Embedded Metric
//! Format lines on standard output (one batch through the Runtime API, its EMF lines parsed),
//! and how many bytes a conversation's events cost in logs. The cost line (README,
//! docs/operations.md) is built on these bytes: a budget here keeps a chatty line from raising
//! every conversation's cost unnoticed.

use handover_core::engage::webhook::WebhookEvent;
use handover_core::queue::Job;
use handover_testkit::lambda_runtime::{Invocation, invoke_once, sqs_record};
use serde_json::{Value, json};

const BOT_CATEGORY: &str = "5bdcb766799fc227748f4453";

fn record(id: &str, group: &str, job: &Job) -> Value {
    sqs_record(id, group, &serde_json::to_string(job).unwrap())
}

fn sample_event(name: &str) -> WebhookEvent {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    let gateway: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let envelope =
        handover_core::engage::webhook::Envelope::parse(gateway["body"].as_str().unwrap().as_bytes());
    envelope.unwrap().events.into_iter().next().unwrap()
}

/// The worker's configuration with Engage Digital at `engage` (the queue is never called).
fn worker_env<'a>(engage: &'a str, table: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("ENGAGE_API_URL", engage),
        ("ENGAGE_ACCESS_TOKEN", "very-secret-access-token"),
        ("BOT_CATEGORY_ID", BOT_CATEGORY),
        ("AGENT_CATEGORY_ID", "agent"),
        ("TABLE_NAME", table),
        ("DYNAMODB_ENDPOINT", handover_testkit::dynamodb_local::endpoint()),
        ("QUEUE_URL", "http://127.0.0.1:9/123456789012/handover-events.fifo"),
        ("SQS_ENDPOINT", "http://127.0.0.1:9"),
        ("HANDOVER_STACK", "prod-handover"),
    ]
}

/// The metric lines of `stdout`: each an EMF document.
fn emf_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|doc| doc["_aws"]["CloudWatchMetrics"].is_array())
        .collect()
}

#[tokio::test]
async fn a_batch_through_the_handler_writes_its_metrics_as_emf_lines() {
    let (client, table) = handover_testkit::dynamodb_local::fresh_table().await;
    drop(client);
    // One event that finishes (an agent's intervention closed on a thread the bot never saw)
    // and one whose platform call fails (nothing listens on port 9): it is retried.
    let closed = Job::engage(sample_event("engage-intervention-closed-unknown-thread.json"));
    let first = Job::engage(sample_event("engage-first-message.json"));
    let batch = json!({"Records": [record("m1", "g1", &closed), record("m2", "g2", &first)]});
    // The worker's Timeout (720 s): a job starts only with the time it may need.
    let table = table.as_str();
    let mut env = worker_env("http://127.0.0.1:9/1.0", table);
    env.push(("ENGAGE_TIMEOUT_MS", "2000"));
    let Invocation { answer, stdout, stderr: logs } =
        invoke_once(env!("CARGO_BIN_EXE_process"), batch, 720_000, &env).await;
    assert!(answer.ok, "{:?}", answer.body);
    assert_eq!(answer.body["batchItemFailures"], json!([{"itemIdentifier": "m2"}]), "{logs}");

    let docs = emf_lines(&stdout);
    assert!(!docs.is_empty(), "no EMF line in: {stdout}");
    let metric = |name: &str| -> Vec<&Value> {
        docs.iter()
            .filter(|d| {
                d["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|m| m["Name"] == name)
            })
            .collect()
    };
    for doc in &docs {
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Handover");
        assert!(doc["_aws"]["Timestamp"].as_u64().unwrap() > 1_700_000_000_000);
        assert_eq!(doc["Stack"], "prod-handover", "{doc}");
        let dimensions = directive["Dimensions"][0].as_array().unwrap();
        assert_eq!(dimensions[0], "Stack");
        // Every dimension named has its value in the document.
        assert!(dimensions.iter().all(|d| doc[d.as_str().unwrap()].is_string()), "{doc}");
    }
    let processed = metric("EventsProcessed");
    assert_eq!(processed.len(), 1, "{stdout}");
    assert_eq!(processed[0]["Decision"], "unknown_thread");
    assert_eq!(processed[0]["EventsProcessed"], 1);
    assert_eq!(metric("EventsNotFinished")[0]["EventsNotFinished"], 1);
    assert_eq!(metric("Retries")[0]["Retries"], 1);
    let errors = metric("PlatformCallErrors");
    assert!(!errors.is_empty(), "{stdout}");
    assert!(errors[0]["Route"].as_str().unwrap().contains(" /"), "{}", errors[0]);
    let latency = metric("EventLatency");
    assert_eq!(latency[0]["EventLatency"].as_array().map(Vec::len), Some(1), "one value per finished event");
    let unit = latency[0]["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"].clone();
    assert_eq!(unit, "Milliseconds");
    // No secret in any line.
    assert!(!stdout.contains("very-secret-access-token"));
}

/// The worker's budgets per event, its lines with EMF's (Lambda's own records are apart): the
/// bench's cost line counts 1,468 bytes for a first message and 1,103 for a follow-up, as
/// measured here on 2026-12-04; these leave room for the latencies' digits only.
const FIRST_MESSAGE_BUDGET: usize = 1_490;
const FOLLOW_UP_BUDGET: usize = 1_120;

/// One invocation of the worker with `event` answered on `engage`, which finished it.
async fn worker_invocation(event: WebhookEvent, engage: &str, table: &str) -> Invocation {
    let batch = json!({"Records": [record("m1", "g1", &Job::engage(event))]});
    let invocation =
        invoke_once(env!("CARGO_BIN_EXE_process"), batch, 720_000, &worker_env(engage, table)).await;
    let answer = &invocation.answer;
    assert!(
        answer.ok && answer.body["batchItemFailures"] == json!([]),
        "{:?} {}",
        answer.body,
        invocation.stderr
    );
    invocation
}

#[tokio::test]
async fn a_conversations_events_stay_within_the_worker_log_budget() {
    let (_, table) = handover_testkit::dynamodb_local::fresh_table().await;
    let (engage, calls) = handover_testkit::fake_engage::start(BOT_CATEGORY).await.unwrap();
    let first = worker_invocation(sample_event("engage-first-message.json"), &engage, &table).await;
    let follow_up = worker_invocation(sample_event("engage-follow-up.json"), &engage, &table).await;
    assert!(calls.load(std::sync::atomic::Ordering::SeqCst) >= 2, "the bot answered on the platform");
    for (name, invocation, budget) in
        [("first message", &first, FIRST_MESSAGE_BUDGET), ("follow-up", &follow_up, FOLLOW_UP_BUDGET)]
    {
        let (lines, bytes) = (invocation.lines(), invocation.log_bytes());
        println!("{name}: {} lines, {bytes} bytes:\n{}", lines.len(), lines.join("\n"));
        assert!(lines.iter().any(|l| l.contains("\"message\":\"event processed\"")), "{lines:#?}");
        assert!(bytes <= budget, "{name}: {bytes} bytes over {budget}:\n{lines:#?}");
        assert!(!lines.iter().any(|l| l.contains("very-secret-access-token")));
    }
}
