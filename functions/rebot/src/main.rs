//! Lambda `rebot`: Engage Digital subscription verification and intervention events
//! (`GET`/`POST /engage/interventions`): when an agent closes its intervention, the thread can
//! go back to the bot (`REOPEN_POLICY`).

use handover_core::edge::engage::Endpoint;
use handover_core::{config::ProcessEnv, edge, telemetry, wiring};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let http = wiring::http_client();
    // The same flow as the webhook's: an event registered on the wrong URL is still handled.
    let flow = wiring::or_exit(wiring::webhook_function(&ProcessEnv, &http).await);
    edge::lambda::run(|request| edge::engage::handle(&flow, Endpoint::Interventions, request)).await
}
