//! Faults at every step (issue 10). A fault point is "the k-th action", an action being a
//! platform call or a store write; the fake platform and the store wrapper share one
//! countdown, and at the fault point one of these happens:
//!
//! - `Kill`: the action does not happen and the delivery dies there (the task is aborted, as a
//!   killed process would stop: no release). Its lease expires (time is moved forward through
//!   the store, no sleeping) and the platform redelivers.
//! - `Fail`: the platform answers `503`, or the store is unavailable: the webhook answers with
//!   a retryable error, and the platform redelivers.
//! - `RateLimit`: the platform answers `429` once (calls that retry inside recover).
//! - `NoAnswer`: the platform performs the call but answers too late (a timeout): the caller
//!   cannot know it happened.
//! - `PerformedThen502`: the platform performs the call, then a proxy answers `502`; a store
//!   write is carried out and its answer lost.
//!
//! For every fault point and kind, after the redelivery the work is done exactly once: one
//! intervention, each message once, one recategorization. Statistics writes are fault points
//! too: they never make the event fail.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Request, State};
use axum::routing::any;
use handover_core::config::WebhookSettings;
use handover_core::engage::{Envelope, WebhookEvent};
use handover_core::flow::EngageFlow;
use handover_core::store::{
    EmergencyState, EventRecord, EventStore, Generation, HourStats, Journal, Lease, MemoryStore, Owner, Span,
    StatsEntry, StatsStore, Store, StoreError, SummariesRead, Summary, SweepStore, SwitchStore, ThreadState,
    ThreadStore,
};
use handover_core::wiring;
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::helpers::{AGENT_CATEGORY, BOT_CATEGORY, OTHER_CATEGORY, SOURCE, StoreKind, THREAD, new_store};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    Kill,
    Fail,
    RateLimit,
    NoAnswer,
    PerformedThen502,
}

/// Counts actions down to the fault point.
pub(crate) struct Killer {
    pub remaining: AtomicUsize,
    pub killed: Notify,
    pub fault: Fault,
    /// The fault point was reached.
    pub hit: std::sync::atomic::AtomicBool,
}

impl Killer {
    /// `true`: this action is the fault point.
    pub fn is_kill_point(&self) -> bool {
        let before = self.remaining.fetch_sub(1, Ordering::SeqCst);
        if before == 1 {
            self.hit.store(true, Ordering::SeqCst);
            if self.fault == Fault::Kill {
                self.killed.notify_one();
            }
            return true;
        }
        false
    }

    pub async fn die_here(&self) -> ! {
        std::future::pending::<()>().await;
        unreachable!()
    }
}

/// The platform as far as this scenario goes, recording what it performed.
#[derive(Default)]
struct Platform {
    performed: Vec<String>,
    categories: Vec<String>,
    /// Content id to the intervention opened on it.
    interventions: HashMap<String, String>,
    /// (content replied to) of every reply.
    replies: Vec<String>,
    intervention_closed: bool,
    thread_closed: bool,
    /// The bodies of the comments on the intervention.
    notes: Vec<String>,
}

type Shared = (Arc<Mutex<Platform>>, Arc<Killer>);

async fn platform_answer(
    State((platform, killer)): State<Shared>,
    request: Request,
) -> (axum::http::StatusCode, axum::Json<Value>) {
    let method = request.method().to_string();
    let uri = request.uri().clone();
    let path = uri.path().to_string();
    let body = axum::body::to_bytes(request.into_body(), 1 << 20).await.unwrap();
    let form: HashMap<String, Vec<String>> =
        form_urlencoded::parse(&body).fold(HashMap::new(), |mut map, (k, v)| {
            map.entry(k.into_owned()).or_default().push(v.into_owned());
            map
        });
    let late = if killer.is_kill_point() {
        match killer.fault {
            Fault::Kill => killer.die_here().await,
            Fault::Fail => return failure(503, "unavailable"),
            Fault::RateLimit => return failure(429, "rate_limit_exceeded"),
            Fault::NoAnswer => true,
            Fault::PerformedThen502 => {
                let _ = perform(&platform, &method, &path, uri.query(), &form);
                return failure(502, "bad_gateway");
            }
        }
    } else {
        false
    };
    let answer = perform(&platform, &method, &path, uri.query(), &form);
    if late {
        // Performed, but the answer comes after the caller gave up.
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    }
    match answer {
        Ok(answer) => (axum::http::StatusCode::OK, axum::Json(answer)),
        Err(status) => failure(status, "forbidden"),
    }
}

