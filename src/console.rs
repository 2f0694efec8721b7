//! The browser console of the dev server (`GET /`): one page, embedded in the binary, that
//! plays the customer and the agent on the sandbox, shows every call to the platform, the bot
//! and the store as it happens, the threads' state, the emergency switch and the analytics.
//!
//! The page polls small JSON routes (`/console/...`, `/sandbox/threads`, `/queue`); no build
//! step, no CDN. Its emergency and analytics panels call the very same handlers as
//! `/emergency` and `/analytics/agent_intervention.json`, authorized inside the server, so the
//! page holds no token: these console routes exist only with the sandbox (no real platform).

use std::collections::VecDeque;
use std::fmt::Display;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::extract::{Query, Request, State};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{any, get};
use handover_core::bot::{Bot, BotAnswer, BotError, BotRequest, MemoryLimits};
use handover_core::edge::emergency::Authorization;
use handover_core::secret::Secret;
use handover_core::store::{
    EmergencyState, EventRecord, EventStore, Generation, HourStats, Journal, Lease, Span, StatsEntry,
    StatsStore, Store, StoreError, SummariesRead, Summary, SweepStore, SwitchStore, ThreadState, ThreadStore,
};
use serde::{Deserialize, Serialize};

use crate::Functions;

const PAGE: &str = include_str!("console.html");

/// The most calls the log keeps (older ones are dropped): the page only shows the recent ones.
const KEPT_CALLS: usize = 2000;

/// One call, as the live log shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Call {
    pub seq: u64,
    pub at_ms: i64,
    /// `platform`, `bot` or `store`.
    pub kind: &'static str,
    pub call: String,
    /// `200`, `ok`, or the error.
    pub status: String,
    pub ms: f64,
}

/// The live log: every call to the sandbox platform, the bot and the store.
#[derive(Clone, Default)]
pub struct Activity {
    calls: Arc<Mutex<(u64, VecDeque<Call>)>>,
}

impl Activity {
    pub fn record(&self, kind: &'static str, call: String, status: String, started: Instant) {
        let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        calls.0 += 1;
        let entry = Call {
            seq: calls.0,
            at_ms: handover_core::now_millis(),
            kind,
            call,
            status,
            ms: started.elapsed().as_secs_f64() * 1000.0,
        };
        calls.1.push_back(entry);
        if calls.1.len() > KEPT_CALLS {
            calls.1.pop_front();
        }
    }

    /// The calls after `seq`.
    pub fn after(&self, seq: u64) -> Vec<Call> {
        let calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        calls.1.iter().filter(|c| c.seq > seq).cloned().collect()
    }

    async fn timed<T, E: Display>(
        &self,
        kind: &'static str,
        call: String,
        work: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        if CONSOLE_READ.try_with(|quiet| *quiet).unwrap_or(false) {
            return work.await;
        }
        let started = Instant::now();
        let result = work.await;
        let status = match &result {
            Ok(_) => "ok".to_string(),
            Err(err) => err.to_string(),
        };
        self.record(kind, call, status, started);
        result
    }
}

tokio::task_local! {
    /// Set while the console itself reads (its polling of the switch and the statistics):
    /// those are not the product's calls, and would drown them in the log.
    static CONSOLE_READ: bool;
}

/// The bot, with each question logged.
pub struct LoggedBot {
    pub inner: Arc<dyn Bot>,
    pub activity: Activity,
}

#[async_trait::async_trait]
impl Bot for LoggedBot {
    async fn ask(&self, request: &BotRequest) -> Result<BotAnswer, BotError> {
        let call = format!("ask {}: {:?}", request.conversation_id, request.message.text);
        self.activity.timed("bot", call, self.inner.ask(request)).await
    }

    fn memory(&self) -> Option<MemoryLimits> {
        self.inner.memory()
    }
}

/// The store, with each request logged.
pub struct LoggedStore {
    pub inner: Arc<dyn Store>,
    pub activity: Activity,
}

#[async_trait::async_trait]
impl ThreadStore for LoggedStore {
    async fn get_thread(&self, thread_id: &str) -> Result<ThreadState, StoreError> {
        // The console's own reads (the thread inspector) are not the product's calls.
        self.inner.get_thread(thread_id).await
    }
    async fn save_thread(&self, thread: &ThreadState) -> Result<(), StoreError> {
        let call = format!("save_thread {}", thread.thread_id);
        self.activity.timed("store", call, self.inner.save_thread(thread)).await
    }
}

#[async_trait::async_trait]
impl EventStore for LoggedStore {
    async fn load_event(
        &self,
        thread_id: &str,
        event_id: &str,
    ) -> Result<(ThreadState, Option<EventRecord>), StoreError> {
        let call = format!("load_event {thread_id} {event_id}");
        self.activity.timed("store", call, self.inner.load_event(thread_id, event_id)).await
    }
    async fn save_journal(&self, lease: &mut Lease, journal: &Journal) -> Result<(), StoreError> {
        let call = format!("save_journal {}", lease.event_id);
        self.activity.timed("store", call, self.inner.save_journal(lease, journal)).await
    }
    async fn release_event(&self, lease: &Lease, journal: &Journal) -> Result<(), StoreError> {
        let call = format!("release_event {}", lease.event_id);
        self.activity.timed("store", call, self.inner.release_event(lease, journal)).await
    }
    async fn finish_event(&self, lease: &Lease, thread: Option<&ThreadState>) -> Result<(), StoreError> {
        let call = format!("finish_event {}", lease.event_id);
        self.activity.timed("store", call, self.inner.finish_event(lease, thread)).await
    }
}

