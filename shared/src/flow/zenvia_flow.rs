//! The executor for Zenvia Chat's external-bot events (CONTRACT C10). The same bot, the same
//! decisions and the same store as Engage Digital; only the platform calls differ. Each
//! interaction is a thread of the store (`zenvia:<hash>`) and a group of the queue, so its
//! events are processed one at a time, in order. Zenvia's events carry no id: the receiver
//! gives each delivery one, which the queue keeps across its own redeliveries.

use std::sync::Arc;

use tracing::{error, info, warn};

use super::cache::EmergencyFlag;
use super::claim::{claim, finish_applying, record_stats};
use super::decide::{self, Turn};
use crate::analytics;
use crate::bot::{Bot, BotMessage, BotRequest, Channel};
use crate::config::ZenviaSettings;
use crate::store::{
    BotOutcome, Claim, EventProgress, HandoverDecision, Lease, StatsEntry, Store, StoreError, ThreadState,
};
use crate::zenvia::{ZenviaClient, ZenviaError, ZenviaEvent};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZenviaOutcome {
    Accepted,
    BotTurn {
        replies: usize,
        transferred: bool,
        finished: bool,
    },
    Ended,
    /// Not for the bot (the reason), or an event type not handled.
    Ignored(&'static str),
    Duplicate,
}

impl ZenviaOutcome {
    pub fn label(&self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::BotTurn { transferred: true, .. } => "transferred",
            Self::BotTurn { finished: true, .. } => "bot_finished",
            Self::BotTurn { .. } => "bot_replied",
            Self::Ended => "ended",
            Self::Ignored(reason) => reason,
            Self::Duplicate => "duplicate",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ZenviaProcessError {
    #[error("another event of interaction {0} is being processed")]
    Busy(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Zenvia(#[from] ZenviaError),
}

pub struct ZenviaFlow {
    pub settings: Arc<ZenviaSettings>,
    pub store: Arc<dyn Store>,
    pub bot: Arc<dyn Bot>,
    pub zenvia: ZenviaClient,
    pub emergency: Arc<EmergencyFlag>,
}

/// The store's thread id and the queue's group of an interaction.
pub fn interaction_key(hash: &str) -> String {
    format!("zenvia:{hash}")
}

impl ZenviaFlow {
    pub fn new(
        settings: ZenviaSettings,
        store: Arc<dyn Store>,
        bot: Arc<dyn Bot>,
        zenvia: ZenviaClient,
    ) -> Self {
        Self {
            emergency: Arc::new(EmergencyFlag::new(settings.flow.emergency_cache)),
            settings: Arc::new(settings),
            store,
            bot,
            zenvia,
        }
    }

    /// Processes one delivery exactly once; `delivery_id` is the id the receiver gave it.
    /// Shares the process's view of the emergency switch.
    pub fn sharing_emergency_flag(mut self, flag: Arc<EmergencyFlag>) -> Self {
        self.emergency = flag;
        self
    }

    pub async fn process(
        &self,
        event: &ZenviaEvent,
        delivery_id: &str,
    ) -> Result<ZenviaOutcome, ZenviaProcessError> {
        // The interaction's key as the store's thread id, so the same queries find its events.
        let thread_id = interaction_key(event.interaction_hash().unwrap_or(""));
        let span = tracing::info_span!("event", event_id = %delivery_id, event_type = %event.event_type(), thread_id = %thread_id);
        super::logged_event(span, self.process_inner(event, delivery_id), ZenviaOutcome::label).await
    }

    async fn process_inner(
        &self,
        event: &ZenviaEvent,
        delivery_id: &str,
    ) -> Result<ZenviaOutcome, ZenviaProcessError> {
        let (hash, event_id) = match event {
            ZenviaEvent::Unknown { event_type } => {
                info!(%event_type, "event type not handled; acknowledged");
                return Ok(ZenviaOutcome::Ignored("unknown_event_type"));
            }
            // One accept and one end per interaction, however often they are delivered.
            ZenviaEvent::NewInteraction { interaction_hash, .. } => {
                (interaction_hash, "new_interaction".to_string())
            }
            ZenviaEvent::FinishedInteraction { interaction_hash } => {
                (interaction_hash, "finished_interaction".to_string())
            }
            // Messages carry no id: the receiver gave this delivery one.
            ZenviaEvent::NewMessage { interaction_hash, .. } => {
                (interaction_hash, format!("message:{delivery_id}"))
            }
        };
        let key = interaction_key(hash);
        let (mut lease, mut progress, interaction) = match claim(self.store.as_ref(), &key, &event_id).await?
        {
            Claim::Granted { lease, progress, thread } => (lease, progress, thread),
            Claim::Done => return Ok(ZenviaOutcome::Duplicate),
            Claim::Busy => return Err(ZenviaProcessError::Busy(hash.clone())),
        };
        let result = match event {
            ZenviaEvent::NewInteraction { department_id, .. } => {
                self.new_interaction(hash, *department_id, &lease, interaction).await
            }
            ZenviaEvent::FinishedInteraction { .. } => {
                let now = crate::now_millis();
                let end = |current: &ThreadState| ThreadState {
                    ended: true,
                    updated_at_ms: now,
                    ..current.clone()
                };
                finish_applying(self.store.as_ref(), &lease, interaction, end)
                    .await
                    .map(|_| ZenviaOutcome::Ended)
                    .map_err(Into::into)
            }
            ZenviaEvent::NewMessage { content, content_type, .. } => {
                self.new_message(hash, content, content_type, &mut lease, &mut progress, interaction).await
            }
            ZenviaEvent::Unknown { .. } => unreachable!("returned above"),
        };
        if result.is_err()
            && let Err(err) = self.store.release_event(&lease, &progress).await
        {
            warn!(error = %err, "could not release the event");
        }
        result
    }

    async fn new_interaction(
        &self,
        hash: &str,
        department_id: Option<i64>,
        lease: &Lease,
        interaction: ThreadState,
    ) -> Result<ZenviaOutcome, ZenviaProcessError> {
        if interaction.version > 0 {
            // Accepted already (a repeated delivery): accepting twice would be refused.
            return Ok(ZenviaOutcome::Duplicate);
        }
        let mut stats = Vec::new();
        let mut ended = false;
        match self.zenvia.accept(hash).await {
            Ok(()) => stats = analytics::session(crate::now_millis(), hash, hash),
            Err(err) if err.is_transient() => return Err(err.into()),
            Err(err) => {
                // Not ours to answer: recorded as ended, so later messages are ignored.
                error!(error = %err, "Zenvia refused the accept; the interaction is left to Zenvia");
                ended = true;
            }
        }
        let now = crate::now_millis();
        finish_applying(self.store.as_ref(), lease, interaction, |current| ThreadState {
            department_id,
            ended: current.ended || ended,
            updated_at_ms: now,
            ..current.clone()
        })
        .await?;
        record_stats(self.store.as_ref(), &stats).await;
        Ok(ZenviaOutcome::Accepted)
    }

    async fn new_message(
        &self,
        hash: &str,
        content: &str,
        content_type: &str,
        lease: &mut Lease,
        progress: &mut EventProgress,
        interaction: ThreadState,
    ) -> Result<ZenviaOutcome, ZenviaProcessError> {
        let emergency = self.emergency.active(self.store.as_ref()).await?;
        let turn = match decide::zenvia_turn(&interaction, emergency) {
            Ok(turn) => turn,
            Err(reason) => {
                info!(reason = reason.as_str(), "message ignored");
                self.store.finish_event(lease, None).await?;
                return Ok(ZenviaOutcome::Ignored(reason.as_str()));
            }
        };
        if progress.bot.is_none() {
            progress.bot = Some(match turn {
                Turn::EmergencyHandover => BotOutcome::NotAsked { reason: decide::EMERGENCY_REASON.into() },
                Turn::AskBot => {
                    let request = BotRequest {
                        history: interaction.bot_memory.clone(),
                        conversation_id: hash.to_string(),
                        channel: Channel::Zenvia,
                        message: BotMessage {
                            id: lease.event_id.clone(),
                            text: content.to_string(),
                            // Non-text messages reach the bot with their type.
                            message_type: content_type.to_string(),
                            language: None,
                            author_id: Some(hash.to_string()),
                            first: interaction.bot_turns == 0,
                        },
                    };
                    match self.bot.ask(&request).await {
                        Ok(answer) => BotOutcome::Answered(answer),
                        Err(err) => {
                            warn!(error = %err, "bot failed; transferring");
                            BotOutcome::Failed { reason: err.reason() }
                        }
                    }
                }
            });
        }
        let flow = &self.settings.flow;
        let plan = decide::plan_turn(progress.bot.as_ref().expect("set above"), &interaction, flow);
        // Zenvia has no availability API: a handover always transfers.
        let decision = plan.handover.as_ref().map(|_| HandoverDecision::Agents);
        let messages = decide::messages_to_post(&plan, decision.as_ref(), None, flow);
        // Saved before anything is sent (Zenvia has no read API to check what a dead run
        // sent): a redelivery never asks the bot again and resumes after the last saved step.
        self.store.save_progress(lease, progress).await?;
        let more_after_messages = plan.handover.is_some() || plan.resolve;
        let posted_before = progress.replies_posted;
        while progress.replies_posted < messages.len() {
            match self.zenvia.send_text(hash, &messages[progress.replies_posted]).await {
                Ok(()) => progress.replies_posted += 1,
                Err(err) if err.is_transient() => return Err(err.into()),
                Err(err) => {
                    error!(error = %err, "Zenvia refused a message; remaining messages dropped");
                    progress.replies_posted = messages.len();
                }
            }
        }
        if progress.replies_posted > posted_before && more_after_messages {
            // As on Engage Digital: saved before the transfer or the finish.
            self.store.save_progress(lease, progress).await?;
        }
        if plan.handover.is_some() && !progress.transferred {
            match self.zenvia.transfer(hash, self.settings.transfer_department_id).await {
                Ok(()) => progress.transferred = true,
                Err(err) if err.is_transient() => return Err(err.into()),
                // Recorded on the interaction (`pending_handover`), and logged with Zenvia's message.
                Err(err) => error!(error = %err, "Zenvia refused the transfer"),
            }
        }
        if plan.resolve && !progress.finished {
            match self.zenvia.finish(hash).await {
                Ok(()) => {}
                Err(err) if err.is_transient() => return Err(err.into()),
                // Most likely finished already: either way the bot is done with it.
                Err(err) => warn!(error = %err, "Zenvia refused the finish; the interaction is ended anyway"),
            }
            progress.finished = true;
        }
        let now = crate::now_millis();
        let stats: Vec<StatsEntry> = match (&plan.handover, progress.transferred) {
            (Some(reason), true) => {
                let emergency = reason == decide::EMERGENCY_REASON;
                vec![analytics::intervention(now, hash, &lease.event_id, reason, emergency)]
            }
            _ => vec![],
        };
        let memory = self.bot.memory();
        finish_applying(self.store.as_ref(), lease, interaction, |current| {
            let mut next = decide::interaction_after_turn(current, &plan, progress, now);
            if let Some(outcome) = &progress.bot {
                next.bot_memory =
                    decide::memory_after_turn(&current.bot_memory, content, outcome, &plan, memory);
            }
            next
        })
        .await?;
        record_stats(self.store.as_ref(), &stats).await;
        Ok(ZenviaOutcome::BotTurn {
            replies: progress.replies_posted,
            transferred: progress.transferred,
            finished: progress.finished,
        })
    }
}
