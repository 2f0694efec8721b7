//! CONTRACT C16, issue 19: business hours from the platform's time sheets. The fake platform
//! serves a time sheet built around the real current time (closed now, opening in two hours;
//! or open now), and the tests check what the customer is sent, where the thread goes, the
//! requests made, and the analytics' reason. The edges (DST, midnight, holidays) are unit
//! tests of `handover_core::hours`.

use handover_core::config::{DEFAULT_HANDOVER_MESSAGE, DEFAULT_NO_AGENT_MESSAGE};
use handover_core::hours::{TimeSheet, TimeSheetRecord, render_next_open};
use handover_core::store::Owner;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

/// The day of the sample events (statistics are timed by the event).
const ANALYTICS_TODAY: &str = "from_date=22/11/2026&to_date=22/11/2026";

/// Every day's hours as one range `[now + from_h, now + to_h)` in UTC (wrapping past midnight
/// when it must, which the product reads as running into the next day).
pub(crate) fn sheet_around_now(from_hours: u32, to_hours: u32, source: &str) -> Value {
    let now = handover_core::now_millis() / 1000;
    let second = (now % 86_400) as u32;
    let range = format!("{}-{}", (second + from_hours * 3600) % 86_400, (second + to_hours * 3600) % 86_400);
    json!({
        "id": "ts-1", "active": true, "label": "Support", "source_ids": [source], "timezone": "UTC",
        "monday_hours": range, "tuesday_hours": range, "wednesday_hours": range, "thursday_hours": range,
        "friday_hours": range, "saturday_hours": range, "sunday_hours": range, "holidays": []
    })
}

/// `{next_open}` as the product renders it for that sheet now (the rendering has unit tests).
pub(crate) fn next_open_text(sheet: &Value, language: &str) -> String {
    let record: TimeSheetRecord = serde_json::from_value(sheet.clone()).unwrap();
    let sheet = TimeSheet::from_record(&record).unwrap();
    let now = jiff::Timestamp::from_millisecond(handover_core::now_millis()).unwrap();
    render_next_open(&sheet.next_open(now).unwrap(), now, language)
}

/// Business hours on (a test's own settings come after, so they win).
async fn hours_app(mut options: Options, sheets: Vec<Value>) -> TestApp {
    options.env.insert(0, ("BUSINESS_HOURS", "platform".into()));
    options.env.insert(1, ("CLOSED_MESSAGE", "Back {next_open}.".into()));
    let app = TestApp::spawn(options).await;
    platform(&app, json!([agent_on(CHAT_CHANNEL, "available", "ok")])).await;
    Mock::given(method("GET"))
        .and(path("/1.0/time_sheets"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"count": sheets.len(), "records": sheets})),
        )
        .mount(&app.engage)
        .await;
    app.bot_answers(
        json!({"replies": ["Let me find someone."], "action": "handover", "reason": "asked_for_agent"}),
    )
    .await;
    app
}

fn replies(calls: &[String]) -> Vec<String> {
    calls.iter().filter(|c| c.starts_with("POST /1.0/contents")).cloned().collect()
}

fn reply(text: &str) -> String {
    format!("POST /1.0/contents {{in_reply_to_id=c-1, body={text}, auto_submitted=true}}")
}

async fn interventions_by_reason(app: &TestApp) -> Value {
    let (_, report) = analytics_report(app, ANALYTICS_TODAY).await;
    report["interventions_by_reason"].clone()
}

#[tokio::test]
async fn closed_and_stay_the_bot_says_when_the_agents_are_back_and_keeps_the_thread() {
    let sheet = sheet_around_now(2, 10, SOURCE);
    let app = hours_app(Options::default(), vec![sheet.clone()]).await;
    app.post_webhook(content_body("ev-1", "c-1", "a person please", true)).await;
    let calls = app.engage_calls().await;
    let expected = format!("Back {}.", next_open_text(&sheet, "en"));
    assert!(expected.ends_with("(UTC)."), "{expected}");
    assert_eq!(replies(&calls), vec![reply("Let me find someone."), reply(&expected)]);
    assert!(calls.contains(&"GET /1.0/time_sheets?offset=0&limit=150".to_string()), "{calls:?}");
    // Closed: no need to ask who is available, and no recategorization.
    assert!(
        !calls.iter().any(|c| c.starts_with("GET /1.0/status") || c.contains("update_categories")),
        "{calls:?}"
    );
    assert_eq!(app.thread().await.owner, Owner::Bot);
    assert_eq!(interventions_by_reason(&app).await, json!({}));
}

#[tokio::test]
async fn a_sheet_that_never_opens_gets_the_no_agent_message_not_an_empty_date() {
    let mut never = sheet_around_now(2, 10, SOURCE);
    for day in ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] {
        never[format!("{day}_hours")] = json!("");
    }
    let app = hours_app(Options::default(), vec![never]).await;
    app.post_webhook(content_body("ev-1", "c-1", "a person please", true)).await;
    assert_eq!(
        replies(&app.engage_calls().await),
        vec![reply("Let me find someone."), reply(DEFAULT_NO_AGENT_MESSAGE)]
    );
    assert_eq!(app.thread().await.owner, Owner::Bot);
}

