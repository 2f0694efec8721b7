//! `TestApp`: one dev server per test on a random loopback port, with its own fake Engage
//! Digital and fake bot (wiremock, real HTTP) and its own store (memory or a fresh DynamoDB
//! Local table).

use std::collections::HashMap;
use std::sync::Arc;

use handover::Functions;
use handover_core::config::{EmergencySettings, WebhookAuth};
use handover_core::edge::emergency::Authorization;
use handover_core::edge::engage::EngageReceiver;
use handover_core::edge::zenvia::ZenviaReceiver;
use handover_core::queue::{InProcessQueue, JobQueue};
use handover_core::retry::Backoff;
use handover_core::secret::Secret;
use std::sync::atomic::{AtomicUsize, Ordering};

use handover_core::store::{
    DynamoStore, EmergencyState, EventRecord, EventStore, Generation, HourStats, Journal, Lease, MemoryStore,
    Span, StatsEntry, StatsStore, Store, StoreError, SummariesRead, Summary, SweepStore, SwitchStore,
    ThreadState, ThreadStore,
};
use handover_core::wiring;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

pub const ACCESS_TOKEN: &str = "sample-access-token-7f3a";
pub const VERIFY_TOKEN: &str = "sample-verify-token";
pub const EMERGENCY_TOKEN: &str = "test-emergency-token-5d2";
pub const ANALYTICS_TOKEN: &str = "sample-analytics-token";
pub const ZENVIA_API_TOKEN: &str = "zenvia-api-token-81c";
pub const ZENVIA_WEBHOOK_TOKEN: &str = "sample-zenvia-webhook-token";
pub const BOT_CATEGORY: &str = "5be59e0a13047d01f46caa62";
pub const AGENT_CATEGORY: &str = "5be59e0a13047d01f46caa63";
pub const OTHER_CATEGORY: &str = "5bdcb766799fc227748f4453";
pub const SOURCE: &str = "5b3b6562d6cb00f93fe59c9f";
pub const THREAD: &str = "5be5ae57d6cb009bde8e5674";
pub const AUTHOR: &str = "5b8eaf1813047d298f940265";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    Memory,
    Dynamo,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BotKind {
    /// The fake bot over HTTP (requests counted).
    Http,
    /// The shipped keyword rules.
    Builtin,
    /// `BOT_BACKEND=openai` with the `bot` fake as the model server (`/v1/chat/completions`).
    OpenAi,
    /// `BOT_BACKEND=lex` with the `bot` fake as Lex's runtime endpoint.
    Lex,
}

pub const LLM_API_KEY: &str = "sk-test-llm-key-3c9d";
pub const LLM_MODEL: &str = "test-model";
pub const LEX_BOT_ID: &str = "BOTID12345";
pub const LEX_ALIAS_ID: &str = "ALIAS12345";

pub struct TestApp {
    pub engage: MockServer,
    pub zenvia: MockServer,
    pub bot: MockServer,
    pub store: Arc<dyn Store>,
    pub functions: Functions,
    pub address: String,
    pub http: reqwest::Client,
}

pub struct Options {
    pub store: StoreKind,
    /// Faults to inject into the store (see [`StoreFaults`]).
    pub faults: Option<Arc<StoreFaults>>,
    /// Counts the DynamoDB requests (with `StoreKind::Dynamo`).
    pub meter: Option<handover_testkit::meter::DynamoMeter>,
    pub bot: BotKind,
    pub env: Vec<(&'static str, String)>,
    /// The queue's retries (default: [`test_retry_policy`]).
    pub delivery: Option<Backoff>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            store: StoreKind::Memory,
            faults: None,
            meter: None,
            bot: BotKind::Http,
            env: vec![],
            delivery: None,
        }
    }
}

impl Options {
    pub fn store(mut self, store: StoreKind) -> Self {
        self.store = store;
        self
    }
    pub fn metered(mut self, meter: &handover_testkit::meter::DynamoMeter) -> Self {
        self.store = StoreKind::Dynamo;
        self.meter = Some(meter.clone());
        self
    }
    pub fn delivery(mut self, delivery: Backoff) -> Self {
        self.delivery = Some(delivery);
        self
    }
    pub fn faults(mut self, faults: &Arc<StoreFaults>) -> Self {
        self.faults = Some(faults.clone());
        self
    }
    pub fn bot(mut self, bot: BotKind) -> Self {
        self.bot = bot;
        self
    }
    pub fn env(mut self, name: &'static str, value: &str) -> Self {
        self.env.push((name, value.to_string()));
        self
    }
}

