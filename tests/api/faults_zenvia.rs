//! The fault matrix on Zenvia (issue 23): every platform call and store write of an
//! interaction's events in turn is a fault point (killed, a 503, a 502 after the work was
//! done); after the queue's redelivery each effect is made once. Zenvia refuses a repeated
//! accept, transfer or finish, and that refusal after our own uncertain attempt counts as made.
//! Zenvia has no API to read what was sent, so a message whose outcome was unknown is sent
//! again: at most once more, only the message the fault hit (said in the README).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Request, State};
use axum::routing::any;
use handover_core::config::ZenviaSettings;
use handover_core::flow::zenvia::ZenviaFlow;
use handover_core::store::{MemoryStore, Owner, Store, ThreadState, ThreadStore};
use handover_core::wiring;
use handover_core::zenvia::ZenviaEvent;
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::faults::{CrashableStore, Fault, Killer, failure};
use crate::helpers::{StoreKind, new_store};

const HASH: &str = "matrix-interaction";

#[derive(Default)]
struct Zenvia {
    performed: Vec<String>,
    accepted: bool,
    transferred: bool,
    finished: bool,
}

type Shared = (Arc<Mutex<Zenvia>>, Arc<Killer>);

/// Zenvia as far as these scenarios go: a repeated accept, transfer or finish is refused (422).
fn perform(zenvia: &Mutex<Zenvia>, path: &str, body: &Value) -> Result<(), u16> {
    let mut z = zenvia.lock().unwrap();
    let once = |done: &mut bool| if std::mem::replace(done, true) { Err(422_u16) } else { Ok(()) };
    let action = path.rsplit('/').next().unwrap_or("");
    match action {
        "accept" => once(&mut z.accepted)?,
        "transfer" => once(&mut z.transferred)?,
        "finish" => once(&mut z.finished)?,
        "message" => {}
        other => panic!("unexpected call {other}"),
    }
    let line = match action {
        "message" => format!("message {}", body["content"].as_str().unwrap_or("")),
        other => other.to_string(),
    };
    z.performed.push(line);
    Ok(())
}

async fn zenvia_answer(
    State((zenvia, killer)): State<Shared>,
    request: Request,
) -> (axum::http::StatusCode, axum::Json<Value>) {
    let path = request.uri().path().to_string();
    let bytes = axum::body::to_bytes(request.into_body(), 1 << 20).await.unwrap();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    if killer.is_kill_point() {
        match killer.fault {
            Fault::Kill => killer.die_here().await,
            Fault::PerformedThen502 => {
                let _ = perform(&zenvia, &path, &body);
                return failure(502, "bad_gateway");
            }
            _ => return failure(503, "unavailable"),
        }
    }
    match perform(&zenvia, &path, &body) {
        Ok(()) => {
            let ok = json!({"message": "Message received successfully", "status": 200});
            (axum::http::StatusCode::OK, axum::Json(ok))
        }
        Err(status) => failure(status, "refused"),
    }
}

fn events(texts: &[&str]) -> Vec<(ZenviaEvent, String)> {
    let mut events = vec![(
        ZenviaEvent::NewInteraction { interaction_hash: HASH.into(), department_id: Some(7) },
        "new_interaction".to_string(),
    )];
    for (n, text) in texts.iter().enumerate() {
        let message = ZenviaEvent::NewMessage {
            interaction_hash: HASH.into(),
            content: text.to_string(),
            content_type: "text".into(),
        };
        events.push((message, format!("delivery-{n}")));
    }
    events
}

