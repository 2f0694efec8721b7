//! Issue 14: the emergency sweep at scale. It resumes where it stopped (a cursor saved after
//! each page), never touches conversations the bot is not in, counts a thread that keeps
//! failing and leaves it alone, and `remaining` only goes down.

use std::sync::Arc;
use std::time::Duration;

use handover_core::config::EmergencySettings;
use handover_core::flow::emergency::EmergencyFlow;
use handover_core::store::{EmergencyState, Owner, Store, ThreadState};
use handover_core::wiring;
use serde_json::json;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

fn now() -> i64 {
    handover_core::now_millis()
}

/// `n` conversations the bot is in now, with known categories.
async fn bot_threads(store: &Arc<dyn Store>, n: usize) -> Vec<String> {
    let ids: Vec<String> = (0..n).map(|i| format!("thread-{i:03}")).collect();
    for id in &ids {
        let thread = ThreadState {
            categories: Some(vec![OTHER_CATEGORY.into(), BOT_CATEGORY.into()]),
            categories_at_ms: now(),
            updated_at_ms: now(),
            ..ThreadState::new(id)
        };
        store.save_thread(&thread).await.unwrap();
    }
    ids
}

/// The switch, already on (sources done), and a flow that works `budget` per run.
async fn sweep(app: &TestApp, budget: Duration) -> EmergencyFlow {
    let on = EmergencyState {
        active: true,
        since_ms: Some(now()),
        sources_switched: true,
        ..EmergencyState::default()
    };
    app.store.set_emergency(&on).await.unwrap();
    let env = std::collections::HashMap::from([
        ("ENGAGE_API_URL", format!("{}/1.0", app.engage.uri())),
        ("ENGAGE_ACCESS_TOKEN", ACCESS_TOKEN.to_string()),
        ("BOT_CATEGORY_ID", BOT_CATEGORY.to_string()),
        ("AGENT_CATEGORY_ID", AGENT_CATEGORY.to_string()),
        ("EMERGENCY_REQUESTS_PER_MINUTE", "450".to_string()),
        ("ZENVIA_API_URL", format!("{}/core/api/v1", app.zenvia.uri())),
        ("ZENVIA_API_TOKEN", ZENVIA_API_TOKEN.to_string()),
    ]);
    let env: std::collections::HashMap<&str, &str> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    wiring::emergency_flow(
        EmergencySettings::from_env(&env).unwrap(),
        app.store.clone(),
        &wiring::http_client(),
    )
    .with_budget(budget)
}

