//! A delivery killed between any two steps (issue 10): the process dies holding the event (no
//! release), its lease expires, the platform redelivers, and the work is finished exactly once:
//! one intervention, one message, one recategorization.
//!
//! A kill point is "before the k-th action", an action being a platform call or a store write.
//! The fake platform and the store wrapper share one countdown; at zero the action is not
//! performed, the test is signalled, and the task is aborted there, as a killed process would
//! stop. Time is advanced through the store (no sleeping for the lease to expire).

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
    Claim, EmergencyState, EventProgress, HourStats, Lease, MemoryStore, Owner, StatsEntry, Store,
    StoreError, ThreadState,
};
use handover_core::wiring;
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::helpers::{AGENT_CATEGORY, BOT_CATEGORY, OTHER_CATEGORY, SOURCE, StoreKind, THREAD, new_store};

/// Counts actions down to a kill point.
struct Killer {
    remaining: AtomicUsize,
    killed: Notify,
}

impl Killer {
    /// `true`: this action is the kill point; it must not happen.
    fn is_kill_point(&self) -> bool {
        let before = self.remaining.fetch_sub(1, Ordering::SeqCst);
        if before == 1 {
            self.killed.notify_one();
            return true;
        }
        false
    }

    async fn die_here(&self) -> ! {
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
}

type Shared = (Arc<Mutex<Platform>>, Arc<Killer>);

async fn platform_answer(State((platform, killer)): State<Shared>, request: Request) -> axum::Json<Value> {
    let method = request.method().to_string();
    let uri = request.uri().clone();
    let path = uri.path().to_string();
    let body = axum::body::to_bytes(request.into_body(), 1 << 20).await.unwrap();
    let form: HashMap<String, Vec<String>> =
        form_urlencoded::parse(&body).fold(HashMap::new(), |mut map, (k, v)| {
            map.entry(k.into_owned()).or_default().push(v.into_owned());
            map
        });
    if killer.is_kill_point() {
        killer.die_here().await;
    }
    let mut p = platform.lock().unwrap();
    let answer = match (method.as_str(), path.as_str()) {
        ("POST", "/1.0/interventions") => {
            let content = form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
                .find(|(k, _)| k == "content_id")
                .map(|(_, v)| v.into_owned())
                .unwrap();
            p.performed.push("open intervention".into());
            p.interventions.insert(content, "int-1".into());
            json!({"id": "int-1"})
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
        ("GET", "/1.0/channels") => json!({"records": [{"id": "chat", "source_ids": [SOURCE]}]}),
        ("GET", "/1.0/status") => {
            json!([{"agent_id": "a", "channels": [{"id": "chat", "status": "available", "busyness": "ok"}]}])
        }
        ("GET", _) => json!({"id": THREAD, "thread_category_ids": p.categories}),
        ("PUT", _) => {
            p.performed.push(format!("recategorize {:?}", form["thread_category_ids[]"]));
            p.categories = form["thread_category_ids[]"].clone();
            json!({"id": THREAD})
        }
        other => panic!("unexpected call {other:?}"),
    };
    axum::Json(answer)
}

/// The store, with a clock that can be moved forward and writes that count as actions.
struct CrashableStore {
    inner: Arc<dyn Store>,
    skew_ms: AtomicI64,
    killer: Arc<Killer>,
}

impl CrashableStore {
    async fn action(&self) {
        if self.killer.is_kill_point() {
            self.killer.die_here().await;
        }
    }
}

#[async_trait::async_trait]
impl Store for CrashableStore {
    async fn claim_event(
        &self,
        thread: &str,
        event: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Claim, StoreError> {
        let now = now_ms + self.skew_ms.load(Ordering::SeqCst);
        self.inner.claim_event(thread, event, now, lease_ms).await
    }
    async fn save_progress(&self, lease: &Lease, progress: &EventProgress) -> Result<(), StoreError> {
        self.action().await;
        self.inner.save_progress(lease, progress).await
    }
    async fn finish_event(
        &self,
        lease: &Lease,
        progress: &EventProgress,
        thread: Option<&ThreadState>,
        stats: &[StatsEntry],
    ) -> Result<(), StoreError> {
        self.action().await;
        self.inner.finish_event(lease, progress, thread, stats).await
    }
    async fn release_event(&self, lease: &Lease, progress: &EventProgress) -> Result<(), StoreError> {
        self.inner.release_event(lease, progress).await
    }
    async fn get_thread(&self, thread_id: &str) -> Result<ThreadState, StoreError> {
        self.inner.get_thread(thread_id).await
    }
    async fn save_thread(&self, thread: &ThreadState) -> Result<(), StoreError> {
        self.inner.save_thread(thread).await
    }
    async fn read_stats(&self, from: i64, to: i64) -> Result<Vec<HourStats>, StoreError> {
        self.inner.read_stats(from, to).await
    }
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
    async fn get_emergency(&self) -> Result<EmergencyState, StoreError> {
        self.inner.get_emergency().await
    }
    async fn set_emergency(&self, state: &EmergencyState) -> Result<u64, StoreError> {
        self.inner.set_emergency(state).await
    }
}

fn first_message_asking_for_an_agent() -> WebhookEvent {
    let body = json!({"events": [{"type": "content.imported", "id": "ev-crash", "issued_at": "2026-11-22T10:00:00Z",
        "resource": {"type": "chat/message", "id": "c-crash", "metadata": {
            "author_id": "customer", "body": "I want to talk to a human", "creator_id": null, "first_in_thread": true,
            "category_ids": [BOT_CATEGORY], "intervention_id": null, "language": "en", "source_id": SOURCE,
            "status": "new", "thread_id": THREAD}}}]});
    Envelope::parse(body.to_string().as_bytes()).unwrap().events.remove(0)
}

/// Runs the scenario killed before action `kill_at` (0: never), then redelivers; returns what
/// the platform performed, and whether the kill point was reached.
async fn run_killed_at(kill_at: usize, kind: StoreKind) -> (Vec<String>, bool, ThreadState) {
    let killer = Arc::new(Killer {
        remaining: AtomicUsize::new(if kill_at == 0 { usize::MAX } else { kill_at }),
        killed: Notify::new(),
    });
    let platform = Arc::new(Mutex::new(Platform {
        categories: vec![OTHER_CATEGORY.into(), BOT_CATEGORY.into()],
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
    let store = Arc::new(CrashableStore { inner, skew_ms: AtomicI64::new(0), killer: killer.clone() });
    let env: HashMap<&str, &str> = HashMap::from([
        ("ENGAGE_API_URL", engage_url.as_str()),
        ("ENGAGE_ACCESS_TOKEN", "t"),
        ("ENGAGE_VERIFY_TOKEN", "v"),
        ("BOT_CATEGORY_ID", BOT_CATEGORY),
        ("AGENT_CATEGORY_ID", AGENT_CATEGORY),
        ("HANDOVER_MESSAGE", "One moment"),
    ]);
    let flow = Arc::new(
        wiring::engage_flow(WebhookSettings::from_env(&env).unwrap(), store.clone(), &wiring::http_client())
            .unwrap(),
    );
    let event = first_message_asking_for_an_agent();

    let mut running = {
        let (flow, event) = (flow.clone(), event.clone());
        tokio::spawn(async move { EngageFlow::process(&flow, &event).await.map(|_| ()) })
    };
    let killed = tokio::select! {
        _ = killer.killed.notified() => {
            running.abort();
            true
        }
        finished = &mut running => {
            finished.unwrap().unwrap();
            false
        }
    };
    // The process is gone: nothing after the kill point runs, nothing is released.
    // The platform redelivers after the lease expired.
    killer.remaining.store(usize::MAX, Ordering::SeqCst);
    store.skew_ms.store(120_000, Ordering::SeqCst);
    flow.process(&event).await.expect("the redelivery finishes the work");
    // And once more, as a late duplicate: nothing.
    flow.process(&event).await.unwrap();
    let thread = store.get_thread(THREAD).await.unwrap();
    let performed = platform.lock().unwrap().performed.clone();
    (performed, killed, thread)
}

async fn every_kill_point_is_finished_exactly_once(kind: StoreKind) {
    let expected = vec![
        "open intervention".to_string(),
        "reply One moment".to_string(),
        format!("recategorize {:?}", vec![OTHER_CATEGORY, AGENT_CATEGORY]),
    ];
    let (uninterrupted, killed, _) = run_killed_at(0, kind).await;
    assert!(!killed);
    assert_eq!(uninterrupted, expected);
    let mut kill_at = 1;
    loop {
        let (performed, killed, thread) = run_killed_at(kill_at, kind).await;
        if !killed {
            break;
        }
        assert_eq!(performed, expected, "killed before action {kill_at}");
        assert_eq!(thread.owner, Owner::Agent, "killed before action {kill_at}");
        assert_eq!(thread.bot_intervention_id.as_deref(), Some("int-1"), "killed before action {kill_at}");
        kill_at += 1;
    }
    assert!(kill_at > 8, "every platform call and store write was a kill point ({kill_at})");
}

#[tokio::test]
async fn every_kill_point_is_finished_exactly_once_memory() {
    every_kill_point_is_finished_exactly_once(StoreKind::Memory).await;
}

#[tokio::test]
async fn every_kill_point_is_finished_exactly_once_dynamodb() {
    every_kill_point_is_finished_exactly_once(StoreKind::Dynamo).await;
}
