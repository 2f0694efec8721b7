//! Lambda `zenvia`: Zenvia Chat external-bot events (`POST /zenvia/webhook?token=…`), checked,
//! given an id and queued in their interaction's group; the `process` function does the rest.

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
    let receiver = wiring::or_exit(wiring::zenvia_receiver_function(&env).await);
    edge::lambda::run(|request| edge::zenvia::handle(&receiver, request)).await
}
