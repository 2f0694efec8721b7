//! Lambda `webhook`: Engage Digital subscription verification and `content.imported` events
//! (`GET`/`POST /engage/webhook`). It checks, parses and queues; the `process` function does
//! the rest.

use handover_core::edge::engage::Endpoint;
use handover_core::{config::ProcessEnv, edge, telemetry, wiring};

// One thread: a Lambda environment runs one invocation at a time, and its calls (DynamoDB,
// SQS, the platform) are waits, not work to spread; worker threads would only add start-up
// and a cross-thread wake-up to every call's answer.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    wiring::install_crypto_provider();
    // Secrets given as NAME_SECRET_ARN are read from Secrets Manager, once.
    let env = wiring::or_exit(wiring::environment(&ProcessEnv).await);
    let receiver = wiring::or_exit(wiring::engage_receiver_function(&env).await);
    edge::lambda::run(|request| edge::engage::handle(&receiver, Endpoint::Webhook, request)).await
}
