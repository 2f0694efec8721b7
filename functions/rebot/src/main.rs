//! Lambda `rebot`: Engage Digital subscription verification and intervention events
//! (`GET`/`POST /engage/interventions`). It checks, parses and queues them in their thread's
//! group, behind the thread's messages; the `process` function gives a thread back to the bot
//! when an agent closes its intervention (`REOPEN_POLICY`).

use handover_core::edge::engage::Endpoint;
use handover_core::{config::ProcessEnv, edge, telemetry, wiring};

// One thread: a Lambda environment runs one invocation at a time, and its calls (DynamoDB,
// SQS, the platform) are waits, not work to spread; worker threads would only add start-up
// and a cross-thread wake-up to every call's answer.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    wiring::install_crypto_provider();
    // The same receiver as the webhook's: an event registered on the wrong URL is still handled.
    // Secrets given as NAME_SECRET_ARN are read from Secrets Manager, once.
    let env = wiring::or_exit(wiring::environment(&ProcessEnv).await);
    let receiver = wiring::or_exit(wiring::engage_receiver_function(&env).await);
    edge::lambda::run(|request| edge::engage::handle(&receiver, Endpoint::Interventions, request)).await
}
