//! The dev server's queue: SQS FIFO's semantics inside the process, so `cargo run` needs
//! nothing installed. One worker task per group with jobs waiting, so a group's jobs run one at
//! a time, in order, while other groups run beside it; a failed job is retried with backoff,
//! and after its last attempt it goes to the dead-letter list and its group goes on. Duplicate
//! ids within five minutes are dropped, as SQS FIFO does.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Notify;

use super::{Job, JobQueue, Processor, QueueError};
use crate::retry::Backoff;

/// SQS FIFO's deduplication window.
const DEDUP_WINDOW: Duration = Duration::from_secs(300);

/// How often a job is tried, and how long to wait between tries: five tries, as the
/// template's `maxReceiveCount`, 0.5 s doubling (jittered).
pub const JOB_RETRIES: Backoff =
    Backoff { attempts: 5, first: Duration::from_millis(500), max: Duration::from_secs(60) };

/// A job given up after its last attempt.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    pub group: String,
    pub dedup_id: String,
    pub attempts: u32,
    pub error: String,
    pub job: Job,
}

/// What the queue holds now.
#[derive(Debug, Clone, Serialize)]
pub struct QueueSnapshot {
    /// Jobs waiting or being processed, by group.
    pub pending: HashMap<String, usize>,
    pub dead_letters: Vec<DeadLetter>,
}

#[derive(Default)]
struct State {
    /// Jobs of each group with a worker, the one being processed first.
    groups: HashMap<String, VecDeque<Job>>,
    seen: HashMap<String, Instant>,
    dead_letters: Vec<DeadLetter>,
}

struct Inner {
    processor: Arc<Processor>,
    retry: Backoff,
    state: Mutex<State>,
    idle: Notify,
}

#[derive(Clone)]
pub struct InProcessQueue {
    inner: Arc<Inner>,
}

impl InProcessQueue {
    pub fn new(processor: Arc<Processor>, retry: Backoff) -> Self {
        Self { inner: Arc::new(Inner { processor, retry, state: Mutex::default(), idle: Notify::new() }) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits until every queued job is done or dead-lettered.
    pub async fn wait_idle(&self) {
        loop {
            let notified = self.inner.idle.notified();
            if self.state().groups.is_empty() {
                return;
            }
            notified.await;
        }
    }

    pub fn snapshot(&self) -> QueueSnapshot {
        let state = self.state();
        QueueSnapshot {
            pending: state.groups.iter().map(|(group, jobs)| (group.clone(), jobs.len())).collect(),
            dead_letters: state.dead_letters.clone(),
        }
    }

    /// Works through one group's jobs until none is left.
    async fn drain(self, group: String) {
        loop {
            let Some(job) = self.state().groups.get(&group).and_then(|jobs| jobs.front().cloned()) else {
                break;
            };
            self.run(&group, &job).await;
            let mut state = self.state();
            let jobs = state.groups.get_mut(&group).expect("a group with a worker stays until it ends");
            jobs.pop_front();
            if jobs.is_empty() {
                state.groups.remove(&group);
                if state.groups.is_empty() {
                    self.inner.idle.notify_waiters();
                }
                break;
            }
        }
    }

    async fn run(&self, group: &str, job: &Job) {
        let retry = self.inner.retry;
        for attempt in 1..=retry.attempts.max(1) {
            // In a task of its own, so that a panic is one failed attempt, not a stuck group.
            let (processor, owned) = (self.inner.processor.clone(), job.clone());
            let result =
                tokio::spawn(async move { processor.process(&owned).await.map_err(|e| e.to_string()) })
                    .await
                    .unwrap_or_else(|panic| Err(format!("the job panicked: {panic}")));
            match result {
                Ok(()) => return,
                Err(err) if !retry.allows_another(attempt) => {
                    tracing::error!(%group, error = %err, attempts = attempt, "job dead-lettered; its group goes on");
                    self.state().dead_letters.push(DeadLetter {
                        group: group.to_string(),
                        dedup_id: job.dedup_id(),
                        attempts: attempt,
                        error: err.clone(),
                        job: job.clone(),
                    });
                }
                Err(err) => {
                    tracing::info!(%group, error = %err, attempt, "job failed; retried after a pause");
                    tokio::time::sleep(retry.delay(attempt - 1)).await;
                }
            }
        }
    }
}

#[async_trait::async_trait]
impl JobQueue for InProcessQueue {
    async fn enqueue(&self, jobs: &[Job]) -> Result<(), QueueError> {
        let mut start = Vec::new();
        {
            let mut state = self.state();
            let now = Instant::now();
            state.seen.retain(|_, at| now.duration_since(*at) < DEDUP_WINDOW);
            for job in jobs {
                if state.seen.contains_key(&job.dedup_id()) {
                    continue;
                }
                state.seen.insert(job.dedup_id(), now);
                let group = job.group();
                let jobs = state.groups.entry(group.clone()).or_default();
                jobs.push_back(job.clone());
                if jobs.len() == 1 {
                    start.push(group);
                }
            }
        }
        for group in start {
            tokio::spawn(self.clone().drain(group));
        }
        Ok(())
    }
}
