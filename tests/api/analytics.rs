//! CONTRACT C11: handover statistics, exact numbers from known recorded activity, on both
//! stores, and the error answers.

use std::sync::Arc;

use handover_core::analytics::{intervention, session};
use handover_core::store::{StatsEntry, Store};
use handover_core::time::days_from_civil;
use serde_json::{Value, json};

use crate::helpers::*;

/// Records `entries` the way the flows do, and once more as a retry would: counted once.
async fn record(store: &Arc<dyn Store>, entries: Vec<StatsEntry>) {
    // Recorded now: facts of closed hours are late facts, so nothing is kept for a while and
    // every report counts them from the facts.
    store.record_stats(&entries, handover_core::now_millis()).await.unwrap();
    store.record_stats(&entries, handover_core::now_millis()).await.unwrap();
}

fn counts(stat: &Value) -> (u64, u64, u64) {
    let n = |k: &str| stat[k].as_u64().unwrap();
    (n("session_count"), n("interventions_count"), n("users_count"))
}

async fn exact_numbers(store: StoreKind) {
    let app = TestApp::spawn(Options::default().store(store)).await;
    // 10/04/2020 to 12/04/2020 at UTC+1: the window starts at 09/04 23:00 UTC.
    let start = days_from_civil(2020, 4, 10) * 86_400 - 3600;
    let ms = |seconds: i64| seconds * 1000;
    let activity = [
        session(ms(start), "c1", "u1"),          // stats[0]
        session(ms(start + 28_740), "c2", "u2"), // stats[0], last minute before the edge
        session(ms(start + 28_800), "c3", "u1"), // stats[1], a returning user
        vec![intervention(ms(start + 28_860), "c3", "e3", "asked_for_agent", false)],
        session(ms(start + 259_140), "c4", "u3"), // stats[8], the window's last minute
        vec![intervention(ms(start + 259_140), "c4", "e4", "emergency", true)],
        session(ms(start - 60), "c5", "u4"), // the previous interval
        vec![intervention(ms(start - 60), "c5", "e5", "bot_timeout", false)],
        session(ms(start + 259_200), "c6", "u5"), // the day after: outside
        session(ms(start - 259_199 - 60), "c7", "u6"), // before the previous interval
    ];
    for entries in activity {
        record(&app.store, entries).await;
    }
    // Recording the same entry again (a retry) counts once.
    record(&app.store, session(ms(start), "c1", "u1")).await;

    let (status, body) =
        analytics_report(&app, "from_date=10/04/2020&to_date=12/04/2020&utc_offset=3600").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["aggregate_stats"]["start_time"], json!(start));
    assert_eq!(body["aggregate_stats"]["end_time"], json!(start + 259_199));
    assert_eq!(counts(&body["aggregate_stats"]), (4, 2, 3));
    assert_eq!(counts(&body["previous_interval_stats"]), (1, 1, 1));
    let stats: Vec<_> = body["stats"].as_array().unwrap().iter().map(counts).collect();
    assert_eq!(
        stats,
        vec![
            (2, 0, 2),
            (1, 1, 1),
            (0, 0, 0),
            (0, 0, 0),
            (0, 0, 0),
            (0, 0, 0),
            (0, 0, 0),
            (0, 0, 0),
            (1, 1, 1)
        ]
    );
    assert_eq!(body["emergency_interventions_count"], 1);
    assert_eq!(body["interventions_by_reason"], json!({"asked_for_agent": 1, "emergency": 1}));
    assert_eq!(body["containment_rate"], json!(0.5));

    // The same days at UTC: an hour later, so the edges move.
    let (_, utc) = analytics_report(&app, "from_date=10/04/2020&to_date=12/04/2020").await;
    assert_eq!(counts(&utc["aggregate_stats"]), (4, 2, 4));
    assert_eq!(counts(&utc["previous_interval_stats"]), (2, 1, 2));
}

#[tokio::test]
async fn known_activity_gives_exact_numbers_memory() {
    exact_numbers(StoreKind::Memory).await;
}