#[tokio::test]
async fn closed_and_handover_the_agents_find_it_when_they_open_counted_as_closed_hours() {
    let sheet = sheet_around_now(2, 10, SOURCE);
    let app = hours_app(Options::default().env("CLOSED_POLICY", "handover"), vec![sheet.clone()]).await;
    app.post_webhook(content_body("ev-1", "c-1", "a person please", true)).await;
    let calls = app.engage_calls().await;
    let expected = format!("Back {}.", next_open_text(&sheet, "en"));
    assert_eq!(replies(&calls), vec![reply("Let me find someone."), reply(&expected)]);
    assert!(calls.iter().any(|c| c.contains("update_categories")), "{calls:?}");
    assert_eq!(app.thread().await.owner, Owner::Agent);
    assert_eq!(interventions_by_reason(&app).await, json!({"closed_hours": 1}));
}

#[tokio::test]
async fn closed_and_async_only_asynchronous_sources_are_handed_over() {
    let sheet = sheet_around_now(2, 10, SOURCE);
    for (async_sources, owner) in [(SOURCE, Owner::Agent), ("another-source", Owner::Bot)] {
        let options =
            Options::default().env("CLOSED_POLICY", "async").env("ENGAGE_ASYNC_SOURCE_IDS", async_sources);
        let app = hours_app(options, vec![sheet.clone()]).await;
        app.post_webhook(content_body("ev-1", "c-1", "a person please", true)).await;
        assert_eq!(app.thread().await.owner, owner, "async sources: {async_sources}");
    }
}

#[tokio::test]
async fn the_closed_message_speaks_the_customers_language_when_a_template_exists() {
    let sheet = sheet_around_now(2, 10, SOURCE);
    let options = Options::default().env("CLOSED_MESSAGE_FR", "Nos conseillers reviennent {next_open}.");
    let app = hours_app(options, vec![sheet.clone()]).await;
    let french = content_body_with("ev-1", "c-1", "un conseiller svp", true, |m| m["language"] = json!("fr"));
    app.post_webhook(french).await;
    let expected = format!("Nos conseillers reviennent {}.", next_open_text(&sheet, "fr"));
    assert_eq!(replies(&app.engage_calls().await), vec![reply("Let me find someone."), reply(&expected)]);
}

#[tokio::test]
async fn open_now_the_handover_goes_on_as_usual_and_the_sheets_are_read_once() {
    let sheet = sheet_around_now(23, 22, SOURCE); // open from an hour ago for 23 hours
    let app = hours_app(Options::default(), vec![sheet]).await;
    app.post_webhook(content_body("ev-1", "c-1", "a person please", true)).await;
    let calls = app.engage_calls().await;
    assert_eq!(replies(&calls), vec![reply("Let me find someone."), reply(DEFAULT_HANDOVER_MESSAGE)]);
    assert_eq!(app.thread().await.owner, Owner::Agent);

    // Another conversation: the time sheets are reused (per container, like the channels).
    let other =
        content_body_with("ev-2", "c-2", "a person please", true, |m| m["thread_id"] = json!("thread-2"));
    app.post_webhook(other).await;
    let reads = app.engage_calls().await.iter().filter(|c| c.starts_with("GET /1.0/time_sheets")).count();
    assert_eq!(reads, 1);
}

#[tokio::test]
async fn a_source_no_sheet_covers_and_an_unreadable_answer_are_taken_as_open() {
    // The only sheet covers another source.
    let app = hours_app(Options::default(), vec![sheet_around_now(2, 10, "another-source")]).await;
    app.post_webhook(content_body("ev-1", "c-1", "a person please", true)).await;
    assert_eq!(app.thread().await.owner, Owner::Agent);

    // A token that may not read time sheets (403): business hours off, the handover goes on.
    let app = TestApp::spawn(Options::default().env("BUSINESS_HOURS", "platform")).await;
    Mock::given(method("GET"))
        .and(path("/1.0/time_sheets"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({"error": "forbidden"})))
        .mount(&app.engage)
        .await;
    platform(&app, json!([])).await;
    app.bot_answers(json!({"replies": [], "action": "handover", "reason": "asked_for_agent"})).await;
    app.post_webhook(content_body("ev-1", "c-1", "a person please", true)).await;
    // Nobody available (not closed): the usual no-agent message.
    assert_eq!(replies(&app.engage_calls().await), vec![reply(DEFAULT_NO_AGENT_MESSAGE)]);
    assert!(app.dead_letters().is_empty());
}

#[tokio::test]
async fn business_hours_off_never_reads_the_time_sheets() {
    let app =
        hours_app(Options::default().env("BUSINESS_HOURS", "off"), vec![sheet_around_now(2, 10, SOURCE)])
            .await;
    app.post_webhook(content_body("ev-1", "c-1", "a person please", true)).await;
    let calls = app.engage_calls().await;
    assert!(!calls.iter().any(|c| c.contains("time_sheets")), "{calls:?}");
    assert_eq!(app.thread().await.owner, Owner::Agent);
}
