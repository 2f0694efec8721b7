//! Lambda `zenvia`: Zenvia Chat external-bot events (`POST /zenvia/webhook?token=…`).

use handover_core::{config::ProcessEnv, edge, telemetry, wiring};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let http = wiring::http_client();
    let flow = wiring::or_exit(wiring::zenvia_function(&ProcessEnv, &http).await);
    edge::lambda::run(|request| edge::zenvia::handle(&flow, request)).await
}
