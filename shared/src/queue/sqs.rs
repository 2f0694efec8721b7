//! SQS: the receivers' side ([`SqsQueue`]: `SendMessageBatch` to the FIFO queue) and, for the
//! dev server with `QUEUE_URL`, a poller that hands messages to the worker the way Lambda's
//! event source does ([`poll_sqs`]).

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, SendMessageBatchRequestEntry,
};

use super::{Job, JobQueue, Processor, QueueError, QueueMessage};

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
    async fn enqueue(&self, jobs: &[Job]) -> Result<(), QueueError> {
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

/// Polls the queue and processes what it receives like Lambda's SQS event source: a batch in
/// order, the messages done deleted, the others left to come back after the visibility
/// timeout (and to the dead-letter queue after the redrive policy's receives). Runs until the
/// task is dropped.
pub async fn poll_sqs(processor: Arc<Processor>, client: Client, url: String) {
    loop {
        let received = client
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
            .send()
            .await;
        let messages = match received {
            Ok(output) => output.messages.unwrap_or_default(),
            Err(err) => {
                tracing::warn!(error = %DisplayErrorContext(err), "cannot receive from the queue; trying again");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        let batch = messages
            .iter()
            .map(|m| QueueMessage {
                id: m.message_id().unwrap_or_default().to_string(),
                group: m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
                    .cloned()
                    .unwrap_or_default(),
                body: m.body().unwrap_or_default().to_string(),
            })
            .collect();
        let failed = processor.process_batch(batch, || true).await;
        let done: Vec<DeleteMessageBatchRequestEntry> = messages
            .iter()
            .enumerate()
            .filter(|(_, m)| !failed.iter().any(|id| Some(id.as_str()) == m.message_id()))
            .filter_map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle()?)
                    .build()
                    .ok()
            })
            .collect();
        if done.is_empty() {
            continue;
        }
        if let Err(err) = client.delete_message_batch().queue_url(&url).set_entries(Some(done)).send().await {
            tracing::warn!(error = %DisplayErrorContext(err), "done messages not deleted; they come back and are deduplicated");
        }
    }
}