/// Five attempts, as in AWS, but 20 ms apart at first instead of 2 s.
pub fn test_retry_policy() -> Backoff {
    Backoff {
        attempts: 5,
        first: std::time::Duration::from_millis(20),
        max: std::time::Duration::from_secs(1),
    }
}

pub async fn new_store(kind: StoreKind) -> Arc<dyn Store> {
    metered_store(kind, None).await
}

async fn metered_store(
    kind: StoreKind,
    meter: Option<&handover_testkit::meter::DynamoMeter>,
) -> Arc<dyn Store> {
    use handover_testkit::dynamodb_local;
    match (kind, meter) {
        (StoreKind::Memory, _) => Arc::new(MemoryStore::new()),
        (StoreKind::Dynamo, None) => {
            let (client, table) = dynamodb_local::fresh_table().await;
            Arc::new(DynamoStore::new(client, table))
        }
        (StoreKind::Dynamo, Some(meter)) => {
            let (client, table) =
                dynamodb_local::fresh_table_with(dynamodb_local::metered_client(meter)).await;
            Arc::new(DynamoStore::new(client, table))
        }
    }
}

impl TestApp {
    pub async fn spawn(options: Options) -> Self {
        let engage = MockServer::start().await;
        let bot = MockServer::start().await;
        let zenvia = MockServer::start().await;
        let mut env: HashMap<String, String> = HashMap::from([
            ("ENGAGE_API_URL".into(), format!("{}/1.0", engage.uri())),
            ("ENGAGE_ACCESS_TOKEN".into(), ACCESS_TOKEN.into()),
            ("ENGAGE_VERIFY_TOKEN".into(), VERIFY_TOKEN.into()),
            ("BOT_CATEGORY_ID".into(), BOT_CATEGORY.into()),
            ("AGENT_CATEGORY_ID".into(), AGENT_CATEGORY.into()),
            ("BOT_TIMEOUT_MS".into(), "1000".into()),
            ("EMERGENCY_CACHE_SECONDS".into(), "0".into()),
            ("EMERGENCY_REQUESTS_PER_MINUTE".into(), "450".into()),
            ("ZENVIA_API_URL".into(), format!("{}/core/api/v1", zenvia.uri())),
            ("ZENVIA_API_TOKEN".into(), ZENVIA_API_TOKEN.into()),
            ("ZENVIA_WEBHOOK_TOKEN".into(), ZENVIA_WEBHOOK_TOKEN.into()),
            // Business hours have their own tests (`hours.rs`); elsewhere the fake platform
            // has no time sheets to serve.
            ("BUSINESS_HOURS".into(), "off".into()),
            // The agent's briefing too (`briefing.rs`): elsewhere a handover makes no comment.
            ("AGENT_BRIEFING".into(), "off".into()),
        ]);
        let backend: &[(&str, String)] = match options.bot {
            BotKind::Builtin => &[],
            BotKind::Http => &[("BOT_BACKEND", "http".into()), ("BOT_URL", format!("{}/bot", bot.uri()))],
            BotKind::OpenAi => &[
                ("BOT_BACKEND", "openai".into()),
                ("LLM_BASE_URL", format!("{}/v1", bot.uri())),
                ("LLM_API_KEY", LLM_API_KEY.into()),
                ("LLM_MODEL", LLM_MODEL.into()),
            ],
            BotKind::Lex => &[
                ("BOT_BACKEND", "lex".into()),
                ("LEX_ENDPOINT", bot.uri()),
                ("LEX_BOT_ID", LEX_BOT_ID.into()),
                ("LEX_BOT_ALIAS_ID", LEX_ALIAS_ID.into()),
                ("LEX_LOCALE_ID", "en_US".into()),
                ("LEX_LOCALES", "fr=fr_FR".into()),
                ("LEX_HANDOVER_INTENT", "TalkToAgent".into()),
                ("LEX_RESOLVE_INTENTS", "Goodbye".into()),
            ],
        };
        for (name, value) in backend {
            env.insert(name.to_string(), value.clone());
        }
        for (name, value) in options.env {
            env.insert(name.into(), value);
        }
        let mut store = metered_store(options.store, options.meter.as_ref()).await;
        if let Some(faults) = options.faults {
            store = Arc::new(FaultyStore { inner: store, faults });
        }
        let mut processor = wiring::processor(
            wiring::ProcessorSettings::from_env(&env).expect("test configuration is valid"),
            store.clone(),
            &wiring::http_client(),
        )
        .await
        .expect("test configuration is valid");
        processor.delivery = options.delivery.unwrap_or_else(test_retry_policy);
        let processor = Arc::new(processor);
        // The dev server's queue, retrying quickly so that faults resolve within a test.
        let queue = InProcessQueue::new(processor.clone());
        let shared_queue: Arc<dyn JobQueue> = Arc::new(queue.clone());
        let receiver = EngageReceiver::new(
            WebhookAuth::from_env(&env).expect("test configuration is valid"),
            shared_queue.clone(),
        );
        let emergency_settings = EmergencySettings::from_env(&env).expect("test configuration is valid");
        let emergency = wiring::emergency_flow(emergency_settings, store.clone(), &wiring::http_client())
            .telling(processor.emergency.clone());
        let functions = Functions {
            engage: Arc::new(receiver),
            processor,
            queue: Some(queue),
            emergency: Arc::new(emergency),
            emergency_authorization: Arc::new(Authorization::Bearer(Secret::new(EMERGENCY_TOKEN))),
            zenvia: Some(Arc::new(ZenviaReceiver {
                webhook_token: Secret::new(ZENVIA_WEBHOOK_TOKEN),
                queue: shared_queue,
            })),
            store: store.clone(),
            analytics_token: Some(Secret::new(ANALYTICS_TOKEN)),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let router = handover::router(functions.clone());
        // The server task ends with the test's runtime.
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { engage, zenvia, bot, store, functions, address, http: reqwest::Client::new() }
    }

    /// Posts a webhook body and waits until what it queued is processed.
    pub async fn post_webhook(&self, body: impl Into<String>) -> reqwest::Response {
        let response = self.post_webhook_no_wait(body).await;
        self.settle().await;
        response
    }

    /// Posts a webhook body; its events may still be queued when this returns.
    pub async fn post_webhook_no_wait(&self, body: impl Into<String>) -> reqwest::Response {
        self.http
            .post(format!("{}/engage/webhook", self.address))
            .header("content-type", "application/json")
            .body(body.into())
            .send()
            .await
            .expect("the dev server answers")
    }

    /// Waits until every queued event is processed or dead-lettered.
    pub async fn settle(&self) {
        self.functions.settle().await;
    }

    /// The events given up after their last attempt.
    pub fn dead_letters(&self) -> Vec<handover_core::queue::DeadLetter> {
        self.functions.queue.as_ref().expect("in-process queue").snapshot().dead_letters
    }

    pub async fn get(&self, path_and_query: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{}", self.address, path_and_query))
            .send()
            .await
            .expect("the dev server answers")
    }

    /// The sample thread's state (version 0: never saved).
    pub async fn thread(&self) -> ThreadState {
        self.store.get_thread(THREAD).await.unwrap()
    }

    /// The fake platform answering every call the product makes with a success.
    pub async fn engage_accepts_everything(&self) {
        Mock::given(method("GET"))
            .and(path("/1.0/content_sources"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"count": 0, "records": []})))
            .mount(&self.engage)
            .await;
        Mock::given(method("POST"))
            .and(path("/1.0/interventions"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"id": "int-1", "closed": false, "thread_id": THREAD})),
            )
            .mount(&self.engage)
            .await;
        Mock::given(method("POST"))
            .and(path("/1.0/contents"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({"id": "reply-1", "thread_id": THREAD})),
            )
            .mount(&self.engage)
            .await;
        // The thread's latest contents, read after a reply's uncertain outcome: none here.
        Mock::given(method("GET"))
            .and(path("/1.0/contents"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"count": 0, "records": []})))
            .mount(&self.engage)
            .await;
        Mock::given(method("PUT"))
            .and(path_regex(r"^/1\.0/interventions/[^/]+/close$"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "int-1", "closed": true})))
            .mount(&self.engage)
            .await;
        Mock::given(method("PUT"))
            .and(path_regex(r"^/1\.0/content_threads/[^/]+/close$"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": THREAD, "closed": false})))
            .mount(&self.engage)
            .await;
    }

    /// The fake platform's side of the agent's briefing: interventions opened as the bot's user
    /// `bot-user-1`, comments accepted (`comments`: the answer to them).
    pub async fn engage_takes_briefings(&self, comments: ResponseTemplate) {
        Mock::given(method("POST"))
            .and(path("/1.0/interventions"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({"id": "int-1", "user_id": "bot-user-1"})),
            )
            .with_priority(1)
            .mount(&self.engage)
            .await;
        Mock::given(method("POST"))
            .and(path("/1.0/intervention_comments"))
            .respond_with(comments)
            .mount(&self.engage)
            .await;
    }

    /// The fake bot answering every message with `answer`.
    pub async fn bot_answers(&self, answer: Value) {
        Mock::given(method("POST"))
            .and(path("/bot"))
            .respond_with(ResponseTemplate::new(200).set_body_json(answer))
            .mount(&self.bot)
            .await;
    }

    /// Every call Engage Digital received, as `METHOD /path?query {form}` lines, in order.
    /// Also checks that each carried the token in the header and never in the URL.
    pub async fn engage_calls(&self) -> Vec<String> {
        let requests = self.engage.received_requests().await.unwrap_or_default();
        requests.iter().map(describe_engage_call).collect()
    }

    pub async fn bot_requests(&self) -> Vec<Value> {
        let requests = self.bot.received_requests().await.unwrap_or_default();
        requests.iter().map(|r| serde_json::from_slice(&r.body).expect("the bot gets JSON")).collect()
    }
}