async fn accept_updates(app: &TestApp) {
    Mock::given(method("PUT"))
        .and(path_regex(r"^/1\.0/content_threads/[^/]+/update_categories$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "x"})))
        .mount(&app.engage)
        .await;
}

fn updates_per_thread(calls: &[String]) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for call in calls.iter().filter(|c| c.contains("/update_categories")) {
        let thread =
            call.trim_start_matches("PUT /1.0/content_threads/").split('/').next().unwrap().to_string();
        *counts.entry(thread).or_insert(0) += 1;
    }
    counts
}

async fn remaining_only_goes_down(store: StoreKind) {
    let meter = handover_testkit::meter::DynamoMeter::new();
    let options = match store {
        StoreKind::Dynamo => Options::default().metered(&meter),
        StoreKind::Memory => Options::default().store(store),
    };
    let app = TestApp::spawn(options).await;
    accept_updates(&app).await;
    let ids = bot_threads(&app.store, 30).await;
    meter.reset();
    // About seven threads a run at 450 requests a minute.
    let flow = sweep(&app, Duration::from_secs(1)).await;
    let mut remaining = vec![flow.status().await.unwrap().remaining];
    for _ in 0..20 {
        flow.continue_work().await.unwrap();
        remaining.push(flow.status().await.unwrap().remaining);
        if remaining.last() == Some(&0) {
            break;
        }
    }
    assert_eq!(remaining.first(), Some(&30));
    assert_eq!(remaining.last(), Some(&0), "{remaining:?}");
    assert!(remaining.windows(2).all(|w| w[1] < w[0]), "every run makes progress: {remaining:?}");
    let counts = updates_per_thread(&app.engage_calls().await);
    assert_eq!(counts.len(), ids.len());
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");
    assert_eq!(flow.status().await.unwrap().handed_over, 30);
    // Every request the sweep made against DynamoDB Local, its role may make in AWS.
    crate::template::assert_grants("EmergencyFunction", &meter.operations());
}

async fn a_killed_run_resumes(store: StoreKind) {
    let app = TestApp::spawn(Options::default().store(store)).await;
    // The 30th thread's update hangs once: the run is killed while waiting for it.
    Mock::given(method("PUT"))
        .and(path("/1.0/content_threads/thread-029/update_categories"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": "x"})).set_delay(Duration::from_secs(30)),
        )
        .up_to_n_times(1)
        .mount(&app.engage)
        .await;
    accept_updates(&app).await;
    bot_threads(&app.store, 40).await;
    // A run's budget is its invocation's: killed at 6 s of an 8 s budget.
    let flow = sweep(&app, Duration::from_secs(8)).await;
    let killed = tokio::time::timeout(Duration::from_secs(6), flow.continue_work()).await;
    assert!(killed.is_err(), "the run was killed");
    let after_kill = flow.status().await.unwrap();
    assert_eq!(after_kill.remaining, 40 - 29, "the first page and part of the second are done");

    // One run at a time: until the killed run's deadline, another leaves the work to it.
    flow.continue_work().await.unwrap();
    assert_eq!(flow.status().await.unwrap().remaining, 40 - 29, "no second sweep beside the first");
    // Past it, the next run resumes where it stopped.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    flow.continue_work().await.unwrap();
    let status = flow.status().await.unwrap();
    assert_eq!(status.remaining, 0);
    let counts = updates_per_thread(&app.engage_calls().await);
    assert_eq!(counts.len(), 40);
    for (thread, n) in &counts {
        // The killed call may have reached the platform: the same categories are set again.
        let expected = if thread == "thread-029" { 2 } else { 1 };
        assert_eq!(*n, expected, "{thread}: {counts:?}");
    }
    for i in 0..40 {
        assert_eq!(app.store.get_thread(&format!("thread-{i:03}")).await.unwrap().owner, Owner::Agent);
    }
}

#[tokio::test]
async fn leftovers_are_never_claimed_and_a_thread_failing_three_times_is_left_alone() {
    let app = TestApp::spawn(Options::default()).await;
    Mock::given(method("PUT"))
        .and(path("/1.0/content_threads/thread-flaky/update_categories"))
        .respond_with(
            ResponseTemplate::new(503)
                .set_body_json(json!({"error": "unavailable", "message": "down", "status": 503})),
        )
        .mount(&app.engage)
        .await;
    accept_updates(&app).await;
    bot_threads(&app.store, 3).await;
    let live = |id: &str| ThreadState {
        updated_at_ms: now(),
        categories: Some(vec![BOT_CATEGORY.into()]),
        categories_at_ms: now(),
        ..ThreadState::new(id)
    };
    for leftover in [
        ThreadState { resolved: true, ..live("thread-resolved") },
        ThreadState { parked: true, ..live("thread-refused") },
        ThreadState { ended: true, ..live("zenvia:ended-interaction") },
        ThreadState { updated_at_ms: now() - 3 * 24 * 3_600_000, ..live("thread-idle") },
    ] {
        app.store.save_thread(&leftover).await.unwrap();
    }
    app.store.save_thread(&live("thread-flaky")).await.unwrap();
    let flow = sweep(&app, Duration::from_secs(60)).await;
    assert_eq!(flow.status().await.unwrap().remaining, 5, "resolved, refused and ended are not in the index");

    // The flaky thread stops a run each time; the third failure parks it.
    for _ in 0..3 {
        let _ = flow.continue_work().await;
    }
    flow.continue_work().await.unwrap();
    let status = flow.status().await.unwrap();
    assert_eq!((status.remaining, status.handed_over, status.failed), (0, 3, 1));
    let flaky = app.store.get_thread("thread-flaky").await.unwrap();
    assert!(flaky.parked && flaky.owner == Owner::Bot, "{flaky:?}");

    // Leftovers were never touched, and another run touches nothing.
    let calls = app.engage_calls().await;
    for leftover in ["thread-resolved", "thread-refused", "ended-interaction", "thread-idle"] {
        assert!(!calls.iter().any(|c| c.contains(leftover)), "{leftover}: {calls:?}");
    }
    assert_eq!(updates_per_thread(&calls)["thread-flaky"], 3);
    flow.continue_work().await.unwrap();
    assert_eq!(app.engage_calls().await.len(), calls.len());
    assert_eq!(
        app.store.get_thread("thread-idle").await.unwrap().owner,
        Owner::Bot,
        "idle: left with the bot"
    );
}

#[tokio::test]
async fn categories_come_from_what_is_known_and_are_read_when_stale() {
    let app = TestApp::spawn(Options::default()).await;
    accept_updates(&app).await;
    Mock::given(method("GET"))
        .and(path("/1.0/content_threads/thread-stale"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"id": "thread-stale", "thread_category_ids": ["added-since", BOT_CATEGORY]}),
        ))
        .mount(&app.engage)
        .await;
    let base = |id: &str| ThreadState { updated_at_ms: now(), ..ThreadState::new(id) };
    // Only the last message's categories are known: used, no read.
    let from_event = ThreadState {
        last_event_categories: Some(vec!["from-event".into(), BOT_CATEGORY.into()]),
        last_event_ms: now(),
        ..base("thread-event")
    };
    // A stored list older than the last message: read first, so "added-since" is kept.
    let stale = ThreadState {
        categories: Some(vec![BOT_CATEGORY.into()]),
        categories_at_ms: now() - 60_000,
        last_event_categories: Some(vec![BOT_CATEGORY.into()]),
        last_event_ms: now(),
        ..base("thread-stale")
    };
    app.store.save_thread(&from_event).await.unwrap();
    app.store.save_thread(&stale).await.unwrap();
    let flow = sweep(&app, Duration::from_secs(60)).await;
    flow.continue_work().await.unwrap();
    let calls = app.engage_calls().await;
    assert_eq!(
        calls,
        vec![
            format!(
                "PUT /1.0/content_threads/thread-event/update_categories {{thread_category_ids[]=from-event, thread_category_ids[]={AGENT_CATEGORY}}}"
            ),
            "GET /1.0/content_threads/thread-stale".to_string(),
            format!(
                "PUT /1.0/content_threads/thread-stale/update_categories {{thread_category_ids[]=added-since, thread_category_ids[]={AGENT_CATEGORY}}}"
            ),
        ]
    );
}

