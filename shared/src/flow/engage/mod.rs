//! Engage Digital's side of the turn engine: which events are the bot's, and the platform's
//! effects ([`effects`]), a bot turn's plan ([`turn`]) and where a handover goes
//! ([`handover`]). Events arrive one at a time per thread (the queue's order).

mod effects;
mod handover;
mod turn;

use std::sync::Arc;
use std::time::Duration;

use tracing::info;

use super::cache::{EmergencyFlag, TtlCache};
use super::decide;
use super::turn::{Claimed, Engine, ProcessError, Taken, TurnDone};
use crate::bot::Bot;
use crate::config::WebhookSettings;
use crate::engage::client::{AgentStatus, Channel, StatusQuery};
use crate::engage::{ContentEvent, EngageClient, InterventionEvent, WebhookEvent};
use crate::store::{Effect, HandoverDecision, JournalEntry, WorkerStore};

use effects::EngageEffects;
use turn::EngageTurn;

/// The channel list changes rarely; it is read again after this long.
const CHANNELS_CACHE: Duration = Duration::from_secs(600);
/// Opening hours too: a change takes effect within ten minutes.
const TIME_SHEETS_CACHE: Duration = Duration::from_secs(600);

/// What became of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventOutcome {
    /// The bot's turn: its replies, and where a handover went.
    BotTurn { replies: usize, resolved: bool, handover: Option<HandoverDecision> },
    /// An agent closed its intervention and the thread went back to the bot.
    GivenBackToBot,
    /// Recorded, nothing else to do (the reason).
    Recorded(&'static str),
    /// The platform refused a step for good: finished, the thread marked for a person.
    Parked,
    /// A redelivery of an event already processed: nothing done.
    Duplicate,
    /// An event type this product does not act on: acknowledged.
    Acknowledged,
}

impl EventOutcome {
    /// A short label for the event's log line.
    pub fn label(&self) -> &'static str {
        match self {
            Self::BotTurn { handover: Some(HandoverDecision::Agents), .. } => "handed_over",
            Self::BotTurn { handover: Some(HandoverDecision::StayWithBot), .. } => "no_agent_stayed_with_bot",
            Self::BotTurn { resolved: true, .. } => "bot_resolved",
            Self::BotTurn { .. } => "bot_replied",
            Self::GivenBackToBot => "given_back_to_bot",
            Self::Recorded(reason) => reason,
            Self::Parked => "parked_refused_by_platform",
            Self::Duplicate => "duplicate",
            Self::Acknowledged => "acknowledged",
        }
    }

    fn of_turn(done: TurnDone) -> Self {
        if done.parked {
            return Self::Parked;
        }
        Self::BotTurn { replies: done.replies, resolved: done.resolved, handover: done.handover }
    }
}

/// Everything the Engage webhook needs, built once per process.
pub struct EngageFlow {
    pub settings: Arc<WebhookSettings>,
    pub engine: Engine,
    pub engage: EngageClient,
    agent_status: TtlCache<StatusQuery, Vec<AgentStatus>>,
    channels: TtlCache<(), Vec<Channel>>,
    time_sheets: TtlCache<(), Arc<Vec<crate::hours::TimeSheet>>>,
}

impl EngageFlow {
    pub fn new(
        settings: WebhookSettings,
        store: Arc<dyn WorkerStore>,
        bot: Arc<dyn Bot>,
        engage: EngageClient,
    ) -> Self {
        let emergency = Arc::new(EmergencyFlag::new(settings.flow.emergency_cache));
        Self {
            agent_status: TtlCache::new(settings.flow.availability_cache),
            channels: TtlCache::new(CHANNELS_CACHE),
            time_sheets: TtlCache::new(TIME_SHEETS_CACHE),
            settings: Arc::new(settings),
            engine: Engine { store, bot, emergency },
            engage,
        }
    }

    /// Processes one event exactly once, whatever the number of deliveries.
    pub async fn process(&self, event: &WebhookEvent) -> Result<EventOutcome, ProcessError> {
        self.process_until(event, None).await
    }

