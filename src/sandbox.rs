//! A simulated Engage Digital for the dev server, so the whole flow runs with no account.
//!
//! It answers the REST calls the product makes (under `/sandbox/1.0`), keeps threads with their
//! categories, interventions and contents, records every call it receives, and lets a person
//! play the customer: `POST /sandbox/customer {"thread": "t1", "text": "hello"}` turns the text
//! into a `content.imported` event, delivers it to the webhook handler, and returns what the
//! bot posted in reply.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use handover_core::edge::engage::Endpoint;
use handover_core::time::format_rfc3339_ms;

use crate::Functions;
use crate::console::{Activity, log_platform_call};

pub const SANDBOX_TOKEN: &str = "sandbox-access-token";
pub const SANDBOX_SOURCE: &str = "sandbox-source";
pub const SANDBOX_AUTHOR: &str = "sandbox-customer";
/// The user the sandbox's API token belongs to: the bot's interventions are its.
pub const SANDBOX_BOT_USER: &str = "sandbox-bot-user";

#[derive(Default)]
struct World {
    /// Default categories of the sandbox's source (the BOT category until changed).
    source_defaults: Option<Vec<String>>,
    next_id: u64,
    threads: HashMap<String, ThreadRecord>,
    interventions: HashMap<String, bool>,
    /// (thread, content id, in reply to, body) of every content the API created.
    replies: Vec<(String, String, String, String)>,
    calls: Vec<String>,
    /// Which thread each customer message is in (replies name only the message).
    content_threads: HashMap<String, String>,
    /// Each thread's conversation as its participants see it: (author, text).
    transcripts: HashMap<String, Vec<(&'static str, String)>>,
    /// The thread of each intervention, and the comments (notes for the agents) of each.
    intervention_threads: HashMap<String, String>,
    comments: HashMap<String, Vec<String>>,
}

struct ThreadRecord {
    categories: Vec<String>,
    closed: bool,
    messages: u64,
    /// The intervention of the agent who took the thread over.
    agent_intervention: Option<String>,
}

impl ThreadRecord {
    fn new(categories: Vec<String>) -> Self {
        Self { categories, closed: false, messages: 0, agent_intervention: None }
    }
}

impl World {
    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}-{}", self.next_id)
    }
}

/// The sandbox's state, shared between its routes.
#[derive(Clone)]
pub struct Sandbox {
    world: Arc<Mutex<World>>,
    bot_category: String,
    agent_category: String,
    agents: Arc<Mutex<AgentsStatus>>,
    /// `false`: the sandbox serves a time sheet that is closed now (to try business hours).
    open: Arc<std::sync::atomic::AtomicBool>,
    /// The console's live log: the platform's calls are logged by the router's middleware.
    pub activity: Activity,
}

/// What `GET /status` says of the sandbox's one agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentsStatus {
    Available,
    Away,
    /// Connected, but with no room for another conversation.
    Full,
}

#[derive(Clone)]
struct SandboxState {
    sandbox: Sandbox,
    functions: Functions,
}

impl Sandbox {
    pub fn new(bot_category: &str, agent_category: &str) -> Self {
        Self {
            world: Arc::new(Mutex::new(World::default())),
            bot_category: bot_category.to_string(),
            agent_category: agent_category.to_string(),
            agents: Arc::new(Mutex::new(AgentsStatus::Available)),
            open: Arc::new(std::sync::atomic::AtomicBool::new(true)),
            activity: Activity::default(),
        }
    }

    fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn record(&self, call: String) {
        self.world().calls.push(call);
    }

