//! Lambda `emergency`: `GET`/`POST /emergency` (IAM-authorized by API Gateway) and, every
//! minute, an EventBridge schedule that continues unfinished work (threads still to hand over,
//! sources still to restore).

use handover_core::edge::emergency::Authorization;
use handover_core::{config::ProcessEnv, edge, telemetry, wiring};

// One thread: a Lambda environment runs one invocation at a time, and its calls (DynamoDB,
// SQS, the platform) are waits, not work to spread; worker threads would only add start-up
// and a cross-thread wake-up to every call's answer.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    // The HTTP client reads the system's root certificates (milliseconds of parsing) on another
    // thread while the secrets given as NAME_SECRET_ARN are read from Secrets Manager, once.
    let http = tokio::task::spawn_blocking(wiring::http_client);
    let env = wiring::or_exit(wiring::environment(&ProcessEnv).await);
    let http = http.await.expect("the HTTP client is built");
    let flow = wiring::or_exit(wiring::emergency_function(&env, &http).await);
    let authorization = Authorization::Iam;
    edge::lambda::run_with_schedule(
        |request| edge::emergency::handle(&flow, &authorization, request),
        |time_left| {
            let flow = &flow;
            async move {
                // Stops with a margin before the function's Timeout kills it, counters saved.
                let budget = time_left.saturating_sub(wiring::EMERGENCY_STOP_MARGIN);
                if let Err(err) = flow.continue_work_for(budget).await {
                    tracing::warn!(error = %err, "emergency work not finished; the next run continues");
                }
            }
        },
    )
    .await
}
