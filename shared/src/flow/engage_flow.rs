//! The executor for Engage Digital events: claims each event, performs the steps the
//! decisions ask for, saves each step's outcome before the next, and finishes the event
//! together with the thread's new state.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{Instrument, info, warn};

use super::decide::{self, NotForBot, TurnPlan};
use crate::bot::{Bot, BotMessage, BotRequest, Channel};
use crate::config::WebhookSettings;
use crate::engage::{ContentEvent, EngageClient, EngageError, WebhookEvent};
use crate::store::{BotOutcome, Claim, EventProgress, Lease, Store, StoreError, ThreadState};

/// How long one delivery holds an event. Longer than any function run (API Gateway gives up
/// after 30 s), so two deliveries never work on the same event at once.
pub const EVENT_LEASE: Duration = Duration::from_secs(60);

/// A thread changed under us this many times in a row: give up and let the platform retry.
const THREAD_CONFLICT_ATTEMPTS: usize = 5;

/// What became of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventOutcome {
    /// The bot answered; `handover` is set when the conversation needs agents.
    BotTurn {
        replies: usize,
        resolved: bool,
        handover: Option<String>,
    },
    /// Recorded, not for the bot.
    Recorded(NotForBot),
    /// A redelivery of an event already processed: nothing done.
    Duplicate,
    /// An event type this endpoint does not act on: acknowledged.
    Acknowledged,
}

impl EventOutcome {
    /// A short label for the event's log line.
    pub fn label(&self) -> &'static str {
        match self {
            Self::BotTurn {
                handover: Some(_), ..
            } => "handover_needed",
            Self::BotTurn { resolved: true, .. } => "bot_resolved",
            Self::BotTurn { .. } => "bot_replied",
            Self::Recorded(reason) => reason.as_str(),
            Self::Duplicate => "duplicate",
            Self::Acknowledged => "acknowledged",
        }
    }
}