    /// The sandbox's routes, to merge into the dev server.
    pub fn router(self, functions: Functions) -> Router {
        let state = SandboxState { sandbox: self.clone(), functions };
        let people = Router::new()
            .route("/sandbox/customer", post(customer_says))
            .route("/sandbox/calls", get(calls))
            .route("/sandbox/agents", get(get_agents).post(set_agents))
            .route("/sandbox/agent/close", post(agent_closes))
            .route("/sandbox/agent/reply", post(agent_replies))
            .route("/sandbox/threads", get(threads))
            .route("/sandbox/hours", get(get_hours).post(set_hours))
            .with_state(state.clone());
        let platform = Router::new()
            .route("/sandbox/1.0/interventions", post(create_intervention))
            .route("/sandbox/1.0/interventions/{id}/close", put(close_intervention))
            .route("/sandbox/1.0/intervention_comments", post(create_comment).get(list_comments))
            .route("/sandbox/1.0/contents", post(create_content))
            .route("/sandbox/1.0/content_threads/{id}", get(get_thread))
            .route("/sandbox/1.0/content_threads/{id}/update_categories", put(update_categories))
            .route("/sandbox/1.0/content_threads/{id}/close", put(close_thread))
            .route("/sandbox/1.0/status", get(status))
            .route("/sandbox/1.0/content_sources", get(list_sources))
            .route("/sandbox/1.0/content_sources/{id}", get(get_source).put(update_source))
            .route("/sandbox/1.0/channels", get(channels))
            .route("/sandbox/1.0/time_sheets", get(time_sheets))
            .with_state(state)
            .layer(axum::middleware::from_fn_with_state(self.activity.clone(), log_platform_call));
        people.merge(platform)
    }
}

#[derive(Deserialize)]
struct CustomerMessage {
    thread: String,
    text: String,
    /// `en` unless given.
    #[serde(default)]
    language: Option<String>,
}

/// Plays the customer: one message in, the bot's replies out.
async fn customer_says(
    State(state): State<SandboxState>,
    Json(message): Json<CustomerMessage>,
) -> Json<Value> {
    let (event, content_id, replies_before) = {
        let mut world = state.sandbox.world();
        let content_id = world.id("content");
        let event_id = world.id("event");
        let replies_before = world.replies.len();
        // A new thread gets the source's default categories, as on the platform.
        let defaults = state.sandbox.source_defaults(&world);
        let thread =
            world.threads.entry(message.thread.clone()).or_insert_with(|| ThreadRecord::new(defaults));
        thread.messages += 1;
        let first = thread.messages == 1;
        let categories = thread.categories.clone();
        world.content_threads.insert(content_id.clone(), message.thread.clone());
        world.transcripts.entry(message.thread.clone()).or_default().push(("customer", message.text.clone()));
        let event = delivery(
            &event_id,
            "content.imported",
            json!({"type": "chat/message", "id": content_id, "metadata": {
                "author_id": SANDBOX_AUTHOR, "body": message.text, "creator_id": null,
                "first_in_thread": first, "category_ids": categories,
                "intervention_id": null, "language": message.language.as_deref().unwrap_or("en"),
                "source_id": SANDBOX_SOURCE, "status": "new", "thread_id": message.thread
            }}),
        );
        (event, content_id, replies_before)
    };
    // Seen once processed: the webhook only queued the message.
    let webhook_status = deliver(&state, Endpoint::Webhook, &event).await;
    let world = state.sandbox.world();
    let replies: Vec<&str> = world.replies[replies_before..]
        .iter()
        .filter(|(_, _, in_reply_to, _)| *in_reply_to == content_id)
        .map(|(_, _, _, body)| body.as_str())
        .collect();
    let categories = world.threads.get(&message.thread).map(|t| t.categories.clone()).unwrap_or_default();
    Json(json!({
        "webhook_status": webhook_status,
        "bot_replies": replies,
        "thread_categories": categories,
    }))
}

/// `{"available": true|false}`, or `{"status": "available"|"away"|"full"}`.
/// A webhook body of one event, as Engage Digital sends it now.
fn delivery(event_id: &str, event_type: &str, resource: Value) -> Value {
    json!({
        "id": format!("sandbox-delivery-{event_id}"),
        "domain_id": "sandbox",
        "events": [{
            "type": event_type, "id": event_id,
            "issued_at": format_rfc3339_ms(handover_core::now_millis()),
            "resource": resource
        }]
    })
}

/// Delivers a webhook body as the platform would, then waits until what it queued is processed;
/// the webhook's status.
async fn deliver(state: &SandboxState, endpoint: Endpoint, event: &Value) -> u16 {
    let path = match endpoint {
        Endpoint::Webhook => "/engage/webhook",
        Endpoint::Interventions => "/engage/interventions",
    };
    let request = http::Request::builder()
        .method("POST")
        .uri(path)
        .header("content-type", "application/json")
        .body(Bytes::from(event.to_string()))
        .expect("valid request");
    let response = handover_core::edge::engage::handle(&state.functions.engage, endpoint, request).await;
    state.functions.settle().await;
    response.status().as_u16()
}

