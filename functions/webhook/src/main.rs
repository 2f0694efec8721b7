//! Lambda `webhook`: Engage Digital subscription verification and `content.imported` events
//! (`GET`/`POST /engage/webhook`).

use handover_core::edge::engage::Endpoint;
use handover_core::{config::ProcessEnv, edge, telemetry, wiring};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let http = wiring::http_client();
    let flow = match wiring::webhook_function(&ProcessEnv, &http).await {
        Ok(flow) => flow,
        Err(err) => {
            // One line naming the variable; the function never runs half-configured.
            eprintln!("{err}");
            std::process::exit(2);
        }
    };
    edge::lambda::run(|request| edge::engage::handle(&flow, Endpoint::Webhook, request)).await
}
