//! The binary as Lambda runs it: the report route and the hourly roll-up share one entry point.

use handover_core::analytics::rollup::Span;
use handover_core::store::{DynamoStore, StatsStore};
use handover_testkit::dynamodb_local;
use handover_testkit::lambda_runtime::invoke_once;
use serde_json::{Value, json};

#[tokio::test]
async fn the_hourly_schedule_rolls_up_a_closed_hour_not_rolled_up_yet() {
    let (client, table) = dynamodb_local::fresh_table().await;
    let store = DynamoStore::new(client, table.clone());
    // Two hours ago: closed (with its grace), never reported on.
    let now = handover_core::now_millis();
    let hour = now.div_euclid(3_600_000) - 2;
    let at = hour * 3_600_000 + 60_000;
    for i in 0..30 {
        let facts = handover_core::analytics::session(at, &format!("t{i}"), &format!("u{}", i % 7));
        store.record_stats(&facts, at).await.unwrap();
    }
    assert!(store.read_summaries(&[Span::hour(hour)]).await.unwrap().found.is_empty());

    let env = [
        ("ANALYTICS_ACCESS_TOKEN", "very-secret-analytics-token"),
        ("TABLE_NAME", table.as_str()),
        ("DYNAMODB_ENDPOINT", dynamodb_local::endpoint()),
    ];
    // EventBridge Scheduler's invocation: not an HTTP event.
    let invocation = invoke_once(env!("CARGO_BIN_EXE_analytics"), json!({}), 30_000, &env).await;
    assert!(invocation.answer.ok, "{:?}", invocation.answer.body);
    assert_eq!(invocation.answer.body, Value::Null);
    assert!(invocation.stderr.contains("statistics_rolled_up"), "{}", invocation.stderr);

    let kept = store.read_summaries(&[Span::hour(hour)]).await.unwrap();
    assert_eq!(kept.found.len(), 1, "{kept:?}");
    assert_eq!(kept.found[0].session_count(), 30);
}

#[tokio::test]
async fn the_report_route_answers_as_api_gateway_expects() {
    let (_, table) = dynamodb_local::fresh_table().await;
    let env = [
        ("ANALYTICS_ACCESS_TOKEN", "sample-analytics-token"),
        ("TABLE_NAME", table.as_str()),
        ("DYNAMODB_ENDPOINT", dynamodb_local::endpoint()),
    ];
    let sample = format!("{}/../../events/analytics-report.json", env!("CARGO_MANIFEST_DIR"));
    let event: Value = serde_json::from_str(&std::fs::read_to_string(sample).unwrap()).unwrap();
    let invocation = invoke_once(env!("CARGO_BIN_EXE_analytics"), event, 30_000, &env).await;
    assert!(invocation.answer.ok, "{:?}", invocation.answer.body);
    assert_eq!(invocation.answer.body["statusCode"], 200);
    let report: Value = serde_json::from_str(invocation.answer.body["body"].as_str().unwrap()).unwrap();
    assert_eq!(report["stats"].as_array().map(Vec::len), Some(9));
    assert_eq!(report["aggregate_stats"]["session_count"], 0);
}