#[derive(Deserialize)]
struct Agents {
    #[serde(default)]
    available: Option<bool>,
    #[serde(default)]
    status: Option<AgentsStatus>,
}

/// Makes the agents available, away or full.
async fn set_agents(
    State(state): State<SandboxState>,
    Json(agents): Json<Agents>,
) -> (StatusCode, Json<Value>) {
    let status = match (agents.status, agents.available) {
        (Some(status), _) => status,
        (None, Some(true)) => AgentsStatus::Available,
        (None, Some(false)) => AgentsStatus::Away,
        (None, None) => {
            let error =
                "expected {\"available\": true|false} or {\"status\": \"available\"|\"away\"|\"full\"}";
            return (StatusCode::BAD_REQUEST, Json(json!({"error": error})));
        }
    };
    *state.sandbox.agents.lock().unwrap_or_else(|p| p.into_inner()) = status;
    // At once, as the README's walk-through promises: the cached answer is forgotten.
    if let Some(flow) = &state.functions.processor.engage {
        flow.forget_availability();
    }
    (StatusCode::OK, Json(json!({ "available": status == AgentsStatus::Available, "status": status })))
}

async fn get_agents(State(state): State<SandboxState>) -> Json<Value> {
    let status = *state.sandbox.agents.lock().unwrap_or_else(|p| p.into_inner());
    Json(json!({ "available": status == AgentsStatus::Available, "status": status }))
}

#[derive(Deserialize)]
struct AgentClose {
    thread: String,
}

/// Plays the agent who closes their intervention: delivers `intervention.closed` to the
/// interventions webhook.
async fn agent_closes(
    State(state): State<SandboxState>,
    Json(close): Json<AgentClose>,
) -> (StatusCode, Json<Value>) {
    let event = {
        let mut world = state.sandbox.world();
        let event_id = world.id("event");
        let Some(thread) = world.threads.get_mut(&close.thread) else {
            return (StatusCode::NOT_FOUND, Json(json!({"error": "no such thread"})));
        };
        let Some(intervention) = thread.agent_intervention.take() else {
            return (StatusCode::CONFLICT, Json(json!({"error": "no agent intervention on this thread"})));
        };
        delivery(
            &event_id,
            "intervention.closed",
            json!({"type": "intervention", "id": intervention, "metadata": {
                "thread_id": close.thread, "category_ids": thread.categories,
                "source_id": SANDBOX_SOURCE, "user_id": "sandbox-agent"
            }}),
        )
    };
    let webhook_status = deliver(&state, Endpoint::Interventions, &event).await;
    let world = state.sandbox.world();
    let categories = world.threads.get(&close.thread).map(|t| t.categories.clone()).unwrap_or_default();
    (StatusCode::OK, Json(json!({ "webhook_status": webhook_status, "thread_categories": categories })))
}

#[derive(Deserialize)]
struct AgentReply {
    thread: String,
    text: String,
}

/// Plays the agent who answers: the message joins the thread (as the platform would post it)
/// and its `content.imported` reaches the webhook, which leaves an agent's message alone.
async fn agent_replies(
    State(state): State<SandboxState>,
    Json(reply): Json<AgentReply>,
) -> (StatusCode, Json<Value>) {
    let event = {
        let mut world = state.sandbox.world();
        let content_id = world.id("content");
        let event_id = world.id("event");
        let Some(thread) = world.threads.get(&reply.thread) else {
            return (StatusCode::NOT_FOUND, Json(json!({"error": "no such thread"})));
        };
        let categories = thread.categories.clone();
        world.transcripts.entry(reply.thread.clone()).or_default().push(("agent", reply.text.clone()));
        delivery(
            &event_id,
            "content.imported",
            json!({"type": "chat/message", "id": content_id, "metadata": {
                "author_id": "sandbox-agent-identity", "body": reply.text, "creator_id": "sandbox-agent",
                "first_in_thread": false, "category_ids": categories, "intervention_id": null,
                "language": "en", "source_id": SANDBOX_SOURCE, "status": "replied", "thread_id": reply.thread
            }}),
        )
    };
    let webhook_status = deliver(&state, Endpoint::Webhook, &event).await;
    (StatusCode::OK, Json(json!({ "webhook_status": webhook_status })))
}

