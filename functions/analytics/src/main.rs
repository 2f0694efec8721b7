//! Lambda `analytics`: `GET /analytics/agent_intervention.json` (Avaamo's shape).

use handover_core::{config::ProcessEnv, edge, telemetry, wiring};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let (store, token) = wiring::or_exit(wiring::analytics_function(&ProcessEnv).await);
    edge::lambda::run(|request| edge::analytics::handle(store.as_ref(), &token, request)).await
}