#[tokio::test]
async fn known_activity_gives_exact_numbers_dynamodb() {
    exact_numbers(StoreKind::Dynamo).await;
}

#[tokio::test]
async fn the_flows_record_sessions_and_handovers() {
    let app = TestApp::spawn(Options::default()).await;
    platform(&app, json!([agent_on(CHAT_CHANNEL, "available", "ok")])).await;
    app.bot_answers(json!({"replies": ["hi"]})).await;
    app.post_webhook(content_body("ev-1", "c-1", "hello", true)).await;
    app.post_webhook(content_body("ev-2", "c-2", "hello again", false)).await;
    // content_body's events are issued on 22/11/2026 at 10:00 UTC.
    let (_, body) = analytics_report(&app, "from_date=22/11/2026&to_date=22/11/2026").await;
    assert_eq!(counts(&body["aggregate_stats"]), (1, 0, 1), "one conversation, one customer");
    assert_eq!(body["containment_rate"], json!(1.0));
}

#[tokio::test]
async fn errors_answer_as_specified() {
    let app = TestApp::spawn(Options::default()).await;
    let (status, body) = analytics_report(&app, "from_date=12/04/2020&to_date=10/04/2020").await;
    assert_eq!((status, body), (422, json!({"error": "To Date cannot be before From Date"})));
    for (query, word) in [
        ("from_date=2020-04-10", "from_date"),
        ("to_date=31/04/2020", "to_date"),
        ("utc_offset=tomorrow", "utc_offset"),
    ] {
        let (status, body) = analytics_report(&app, query).await;
        assert_eq!(status, 400, "{query}");
        assert!(body["message"].as_str().unwrap().contains(word), "{body}");
    }
    let url = format!("{}/analytics/agent_intervention.json", app.address);
    assert_eq!(app.http.get(&url).send().await.unwrap().status(), 401);
    let wrong = app.http.get(&url).header("Access-Token", "sample-analytics-tokem").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    // Defaults: today and the three days before.
    let (status, body) = analytics_report(&app, "").await;
    assert_eq!(status, 200);
    let length = body["aggregate_stats"]["end_time"].as_i64().unwrap()
        - body["aggregate_stats"]["start_time"].as_i64().unwrap();
    assert_eq!(length, 4 * 86_400 - 1);
}

/// Issue 26: closed days and hours are rolled up once, read back as one item each, and a fact
/// recorded late for a rolled-up hour is counted by the next report.
#[tokio::test]
async fn closed_days_are_read_as_summaries_and_a_late_fact_still_counts() {
    let meter = handover_testkit::meter::DynamoMeter::new();
    let app = TestApp::spawn(Options::default().store(StoreKind::Dynamo).metered(&meter)).await;
    let day = days_from_civil(2020, 4, 10);
    let ms = |seconds: i64| seconds * 1000;
    for i in 0..600_i64 {
        // Ten conversations a minute over the day, 40 customers coming back, a handover in five.
        let at = ms(day * 86_400 + i * 144);
        let thread = format!("t{i}");
        let mut entries = session(at, &thread, &format!("u{}", i % 40));
        if i % 5 == 0 {
            entries.push(intervention(at, &thread, &format!("e{i}"), "asked_for_agent", false));
        }
        // Recorded when they happened, as the worker records them.
        app.store.record_stats(&entries, at + 2_000).await.unwrap();
    }
    let query = "from_date=10/04/2020&to_date=10/04/2020&utc_offset=-1800";
    meter.reset();
    let (status, first) = analytics_report(&app, query).await;
    assert_eq!(status, 200, "{first}");
    // The window starts at 00:30 UTC: the sessions of its first 13 slots (2 handovers) are before it.
    assert_eq!(counts(&first["aggregate_stats"]), (587, 117, 40));
    let rolling_up = meter.items_read();
    // What the function does here (reads, rolls up, keeps summaries), its role may do in AWS.
    crate::template::assert_grants("AnalyticsFunction", &meter.operations());
    meter.reset();
    let (_, second) = analytics_report(&app, query).await;
    assert_eq!(second, first, "the summaries give the facts' numbers");
    // The window and its previous interval touch three UTC days: one summary each.
    assert_eq!(meter.items_read(), 3, "then {rolling_up} items the first time");
    assert!(rolling_up > 600);

    // A delivery retried days later records into the rolled-up day.
    let late = session(ms(day * 86_400 + 43_200), "late", "u-late");
    app.store.record_stats(&late, handover_core::now_millis()).await.unwrap();
    let (_, third) = analytics_report(&app, query).await;
    assert_eq!(counts(&third["aggregate_stats"]), (588, 117, 41));
    // While the late fact settles, its hour and day are not kept: the next report builds the
    // day again from its other 23 hours' summaries and the late hour's facts.
    meter.reset();
    let (_, fourth) = analytics_report(&app, query).await;
    assert_eq!(fourth, third);
    assert!(meter.items_read() > 3 + 24, "{} items", meter.items_read());
    crate::template::assert_grants("AnalyticsFunction", &meter.operations());
}

