//! An Engage Digital that answers every call at once, on loopback: agents available on one
//! channel, no time sheets, a thread in the bot's category, `{"id": "x1"}` for the rest. For
//! measuring the product's own cost (CPU, requests, log lines), not the platform's behaviour.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::{Request, State};
use axum::routing::any;
use serde_json::{Value, json};

/// The channel (and source) the fake's agents are available on.
pub const CHANNEL: &str = "channel-1";
pub const SOURCE: &str = "source-1";

/// Starts the fake; returns its API URL (`http://127.0.0.1:<port>/1.0`) and its call count.
pub async fn start(bot_category: &'static str) -> std::io::Result<(String, Arc<AtomicUsize>)> {
    let calls = Arc::new(AtomicUsize::new(0));
    async fn answer(
        State((calls, bot)): State<(Arc<AtomicUsize>, &'static str)>,
        request: Request,
    ) -> axum::Json<Value> {
        calls.fetch_add(1, Ordering::SeqCst);
        axum::Json(match request.uri().path() {
            "/1.0/status" => {
                json!([{"agent_id": "a1", "channels": [{"id": CHANNEL, "status": "available", "busyness": "ok"}]}])
            }
            "/1.0/channels" => json!({"records": [{"id": CHANNEL, "source_ids": [SOURCE]}]}),
            "/1.0/time_sheets" => json!({"records": []}),
            p if p.starts_with("/1.0/content_threads/") => {
                json!({"id": "t", "thread_category_ids": ["other", bot]})
            }
            _ => json!({"id": "x1"}),
        })
    }
    let app = Router::new().fallback(any(answer)).with_state((calls.clone(), bot_category));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((format!("http://{address}/1.0"), calls))
}
