//! Lambda `webhook`: Engage Digital subscription verification and `content.imported` events
//! (`GET`/`POST /engage/webhook`).

use handover_core::{config::ProcessEnv, edge, telemetry, wiring};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let env = ProcessEnv;
    let http = wiring::http_client();
    let store = wiring::dynamo_store(&env).await;
    let flow = store
        .map_err(wiring::StartupError::from)
        .and_then(|store| wiring::engage_flow(&env, store, &http));
    let flow = match flow {
        Ok(flow) => flow,
        Err(err) => {
            eprintln!("{err}");
            std::process::exit(2);
        }
    };
    edge::lambda::run(|request| edge::engage::handle_webhook(&flow, request)).await
}
