//! Receive, then process (CONTRACT C14). The receiving functions check and parse a webhook
//! body and put each event on a queue as a [`Job`], grouped by thread; a worker takes the jobs
//! of each group one at a time, in order, and retries a failed one before the group goes on.
//!
//! - In AWS: one SQS FIFO queue (`MessageGroupId` = [`Job::group`], `MessageDeduplicationId` =
//!   [`Job::dedup_id`]) and the `process` function behind Lambda's SQS event source
//!   ([`process_batch`] answers with the failed messages, and every message after them).
//! - Locally: [`InProcessQueue`], the same semantics in the dev server's process, or SQS
//!   ([`SqsQueue`] and [`poll_sqs`]) when `QUEUE_URL` is set.

mod in_process;
mod sqs;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::engage::WebhookEvent;
use crate::flow::EngageFlow;
use crate::flow::zenvia::{ZenviaFlow, interaction_key};
use crate::zenvia::ZenviaEvent;

pub use in_process::{DeadLetter, InProcessQueue, JOB_RETRIES, QueueSnapshot};
pub use sqs::{SqsQueue, poll_sqs, sqs_client};

/// The longest message text a job carries (characters). A bot needs no more, and it keeps
/// every job well under SQS's 256 KiB message limit.
pub const MAX_JOB_TEXT_CHARS: usize = 32 * 1024;

/// One event to process, as the queue carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "platform", rename_all = "snake_case")]
pub enum Job {
    Engage {
        event: WebhookEvent,
    },
    /// `delivery_id`: Zenvia's events carry no id, so the receiver gives each delivery one
    /// (fixed for the events that happen once per interaction).
    Zenvia {
        delivery_id: String,
        event: ZenviaEvent,
    },
}

impl Job {
    /// An Engage Digital event, its text cut to [`MAX_JOB_TEXT_CHARS`].
    pub fn engage(mut event: WebhookEvent) -> Self {
        if let WebhookEvent::ContentImported(content) = &mut event {
            truncate_chars(&mut content.body, MAX_JOB_TEXT_CHARS);
        }
        Self::Engage { event }
    }

    /// A Zenvia event received now. Accepting and finishing happen once per interaction, so
    /// their id is fixed; each message delivery gets a new random one.
    pub fn zenvia(mut event: ZenviaEvent) -> Self {
        let delivery_id = match &event {
            ZenviaEvent::NewInteraction { .. } => "new_interaction".to_string(),
            ZenviaEvent::FinishedInteraction { .. } => "finished_interaction".to_string(),
            _ => format!("{:032x}", rand::random::<u128>()),
        };
        if let ZenviaEvent::NewMessage { content, .. } = &mut event {
            truncate_chars(content, MAX_JOB_TEXT_CHARS);
        }
        Self::Zenvia { delivery_id, event }
    }

    /// The queue's group: the events of one thread (or Zenvia interaction) are processed one
    /// at a time, in order. Thread events and intervention events of a thread share it.
    pub fn group(&self) -> String {
        match self {
            Self::Engage { event } => event.thread_scope(),
            Self::Zenvia { event, .. } => interaction_key(event.interaction_hash().unwrap_or("")),
        }
    }

    /// The queue's deduplication id: the platform's event id, or the id given at receipt.
    pub fn dedup_id(&self) -> String {
        match self {
            Self::Engage { event } => event.id().to_string(),
            Self::Zenvia { delivery_id, event } => {
                format!("zenvia:{}:{delivery_id}", event.interaction_hash().unwrap_or(""))
            }
        }
    }
}

fn truncate_chars(text: &mut String, max: usize) {
    if let Some((index, _)) = text.char_indices().nth(max) {
        text.truncate(index);
    }
}

/// Queueing failed: the receiver answers `503` and the platform sends the body again.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("the queue refused {failed} of {total} events: {detail}")]
    Refused { failed: usize, total: usize, detail: String },
    #[error("the queue is unavailable: {0}")]
    Unavailable(String),
}

/// Where receivers put jobs.
#[async_trait::async_trait]
pub trait JobQueue: Send + Sync {
    /// Queues the jobs durably, in order; `Ok` only when every one is queued.
    async fn enqueue(&self, jobs: &[Job]) -> Result<(), QueueError>;
}

/// Why a job is not done; the queue delivers it again.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Process(#[from] crate::flow::ProcessError),
    #[error("{0} is not configured in this function")]
    NotConfigured(&'static str),
    #[error("the message is not a job: {0}")]
    Malformed(String),
}