pub(crate) fn failure(status: u16, error: &str) -> (axum::http::StatusCode, axum::Json<Value>) {
    let body = json!({"error": error, "message": "injected", "status": status});
    (axum::http::StatusCode::from_u16(status).unwrap(), axum::Json(body))
}

fn perform(
    platform: &Mutex<Platform>,
    method: &str,
    path: &str,
    query: Option<&str>,
    form: &HashMap<String, Vec<String>>,
) -> Result<Value, u16> {
    let mut p = platform.lock().unwrap();
    Ok(match (method, path) {
        ("POST", "/1.0/interventions") => {
            let content = form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .find(|(k, _)| k == "content_id")
                .map(|(_, v)| v.into_owned())
                .unwrap();
            // As the platform documents it: creating an intervention on a content that has an
            // open one returns that one ("creates a new intervention or reopens an existing one").
            if !p.interventions.contains_key(&content) {
                p.performed.push("open intervention".into());
                p.interventions.insert(content, "int-1".into());
            }
            json!({"id": "int-1", "user_id": "bot-user"})
        }
        ("POST", "/1.0/contents") => {
            p.performed.push(format!("reply {}", form["body"][0]));
            p.replies.push(form["in_reply_to_id"][0].clone());
            json!({"id": format!("reply-{}", p.replies.len())})
        }
        ("GET", "/1.0/contents") => {
            let records: Vec<Value> =
                p.replies.iter().map(|to| json!({"id": "r", "in_reply_to_id": to})).collect();
            json!({"records": records})
        }
        ("GET", p_) if p_.starts_with("/1.0/contents/") => {
            let id = p_.trim_start_matches("/1.0/contents/");
            json!({"id": id, "intervention_id": p.interventions.get(id)})
        }
        ("POST", "/1.0/intervention_comments") => {
            assert_eq!(
                (form["intervention_id"][0].as_str(), form["user_id"][0].as_str()),
                ("int-1", "bot-user")
            );
            p.performed.push("note".into());
            p.notes.push(form["body"][0].clone());
            json!({"id": format!("note-{}", p.notes.len())})
        }
        ("GET", "/1.0/intervention_comments") => {
            let records: Vec<Value> = p.notes.iter().map(|body| json!({"id": "n", "body": body})).collect();
            json!({"records": records})
        }
        ("GET", "/1.0/interventions/int-1") => json!({"id": "int-1", "user_id": "bot-user"}),
        ("GET", "/1.0/channels") => json!({"records": [{"id": "chat", "source_ids": [SOURCE]}]}),
        ("GET", "/1.0/status") => {
            json!([{"agent_id": "a", "channels": [{"id": "chat", "status": "available", "busyness": "ok"}]}])
        }
        ("GET", _) => json!({"id": THREAD, "thread_category_ids": p.categories}),
        // Closing what is closed is refused, as the platform does (403).
        ("PUT", "/1.0/interventions/int-1/close") => {
            if std::mem::replace(&mut p.intervention_closed, true) {
                return Err(403);
            }
            p.performed.push("close intervention".into());
            json!({"id": "int-1", "closed": true})
        }
        ("PUT", p_) if p_.ends_with("/close") => {
            if std::mem::replace(&mut p.thread_closed, true) {
                return Err(403);
            }
            p.performed.push("close thread".into());
            json!({"id": THREAD, "closed": false})
        }
        ("PUT", _) => {
            p.performed.push(format!("recategorize {:?}", form["thread_category_ids[]"]));
            p.categories = form["thread_category_ids[]"].clone();
            json!({"id": THREAD})
        }
        other => panic!("unexpected call {other:?}"),
    })
}

/// The store, with a clock that can be moved forward and writes that count as actions.
pub(crate) struct CrashableStore {
    pub inner: Arc<dyn Store>,
    pub skew_ms: AtomicI64,
    pub killer: Arc<Killer>,
}

