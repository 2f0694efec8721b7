//! SQS: the receivers' side ([`SqsQueue`]: `SendMessageBatch` to the FIFO queue) and, for the
//! dev server with `QUEUE_URL`, a poller that hands messages to the worker the way Lambda's
//! event source does ([`poll_sqs`]).

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message, MessageAttributeValue,
    MessageSystemAttributeName, SendMessageBatchRequestEntry,
};

use super::{DELIVERY, Job, JobQueue, Processor, QueueError, QueueMessage, Verdict};

/// SendMessageBatch takes ten messages, and 256 KiB in all.
const BATCH_MESSAGES: usize = 10;
const BATCH_BYTES: usize = 250 * 1024;

/// A client for `endpoint` (moto's server) or, without one, for AWS from the environment.
pub async fn sqs_client(endpoint: Option<&str>) -> Client {
    Client::new(&crate::aws::config_for(endpoint).await)
}

/// The FIFO queue between the receivers and the worker.
pub struct SqsQueue {
    client: Client,
    url: String,
}

impl SqsQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self { client, url: url.into() }
    }
}

/// SQS takes ids of at most 128 characters from `[!-~]`; the platforms' ids already are.
fn sqs_id(id: &str) -> String {
    id.chars().map(|c| if c.is_ascii_graphic() { c } else { '_' }).take(128).collect()
}

#[async_trait::async_trait]
impl JobQueue for SqsQueue {
    async fn enqueue(&self, jobs: Vec<Job>) -> Result<(), QueueError> {
        let mut batch: Vec<SendMessageBatchRequestEntry> = Vec::new();
        let mut bytes = 0;
        let mut batches = Vec::new();
        for (index, job) in jobs.iter().enumerate() {
            let body = serde_json::to_string(job).expect("a job serializes");
            if !batch.is_empty() && (batch.len() == BATCH_MESSAGES || bytes + body.len() > BATCH_BYTES) {
                batches.push(std::mem::take(&mut batch));
                bytes = 0;
            }
            bytes += body.len();
            batch.push(
                SendMessageBatchRequestEntry::builder()
                    .id(index.to_string())
                    .message_group_id(sqs_id(&job.group()))
                    .message_deduplication_id(sqs_id(&job.dedup_id()))
                    .message_body(body)
                    .build()
                    .expect("complete entry"),
            );
        }
        if !batch.is_empty() {
            batches.push(batch);
        }
        // In order, one batch after the other: a thread's events keep the order they came in.
        for entries in batches {
            let output = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| QueueError::Unavailable(DisplayErrorContext(e).to_string()))?;
            if !output.failed().is_empty() {
                let detail =
                    output.failed().iter().map(|f| f.code().to_string()).collect::<Vec<_>>().join(", ");
                return Err(QueueError::Refused { failed: output.failed().len(), total: jobs.len(), detail });
            }
        }
        Ok(())
    }
}

/// Carries out the worker's verdicts on SQS, the same for the Lambda worker and the dev
/// server's poller: a message to retry gets its visibility set to its backoff (zero for one
/// not tried); a dead-lettered one is sent to the dead-letter queue with its last error, then
/// left out of the failures (so it is deleted). Returns the ids to report as failed.
pub struct SqsDelivery {
    pub client: Client,
    pub queue_url: String,
    /// Where dead letters go; `None` leaves them to the queue's redrive policy.
    pub dead_letter_url: Option<String>,
}

impl SqsDelivery {
    pub async fn settle(&self, verdicts: Vec<(QueueMessage, Verdict)>) -> Vec<String> {
        let mut retries: Vec<(QueueMessage, Duration)> = Vec::new();
        for (message, verdict) in verdicts {
            match verdict {
                Verdict::Done => {}
                Verdict::RetryAfter(after) => retries.push((message, after)),
                Verdict::DeadLetter { error, attempts } => {
                    if let Err(err) = self.dead_letter(&message, &error, attempts).await {
                        tracing::error!(message_id = %message.id, error = %err, "dead letter not sent; the message comes back");
                        retries.push((message, DELIVERY.max));
                    }
                }
            }
        }
        self.set_visibility(&retries).await;
        retries.into_iter().map(|(message, _)| message.id).collect()
    }