fn describe_engage_call(request: &Request) -> String {
    let auth = request.headers.get("authorization").and_then(|v| v.to_str().ok());
    assert_eq!(
        auth,
        Some(format!("Bearer {ACCESS_TOKEN}").as_str()),
        "every Engage call carries the bearer token"
    );
    assert!(!request.url.as_str().contains(ACCESS_TOKEN), "the token never appears in a URL");
    let mut line = format!("{} {}", request.method, request.url.path());
    if let Some(query) = request.url.query() {
        line.push('?');
        line.push_str(
            &form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&"),
        );
    }
    if !request.body.is_empty() {
        let form: Vec<String> =
            form_urlencoded::parse(&request.body).map(|(k, v)| format!("{k}={v}")).collect();
        line.push_str(&format!(" {{{}}}", form.join(", ")));
    }
    line
}

/// `GET /analytics/agent_intervention.json?<query>` with the analytics token: status and body.
pub async fn analytics_report(app: &TestApp, query: &str) -> (u16, Value) {
    let response = app
        .http
        .get(format!("{}/analytics/agent_intervention.json?{query}", app.address))
        .header("Access-Token", ANALYTICS_TOKEN)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// A `content.imported` webhook body for the sample thread.
pub fn content_body(event_id: &str, content_id: &str, text: &str, first: bool) -> String {
    content_body_with(event_id, content_id, text, first, |_| {})
}

/// The same, with the event's metadata adjusted by `edit`.
pub fn content_body_with(
    event_id: &str,
    content_id: &str,
    text: &str,
    first: bool,
    edit: impl FnOnce(&mut Value),
) -> String {
    let mut metadata = json!({
        "approval_required": false, "author_id": AUTHOR, "body": text, "body_input_format": "text",
        "creator_id": null, "first_in_thread": first, "foreign_categories": [],
        "category_ids": [OTHER_CATEGORY, BOT_CATEGORY], "intervention_id": null, "language": "en",
        "source_id": SOURCE, "status": "assigned", "thread_id": THREAD, "private": true
    });
    edit(&mut metadata);
    json!({
        "id": "50df05692c64ac7799f09a98",
        "domain_id": "582af25a799fc247acfcde38",
        "events": [{
            "type": "content.imported", "id": event_id, "issued_at": "2026-11-22T10:00:00.000Z",
            "resource": {"type": "chat/message", "id": content_id, "metadata": metadata}
        }]
    })
    .to_string()
}

pub const CHAT_CHANNEL: &str = "55794bda416472d4e8060000";
pub const OTHER_CHANNEL: &str = "55794bd9416472d4e8050000";

pub fn agent_on(channel: &str, status: &str, busyness: &str) -> Value {
    json!({"agent_id": "4f4f3a08a90ffb27ee000583", "channels": [
        {"id": channel, "name": "Chat", "status": status, "busyness": busyness}
    ], "custom_status": null})
}

/// A platform with the sample thread in the BOT category, its source in the chat channel, and
/// `agents` connected.
pub async fn platform(app: &TestApp, agents: Value) {
    Mock::given(method("GET"))
        .and(path("/1.0/channels"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"count": 2, "records": [
            {"id": OTHER_CHANNEL, "name": "Async", "source_ids": ["another-source"]},
            {"id": CHAT_CHANNEL, "name": "Realtime", "source_ids": [SOURCE]}
        ]})))
        .mount(&app.engage)
        .await;
    Mock::given(method("GET"))
        .and(path("/1.0/status"))
        .respond_with(ResponseTemplate::new(200).set_body_json(agents))
        .mount(&app.engage)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/1.0/content_threads/{THREAD}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": THREAD, "source_id": SOURCE, "closed": false,
            "thread_category_ids": [OTHER_CATEGORY, BOT_CATEGORY]
        })))
        .mount(&app.engage)
        .await;
    Mock::given(method("PUT"))
        .and(path(format!("/1.0/content_threads/{THREAD}/update_categories")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": THREAD})))
        .mount(&app.engage)
        .await;
    app.engage_accepts_everything().await;
}

/// Store faults as production delivers them, each armed for a number of occurrences; and
/// every journal the store was asked to save, to check what is kept of a finished event.
#[derive(Default)]
pub struct StoreFaults {
    /// The next claims (first writes of an event's record) fail: DynamoDB unavailable.
    pub failed_claims: AtomicUsize,
    /// The next commits are carried out, then their answer is lost and the SDK's retry meets
    /// the write as a failed condition (a conflict).
    pub commits_meeting_their_own_write: AtomicUsize,
    /// The next commits are carried out, then reported unavailable (the answer lost).
    pub commits_answer_lost: AtomicUsize,
    pub journals_saved: std::sync::Mutex<Vec<Journal>>,
}

fn take(counter: &AtomicUsize) -> bool {
    counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
}

/// A store whose writes fail as [`StoreFaults`] says; everything else as the store it wraps.
pub struct FaultyStore {
    inner: Arc<dyn Store>,
    faults: Arc<StoreFaults>,
}

#[async_trait::async_trait]
impl ThreadStore for FaultyStore {
    async fn get_thread(&self, thread_id: &str) -> Result<ThreadState, StoreError> {
        self.inner.get_thread(thread_id).await
    }
    async fn save_thread(&self, thread: &ThreadState) -> Result<(), StoreError> {
        self.inner.save_thread(thread).await
    }
}

#[async_trait::async_trait]
impl EventStore for FaultyStore {
    async fn load_event(
        &self,
        thread: &str,
        event: &str,
    ) -> Result<(ThreadState, Option<EventRecord>), StoreError> {
        self.inner.load_event(thread, event).await
    }
    async fn save_journal(&self, lease: &mut Lease, journal: &Journal) -> Result<(), StoreError> {
        if !lease.written && take(&self.faults.failed_claims) {
            return Err(StoreError::Unavailable("injected: the claim's write failed".into()));
        }
        self.faults.journals_saved.lock().unwrap().push(journal.clone());
        self.inner.save_journal(lease, journal).await
    }
    async fn release_event(&self, lease: &Lease, journal: &Journal) -> Result<(), StoreError> {
        self.inner.release_event(lease, journal).await
    }
    async fn finish_event(&self, lease: &Lease, thread: Option<&ThreadState>) -> Result<(), StoreError> {
        self.inner.finish_event(lease, thread).await?;
        if thread.is_some() && take(&self.faults.commits_meeting_their_own_write) {
            return Err(StoreError::ThreadConflict(lease.thread_id.clone()));
        }
        if take(&self.faults.commits_answer_lost) {
            return Err(StoreError::Unavailable("injected: the commit's answer was lost".into()));
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl StatsStore for FaultyStore {
    async fn record_stats(&self, entries: &[StatsEntry], now_ms: i64) -> Result<(), StoreError> {
        self.inner.record_stats(entries, now_ms).await
    }
    async fn read_stats(&self, from: i64, to: i64) -> Result<Vec<HourStats>, StoreError> {
        self.inner.read_stats(from, to).await
    }
    async fn read_summaries(&self, spans: &[Span]) -> Result<SummariesRead, StoreError> {
        self.inner.read_summaries(spans).await
    }
    async fn write_summary(&self, summary: &Summary, read: Generation) -> Result<(), StoreError> {
        self.inner.write_summary(summary, read).await
    }
}

#[async_trait::async_trait]
impl SwitchStore for FaultyStore {
    async fn get_emergency(&self) -> Result<EmergencyState, StoreError> {
        self.inner.get_emergency().await
    }
    async fn set_emergency(&self, state: &EmergencyState) -> Result<u64, StoreError> {
        self.inner.set_emergency(state).await
    }
}

#[async_trait::async_trait]
impl SweepStore for FaultyStore {
    async fn bot_owned_threads(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<String>, Option<String>), StoreError> {
        self.inner.bot_owned_threads(after, limit).await
    }
    async fn count_bot_owned(&self) -> Result<u64, StoreError> {
        self.inner.count_bot_owned().await
    }
    async fn leave_bot_index(&self, thread: &ThreadState) -> Result<(), StoreError> {
        self.inner.leave_bot_index(thread).await
    }
}
