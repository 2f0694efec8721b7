//! Lambda `webhook`: Engage Digital subscription verification and `content.imported` events
//! (`GET`/`POST /engage/webhook`). It checks, parses and queues; the `process` function does
//! the rest.

use handover_core::edge::engage::Endpoint;
use handover_core::{config::ProcessEnv, edge, telemetry, wiring};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    wiring::install_crypto_provider();
    let receiver = wiring::or_exit(wiring::engage_receiver_function(&ProcessEnv).await);
    edge::lambda::run(|request| edge::engage::handle(&receiver, Endpoint::Webhook, request)).await
}
