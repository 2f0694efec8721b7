//! The worker as Lambda runs it writes its metrics as CloudWatch Embedded Metric Format lines
//! on standard output: one batch through the Runtime API, its EMF lines parsed.

use std::process::{Command, Stdio};
use std::time::Duration;

use handover_core::engage::webhook::WebhookEvent;
use handover_core::queue::Job;
use handover_testkit::lambda_runtime::{lambda_environment, serve_one_with};
use serde_json::{Value, json};

fn record(id: &str, group: &str, job: &Job) -> Value {
    json!({
        "messageId": id,
        "receiptHandle": format!("handle-{id}"),
        "body": serde_json::to_string(job).unwrap(),
        "attributes": {"ApproximateReceiveCount": "1", "MessageGroupId": group},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:handover-events.fifo",
        "awsRegion": "us-east-1"
    })
}

fn sample_event(name: &str) -> WebhookEvent {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    let gateway: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let envelope =
        handover_core::engage::webhook::Envelope::parse(gateway["body"].as_str().unwrap().as_bytes());
    envelope.unwrap().events.into_iter().next().unwrap()
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
    let (runtime, mut answers) = serve_one_with(batch, 720_000).await.unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_process"))
        .env_clear()
        .envs(lambda_environment(runtime))
        .envs([
            ("ENGAGE_API_URL", "http://127.0.0.1:9/1.0"),
            ("ENGAGE_ACCESS_TOKEN", "very-secret-access-token"),
            ("BOT_CATEGORY_ID", "5bdcb766799fc227748f4453"),
            ("AGENT_CATEGORY_ID", "agent"),
            ("TABLE_NAME", table.as_str()),
            ("DYNAMODB_ENDPOINT", handover_testkit::dynamodb_local::endpoint()),
            ("QUEUE_URL", "http://127.0.0.1:9/123456789012/handover-events.fifo"),
            ("SQS_ENDPOINT", "http://127.0.0.1:9"),
            ("HANDOVER_STACK", "prod-handover"),
            ("ENGAGE_TIMEOUT_MS", "2000"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(60), answers.recv()).await;
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    let answer = answer.expect("an answer in time").expect("an answer");
    assert!(answer.ok, "{:?}", answer.body);
    let logs = String::from_utf8_lossy(&output.stderr);
    assert_eq!(answer.body["batchItemFailures"], json!([{"itemIdentifier": "m2"}]), "{logs}");

    let stdout = String::from_utf8_lossy(&output.stdout);
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
