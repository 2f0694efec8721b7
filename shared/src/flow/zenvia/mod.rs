//! Zenvia Chat's side of the turn engine (CONTRACT C10): the same bot, the same decisions and
//! the same store as Engage Digital; only the effects differ ([`effects`]). Each interaction is
//! a thread of the store (`zenvia:<hash>`) and a group of the queue, so its events are
//! processed one at a time, in order. Zenvia's events carry no id: the receiver gives each
//! delivery one, which the queue keeps across its own redeliveries.

mod effects;

use std::sync::Arc;

use tracing::info;

use super::cache::EmergencyFlag;
use super::decide;
use super::turn::{Claimed, Engine, ProcessError, Taken};
use crate::analytics;
use crate::bot::Bot;
use crate::config::ZenviaSettings;
use crate::store::{Effect, JournalEntry, ThreadState, WorkerStore};
use crate::zenvia::{ZenviaClient, ZenviaEvent};

use effects::{ZenviaEffects, ZenviaTurn};

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

pub struct ZenviaFlow {
    pub settings: Arc<ZenviaSettings>,
    pub engine: Engine,
    pub zenvia: ZenviaClient,
}

/// The store's thread id and the queue's group of an interaction.
pub fn interaction_key(hash: &str) -> String {
    format!("zenvia:{hash}")
}

impl ZenviaFlow {
    pub fn new(
        settings: ZenviaSettings,
        store: Arc<dyn WorkerStore>,
        bot: Arc<dyn Bot>,
        zenvia: ZenviaClient,
    ) -> Self {
        let emergency = Arc::new(EmergencyFlag::new(settings.flow.emergency_cache));
        Self { settings: Arc::new(settings), engine: Engine { store, bot, emergency }, zenvia }
    }

    /// Shares the process's view of the emergency switch.
    pub fn sharing_emergency_flag(mut self, flag: Arc<EmergencyFlag>) -> Self {
        self.engine.emergency = flag;
        self
    }

    /// Processes one delivery exactly once; `delivery_id` is the id the receiver gave it.
    pub async fn process(
        &self,
        event: &ZenviaEvent,
        delivery_id: &str,
    ) -> Result<ZenviaOutcome, ProcessError> {
        self.process_until(event, delivery_id, None).await
    }

    /// The same, released for the next delivery at `deadline` if it is not done by then.
    pub async fn process_until(
        &self,
        event: &ZenviaEvent,
        delivery_id: &str,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<ZenviaOutcome, ProcessError> {
        // The interaction's key as the store's thread id, so the same queries find its events.
        let thread_id = interaction_key(event.interaction_hash().unwrap_or(""));
        let span = tracing::info_span!("event", event_id = %delivery_id, event_type = %event.event_type(), thread_id = %thread_id);
        let work = self.process_claimed(event, delivery_id, deadline);
        super::logged_event(span, work, ZenviaOutcome::label).await
    }

    async fn process_claimed(
        &self,
        event: &ZenviaEvent,
        delivery_id: &str,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<ZenviaOutcome, ProcessError> {
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
        let Some(mut claimed) = self.engine.claim(&interaction_key(hash), &event_id).await? else {
            return Ok(ZenviaOutcome::Duplicate);
        };
        self.engine
            .released_on_failure(&mut claimed, deadline, async |claimed| match event {
                ZenviaEvent::NewInteraction { department_id, .. } => {
                    self.new_interaction(hash, *department_id, claimed).await
                }
                ZenviaEvent::FinishedInteraction { .. } => self.finished_interaction(claimed).await,
                ZenviaEvent::NewMessage { content, content_type, .. } => {
                    self.new_message(hash, content, content_type, claimed).await
                }
                ZenviaEvent::Unknown { .. } => unreachable!("returned above"),
            })
            .await
    }

    /// Accepts the interaction, once. A refusal leaves it to Zenvia (later messages are
    /// ignored), unless it follows our own unanswered accept: then it was ours.
    async fn new_interaction(
        &self,
        hash: &str,
        department_id: Option<i64>,
        claimed: &mut Claimed,
    ) -> Result<ZenviaOutcome, ProcessError> {
        if claimed.thread.version > 0 && claimed.journal.effects.is_empty() {
            // Accepted already (a repeated delivery): accepting twice would be refused.
            return Ok(ZenviaOutcome::Duplicate);
        }
        if claimed.journal.effects.is_empty() {
            claimed.journal.effects = vec![JournalEntry::planned(Effect::Open)];
        }
        let effects = ZenviaEffects { flow: self, hash };
        self.engine.make_effects(&effects, claimed).await?;
        let accepted = claimed.journal.made(&Effect::Open);
        if !accepted {
            tracing::error!("Zenvia refused the accept; the interaction is left to Zenvia");
        }
        let now = crate::now_millis();
        self.engine
            .commit(claimed, |current| ThreadState {
                department_id,
                ended: current.ended || !accepted,
                updated_at_ms: now,
                ..current.clone()
            })
            .await?;
        if accepted {
            super::claim::record_stats(self.engine.store.as_ref(), &analytics::session(now, hash, hash))
                .await;
        }
        Ok(ZenviaOutcome::Accepted)
    }

    async fn finished_interaction(&self, claimed: &mut Claimed) -> Result<ZenviaOutcome, ProcessError> {
        let now = crate::now_millis();
        self.engine
            .commit(claimed, |current| ThreadState { ended: true, updated_at_ms: now, ..current.clone() })
            .await?;
        Ok(ZenviaOutcome::Ended)
    }

    async fn new_message(
        &self,
        hash: &str,
        content: &str,
        content_type: &str,
        claimed: &mut Claimed,
    ) -> Result<ZenviaOutcome, ProcessError> {
        let event_id = claimed.lease.event_id.clone();
        let effects = ZenviaEffects { flow: self, hash };
        let platform = ZenviaTurn { effects, event_id: &event_id, content, content_type };
        let taken = self
            .engine
            .take_turn(&platform, claimed, |interaction, emergency| {
                decide::zenvia_turn(interaction, emergency).map_err(|reason| reason.as_str())
            })
            .await?;
        let done = match taken {
            Taken::NotTheBots(reason) => return Ok(ZenviaOutcome::Ignored(reason)),
            Taken::Turn(done) => done,
        };
        Ok(ZenviaOutcome::BotTurn {
            replies: done.replies,
            transferred: done.handed_over,
            finished: claimed.journal.finished(&Effect::Resolve),
        })
    }
}