/// Delivers `texts` (after the new interaction) with `fault` at action `fault_at` (0: never),
/// each event delivered again until it is done, as the queue does.
async fn run(
    fault_at: usize,
    kind: StoreKind,
    fault: Fault,
    texts: &[&str],
) -> (Vec<String>, bool, ThreadState) {
    let remaining = AtomicUsize::new(if fault_at == 0 { usize::MAX } else { fault_at });
    let killer = Arc::new(Killer { remaining, killed: Notify::new(), fault, hit: Default::default() });
    let zenvia = Arc::new(Mutex::new(Zenvia::default()));
    let app = Router::new().fallback(any(zenvia_answer)).with_state((zenvia.clone(), killer.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_url = format!("http://{}/core/api/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let inner: Arc<dyn Store> = match kind {
        StoreKind::Memory => Arc::new(MemoryStore::new()),
        StoreKind::Dynamo => new_store(StoreKind::Dynamo).await,
    };
    let store = Arc::new(CrashableStore { inner, skew_ms: AtomicI64::new(0), killer: killer.clone() });
    let env: HashMap<&str, &str> = HashMap::from([
        ("ZENVIA_API_URL", api_url.as_str()),
        ("ZENVIA_API_TOKEN", "zenvia-token"),
        ("ZENVIA_WEBHOOK_TOKEN", "webhook-token"),
        ("HANDOVER_MESSAGE", "One moment"),
        ("ZENVIA_LANGUAGE", "en"),
    ]);
    let settings = ZenviaSettings::from_env(&env).unwrap();
    let http = wiring::http_client();
    let bot = wiring::bot(&settings.bot, &http).await.unwrap();
    let flow = Arc::new(wiring::zenvia_flow_with(settings, store.clone(), bot, &http));
    for (event, delivery) in events(texts) {
        deliver_until_done(&flow, &store, &killer, event, delivery).await;
    }
    let interaction = store.get_thread(&format!("zenvia:{HASH}")).await.unwrap();
    let performed = zenvia.lock().unwrap().performed.clone();
    (performed, killer.hit.load(Ordering::SeqCst), interaction)
}

async fn deliver_until_done(
    flow: &Arc<ZenviaFlow>,
    store: &CrashableStore,
    killer: &Arc<Killer>,
    event: ZenviaEvent,
    delivery: String,
) {
    for _ in 0..5 {
        let mut running = {
            let (flow, event, delivery) = (flow.clone(), event.clone(), delivery.clone());
            tokio::spawn(async move { flow.process(&event, &delivery).await.map(|_| ()) })
        };
        let done = tokio::select! {
            _ = killer.killed.notified() => {
                running.abort();
                // The process is gone; the queue delivers again after the lease expired.
                store.skew_ms.fetch_add(600_000, Ordering::SeqCst);
                false
            }
            finished = &mut running => finished.unwrap().is_ok(),
        };
        if done {
            return;
        }
    }
    panic!("{delivery} was never done");
}

/// The performed calls with a message repeated right after itself counted once; how many
/// such repeats there were.
fn without_repeated_messages(performed: &[String]) -> (Vec<String>, usize) {
    let mut kept: Vec<String> = Vec::new();
    for call in performed {
        if call.starts_with("message ") && kept.last() == Some(call) {
            continue;
        }
        kept.push(call.clone());
    }
    let repeats = performed.len() - kept.len();
    (kept, repeats)
}

async fn every_fault_point_of(kind: StoreKind, fault: Fault, texts: &[&str], expected: &[&str]) {
    let (clean, reached, _) = run(0, kind, fault, texts).await;
    assert!(!reached);
    assert_eq!(clean, expected);
    let mut point = 1;
    loop {
        let (performed, reached, interaction) = run(point, kind, fault, texts).await;
        if !reached {
            break;
        }
        let at = format!("{texts:?} with {fault:?} at action {point}");
        let (once, repeats) = without_repeated_messages(&performed);
        assert_eq!(once, expected, "{at}: {performed:?}");
        assert!(repeats <= 1, "{at}: only the message the fault hit may be sent again: {performed:?}");
        if fault == Fault::Fail {
            assert_eq!(repeats, 0, "{at}: a 503 means not sent: {performed:?}");
        }
        let transferred = expected.contains(&"transfer");
        let owner = if transferred { Owner::Agent } else { Owner::Bot };
        assert_eq!(interaction.owner, owner, "{at}: {performed:?} {:?}", interaction.pending_handover);
        assert_eq!(interaction.ended, expected.contains(&"finish"), "{at}");
        point += 1;
    }
    assert!(point > 6, "every call and store write was a fault point ({point})");
}

const GREETING: &str = "message Hello! I am the virtual assistant. How can I help you today?";

async fn every_effect_made_once(kind: StoreKind, fault: Fault) {
    let handover = ["accept", GREETING, "message One moment", "transfer"];
    every_fault_point_of(kind, fault, &["hello", "I want to talk to a human"], &handover).await;
    let resolve = ["accept", "message Glad I could help. Goodbye!", "finish"];
    every_fault_point_of(kind, fault, &["bye"], &resolve).await;
}

#[tokio::test]
async fn zenvia_killed_at_any_step_makes_each_effect_once_memory() {
    every_effect_made_once(StoreKind::Memory, Fault::Kill).await;
}

#[tokio::test]
async fn zenvia_killed_at_any_step_makes_each_effect_once_dynamodb() {
    every_effect_made_once(StoreKind::Dynamo, Fault::Kill).await;
}

#[tokio::test]
async fn zenvia_503_at_any_step_makes_each_effect_once() {
    every_effect_made_once(StoreKind::Memory, Fault::Fail).await;
}

#[tokio::test]
async fn zenvia_502_after_the_work_at_any_step_makes_each_effect_once_memory() {
    every_effect_made_once(StoreKind::Memory, Fault::PerformedThen502).await;
}

#[tokio::test]
async fn zenvia_502_after_the_work_at_any_step_makes_each_effect_once_dynamodb() {
    every_effect_made_once(StoreKind::Dynamo, Fault::PerformedThen502).await;
}
