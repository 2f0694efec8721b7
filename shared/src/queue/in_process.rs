//! The dev server's queue: SQS FIFO's semantics inside the process, so `cargo run` needs
//! nothing installed. One worker task per group with jobs waiting, so a group's jobs run one at
//! a time, in order, while other groups run beside it; a failed job is retried with backoff,
//! and after its last attempt it goes to the dead-letter list and its group goes on. Duplicate
//! ids within five minutes are dropped, as SQS FIFO does.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Notify;

use super::{Job, JobError, JobQueue, Processor, QueueError, Verdict};

/// SQS FIFO's deduplication window.
const DEDUP_WINDOW: Duration = Duration::from_secs(300);

/// A job that failed and waits for its next try.
#[derive(Debug, Clone)]
struct Retrying {
    attempts: u32,
    next_try: Instant,
    error: String,
}

/// A group whose first job failed, as `GET /queue` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct WaitingJob {
    pub group: String,
    pub attempts: u32,
    /// Milliseconds until the next try.
    pub next_try_in_ms: u64,
    pub last_error: String,
}

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
    /// Groups whose first job failed: its attempts and when it is tried again.
    pub retrying: Vec<WaitingJob>,
    pub dead_letters: Vec<DeadLetter>,
}

#[derive(Default)]
struct State {
    /// Jobs of each group with a worker, the one being processed first.
    groups: HashMap<String, VecDeque<Arc<Job>>>,
    /// Deduplication ids of the window, and the same ids oldest first: expiring them is
    /// popping the front, never a scan of the window (thousands of events a second). Each id
    /// is one allocation shared by both.
    seen: HashSet<Arc<str>>,
    seen_order: VecDeque<(Instant, Arc<str>)>,
    retrying: HashMap<String, Retrying>,
    dead_letters: Vec<DeadLetter>,
}

struct Inner {
    processor: Arc<Processor>,
    state: Mutex<State>,
    idle: Notify,
}

#[derive(Clone)]
pub struct InProcessQueue {
    inner: Arc<Inner>,
}

impl InProcessQueue {
    /// A queue retrying as `processor.delivery` says.
    pub fn new(processor: Arc<Processor>) -> Self {
        Self { inner: Arc::new(Inner { processor, state: Mutex::default(), idle: Notify::new() }) }
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
        let now = Instant::now();
        let retrying = state.retrying.iter().map(|(group, waiting)| WaitingJob {
            group: group.clone(),
            attempts: waiting.attempts,
            next_try_in_ms: waiting.next_try.saturating_duration_since(now).as_millis() as u64,
            last_error: waiting.error.clone(),
        });
        QueueSnapshot {
            pending: state.groups.iter().map(|(group, jobs)| (group.clone(), jobs.len())).collect(),
            retrying: retrying.collect(),
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

    /// Tries a job until it is done or dead-lettered, as the worker judges it on SQS: the same
    /// backoff, the same attempts (counted on the event's record).
    async fn run(&self, group: &str, job: &Arc<Job>) {
        let processor = &self.inner.processor;
        for deliveries in 1.. {
            // A panic is one failed attempt, not a stuck group (with `panic = "unwind"`).
            let attempt = std::panic::AssertUnwindSafe(processor.process(job));
            let result = futures_util::FutureExt::catch_unwind(attempt)
                .await
                .unwrap_or_else(|_| Err(JobError::Panicked("the job panicked".into())));
            let error = result.as_ref().err().map(ToString::to_string).unwrap_or_default();
            match processor.judge(result, deliveries, group) {
                Verdict::Done => break,
                Verdict::DeadLetter { error, attempts } => {
                    let mut state = self.state();
                    state.retrying.remove(group);
                    let (group, dedup_id, job) = (group.to_string(), job.dedup_id(), Job::clone(job));
                    state.dead_letters.push(DeadLetter { group, dedup_id, attempts, error, job });
                    break;
                }
                Verdict::RetryAfter(after) => {
                    let attempts = deliveries;
                    let waiting = Retrying { attempts, next_try: Instant::now() + after, error };
                    self.state().retrying.insert(group.to_string(), waiting);
                    tokio::time::sleep(after).await;
                }
            }
        }
        self.state().retrying.remove(group);
    }
}

#[async_trait::async_trait]
impl JobQueue for InProcessQueue {
    async fn enqueue(&self, jobs: Vec<Job>) -> Result<(), QueueError> {
        let mut start = Vec::new();
        {
            let mut state = self.state();
            let now = Instant::now();
            while let Some((at, _)) = state.seen_order.front()
                && now.duration_since(*at) >= DEDUP_WINDOW
            {
                let (_, id) = state.seen_order.pop_front().expect("a front");
                state.seen.remove(&id);
            }
            for job in jobs {
                let id = job.dedup_id();
                if state.seen.contains(id.as_str()) {
                    continue;
                }
                let id: Arc<str> = id.into();
                state.seen.insert(id.clone());
                state.seen_order.push_back((now, id));
                let group = job.group();
                let jobs = state.groups.entry(group.clone()).or_default();
                jobs.push_back(Arc::new(job));
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