/// The worker's one entry point: a job to the flow of its platform.
pub struct Processor {
    pub engage: Option<Arc<EngageFlow>>,
    pub zenvia: Option<Arc<ZenviaFlow>>,
    /// The longest a job may take: a job starts only with this much time left.
    pub time_needed: std::time::Duration,
    /// The flows' view of the emergency switch, which the dev server's switch updates at once.
    pub emergency: Arc<crate::flow::cache::EmergencyFlag>,
}

/// What a job may take besides the bot: a few platform calls (each bounded by its own
/// timeout) and three store requests.
pub const JOB_TIME_BESIDES_BOT: std::time::Duration = std::time::Duration::from_secs(30);

impl Processor {
    pub async fn process(&self, job: &Job) -> Result<(), JobError> {
        match job {
            Job::Engage { event } => {
                let flow = self.engage.as_ref().ok_or(JobError::NotConfigured("Engage Digital"))?;
                flow.process(event).await?;
            }
            Job::Zenvia { delivery_id, event } => {
                let flow = self.zenvia.as_ref().ok_or(JobError::NotConfigured("Zenvia"))?;
                flow.process(event, delivery_id).await?;
            }
        }
        Ok(())
    }

    /// Processes one batch of queue messages as Lambda's SQS event source hands them over
    /// and returns the ids of those not done. The batch's conversations (message groups) run
    /// side by side, so one slow bot answer does not use up the others' time; within a group
    /// the messages run in order, and once one fails, it and every later message of its group
    /// are reported, so their order holds. `time_left` says whether a job may still start: one
    /// that could not finish before the function's deadline is reported instead, and the queue
    /// delivers it again.
    pub async fn process_batch(
        &self,
        messages: Vec<QueueMessage>,
        time_left: impl Fn() -> bool,
    ) -> Vec<String> {
        let order: Vec<String> = messages.iter().map(|m| m.id.clone()).collect();
        let mut groups: Vec<(String, Vec<QueueMessage>)> = Vec::new();
        for message in messages {
            match groups.iter_mut().find(|(group, _)| *group == message.group) {
                Some((_, list)) => list.push(message),
                None => groups.push((message.group.clone(), vec![message])),
            }
        }
        let runs = groups.into_iter().map(|(_, messages)| self.process_group(messages, &time_left));
        let failed: std::collections::HashSet<String> = join_all(runs).await.into_iter().flatten().collect();
        // In the batch's order, as Lambda reads them.
        order.into_iter().filter(|id| failed.contains(id)).collect()
    }

    /// One group's messages in order; the ids not done.
    async fn process_group(&self, messages: Vec<QueueMessage>, time_left: &impl Fn() -> bool) -> Vec<String> {
        let mut failed = Vec::new();
        for message in messages {
            if !failed.is_empty() || !time_left() {
                failed.push(message.id);
                continue;
            }
            let result = match serde_json::from_str::<Job>(&message.body) {
                Ok(job) => self.process(&job).await,
                Err(err) => Err(JobError::Malformed(err.to_string())),
            };
            if let Err(err) = result {
                tracing::warn!(message_id = %message.id, error = %err, "job not done; the queue delivers it again");
                failed.push(message.id);
            }
        }
        failed
    }
}

/// A message as the queue hands it over.
#[derive(Debug, Clone)]
pub struct QueueMessage {
    pub id: String,
    /// SQS's `MessageGroupId`: the messages of one group are processed in order.
    pub group: String,
    pub body: String,
}