#[tokio::test]
async fn a_window_past_92_days_is_refused_clearly() {
    let app = TestApp::spawn(Options::default()).await;
    // 01/01 to 01/04/2020: 92 days, both included (2020 is a leap year).
    let (status, body) = analytics_report(&app, "from_date=01/01/2020&to_date=01/04/2020").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = analytics_report(&app, "from_date=01/01/2020&to_date=02/04/2020").await;
    assert_eq!(status, 422);
    assert_eq!(
        body,
        json!({"error": "the window is longer than 92 days (from_date to to_date, both included)"})
    );
}

/// Refuses every `UpdateItem` as AWS would when throttling it past the SDK's retries.
#[derive(Debug)]
struct RefusingUpdates;

impl aws_sdk_dynamodb::config::Intercept for RefusingUpdates {
    fn name(&self) -> &'static str {
        "RefusingUpdates"
    }
    fn modify_before_signing(
        &self,
        context: &mut aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextMut<'_>,
        _: &aws_sdk_dynamodb::config::RuntimeComponents,
        _: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        match context.request().headers().get("x-amz-target") {
            Some(target) if target.ends_with(".UpdateItem") => Err("injected: UpdateItem throttled".into()),
            _ => Ok(()),
        }
    }
}

/// A late fact whose closed hour cannot be marked stale (the mark refused) is still recorded,
/// and says so: the worker logs `late_facts_not_marked`, not `stats_not_recorded`.
#[tokio::test]
async fn a_late_fact_whose_mark_is_refused_is_still_recorded_and_says_so() {
    use handover_core::store::{DynamoStore, StatsStore, StoreError};
    use handover_testkit::dynamodb_local;
    let (client, table) =
        dynamodb_local::fresh_table_with(dynamodb_local::intercepted_client(RefusingUpdates)).await;
    let store = DynamoStore::new(client, table);
    let now = handover_core::now_millis();
    let two_days_ago = now - 2 * 86_400_000;
    let late = session(two_days_ago, "late-thread", "late-user");
    let err = store.record_stats(&late, now).await.expect_err("the mark was refused");
    let StoreError::LateFactsNotMarked { spans, cause } = &err else { panic!("{err:?}") };
    assert_eq!(*spans, 2, "its closed hour and its day");
    assert!(cause.contains("UpdateItem throttled"), "{cause}");
    let hour = two_days_ago.div_euclid(3_600_000);
    let recorded = store.read_stats(hour, hour).await.unwrap();
    assert_eq!(recorded.len(), 1, "the fact is written: {recorded:?}");
    assert_eq!(recorded[0].sessions.len(), 1);

    // A fact of the open hour needs no mark: nothing is refused.
    store.record_stats(&session(now, "now-thread", "now-user"), now).await.unwrap();
}