/// Every sandbox thread: its conversation, its categories and open agent intervention on the
/// platform, the product's state of it, and its events waiting in the queue.
async fn threads(State(state): State<SandboxState>) -> Json<Value> {
    // What the platform knows, read under the lock; the product's side after it.
    let mut threads: Vec<Value> = {
        let world = state.sandbox.world();
        let mut ids: Vec<&String> = world.threads.keys().collect();
        ids.sort();
        ids.into_iter()
            .map(|id| {
                let thread = &world.threads[id];
                let with = if thread.categories.contains(&state.sandbox.agent_category) {
                    "agent"
                } else if thread.categories.contains(&state.sandbox.bot_category) {
                    "bot"
                } else {
                    "nobody"
                };
                let messages: Vec<Value> = world
                    .transcripts
                    .get(id)
                    .into_iter()
                    .flatten()
                    .map(|(author, text)| json!({"from": author, "text": text}))
                    .collect();
                // The notes for the agents on the thread's interventions.
                let notes: Vec<&String> = world
                    .intervention_threads
                    .iter()
                    .filter(|(_, of)| *of == id)
                    .filter_map(|(intervention, _)| world.comments.get(intervention))
                    .flatten()
                    .collect();
                json!({
                    "id": id,
                    "categories": thread.categories,
                    "with": with,
                    "agent_intervention": thread.agent_intervention,
                    "messages": messages,
                    "notes": notes,
                })
            })
            .collect()
    };
    let pending = state.functions.queue.as_ref().map(|q| q.snapshot().pending).unwrap_or_default();
    for thread in &mut threads {
        let id = thread["id"].as_str().unwrap_or_default().to_string();
        let kept = state.functions.store.get_thread(&id).await.ok();
        thread["queued"] = json!(pending.get(&id).copied().unwrap_or(0));
        thread["state"] = json!(kept.map(|t| json!({
            "owner": t.owner,
            "bot_intervention_id": t.bot_intervention_id,
            "pending_handover": t.pending_handover,
            "consecutive_fallbacks": t.consecutive_fallbacks,
            "bot_turns": t.bot_turns,
            "resolved": t.resolved,
            "version": t.version,
        })));
    }
    Json(json!(threads))
}

async fn calls(State(state): State<SandboxState>) -> Json<Value> {
    Json(json!(state.sandbox.world().calls))
}

async fn create_intervention(
    State(state): State<SandboxState>,
    Query(query): Query<HashMap<String, String>>,
) -> (StatusCode, Json<Value>) {
    let content_id = query.get("content_id").cloned().unwrap_or_default();
    let id = {
        let mut world = state.sandbox.world();
        let id = world.id("intervention");
        world.interventions.insert(id.clone(), false);
        if let Some(thread) = world.content_threads.get(&content_id).cloned() {
            world.intervention_threads.insert(id.clone(), thread);
        }
        id
    };
    state.sandbox.record(format!("POST /interventions?content_id={content_id} -> 200"));
    let intervention =
        json!({"id": id, "content_id": content_id, "closed": false, "user_id": SANDBOX_BOT_USER});
    (StatusCode::OK, Json(intervention))
}

/// `POST /intervention_comments`: a note for the agents, kept with its intervention.
async fn create_comment(State(state): State<SandboxState>, body: Bytes) -> (StatusCode, Json<Value>) {
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let intervention = form.get("intervention_id").cloned().unwrap_or_default();
    let text = form.get("body").cloned().unwrap_or_default();
    let mut world = state.sandbox.world();
    if !world.interventions.contains_key(&intervention) {
        world.calls.push(format!("POST /intervention_comments intervention_id={intervention} -> 404"));
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "not_found", "message": "no such intervention"})),
        );
    }
    let id = world.id("comment");
    world.comments.entry(intervention.clone()).or_default().push(text);
    world.calls.push(format!("POST /intervention_comments intervention_id={intervention} -> 200"));
    (StatusCode::OK, Json(json!({"id": id, "intervention_id": intervention})))
}

async fn list_comments(
    State(state): State<SandboxState>,
    Query(query): Query<HashMap<String, String>>,
) -> Json<Value> {
    let intervention = query.get("intervention_id").cloned().unwrap_or_default();
    let world = state.sandbox.world();
    let records: Vec<Value> =
        world.comments.get(&intervention).into_iter().flatten().map(|body| json!({"body": body})).collect();
    Json(json!({"count": records.len(), "records": records}))
}