#[tokio::test]
async fn a_new_message_during_the_sweep_is_handed_over_not_answered() {
    let app = TestApp::spawn(Options::default()).await;
    platform(&app, json!([agent_on(CHAT_CHANNEL, "available", "ok")])).await;
    app.bot_answers(json!({"replies": ["Hello"]})).await;
    accept_updates(&app).await;
    // The sample thread is a bot conversation among many.
    assert_eq!(app.post_webhook(content_body("ev-0", "c-0", "hello", true)).await.status(), 200);
    bot_threads(&app.store, 20).await;
    let flow = sweep(&app, Duration::from_secs(60)).await;
    let sweeping = tokio::spawn(async move { flow.continue_work().await.map(|_| flow) });
    assert_eq!(app.post_webhook(content_body("ev-1", "c-1", "are you there?", false)).await.status(), 200);
    let flow = sweeping.await.unwrap().unwrap();
    assert_eq!(app.bot_requests().await.len(), 1, "only the message before the switch");
    assert_eq!(app.thread().await.owner, Owner::Agent);
    assert_eq!(flow.status().await.unwrap().remaining, 0);
}

#[tokio::test]
async fn remaining_only_goes_down_and_every_thread_is_recategorized_once_memory() {
    remaining_only_goes_down(StoreKind::Memory).await;
}