/// A failure the platform's retry will finish (the webhook answers `5xx`).
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("another delivery of event {0} is being processed")]
    Busy(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Engage(#[from] EngageError),
}

/// Everything the Engage webhook needs, built once per process.
pub struct EngageFlow {
    pub settings: Arc<WebhookSettings>,
    pub store: Arc<dyn Store>,
    pub bot: Arc<dyn Bot>,
    pub engage: EngageClient,
}

impl EngageFlow {
    /// Processes one event exactly once, whatever the number of deliveries.
    pub async fn process(&self, event: &WebhookEvent) -> Result<EventOutcome, ProcessError> {
        let started = Instant::now();
        let thread_id = match event {
            WebhookEvent::ContentImported(c) => Some(c.thread_id.as_str()),
            WebhookEvent::InterventionClosed(i) | WebhookEvent::InterventionReopened(i) => {
                i.thread_id.as_deref()
            }
            WebhookEvent::Unknown { .. } => None,
        };
        let span = tracing::info_span!("event", event_id = %event.id(), event_type = %event.event_type(), thread_id = thread_id.unwrap_or(""));
        async {
            let result = self.process_claimed(event).await;
            let latency_ms = started.elapsed().as_millis() as u64;
            match &result {
                Ok(outcome) => info!(decision = outcome.label(), latency_ms, "event processed"),
                Err(err) => {
                    warn!(error = %err, latency_ms, "event not finished; the platform will retry")
                }
            }
            result
        }
        .instrument(span)
        .await
    }

    async fn process_claimed(&self, event: &WebhookEvent) -> Result<EventOutcome, ProcessError> {
        if let WebhookEvent::Unknown { event_type, .. } = event {
            info!(%event_type, "event type not handled; acknowledged");
            return Ok(EventOutcome::Acknowledged);
        }
        let now = crate::now_millis();
        let (lease, mut progress) = match self
            .store
            .claim_event(event.id(), now, EVENT_LEASE.as_millis() as i64)
            .await?
        {
            Claim::Done => return Ok(EventOutcome::Duplicate),
            Claim::Busy => return Err(ProcessError::Busy(event.id().to_string())),
            Claim::Granted { lease, progress } => (lease, progress),
        };
        let result = match event {
            WebhookEvent::ContentImported(content) => {
                self.content_imported(content, &lease, &mut progress).await
            }
            // Handled by the rebot function; recorded here so nothing is lost.
            _ => self
                .store
                .finish_event(&lease, &progress, None)
                .await
                .map(|_| EventOutcome::Acknowledged)
                .map_err(ProcessError::from),
        };
        if result.is_err() {
            // Let the platform's next attempt resume at once rather than wait for the lease.
            if let Err(err) = self.store.release_event(&lease).await {
                warn!(error = %err, "could not release the event's lease; a retry waits for it to expire");
            }
        }
        result
    }

    async fn content_imported(
        &self,
        content: &ContentEvent,
        lease: &Lease,
        progress: &mut EventProgress,
    ) -> Result<EventOutcome, ProcessError> {
        for _ in 0..THREAD_CONFLICT_ATTEMPTS {
            let thread = self
                .store
                .get_thread(&content.thread_id)
                .await?
                .unwrap_or_else(|| ThreadState::new(&content.thread_id));
            if let Err(reason) = decide::bot_turn(content, &thread, &self.settings.engage) {
                self.store.finish_event(lease, progress, None).await?;
                return Ok(EventOutcome::Recorded(reason));
            }
            let plan = self.bot_steps(content, &thread, lease, progress).await?;
            let next =
                decide::thread_after_turn(&thread, content, &plan, progress, crate::now_millis());
            match self.store.finish_event(lease, progress, Some(&next)).await {
                Ok(()) => {
                    if let Some(reason) = &plan.handover {
                        warn!(%reason, "conversation needs an agent; the thread is marked for handover");
                    }
                    return Ok(EventOutcome::BotTurn {
                        replies: progress.replies_posted,
                        resolved: plan.resolve,
                        handover: plan.handover,
                    });
                }
                // Another event changed the thread meanwhile: read it again and decide again.
                // The steps already done are in `progress` and are not repeated.
                Err(StoreError::ThreadConflict(_)) => continue,
                Err(err) => return Err(err.into()),
            }
        }
        Err(StoreError::ThreadConflict(content.thread_id.clone()).into())
    }

    /// Intervention, bot, replies, resolve: each step once, its outcome saved before the next.
    async fn bot_steps(
        &self,
        content: &ContentEvent,
        thread: &ThreadState,
        lease: &Lease,
        progress: &mut EventProgress,
    ) -> Result<TurnPlan, ProcessError> {
        if decide::should_open_intervention(content, thread, progress, &self.settings.flow) {
            match self.engage.create_intervention(&content.content_id).await {
                Ok(intervention) => progress.intervention_id = Some(intervention.id),
                Err(err) if err.is_transient() => return Err(err.into()),
                // A 422 (already open, ...) or a refusal: a reply is still worth trying.
                Err(err) => {
                    warn!(error = %err, code = %err.code(), "intervention not opened; the turn goes on")
                }
            }
            progress.intervention_step_done = true;
            self.store.save_progress(lease, progress).await?;
        }

        if progress.bot.is_none() {
            let outcome = match self.bot.ask(&bot_request(content)).await {
                Ok(answer) => BotOutcome::Answered(answer),
                Err(err) => {
                    warn!(error = %err, "bot failed");
                    BotOutcome::Failed {
                        reason: err.reason(),
                    }
                }
            };
            progress.bot = Some(outcome);
            // Saved before anything is posted: a resumed run posts exactly this answer.
            self.store.save_progress(lease, progress).await?;
        }
        let outcome = progress.bot.clone().expect("set above");
        let plan = decide::plan_turn(&outcome, thread, &self.settings.flow);

        while progress.replies_posted < plan.replies.len() {
            let text = &plan.replies[progress.replies_posted];
            match self.engage.create_reply(&content.content_id, text).await {
                Ok(_) => progress.replies_posted += 1,
                Err(err) if err.is_transient() => return Err(err.into()),
                Err(err) => {
                    // The platform will never accept it (thread closed, no right to reply):
                    // retrying cannot help, so the remaining replies are dropped, loudly.
                    tracing::error!(error = %err, code = %err.code(), "reply refused; remaining replies dropped");
                    progress.replies_posted = plan.replies.len();
                }
            }
            if progress.replies_posted < plan.replies.len() {
                self.store.save_progress(lease, progress).await?;
            }
        }

        if plan.resolve {
            self.resolve(content, thread, lease, progress).await?;
        }
        Ok(plan)
    }

    /// Closes the bot's intervention and, when configured, the thread.
    async fn resolve(
        &self,
        content: &ContentEvent,
        thread: &ThreadState,
        lease: &Lease,
        progress: &mut EventProgress,
    ) -> Result<(), ProcessError> {
        let intervention = progress
            .intervention_id
            .clone()
            .or_else(|| thread.bot_intervention_id.clone());
        if !progress.intervention_closed {
            if let Some(id) = intervention {
                match self.engage.close_intervention(&id).await {
                    Ok(_) => {}
                    // 403 (no agent reply yet, already closed) and 409 (being closed): logged,
                    // not retried (CONTRACT C6).
                    Err(err @ (EngageError::Forbidden { .. } | EngageError::Conflict { .. })) => {
                        warn!(error = %err, code = %err.code(), "intervention not closed");
                    }
                    Err(err) if err.is_transient() => return Err(err.into()),
                    Err(err) => warn!(error = %err, code = %err.code(), "intervention not closed"),
                }
            }
            progress.intervention_closed = true;
            if self.settings.flow.close_thread_on_resolve {
                self.store.save_progress(lease, progress).await?;
            }
        }
        if self.settings.flow.close_thread_on_resolve && !progress.thread_closed {
            match self.engage.close_thread(&content.thread_id).await {
                Ok(_) => {}
                Err(err) if err.is_transient() => return Err(err.into()),
                // Many source types cannot be closed (403): nothing to retry.
                Err(err) => warn!(error = %err, code = %err.code(), "thread not closed"),
            }
            progress.thread_closed = true;
        }
        Ok(())
    }
}

fn bot_request(content: &ContentEvent) -> BotRequest {
    BotRequest {
        conversation_id: content.thread_id.clone(),
        channel: Channel::Engage,
        message: BotMessage {
            id: content.content_id.clone(),
            text: content.body.clone(),
            message_type: "text".into(),
            language: content.language.clone(),
            author_id: content.author_id.clone(),
            first: content.first_in_thread,
        },
    }
}