impl CrashableStore {
    /// `write`, unless this action is the fault point.
    async fn action<T>(
        &self,
        write: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        if self.killer.is_kill_point() {
            match self.killer.fault {
                Fault::Kill => self.killer.die_here().await,
                // Carried out, its answer lost.
                Fault::PerformedThen502 | Fault::NoAnswer => {
                    write.await?;
                    return Err(StoreError::Unavailable("injected: the answer was lost".into()));
                }
                // DynamoDB unavailable or throttled beyond the SDK's own retries.
                _ => return Err(StoreError::Unavailable("injected".into())),
            }
        }
        write.await
    }
}

#[async_trait::async_trait]
impl ThreadStore for CrashableStore {
    async fn get_thread(&self, thread_id: &str) -> Result<ThreadState, StoreError> {
        self.inner.get_thread(thread_id).await
    }
    async fn save_thread(&self, thread: &ThreadState) -> Result<(), StoreError> {
        self.inner.save_thread(thread).await
    }
}

#[async_trait::async_trait]
impl EventStore for CrashableStore {
    /// Loads as stored, seen `skew_ms` later: a lease that would have expired by then has.
    async fn load_event(
        &self,
        thread: &str,
        event: &str,
    ) -> Result<(ThreadState, Option<EventRecord>), StoreError> {
        let skew = self.skew_ms.load(Ordering::SeqCst);
        let (thread, record) = self.inner.load_event(thread, event).await?;
        let aged = |until: i64| if until > 0 { (until - skew).max(1) } else { until };
        let record = record.map(|r| EventRecord { lease_until: aged(r.lease_until), ..r });
        Ok((thread, record))
    }
    async fn save_journal(&self, lease: &mut Lease, journal: &Journal) -> Result<(), StoreError> {
        if !lease.written && lease.replaces.is_some_and(|until| until > 0) {
            // The takeover is conditional on the lease as stored, not as aged above.
            let (_, record) = self.inner.load_event(&lease.thread_id, &lease.event_id).await?;
            lease.replaces = record.map(|r| r.lease_until);
        }
        self.action(self.inner.save_journal(lease, journal)).await
    }
    async fn finish_event(&self, lease: &Lease, thread: Option<&ThreadState>) -> Result<(), StoreError> {
        self.action(self.inner.finish_event(lease, thread)).await
    }
    async fn release_event(&self, lease: &Lease, journal: &Journal) -> Result<(), StoreError> {
        self.inner.release_event(lease, journal).await
    }
}