async fn close_intervention(
    State(state): State<SandboxState>,
    Path(id): Path<String>,
) -> (StatusCode, Json<Value>) {
    let mut world = state.sandbox.world();
    let status = match world.interventions.get_mut(&id) {
        Some(closed @ false) => {
            *closed = true;
            StatusCode::OK
        }
        Some(true) => StatusCode::FORBIDDEN,
        None => StatusCode::NOT_FOUND,
    };
    world.calls.push(format!("PUT /interventions/{id}/close -> {}", status.as_u16()));
    (status, Json(json!({"id": id, "closed": status == StatusCode::OK})))
}

async fn create_content(State(state): State<SandboxState>, body: Bytes) -> (StatusCode, Json<Value>) {
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let in_reply_to = form.get("in_reply_to_id").cloned().unwrap_or_default();
    let text = form.get("body").cloned().unwrap_or_default();
    let mut world = state.sandbox.world();
    let id = world.id("reply");
    if let Some(thread) = world.content_threads.get(&in_reply_to).cloned() {
        world.transcripts.entry(thread).or_default().push(("bot", text.clone()));
    }
    world.replies.push((String::new(), id.clone(), in_reply_to.clone(), text.clone()));
    world.calls.push(format!("POST /contents in_reply_to_id={in_reply_to} body={text:?} -> 200"));
    (StatusCode::OK, Json(json!({"id": id})))
}

async fn get_thread(State(state): State<SandboxState>, Path(id): Path<String>) -> (StatusCode, Json<Value>) {
    let mut world = state.sandbox.world();
    let found = world.threads.get(&id).map(|t| (t.categories.clone(), t.closed));
    let status = if found.is_some() { StatusCode::OK } else { StatusCode::NOT_FOUND };
    world.calls.push(format!("GET /content_threads/{id} -> {}", status.as_u16()));
    let (categories, closed) = found.unwrap_or_default();
    (status, Json(json!({"id": id, "thread_category_ids": categories, "closed": closed})))
}

async fn update_categories(
    State(state): State<SandboxState>,
    Path(id): Path<String>,
    body: Bytes,
) -> (StatusCode, Json<Value>) {
    let categories: Vec<String> = form_urlencoded::parse(&body)
        .filter(|(k, _)| k == "thread_category_ids[]")
        .map(|(_, v)| v.into_owned())
        .collect();
    let mut world = state.sandbox.world();
    world.calls.push(format!("PUT /content_threads/{id}/update_categories {categories:?} -> 200"));
    let next_intervention = world.id("agent-intervention");
    let thread = world.threads.entry(id.clone()).or_insert_with(|| ThreadRecord::new(vec![]));
    thread.categories = categories.clone();
    // An agent takes over a thread in the AGENT category, with an intervention of their own.
    if categories.contains(&state.sandbox.agent_category) && thread.agent_intervention.is_none() {
        thread.agent_intervention = Some(next_intervention);
    }
    (StatusCode::OK, Json(json!({"id": id, "thread_category_ids": categories})))
}

async fn close_thread(
    State(state): State<SandboxState>,
    Path(id): Path<String>,
) -> (StatusCode, Json<Value>) {
    let mut world = state.sandbox.world();
    if let Some(thread) = world.threads.get_mut(&id) {
        thread.closed = true;
    }
    world.calls.push(format!("PUT /content_threads/{id}/close -> 200"));
    (StatusCode::OK, Json(json!({"id": id, "closed": false})))
}

async fn status(State(state): State<SandboxState>, RawQuery(query): RawQuery) -> Json<Value> {
    state.sandbox.record(format!("GET /status?{} -> 200", query.unwrap_or_default()));
    let agents = *state.sandbox.agents.lock().unwrap_or_else(|p| p.into_inner());
    let (agent_status, busyness) = match agents {
        AgentsStatus::Available => ("available", "ok"),
        AgentsStatus::Away => ("away", "ok"),
        AgentsStatus::Full => ("available", "full"),
    };
    Json(json!([{
        "agent_id": "sandbox-agent",
        "channels": [{"id": "sandbox-channel", "name": "Sandbox chat", "status": agent_status, "busyness": busyness}],
        "custom_status": null
    }]))
}

