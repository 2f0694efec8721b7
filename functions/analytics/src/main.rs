//! Lambda `analytics`: `GET /analytics/agent_intervention.json` (Avaamo's shape).

use handover_core::{config::ProcessEnv, edge, telemetry, wiring};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let (store, token) = match wiring::analytics_function(&ProcessEnv).await {
        Ok(parts) => parts,
        Err(err) => {
            eprintln!("{err}");
            std::process::exit(2);
        }
    };
    edge::lambda::run(|request| edge::analytics::handle(store.as_ref(), &token, request)).await
}
