//! Lambda `process`: the queue's worker. Lambda's SQS event source hands it the events the
//! receivers (`webhook`, `rebot`, `zenvia`) queued, a thread's events in order; it runs the
//! bot's turn, the handover or the rebot for each, and answers with the messages not done
//! (partial batch response), which the queue delivers again.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use handover_core::config::ProcessEnv;
use handover_core::queue::{Processor, QueueMessage, SqsDelivery};
use handover_core::{telemetry, wiring};
use lambda_runtime::{LambdaEvent, service_fn};

// One thread: a Lambda environment runs one invocation at a time, and its calls (DynamoDB,
// SQS, the platform) are waits, not work to spread; worker threads would only add start-up
// and a cross-thread wake-up to every call's answer.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    // The HTTP client reads the system's root certificates (milliseconds of parsing) on another
    // thread while the secrets given as NAME_SECRET_ARN are read from Secrets Manager, once.
    let http = tokio::task::spawn_blocking(wiring::http_client);
    let env = wiring::or_exit(wiring::environment(&ProcessEnv).await);
    let http = http.await.expect("the HTTP client is built");
    let (processor, delivery) = wiring::or_exit(wiring::process_function(&env, &http).await);
    let worker = |event: LambdaEvent<SqsEvent>| handle(&processor, &delivery, event);
    lambda_runtime::run(service_fn(worker)).await
}

/// What a job leaves before the invocation's deadline to release its record and to settle the
/// batch on the queue.
const JOB_RELEASE_MARGIN_MS: i64 = 5_000;

async fn handle(
    processor: &Processor,
    delivery: &SqsDelivery,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    // A job starts only when it can finish before the invocation's deadline.
    let deadline_ms = event.context.deadline as i64;
    let needed_ms = processor.time_needed.as_millis() as i64;
    let time_left = || handover_core::now_millis() + needed_ms <= deadline_ms;
    let messages = event.payload.records.into_iter().map(queue_message).collect();
    // A job not done a few seconds before the deadline is released rather than killed.
    let left_ms = (deadline_ms - handover_core::now_millis() - JOB_RELEASE_MARGIN_MS).max(0) as u64;
    let job_deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(left_ms);
    let verdicts = processor.process_batch_until(messages, time_left, Some(job_deadline)).await;
    // Failures come back after their backoff, dead letters go alone: the reply names only the
    // messages to deliver again.
    let failed = delivery.settle(verdicts).await;
    handover_core::metrics::flush();
    let mut response = SqsBatchResponse::default();
    for id in failed {
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = id;
        response.batch_item_failures.push(failure);
    }
    Ok(response)
}

fn queue_message(m: SqsMessage) -> QueueMessage {
    QueueMessage {
        group: m.attributes.get("MessageGroupId").cloned().unwrap_or_default(),
        receive_count: m.attributes.get("ApproximateReceiveCount").and_then(|n| n.parse().ok()).unwrap_or(1),
        id: m.message_id.unwrap_or_default(),
        body: m.body.unwrap_or_default(),
        receipt_handle: m.receipt_handle.unwrap_or_default(),
    }
}
