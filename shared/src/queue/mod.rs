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

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::engage::WebhookEvent;
use crate::flow::EngageFlow;
use crate::flow::zenvia::{ZenviaFlow, interaction_key};
use crate::retry::Backoff;
use crate::zenvia::ZenviaEvent;

pub use in_process::{DeadLetter, InProcessQueue, QueueSnapshot};
pub use sqs::{SqsDelivery, SqsQueue, poll_sqs, receive_and_process, sqs_client};

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
    /// Where the job came in, as the `EventsReceived` metric names it.
    pub fn route(&self) -> &'static str {
        match self {
            Self::Engage { event: WebhookEvent::ContentImported(_) } => "engage_content",
            Self::Engage { .. } => "engage_intervention",
            Self::Zenvia { .. } => "zenvia",
        }
    }

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
    /// Queues the jobs durably, in order; `Ok` only when every one is queued. Taken by value:
    /// the in-process queue keeps them as they are, without a copy of each event.
    async fn enqueue(&self, jobs: Vec<Job>) -> Result<(), QueueError>;
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
    #[error("the job panicked: {0}")]
    Panicked(String),
}

/// How queued events are delivered again (CONTRACT C18): a failure comes back after a
/// jittered backoff (about 2 s doubling to 60 s) instead of the queue's whole visibility
/// timeout, and after `MAX_ATTEMPTS` failed deliveries (default 5) that one message goes to the
/// dead letters while its conversation goes on. The queue's own redrive policy stays as a
/// backstop well above it.
pub const DELIVERY: Backoff =
    Backoff { attempts: 5, first: Duration::from_secs(2), max: Duration::from_secs(60) };

/// What becomes of one message of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Done,
    /// Back to the queue, visible again after this long (zero: at once, a message not tried).
    RetryAfter(Duration),
    /// Its last attempt failed: to the dead letters alone, with its last error.
    DeadLetter {
        error: String,
        attempts: u32,
    },
}

/// The worker's one entry point: a job to the flow of its platform.
pub struct Processor {
    pub engage: Option<Arc<EngageFlow>>,
    pub zenvia: Option<Arc<ZenviaFlow>>,
    /// The longest a job may take: a job starts only with this much time left.
    pub time_needed: Duration,
    /// The flows' view of the emergency switch, which the dev server's switch updates at once.
    pub emergency: Arc<crate::flow::cache::EmergencyFlag>,
    /// Retries and the attempts before the dead letters ([`DELIVERY`], `MAX_ATTEMPTS`).
    pub delivery: Backoff,
}

/// What a job may take besides the bot: a few platform calls (each bounded by its own
/// timeout) and three store requests.
pub const JOB_TIME_BESIDES_BOT: Duration = Duration::from_secs(30);

impl Processor {
    pub async fn process(&self, job: &Job) -> Result<(), JobError> {
        self.process_until(job, None).await
    }