#[tokio::test]
async fn remaining_only_goes_down_and_every_thread_is_recategorized_once_dynamodb() {
    remaining_only_goes_down(StoreKind::Dynamo).await;
}

#[tokio::test]
async fn a_run_killed_in_the_middle_of_a_page_is_resumed_there_memory() {
    a_killed_run_resumes(StoreKind::Memory).await;
}

#[tokio::test]
async fn a_run_killed_in_the_middle_of_a_page_is_resumed_there_dynamodb() {
    a_killed_run_resumes(StoreKind::Dynamo).await;
}

#[tokio::test]
async fn zenvia_interactions_are_transferred_through_zenvia() {
    let app = TestApp::spawn(Options::default()).await;
    Mock::given(method("PUT"))
        .and(path("/core/api/v1/bot/hash-1/transfer"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"message": "ok", "status": 200})))
        .expect(1)
        .mount(&app.zenvia)
        .await;
    let interaction = ThreadState { updated_at_ms: now(), ..ThreadState::new("zenvia:hash-1") };
    app.store.save_thread(&interaction).await.unwrap();
    let flow = sweep(&app, Duration::from_secs(60)).await;
    flow.continue_work().await.unwrap();
    assert!(app.engage_calls().await.is_empty(), "never through Engage Digital");
    let requests = app.zenvia.received_requests().await.unwrap();
    let body: serde_json::Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(body, json!({"token": ZENVIA_API_TOKEN, "department_id": null}));
    assert_eq!(app.store.get_thread("zenvia:hash-1").await.unwrap().owner, Owner::Agent);
    assert_eq!(flow.status().await.unwrap().remaining, 0);
}

/// Issue 25: the sweep briefs the agent of each conversation it hands over that has a bot
/// intervention, after the handover is saved, within its pace.
#[tokio::test]
async fn the_sweep_briefs_the_agent_on_the_bots_intervention() {
    let app = TestApp::spawn(Options::default()).await;
    accept_updates(&app).await;
    app.engage_takes_briefings(ResponseTemplate::new(200).set_body_json(json!({"id": "note-1"}))).await;
    let thread = ThreadState {
        categories: Some(vec![OTHER_CATEGORY.into(), BOT_CATEGORY.into()]),
        categories_at_ms: now(),
        updated_at_ms: now(),
        bot_intervention_id: Some("int-7".into()),
        bot_intervention_user_id: Some("bot-user-1".into()),
        transcript: vec![handover_core::bot::HistoryEntry::Customer("Where is my parcel?".into())],
        ..ThreadState::new("thread-briefed")
    };
    app.store.save_thread(&thread).await.unwrap();
    let flow = sweep(&app, Duration::from_secs(5)).await;
    flow.continue_work().await.unwrap();
    let calls = app.engage_calls().await;
    let notes: Vec<&String> = calls.iter().filter(|c| c.contains("intervention_comments")).collect();
    assert_eq!(notes.len(), 1, "{calls:#?}");
    assert!(notes[0].starts_with("POST /1.0/intervention_comments {intervention_id=int-7, user_id=bot-user-1, body=Handed over by the bot: the emergency switch is on."), "{}", notes[0]);
    assert!(notes[0].contains("Customer: Where is my parcel?"), "{}", notes[0]);
    // Once: a second run finds nothing left to do.
    flow.continue_work().await.unwrap();
    assert_eq!(app.engage_calls().await.iter().filter(|c| c.contains("intervention_comments")).count(), 1);
}