#[async_trait::async_trait]
impl StatsStore for LoggedStore {
    async fn record_stats(&self, entries: &[StatsEntry], now_ms: i64) -> Result<(), StoreError> {
        let call = format!("record_stats ({} facts)", entries.len());
        self.activity.timed("store", call, self.inner.record_stats(entries, now_ms)).await
    }
    async fn read_stats(&self, from_hour: i64, to_hour: i64) -> Result<Vec<HourStats>, StoreError> {
        let call = format!("read_stats hours {from_hour}..={to_hour}");
        self.activity.timed("store", call, self.inner.read_stats(from_hour, to_hour)).await
    }
    async fn read_summaries(&self, spans: &[Span]) -> Result<SummariesRead, StoreError> {
        let call = format!("read_summaries ({} spans)", spans.len());
        self.activity.timed("store", call, self.inner.read_summaries(spans)).await
    }
    async fn write_summary(&self, summary: &Summary, read: Generation) -> Result<(), StoreError> {
        let call = format!("write_summary hours {}+{}", summary.span.first_hour, summary.span.hours);
        self.activity.timed("store", call, self.inner.write_summary(summary, read)).await
    }
}

#[async_trait::async_trait]
impl SwitchStore for LoggedStore {
    async fn get_emergency(&self) -> Result<EmergencyState, StoreError> {
        self.activity.timed("store", "get_emergency".into(), self.inner.get_emergency()).await
    }
    async fn set_emergency(&self, state: &EmergencyState) -> Result<u64, StoreError> {
        let call = format!("set_emergency active={}", state.active);
        self.activity.timed("store", call, self.inner.set_emergency(state)).await
    }
}

#[async_trait::async_trait]
impl SweepStore for LoggedStore {
    async fn bot_owned_threads(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<String>, Option<String>), StoreError> {
        let call = format!("bot_owned_threads after {after:?} limit {limit}");
        self.activity.timed("store", call, self.inner.bot_owned_threads(after, limit)).await
    }
    async fn count_bot_owned(&self) -> Result<u64, StoreError> {
        self.activity.timed("store", "count_bot_owned".into(), self.inner.count_bot_owned()).await
    }
    async fn leave_bot_index(&self, thread: &ThreadState) -> Result<(), StoreError> {
        let call = format!("leave_bot_index {}", thread.thread_id);
        self.activity.timed("store", call, self.inner.leave_bot_index(thread)).await
    }
}

/// Logs each request the sandbox platform answers, with its status and time.
pub async fn log_platform_call(State(activity): State<Activity>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let call = match request.uri().query() {
        Some(query) => {
            format!("{} {}?{query}", request.method(), request.uri().path().trim_start_matches("/sandbox"))
        }
        None => format!("{} {}", request.method(), request.uri().path().trim_start_matches("/sandbox")),
    };
    let response = next.run(request).await;
    activity.record("platform", call, response.status().as_u16().to_string(), started);
    response
}

/// The token the console's routes present to the emergency and analytics handlers: made at
/// start-up, never shown, so only these routes (and whoever knows the configured tokens) get in.
#[derive(Clone)]
struct ConsoleState {
    functions: Functions,
    activity: Activity,
    token: Secret,
}

/// `/` and the console's JSON routes.
pub fn router(functions: Functions, activity: Activity) -> Router {
    let token = Secret::new(format!("console-{:032x}", rand::random::<u128>()));
    Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/console/activity", get(activity_after))
        .route("/console/emergency", any(emergency))
        .route("/console/analytics", get(analytics))
        .with_state(ConsoleState { functions, activity, token })
}

#[derive(Deserialize)]
struct After {
    #[serde(default)]
    after: u64,
}

async fn activity_after(State(state): State<ConsoleState>, Query(after): Query<After>) -> Response {
    axum::Json(state.activity.after(after.after)).into_response()
}

/// `/emergency`'s handler, authorized with the console's token.
async fn emergency(State(state): State<ConsoleState>, request: Request) -> Response {
    let authorization = Authorization::Bearer(state.token.clone());
    let reading = request.method() == http::Method::GET;
    let request =
        match inner_request(request, "authorization", &format!("Bearer {}", state.token.expose())).await {
            Ok(request) => request,
            Err(response) => return response,
        };
    let handled = handover_core::edge::emergency::handle(&state.functions.emergency, &authorization, request);
    // Switching is the product's work, shown in the log; the page's polling is not.
    crate::from_api_response(CONSOLE_READ.scope(reading, handled).await)
}

/// The analytics route's handler (same query, same JSON), authorized with the console's token.
async fn analytics(State(state): State<ConsoleState>, request: Request) -> Response {
    let request = match inner_request(request, "access-token", state.token.expose()).await {
        Ok(request) => request,
        Err(response) => return response,
    };
    let handled =
        handover_core::edge::analytics::handle(state.functions.store.as_ref(), &state.token, request);
    crate::from_api_response(CONSOLE_READ.scope(true, handled).await)
}

async fn inner_request(
    request: Request,
    header: &'static str,
    value: &str,
) -> Result<handover_core::edge::ApiRequest, Response> {
    let mut request = crate::into_api_request(request).await.map_err(crate::from_api_response)?;
    request.headers_mut().insert(header, http::HeaderValue::from_str(value).expect("ascii token"));
    Ok(request)
}
