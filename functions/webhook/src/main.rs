//! Lambda `webhook`: Engage Digital subscription verification and `content.imported` events
//! (`GET`/`POST /engage/webhook`).

use handover_core::edge::engage::Endpoint;
use handover_core::{config::ProcessEnv, edge, telemetry, wiring};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let http = wiring::http_client();
    let flow = wiring::or_exit(wiring::webhook_function(&ProcessEnv, &http).await);
    edge::lambda::run(|request| edge::engage::handle(&flow, Endpoint::Webhook, request)).await
}