#[async_trait::async_trait]
impl StatsStore for CrashableStore {
    async fn record_stats(&self, entries: &[StatsEntry], now_ms: i64) -> Result<(), StoreError> {
        self.action(self.inner.record_stats(entries, now_ms)).await
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
impl SwitchStore for CrashableStore {
    async fn get_emergency(&self) -> Result<EmergencyState, StoreError> {
        self.inner.get_emergency().await
    }
    async fn set_emergency(&self, state: &EmergencyState) -> Result<u64, StoreError> {
        self.inner.set_emergency(state).await
    }
}

#[async_trait::async_trait]
impl SweepStore for CrashableStore {
    async fn bot_owned_threads(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<String>, Option<String>), StoreError> {
        self.inner.bot_owned_threads(after, limit).await
    }
    async fn leave_bot_index(&self, thread: &ThreadState) -> Result<(), StoreError> {
        self.inner.leave_bot_index(thread).await
    }
    async fn count_bot_owned(&self) -> Result<u64, StoreError> {
        self.inner.count_bot_owned().await
    }
}

/// An event whose processing makes every effect of its kind: a first message handed over
/// (the intervention, the replies, the recategorization), one resolved ("bye", the thread
/// closed too), and an agent's closed intervention giving the thread back to the bot.
struct Scenario {
    name: &'static str,
    event: WebhookEvent,
    env: &'static [(&'static str, &'static str)],
    /// The thread as the store holds it before (`None`: never seen).
    before: Option<ThreadState>,
    /// The thread's categories on the platform before.
    categories: [&'static str; 2],
    expected: Vec<String>,
    /// The thread after: its owner, bot turns and bot intervention.
    after: (Owner, u32, Option<&'static str>),
}

fn handover_scenario() -> Scenario {
    Scenario {
        name: "handover",
        event: first_message("I want to talk to a human"),
        env: &[],
        before: None,
        categories: [OTHER_CATEGORY, BOT_CATEGORY],
        expected: vec![
            "open intervention".to_string(),
            "reply One moment".to_string(),
            "note".to_string(),
            format!("recategorize {:?}", vec![OTHER_CATEGORY, AGENT_CATEGORY]),
        ],
        after: (Owner::Agent, 1, Some("int-1")),
    }
}

fn resolve_scenario() -> Scenario {
    Scenario {
        name: "resolve",
        event: first_message("bye"),
        env: &[("CLOSE_THREAD_ON_RESOLVE", "true")],
        before: None,
        categories: [OTHER_CATEGORY, BOT_CATEGORY],
        expected: [
            "open intervention",
            "reply Glad I could help. Goodbye!",
            "close intervention",
            "close thread",
        ]
        .map(String::from)
        .to_vec(),
        after: (Owner::Bot, 1, None),
    }
}

fn rebot_scenario() -> Scenario {
    let body = json!({"events": [{"type": "intervention.closed", "id": "ev-closed", "issued_at": "2026-11-22T11:00:00Z",
        "resource": {"type": "intervention", "id": "agent-int", "metadata": {
            "thread_id": THREAD, "category_ids": [OTHER_CATEGORY, AGENT_CATEGORY], "source_id": SOURCE, "user_id": "agent"}}}]});
    let with_agents = ThreadState {
        owner: Owner::Agent,
        categories: Some(vec![OTHER_CATEGORY.into(), AGENT_CATEGORY.into()]),
        owner_changed_at: Some("2026-11-22T10:00:00Z".into()),
        ..ThreadState::new(THREAD)
    };
    Scenario {
        name: "rebot",
        event: Envelope::parse(body.to_string().as_bytes()).unwrap().events.remove(0),
        env: &[],
        before: Some(with_agents),
        categories: [OTHER_CATEGORY, AGENT_CATEGORY],
        expected: vec![format!("recategorize {:?}", vec![OTHER_CATEGORY, BOT_CATEGORY])],
        after: (Owner::Bot, 0, None),
    }
}

fn first_message(text: &str) -> WebhookEvent {
    let body = json!({"events": [{"type": "content.imported", "id": "ev-crash", "issued_at": "2026-11-22T10:00:00Z",
        "resource": {"type": "chat/message", "id": "c-crash", "metadata": {
            "author_id": "customer", "body": text, "creator_id": null, "first_in_thread": true,
            "category_ids": [BOT_CATEGORY], "intervention_id": null, "language": "en", "source_id": SOURCE,
            "status": "new", "thread_id": THREAD}}}]});
    Envelope::parse(body.to_string().as_bytes()).unwrap().events.remove(0)
}

/// Runs the scenario with `fault` at action `kill_at` (0: never), then redelivers as the
/// platform would; returns what the platform performed, whether the fault point was reached,
/// and the thread.
async fn run_killed_at(
    kill_at: usize,
    kind: StoreKind,
    fault: Fault,
    scenario: &Scenario,
) -> (Vec<String>, bool, ThreadState) {
    let remaining = AtomicUsize::new(if kill_at == 0 { usize::MAX } else { kill_at });
    let killer = Arc::new(Killer { remaining, killed: Notify::new(), fault, hit: Default::default() });
    let platform = Arc::new(Mutex::new(Platform {
        categories: scenario.categories.map(String::from).to_vec(),
        ..Platform::default()
    }));
    let app = Router::new().fallback(any(platform_answer)).with_state((platform.clone(), killer.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let engage_url = format!("http://{}/1.0", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let inner: Arc<dyn Store> = match kind {
        StoreKind::Memory => Arc::new(MemoryStore::new()),
        StoreKind::Dynamo => new_store(StoreKind::Dynamo).await,
    };
    if let Some(before) = &scenario.before {
        inner.save_thread(before).await.unwrap();
    }
    let store = Arc::new(CrashableStore { inner, skew_ms: AtomicI64::new(0), killer: killer.clone() });
    let mut env: HashMap<&str, &str> = HashMap::from([
        ("ENGAGE_API_URL", engage_url.as_str()),
        ("ENGAGE_ACCESS_TOKEN", "t"),
        ("ENGAGE_VERIFY_TOKEN", "v"),
        ("BOT_CATEGORY_ID", BOT_CATEGORY),
        ("AGENT_CATEGORY_ID", AGENT_CATEGORY),
        ("HANDOVER_MESSAGE", "One moment"),
        ("ENGAGE_TIMEOUT_MS", "300"),
    ]);
    env.extend(scenario.env.iter().copied());
    let flow = Arc::new(
        wiring::engage_flow(WebhookSettings::from_env(&env).unwrap(), store.clone(), &wiring::http_client())
            .await
            .unwrap(),
    );
    let event = scenario.event.clone();

    let mut running = {
        let (flow, event) = (flow.clone(), event.clone());
        tokio::spawn(async move { EngageFlow::process(&flow, &event).await.map(|_| ()) })
    };
    tokio::select! {
        _ = killer.killed.notified() => running.abort(),
        finished = &mut running => {
            // Without a kill the delivery ends by itself: done, or a retryable error the
            // webhook answers with (503) when the fault could not be recovered inside.
            let first = finished.unwrap();
            if !killer.hit.load(Ordering::SeqCst) {
                assert!(first.is_ok(), "no fault, yet {first:?}");
            }
        }
    }
    let reached = killer.hit.load(Ordering::SeqCst);
    killer.remaining.store(usize::MAX, Ordering::SeqCst);
    if fault == Fault::Kill {
        // The process is gone: nothing after the kill point ran, nothing was released. The
        // platform redelivers after the lease expired.
        store.skew_ms.store(600_000, Ordering::SeqCst);
    }
    flow.process(&event).await.expect("the redelivery finishes the work");
    // And once more, as a late duplicate: nothing.
    flow.process(&event).await.unwrap();
    let thread = store.get_thread(THREAD).await.unwrap();
    let performed = platform.lock().unwrap().performed.clone();
    (performed, reached, thread)
}

async fn every_fault_point_is_finished_exactly_once(kind: StoreKind, fault: Fault) {
    for scenario in [handover_scenario(), resolve_scenario(), rebot_scenario()] {
        every_fault_point_of(&scenario, kind, fault).await;
    }
}

async fn every_fault_point_of(scenario: &Scenario, kind: StoreKind, fault: Fault) {
    let expected = &scenario.expected;
    let (uninterrupted, reached, _) = run_killed_at(0, kind, fault, scenario).await;
    assert!(!reached);
    assert_eq!(&uninterrupted, expected);
    let mut point = 1;
    loop {
        let (performed, reached, thread) = run_killed_at(point, kind, fault, scenario).await;
        if !reached {
            break;
        }
        let at = format!("{} with {fault:?} at action {point}", scenario.name);
        assert_eq!(&performed, expected, "{at}");
        let (owner, bot_turns, intervention) = scenario.after;
        assert_eq!((thread.owner, thread.bot_turns), (owner, bot_turns), "{at}");
        assert_eq!(thread.bot_intervention_id.as_deref(), intervention, "{at}");
        point += 1;
    }
    assert!(point > 3, "every platform call and store write was a fault point ({point})");
}

#[tokio::test]
async fn a_delivery_killed_at_any_step_is_finished_exactly_once_memory() {
    every_fault_point_is_finished_exactly_once(StoreKind::Memory, Fault::Kill).await;
}

#[tokio::test]
async fn a_delivery_killed_at_any_step_is_finished_exactly_once_dynamodb() {
    every_fault_point_is_finished_exactly_once(StoreKind::Dynamo, Fault::Kill).await;
}

#[tokio::test]
async fn a_5xx_or_an_unavailable_store_at_any_step_is_finished_exactly_once() {
    every_fault_point_is_finished_exactly_once(StoreKind::Memory, Fault::Fail).await;
}

#[tokio::test]
async fn a_429_at_any_step_is_finished_exactly_once() {
    every_fault_point_is_finished_exactly_once(StoreKind::Memory, Fault::RateLimit).await;
}

#[tokio::test]
async fn a_timeout_at_any_step_is_finished_exactly_once() {
    every_fault_point_is_finished_exactly_once(StoreKind::Memory, Fault::NoAnswer).await;
}

#[tokio::test]
async fn a_502_after_the_work_at_any_step_is_finished_exactly_once_memory() {
    every_fault_point_is_finished_exactly_once(StoreKind::Memory, Fault::PerformedThen502).await;
}

#[tokio::test]
async fn a_502_after_the_work_at_any_step_is_finished_exactly_once_dynamodb() {
    every_fault_point_is_finished_exactly_once(StoreKind::Dynamo, Fault::PerformedThen502).await;
}