    /// The same, released for the next delivery at `deadline` if it is not done by then.
    pub async fn process_until(
        &self,
        event: &WebhookEvent,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<EventOutcome, ProcessError> {
        let thread_id = event.thread_scope();
        let span = tracing::info_span!("event", event_id = %event.id(), event_type = %event.event_type(), thread_id = %thread_id);
        let work = self.process_claimed(event, &thread_id, deadline);
        super::logged_event(span, work, EventOutcome::label).await
    }

    async fn process_claimed(
        &self,
        event: &WebhookEvent,
        thread_id: &str,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<EventOutcome, ProcessError> {
        if let WebhookEvent::Unknown { event_type, .. } = event {
            info!(%event_type, "event type not handled; acknowledged");
            return Ok(EventOutcome::Acknowledged);
        }
        let Some(mut claimed) = self.engine.claim(thread_id, event.id()).await? else {
            return Ok(EventOutcome::Duplicate);
        };
        let engine = &self.engine;
        engine
            .released_on_failure(&mut claimed, deadline, async |claimed| match event {
                WebhookEvent::ContentImported(content) => self.content_imported(content, claimed).await,
                WebhookEvent::InterventionClosed(closed) => self.intervention_closed(closed, claimed).await,
                _ => self.mark(claimed, "recorded").await,
            })
            .await
    }

    /// The store this flow uses.
    pub fn store(&self) -> &Arc<dyn WorkerStore> {
        &self.engine.store
    }

    /// Forgets the agents' availability answers this process reuses: the next handover asks
    /// the platform (the dev server's sandbox, when a person changes the agents' status).
    pub fn forget_availability(&self) {
        self.agent_status.clear();
    }

    /// Forgets the time sheets this process reuses (the sandbox's opening hours changed).
    pub fn forget_time_sheets(&self) {
        self.time_sheets.clear();
    }

    /// Shares the process's view of the emergency switch (see [`EmergencyFlag`]).
    pub fn sharing_emergency_flag(mut self, flag: Arc<EmergencyFlag>) -> Self {
        self.engine.emergency = flag;
        self
    }

    async fn mark(&self, claimed: &mut Claimed, reason: &'static str) -> Result<EventOutcome, ProcessError> {
        self.engine.mark(claimed, reason).await?;
        Ok(EventOutcome::Recorded(reason))
    }

    async fn content_imported(
        &self,
        content: &ContentEvent,
        claimed: &mut Claimed,
    ) -> Result<EventOutcome, ProcessError> {
        let platform =
            EngageTurn { effects: self.effects_for(&content.thread_id, &content.content_id), content };
        let engage = &self.settings.engage;
        let taken = self
            .engine
            .take_turn(&platform, claimed, |thread, emergency| {
                decide::bot_turn(content, thread, engage, emergency).map_err(|reason| reason.as_str())
            })
            .await?;
        Ok(match taken {
            Taken::NotTheBots(reason) => EventOutcome::Recorded(reason),
            Taken::Turn(done) => EventOutcome::of_turn(done),
        })
    }

    /// `intervention.closed` (CONTRACT C8): with `REOPEN_POLICY=bot`, an agent-owned thread is
    /// recategorized AGENT to BOT and given back to the bot.
    async fn intervention_closed(
        &self,
        event: &InterventionEvent,
        claimed: &mut Claimed,
    ) -> Result<EventOutcome, ProcessError> {
        if claimed.journal.effects.is_empty() {
            if let Err(reason) = decide::rebot(event, &claimed.thread, &self.settings.flow) {
                return self.mark(claimed, reason.as_str()).await;
            }
            claimed.journal.effects = vec![JournalEntry::planned(Effect::GiveBack)];
        }
        let thread_id = claimed.thread.thread_id.clone();
        let effects =
            EngageEffects { event_categories: &event.category_ids, ..self.effects_for(&thread_id, "") };
        if let Some(parked) = self.engine.make_effects(&effects, claimed).await? {
            return Ok(EventOutcome::of_turn(parked));
        }
        let now = crate::now_millis();
        let categories = claimed.journal.new_categories.clone().unwrap_or_default();
        self.engine
            .commit(claimed, |current| decide::thread_after_rebot(current, event, categories.clone(), now))
            .await?;
        info!("thread given back to the bot");
        Ok(EventOutcome::GivenBackToBot)
    }

    fn effects_for<'a>(&'a self, thread_id: &'a str, content_id: &'a str) -> EngageEffects<'a> {
        EngageEffects { flow: self, thread_id, content_id, event_categories: &[] }
    }
}