    async fn dead_letter(&self, message: &QueueMessage, error: &str, attempts: u32) -> Result<(), String> {
        let Some(url) = &self.dead_letter_url else { return Err("no DEAD_LETTER_QUEUE_URL".into()) };
        let text = |value: &str| {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .expect("complete")
        };
        let error: String = error.chars().take(1024).collect();
        self.client
            .send_message()
            .queue_url(url)
            .message_group_id(&message.group)
            .message_deduplication_id(sqs_id(&message.id))
            .message_body(&message.body)
            .message_attributes("error", text(&error))
            .message_attributes("attempts", text(&attempts.to_string()))
            .send()
            .await
            .map_err(|e| DisplayErrorContext(e).to_string())?;
        Ok(())
    }

    /// Each message comes back after its own backoff. A failure here leaves the queue's
    /// visibility timeout, which is only later.
    async fn set_visibility(&self, retries: &[(QueueMessage, Duration)]) {
        for chunk in retries.chunks(BATCH_MESSAGES) {
            let entries: Vec<ChangeMessageVisibilityBatchRequestEntry> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, (message, after))| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(&message.receipt_handle)
                        .visibility_timeout(after.as_secs_f64().ceil() as i32)
                        .build()
                        .ok()
                })
                .collect();
            let changed = self
                .client
                .change_message_visibility_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await;
            match changed {
                Ok(output) if output.failed().is_empty() => {}
                Ok(output) => tracing::warn!(
                    failed = output.failed().len(),
                    "some retries wait for the visibility timeout"
                ),
                Err(err) => {
                    tracing::warn!(error = %DisplayErrorContext(err), "retries wait for the visibility timeout")
                }
            }
        }
    }
}

/// A message as SQS hands it over.
fn queue_message(m: &Message) -> QueueMessage {
    let attribute = |name: MessageSystemAttributeName| m.attributes().and_then(|a| a.get(&name)).cloned();
    QueueMessage {
        id: m.message_id().unwrap_or_default().to_string(),
        group: attribute(MessageSystemAttributeName::MessageGroupId).unwrap_or_default(),
        body: m.body().unwrap_or_default().to_string(),
        receipt_handle: m.receipt_handle().unwrap_or_default().to_string(),
        receive_count: attribute(MessageSystemAttributeName::ApproximateReceiveCount)
            .and_then(|n| n.parse().ok())
            .unwrap_or(1),
    }
}

/// Receives one batch, processes it and settles it as Lambda's SQS event source with the
/// worker's function does: the verdicts carried out, the messages not reported deleted.
/// `false` when nothing was received.
pub async fn receive_and_process(
    processor: &Processor,
    delivery: &SqsDelivery,
    time_left: impl Fn() -> bool,
) -> bool {
    let received = delivery
        .client
        .receive_message()
        .queue_url(&delivery.queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
        .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
        .send()
        .await;
    let messages = match received {
        Ok(output) => output.messages.unwrap_or_default(),
        Err(err) => {
            tracing::warn!(error = %DisplayErrorContext(err), "cannot receive from the queue; trying again");
            tokio::time::sleep(Duration::from_secs(1)).await;
            return false;
        }
    };
    if messages.is_empty() {
        return false;
    }
    let batch: Vec<QueueMessage> = messages.iter().map(queue_message).collect();
    let failed = delivery.settle(processor.process_batch(batch.clone(), time_left).await).await;
    let done: Vec<DeleteMessageBatchRequestEntry> = batch
        .iter()
        .enumerate()
        .filter(|(_, m)| !failed.contains(&m.id))
        .filter_map(|(i, m)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(&m.receipt_handle)
                .build()
                .ok()
        })
        .collect();
    if !done.is_empty()
        && let Err(err) = delivery
            .client
            .delete_message_batch()
            .queue_url(&delivery.queue_url)
            .set_entries(Some(done))
            .send()
            .await
    {
        tracing::warn!(error = %DisplayErrorContext(err), "done messages not deleted; they come back and are deduplicated");
    }
    true
}

/// Polls the queue like Lambda's SQS event source (the dev server with `QUEUE_URL`). Runs until
/// the task is dropped.
pub async fn poll_sqs(processor: Arc<Processor>, delivery: SqsDelivery) {
    loop {
        receive_and_process(&processor, &delivery, || true).await;
    }
}
