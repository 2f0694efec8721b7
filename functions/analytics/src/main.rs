//! Lambda `analytics`: `GET /analytics/agent_intervention.json` (Avaamo's shape) and, every
//! hour, an EventBridge schedule that rolls up the closed hours and days of the last 15 days
//! not rolled up yet, ahead of the reports.

use handover_core::{config::ProcessEnv, edge, telemetry, wiring};

// One thread: a Lambda environment runs one invocation at a time, and its calls (DynamoDB,
// SQS, the platform) are waits, not work to spread; worker threads would only add start-up
// and a cross-thread wake-up to every call's answer.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    // Secrets given as NAME_SECRET_ARN are read from Secrets Manager, once.
    let env = wiring::or_exit(wiring::environment(&ProcessEnv).await);
    let (store, token) = wiring::or_exit(wiring::analytics_function(&env).await);
    edge::lambda::run_with_schedule(
        |request| edge::analytics::handle(store.as_ref(), &token, request),
        |time_left| edge::analytics::roll_up(store.as_ref(), time_left),
    )
    .await
}