async fn channels(State(state): State<SandboxState>) -> Json<Value> {
    state.sandbox.record("GET /channels -> 200".into());
    Json(json!({"count": 1, "offset": 0, "limit": 150, "records": [
        {"id": "sandbox-channel", "name": "Sandbox chat", "source_ids": [SANDBOX_SOURCE]}
    ]}))
}

/// No time sheet while the sandbox is open (its contact center never closes); once closed
/// with `POST /sandbox/hours {"open": false}`, one sheet for its source, in UTC, whose hours
/// every day start two hours from when it was closed and last eight.
async fn time_sheets(State(state): State<SandboxState>) -> Json<Value> {
    state.sandbox.record("GET /time_sheets -> 200".into());
    let records = match state.sandbox.open.load(std::sync::atomic::Ordering::Relaxed) {
        true => vec![],
        false => vec![closed_sheet()],
    };
    Json(json!({"count": records.len(), "offset": 0, "limit": 150, "records": records}))
}

fn closed_sheet() -> Value {
    let second_of_day = (handover_core::now_millis() / 1000).rem_euclid(86_400);
    // From the next full hour plus one, for eight hours (possibly past midnight).
    let start = ((second_of_day / 3600 + 2) * 3600) % 86_400;
    let hours = format!("{start}-{}", (start + 8 * 3600) % 86_400);
    json!({
        "id": "sandbox-time-sheet", "active": true, "label": "Sandbox support", "timezone": "UTC",
        "source_ids": [SANDBOX_SOURCE], "holidays": [],
        "monday_hours": hours, "tuesday_hours": hours, "wednesday_hours": hours, "thursday_hours": hours,
        "friday_hours": hours, "saturday_hours": hours, "sunday_hours": hours
    })
}

#[derive(Deserialize)]
struct Hours {
    open: bool,
}

/// Opens or closes the sandbox's contact center; takes effect at once.
async fn set_hours(State(state): State<SandboxState>, Json(hours): Json<Hours>) -> Json<Value> {
    state.sandbox.open.store(hours.open, std::sync::atomic::Ordering::Relaxed);
    if let Some(flow) = &state.functions.processor.engage {
        flow.forget_time_sheets();
    }
    Json(json!({ "open": hours.open }))
}

async fn get_hours(State(state): State<SandboxState>) -> Json<Value> {
    Json(json!({ "open": state.sandbox.open.load(std::sync::atomic::Ordering::Relaxed) }))
}

impl Sandbox {
    fn source_defaults(&self, world: &World) -> Vec<String> {
        world.source_defaults.clone().unwrap_or_else(|| vec![self.bot_category.clone()])
    }
}

async fn list_sources(State(state): State<SandboxState>) -> Json<Value> {
    let mut world = state.sandbox.world();
    world.calls.push("GET /content_sources -> 200".into());
    let defaults = state.sandbox.source_defaults(&world);
    Json(json!({"count": 1, "offset": 0, "limit": 150, "records": [
        {"id": SANDBOX_SOURCE, "name": "Sandbox chat", "default_category_ids": defaults}
    ]}))
}

async fn get_source(State(state): State<SandboxState>, Path(id): Path<String>) -> (StatusCode, Json<Value>) {
    let mut world = state.sandbox.world();
    let status = if id == SANDBOX_SOURCE { StatusCode::OK } else { StatusCode::NOT_FOUND };
    world.calls.push(format!("GET /content_sources/{id} -> {}", status.as_u16()));
    let defaults = state.sandbox.source_defaults(&world);
    (status, Json(json!({"id": id, "name": "Sandbox chat", "default_category_ids": defaults})))
}

async fn update_source(
    State(state): State<SandboxState>,
    Path(id): Path<String>,
    body: Bytes,
) -> (StatusCode, Json<Value>) {
    let categories: Vec<String> = form_urlencoded::parse(&body)
        .filter(|(k, _)| k == "default_category_ids[]")
        .map(|(_, v)| v.into_owned())
        .collect();
    let mut world = state.sandbox.world();
    world.calls.push(format!("PUT /content_sources/{id} {categories:?} -> 200"));
    if id == SANDBOX_SOURCE {
        world.source_defaults = Some(categories.clone());
    }
    (StatusCode::OK, Json(json!({"id": id, "default_category_ids": categories})))
}