/// Runs the futures concurrently on this task and collects their outputs, in order.
async fn join_all<F: std::future::Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut pending: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all_done = true;
        for (future, output) in pending.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => all_done = false,
                }
            }
        }
        if all_done { std::task::Poll::Ready(()) } else { std::task::Poll::Pending }
    })
    .await;
    outputs.into_iter().map(|o| o.expect("every future finished")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engage::ContentEvent;

    fn content(thread: &str, body: &str) -> WebhookEvent {
        WebhookEvent::ContentImported(ContentEvent {
            event_id: "ev1".into(),
            thread_id: thread.into(),
            body: body.into(),
            ..ContentEvent::default()
        })
    }

    #[test]
    fn jobs_are_grouped_by_thread_and_deduplicated_by_event() {
        let job = Job::engage(content("th1", "hello"));
        assert_eq!((job.group(), job.dedup_id()), ("th1".into(), "ev1".into()));
        let json = serde_json::to_string(&job).unwrap();
        assert_eq!(serde_json::from_str::<Job>(&json).unwrap(), job);
    }

    #[test]
    fn long_texts_are_cut_on_a_character_boundary() {
        let job = Job::engage(content("th1", &"é".repeat(MAX_JOB_TEXT_CHARS + 10)));
        let Job::Engage { event: WebhookEvent::ContentImported(c) } = job else { panic!() };
        assert_eq!(c.body.chars().count(), MAX_JOB_TEXT_CHARS);
    }

    #[test]
    fn zenvia_messages_get_a_new_id_per_delivery_and_accepts_a_fixed_one() {
        let message = || ZenviaEvent::NewMessage {
            interaction_hash: "h1".into(),
            content: "hi".into(),
            content_type: "text".into(),
        };
        let (a, b) = (Job::zenvia(message()), Job::zenvia(message()));
        assert_ne!(a.dedup_id(), b.dedup_id());
        assert_eq!(a.group(), "zenvia:h1");
        let accept = || ZenviaEvent::NewInteraction { interaction_hash: "h1".into(), department_id: None };
        assert_eq!(Job::zenvia(accept()).dedup_id(), Job::zenvia(accept()).dedup_id());
    }
}

#[cfg(test)]
mod batch_tests {
    use std::collections::HashMap;

    use super::*;
    use crate::config::WebhookSettings;
    use crate::store::MemoryStore;

    /// A worker whose Engage flow acknowledges unknown event types without any call.
    async fn processor() -> Processor {
        let env: HashMap<&str, &str> = HashMap::from([
            ("ENGAGE_API_URL", "http://127.0.0.1:9/1.0"),
            ("ENGAGE_ACCESS_TOKEN", "t"),
            ("ENGAGE_VERIFY_TOKEN", "v"),
            ("BOT_CATEGORY_ID", "bot"),
            ("AGENT_CATEGORY_ID", "agent"),
        ]);
        let settings = WebhookSettings::from_env(&env).unwrap();
        let flow =
            crate::wiring::engage_flow(settings, Arc::new(MemoryStore::new()), &crate::wiring::http_client())
                .await
                .unwrap();
        let emergency = flow.engine.emergency.clone();
        Processor {
            engage: Some(Arc::new(flow)),
            zenvia: None,
            time_needed: std::time::Duration::ZERO,
            emergency,
        }
    }

    fn acknowledged(id: &str) -> String {
        serde_json::to_string(&Job::engage(WebhookEvent::Unknown { id: id.into(), event_type: "x".into() }))
            .unwrap()
    }

    fn message(id: &str, group: &str, body: &str) -> QueueMessage {
        QueueMessage { id: id.into(), group: group.into(), body: body.into() }
    }

    #[tokio::test]
    async fn once_a_message_fails_it_and_every_later_one_of_its_group_are_reported() {
        let zenvia = serde_json::to_string(&Job::zenvia(ZenviaEvent::FinishedInteraction {
            interaction_hash: "h".into(),
        }))
        .unwrap();
        let (ok1, ok2, ok3) = (acknowledged("e1"), acknowledged("e2"), acknowledged("e3"));
        let batch = vec![
            message("m1", "a", &ok1),
            message("m2", "a", &zenvia),
            message("m3", "b", &ok2),
            message("m4", "a", &ok3),
            message("m5", "b", "not a job"),
        ];
        let failed = processor().await.process_batch(batch, || true).await;
        assert_eq!(
            failed,
            vec!["m2", "m4", "m5"],
            "Zenvia is not configured here; m4 waits behind m2; m3 is done"
        );
    }

    #[tokio::test]
    async fn a_job_without_the_time_to_finish_is_not_started() {
        let ok = acknowledged("e1");
        let failed = processor()
            .await
            .process_batch(vec![message("m1", "a", &ok), message("m2", "b", &ok)], || false)
            .await;
        assert_eq!(failed, vec!["m1", "m2"]);
    }

    #[tokio::test]
    async fn the_groups_of_a_batch_run_side_by_side() {
        // Two slow groups: each job waits for the other's to start, which only side by side can.
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
        let started = |b: std::sync::Arc<tokio::sync::Barrier>| async move {
            tokio::time::timeout(std::time::Duration::from_secs(5), b.wait()).await.is_ok()
        };
        let both = join_all([started(barrier.clone()), started(barrier)]).await;
        assert_eq!(both, vec![true, true]);
    }
}