    /// Processes a job, released for the next delivery at `deadline` if it is not done then.
    pub async fn process_until(
        &self,
        job: &Job,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<(), JobError> {
        match job {
            Job::Engage { event } => {
                let flow = self.engage.as_ref().ok_or(JobError::NotConfigured("Engage Digital"))?;
                flow.process_until(event, deadline).await?;
            }
            Job::Zenvia { delivery_id, event } => {
                let flow = self.zenvia.as_ref().ok_or(JobError::NotConfigured("Zenvia"))?;
                flow.process_until(event, delivery_id, deadline).await?;
            }
        }
        Ok(())
    }

    /// Processes one batch of queue messages as Lambda's SQS event source hands them over and
    /// says what becomes of each, in the batch's order. The batch's conversations (message
    /// groups) run side by side, so one slow bot answer does not use up the others' time;
    /// within a group the messages run in order, and once one fails, the later ones of its
    /// group are not tried (they come back at once, behind it). `time_left` says whether a job
    /// may still start: one that could not finish before the function's deadline is handed
    /// back, visible again at once.
    pub async fn process_batch(
        &self,
        messages: Vec<QueueMessage>,
        time_left: impl Fn() -> bool,
    ) -> Vec<(QueueMessage, Verdict)> {
        self.process_batch_until(messages, time_left, None).await
    }

    /// The same, each job released for the next delivery at `deadline` if it is not done by
    /// then (the Lambda worker's: its invocation's deadline less a margin).
    pub async fn process_batch_until(
        &self,
        messages: Vec<QueueMessage>,
        time_left: impl Fn() -> bool,
        deadline: Option<tokio::time::Instant>,
    ) -> Vec<(QueueMessage, Verdict)> {
        let order: Vec<String> = messages.iter().map(|m| m.id.clone()).collect();
        let mut groups: Vec<(String, Vec<QueueMessage>)> = Vec::new();
        for message in messages {
            match groups.iter_mut().find(|(group, _)| *group == message.group) {
                Some((_, list)) => list.push(message),
                None => groups.push((message.group.clone(), vec![message])),
            }
        }
        let runs = groups.into_iter().map(|(_, messages)| self.process_group(messages, &time_left, deadline));
        let mut verdicts: Vec<(QueueMessage, Verdict)> = join_all(runs).await.into_iter().flatten().collect();
        // In the batch's order, as Lambda reads them.
        verdicts.sort_by_key(|(message, _)| order.iter().position(|id| *id == message.id));
        verdicts
    }

    /// One group's messages in order, and what becomes of each.
    async fn process_group(
        &self,
        messages: Vec<QueueMessage>,
        time_left: &impl Fn() -> bool,
        deadline: Option<tokio::time::Instant>,
    ) -> Vec<(QueueMessage, Verdict)> {
        let mut blocked = false;
        let mut verdicts = Vec::with_capacity(messages.len());
        for message in messages {
            let verdict = if blocked || !time_left() {
                Verdict::RetryAfter(Duration::ZERO)
            } else {
                self.verdict(&message, deadline).await
            };
            blocked |= matches!(verdict, Verdict::RetryAfter(_));
            verdicts.push((message, verdict));
        }
        verdicts
    }

    async fn verdict(&self, message: &QueueMessage, deadline: Option<tokio::time::Instant>) -> Verdict {
        let result = match serde_json::from_str::<Job>(&message.body) {
            Ok(job) => self.process_until(&job, deadline).await,
            Err(err) => Err(JobError::Malformed(err.to_string())),
        };
        self.judge(result, message.receive_count, &message.group)
    }

    /// What becomes of a job after an attempt (`deliveries`: the queue's count of them, used
    /// when the event's record could not count). The same rule for SQS and the dev server's
    /// in-process queue.
    pub fn judge(&self, result: Result<(), JobError>, deliveries: u32, group: &str) -> Verdict {
        let err = match result {
            Ok(()) => return Verdict::Done,
            Err(err) => err,
        };
        let attempts = match &err {
            JobError::Process(err) => err.failed_attempts(),
            // Never a job, whatever the number of tries.
            JobError::Malformed(_) => Some(self.delivery.attempts),
            _ => None,
        }
        .unwrap_or(deliveries)
        .max(1);
        if !self.delivery.allows_another(attempts) {
            tracing::error!(%group, error = %err, attempts, "job dead-lettered; its group goes on");
            crate::metrics::dead_letter();
            return Verdict::DeadLetter { error: err.to_string(), attempts };
        }
        let after = self.delivery.delay(attempts - 1);
        crate::metrics::retry();
        tracing::warn!(%group, error = %err, attempts, retry_in_ms = after.as_millis() as u64, "job not done; the queue delivers it again");
        Verdict::RetryAfter(after)
    }
}

/// A message as the queue hands it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMessage {
    pub id: String,
    /// SQS's `MessageGroupId`: the messages of one group are processed in order.
    pub group: String,
    pub body: String,
    /// What the queue needs to change the message's visibility or delete it.
    pub receipt_handle: String,
    /// SQS's `ApproximateReceiveCount`: the attempts, when the event's record cannot say.
    pub receive_count: u32,
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
            delivery: DELIVERY,
        }
    }

    fn acknowledged(id: &str) -> String {
        serde_json::to_string(&Job::engage(WebhookEvent::Unknown { id: id.into(), event_type: "x".into() }))
            .unwrap()
    }

    fn message(id: &str, group: &str, body: &str) -> QueueMessage {
        let receipt_handle = format!("receipt-{id}");
        QueueMessage {
            id: id.into(),
            group: group.into(),
            body: body.into(),
            receipt_handle,
            receive_count: 1,
        }
    }

    /// The messages to deliver again, and those dead-lettered.
    fn not_done(verdicts: &[(QueueMessage, Verdict)]) -> (Vec<&str>, Vec<&str>) {
        let ids = |dead: bool| {
            verdicts
                .iter()
                .filter(|(_, v)| *v != Verdict::Done && matches!(v, Verdict::DeadLetter { .. }) == dead)
                .map(|(m, _)| m.id.as_str())
                .collect()
        };
        (ids(false), ids(true))
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
        let verdicts = processor().await.process_batch(batch, || true).await;
        assert_eq!(
            not_done(&verdicts),
            (vec!["m2", "m4"], vec!["m5"]),
            "Zenvia is not configured here; m4 waits behind m2; m3 is done; m5 is never a job"
        );
        // The one that failed comes back after a backoff, the one behind it at once.
        let after = |id: &str| verdicts.iter().find(|(m, _)| m.id == id).map(|(_, v)| v.clone());
        assert!(matches!(after("m2"), Some(Verdict::RetryAfter(d)) if d >= Duration::from_secs(1)));
        assert_eq!(after("m4"), Some(Verdict::RetryAfter(Duration::ZERO)));
    }

    #[tokio::test]
    async fn a_job_failing_its_last_attempt_is_dead_lettered_alone_and_its_group_goes_on() {
        let zenvia = serde_json::to_string(&Job::zenvia(ZenviaEvent::FinishedInteraction {
            interaction_hash: "h".into(),
        }))
        .unwrap();
        let ok = acknowledged("e1");
        let last = QueueMessage { receive_count: 5, ..message("m1", "a", &zenvia) };
        let verdicts = processor().await.process_batch(vec![last, message("m2", "a", &ok)], || true).await;
        assert!(
            matches!(&verdicts[0].1, Verdict::DeadLetter { attempts: 5, error } if error.contains("Zenvia"))
        );
        assert_eq!(verdicts[1].1, Verdict::Done, "its group goes on");
    }

    #[tokio::test]
    async fn a_job_without_the_time_to_finish_is_not_started() {
        let ok = acknowledged("e1");
        let verdicts = processor()
            .await
            .process_batch(vec![message("m1", "a", &ok), message("m2", "b", &ok)], || false)
            .await;
        // Handed back, visible again at once.
        assert!(verdicts.iter().all(|(_, v)| *v == Verdict::RetryAfter(Duration::ZERO)), "{verdicts:?}");
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
