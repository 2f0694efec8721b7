//! The executor for Engage Digital events, one at a time per thread (the queue's order): claims
//! each event, performs the steps the decisions ask for, saves the bot's answer and the
//! handover decision before the first effect that must not be repeated, and finishes the event
//! with the thread's new state in one write. Statistics are recorded after, never in the way.

use std::sync::Arc;
use std::time::Duration;

use tracing::{error, info, warn};

use super::cache::{EmergencyFlag, TtlCache};
use super::claim::{claim, finish_applying, record_stats};
use super::decide::{self, Turn, TurnPlan};
use crate::analytics;
use crate::bot::{Bot, BotMessage, BotRequest, Channel as BotChannel};
use crate::config::WebhookSettings;
use crate::engage::client::{AgentStatus, Channel, StatusQuery};
use crate::engage::{ContentEvent, EngageClient, EngageError, InterventionEvent, WebhookEvent};
use crate::store::{
    BotOutcome, Claim, EventProgress, HandoverDecision, Lease, StatsEntry, Store, StoreError, ThreadState,
};

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
}

/// A failure the queue's next delivery will finish.
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
    agent_status: TtlCache<StatusQuery, Vec<AgentStatus>>,
    channels: TtlCache<(), Vec<Channel>>,
    time_sheets: TtlCache<(), Arc<Vec<crate::hours::TimeSheet>>>,
    pub emergency: Arc<EmergencyFlag>,
}

impl EngageFlow {
    pub fn new(
        settings: WebhookSettings,
        store: Arc<dyn Store>,
        bot: Arc<dyn Bot>,
        engage: EngageClient,
    ) -> Self {
        Self {
            agent_status: TtlCache::new(settings.flow.availability_cache),
            channels: TtlCache::new(CHANNELS_CACHE),
            time_sheets: TtlCache::new(TIME_SHEETS_CACHE),
            emergency: Arc::new(EmergencyFlag::new(settings.flow.emergency_cache)),
            settings: Arc::new(settings),
            store,
            bot,
            engage,
        }
    }

    /// Processes one event exactly once, whatever the number of deliveries.
    pub async fn process(&self, event: &WebhookEvent) -> Result<EventOutcome, ProcessError> {
        let thread_id = event.thread_scope();
        let span = tracing::info_span!("event", event_id = %event.id(), event_type = %event.event_type(), thread_id = %thread_id);
        super::logged_event(span, self.process_claimed(event, &thread_id), EventOutcome::label).await
    }

    async fn process_claimed(
        &self,
        event: &WebhookEvent,
        thread_id: &str,
    ) -> Result<EventOutcome, ProcessError> {
        if let WebhookEvent::Unknown { event_type, .. } = event {
            info!(%event_type, "event type not handled; acknowledged");
            return Ok(EventOutcome::Acknowledged);
        }
        let (mut lease, mut progress, thread) =
            match claim(self.store.as_ref(), thread_id, event.id()).await? {
                Claim::Granted { lease, progress, thread } => (lease, progress, thread),
                Claim::Done => return Ok(EventOutcome::Duplicate),
                Claim::Busy => return Err(ProcessError::Busy(event.id().to_string())),
            };
        let result = match event {
            WebhookEvent::ContentImported(content) => {
                self.content_imported(content, &mut lease, &mut progress, thread).await
            }
            WebhookEvent::InterventionClosed(closed) => {
                self.intervention_closed(closed, &lease, &mut progress, thread).await
            }
            _ => self.record(&lease, "recorded").await,
        };
        if let Err(err) = &result {
            // A call that got no answer may have been performed: the next run checks first.
            if matches!(err, ProcessError::Engage(EngageError::Transport(_))) {
                progress.uncertain = true;
            }
            // Keep what was done and let the queue's next delivery resume at once.
            if let Err(err) = self.store.release_event(&lease, &progress).await {
                warn!(error = %err, "could not release the event; a retry waits for its lease to expire");
            }
        }
        result
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
        self.emergency = flag;
        self
    }

    async fn emergency_active(&self) -> Result<bool, StoreError> {
        self.emergency.active(self.store.as_ref()).await
    }

    async fn content_imported(
        &self,
        content: &ContentEvent,
        lease: &mut Lease,
        progress: &mut EventProgress,
        thread: ThreadState,
    ) -> Result<EventOutcome, ProcessError> {
        let emergency = self.emergency_active().await?;
        let turn = match decide::bot_turn(content, &thread, &self.settings.engage, emergency) {
            Ok(turn) => turn,
            Err(reason) => return self.record(lease, reason.as_str()).await,
        };
        let plan = match self.steps(content, &thread, turn, lease, progress).await {
            Ok(plan) => plan,
            // The platform refused for good (no access to the thread, ...): retrying cannot
            // help, so the event is finished and the thread marked, loudly, for a person.
            Err(ProcessError::Engage(err)) if !err.is_transient() => {
                error!(error = %err, code = %err.code(), "the platform refused a step for good; thread marked, event parked");
                let reason = format!("refused by the platform: {}", err.code());
                return self.finish_parked(lease, thread, reason).await;
            }
            Err(err) => return Err(err),
        };
        let stats = turn_stats(content, &thread, &plan, progress, &lease.event_id);
        // Another function (emergency, rebot) may write the thread meanwhile: this turn's
        // outcome is then applied to the thread as it is now, and never takes it back from
        // the agents.
        let now = crate::now_millis();
        let memory = self.bot.memory();
        finish_applying(self.store.as_ref(), lease, thread, |current| {
            let mut next = decide::thread_after_turn(current, content, &plan, progress, now);
            if let Some(outcome) = &progress.bot {
                next.bot_memory =
                    decide::memory_after_turn(&current.bot_memory, &content.body, outcome, &plan, memory);
            }
            next
        })
        .await?;
        record_stats(self.store.as_ref(), &stats).await;
        Ok(EventOutcome::BotTurn {
            replies: progress.replies_posted,
            resolved: plan.resolve,
            handover: progress.handover.clone(),
        })
    }

    /// Finishes an event whose work cannot be completed, with the thread marked.
    async fn finish_parked(
        &self,
        lease: &Lease,
        thread: ThreadState,
        reason: String,
    ) -> Result<EventOutcome, ProcessError> {
        let now = crate::now_millis();
        finish_applying(self.store.as_ref(), lease, thread, |current| ThreadState {
            pending_handover: Some(reason.clone()),
            parked: true,
            updated_at_ms: now,
            ..current.clone()
        })
        .await?;
        Ok(EventOutcome::Parked)
    }

    /// Finishes an event that changes nothing but its own record.
    async fn record(&self, lease: &Lease, reason: &'static str) -> Result<EventOutcome, ProcessError> {
        self.store.finish_event(lease, None).await?;
        Ok(EventOutcome::Recorded(reason))
    }

    /// `intervention.closed` (CONTRACT C8): with `REOPEN_POLICY=bot`, an agent-owned thread is
    /// recategorized AGENT to BOT and given back to the bot.
    async fn intervention_closed(
        &self,
        event: &InterventionEvent,
        lease: &Lease,
        progress: &mut EventProgress,
        thread: ThreadState,
    ) -> Result<EventOutcome, ProcessError> {
        if let Err(reason) = decide::rebot(event, &thread, &self.settings.flow) {
            return self.record(lease, reason.as_str()).await;
        }
        if progress.new_categories.is_none() {
            let current = match &thread.categories {
                Some(known) => known.clone(),
                None if !event.category_ids.is_empty() => event.category_ids.clone(),
                None => self.engage.get_thread(&thread.thread_id).await?.thread_category_ids,
            };
            let engage = &self.settings.engage;
            progress.new_categories =
                Some(decide::switch_category(&current, &engage.agent_category_id, &engage.bot_category_id));
        }
        let categories = progress.new_categories.clone().expect("set above");
        if !progress.recategorized {
            if !self.already_categorized(lease, progress, &thread.thread_id, &categories).await? {
                self.engage.update_thread_categories(&thread.thread_id, &categories).await?;
            }
            progress.recategorized = true;
        }
        let now = crate::now_millis();
        finish_applying(self.store.as_ref(), lease, thread, |current| {
            decide::thread_after_rebot(current, event, categories.clone(), now)
        })
        .await?;
        Ok(EventOutcome::GivenBackToBot)
    }

    /// Intervention, bot, messages, recategorization, resolve: each done once; what a later
    /// step depends on is saved before it.
    async fn steps(
        &self,
        content: &ContentEvent,
        thread: &ThreadState,
        turn: Turn,
        lease: &mut Lease,
        progress: &mut EventProgress,
    ) -> Result<TurnPlan, ProcessError> {
        let flow = &self.settings.flow;
        if turn == Turn::AskBot && decide::should_open_intervention(content, thread, progress, flow) {
            match self.engage.create_intervention(&content.content_id).await {
                Ok(intervention) => progress.intervention_id = Some(intervention.id),
                Err(err) if err.is_transient() => return Err(err.into()),
                // A 422 (already open, ...) or a refusal: a reply is still worth trying. An
                // earlier delivery that died before saving may have opened it: the content
                // then names it.
                Err(err) => {
                    warn!(error = %err, code = %err.code(), "intervention not opened; the turn goes on");
                    match self.engage.get_content(&content.content_id).await {
                        Ok(read) => progress.intervention_id = read.intervention_id,
                        Err(err) if err.is_transient() => return Err(err.into()),
                        Err(err) => {
                            warn!(error = %err, code = %err.code(), "content not readable; intervention unknown")
                        }
                    }
                }
            }
            // Saved with the bot's answer below, before the first reply.
            progress.intervention_step_done = true;
        }

        if progress.bot.is_none() {
            progress.bot = Some(match turn {
                Turn::EmergencyHandover => BotOutcome::NotAsked { reason: decide::EMERGENCY_REASON.into() },
                Turn::AskBot => match self.bot.ask(&bot_request(content, thread)).await {
                    Ok(answer) => BotOutcome::Answered(answer),
                    Err(err) => {
                        warn!(error = %err, "bot failed; handing over");
                        BotOutcome::Failed { reason: err.reason() }
                    }
                },
            });
        }
        let outcome = progress.bot.clone().expect("set above");
        let plan = decide::plan_turn(&outcome, thread, flow);

        if let Some(reason) = &plan.handover
            && progress.handover.is_none()
        {
            let engage = &self.settings.engage;
            let decision = match self.closed_message(content, reason).await {
                Some(message) => {
                    let decision = decide::closed_hours_decision(&content.source_id, flow, engage);
                    info!(%reason, ?decision, policy = ?flow.closed_policy, "contact center closed; handover decided");
                    progress.closed_message = Some(message);
                    decision
                }
                None => {
                    let available = if decide::needs_availability_check(&content.source_id, reason, engage) {
                        Some(self.agents_available(content).await?)
                    } else {
                        None
                    };
                    let decision = decide::handover_decision(available, flow);
                    info!(%reason, ?available, ?decision, "handover decided");
                    decision
                }
            };
            progress.handover = Some(decision);
        }

        // The intervention, the bot's answer and the handover decision are saved before the
        // first effect that must not be repeated: a redelivery never asks the bot again, and
        // decides nothing differently. This first save is also the event's claim.
        if !lease.written {
            self.store.save_progress(lease, progress).await?;
        }

        let recategorize = progress.handover == Some(HandoverDecision::Agents) && !progress.recategorized;
        let messages = decide::messages_to_post(
            &plan,
            progress.handover.as_ref(),
            progress.closed_message.as_deref(),
            flow,
        );
        if (lease.after_crash || progress.uncertain) && progress.replies_posted < messages.len() {
            // The crashed run may have posted some: count the replies the platform has.
            let contents = self.engage.thread_contents(&content.thread_id).await?;
            let already =
                contents.iter().filter(|c| c.in_reply_to_id.as_deref() == Some(&content.content_id)).count();
            if already > progress.replies_posted {
                info!(already, "resumed after a crash: replies already posted are not posted again");
                progress.replies_posted = already.min(messages.len());
            }
        }
        let posted_before = progress.replies_posted;
        while progress.replies_posted < messages.len() {
            let text = &messages[progress.replies_posted];
            match self.engage.create_reply(&content.content_id, text).await {
                Ok(_) => progress.replies_posted += 1,
                // The event is released with `progress`: the retry posts only what is left.
                Err(err) if err.is_transient() => return Err(err.into()),
                Err(err) => {
                    // The platform will never accept it (thread closed, no right to reply):
                    // retrying cannot help, so the remaining messages are dropped, loudly.
                    tracing::error!(error = %err, code = %err.code(), "reply refused; remaining messages dropped");
                    progress.replies_posted = messages.len();
                }
            }
        }
        if progress.replies_posted > posted_before {
            // Not saved here (one save a turn keeps a handover at four requests): a run that
            // dies after posting is resumed with `after_crash`, and counts the replies the
            // platform has before posting any.
            info!(posted = progress.replies_posted - posted_before, "replies posted");
        }

        if recategorize {
            if progress.new_categories.is_none() {
                let current = match &thread.categories {
                    Some(known) => known.clone(),
                    None => self.engage.get_thread(&content.thread_id).await?.thread_category_ids,
                };
                let engage = &self.settings.engage;
                progress.new_categories = Some(decide::switch_category(
                    &current,
                    &engage.bot_category_id,
                    &engage.agent_category_id,
                ));
            }
            let categories = progress.new_categories.clone().expect("set above");
            // 409 (being categorized) and 429 are retried with backoff inside the client; a
            // final failure returns, the event is released with its progress, and the
            // platform's retry finishes the handover.
            if !self.already_categorized(lease, progress, &content.thread_id, &categories).await? {
                self.engage.update_thread_categories(&content.thread_id, &categories).await?;
            }
            progress.recategorized = true;
        }

        if plan.resolve {
            self.resolve(content, thread, progress).await?;
        }
        Ok(plan)
    }

    /// After a crash or an unanswered call, whether the thread already has `categories`.
    async fn already_categorized(
        &self,
        lease: &Lease,
        progress: &EventProgress,
        thread_id: &str,
        categories: &[String],
    ) -> Result<bool, EngageError> {
        if !(lease.after_crash || progress.uncertain) {
            return Ok(false);
        }
        let current = self.engage.get_thread(thread_id).await?.thread_category_ids;
        Ok(current == categories)
    }

    /// The message for the customer when the contact center is closed now (`None`: open, or
    /// nothing says otherwise). Emergency handovers do not wait for opening hours. Time sheets
    /// that cannot be read never stop a handover: the contact center is then taken as open.
    async fn closed_message(&self, content: &ContentEvent, reason: &str) -> Option<String> {
        let flow = &self.settings.flow;
        if !flow.business_hours || reason == decide::EMERGENCY_REASON {
            return None;
        }
        let sheets = match self.time_sheets.get_or_load((), || self.load_time_sheets()).await {
            Ok(sheets) => sheets,
            Err(err) => {
                warn!(error = %err, code = %err.code(), "time sheets not readable now; taken as open");
                return None;
            }
        };
        let sheet = crate::hours::sheet_for(&sheets, &content.source_id)?;
        let now = jiff::Timestamp::from_millisecond(crate::now_millis()).ok()?;
        if sheet.is_open(now) {
            return None;
        }
        let language = content.language.as_deref();
        let Some(next) = sheet.next_open(now) else {
            // No opening in the next two months: nothing honest to say about when.
            info!(time_sheet = %sheet.id, "outside business hours, no opening ahead");
            return Some(flow.no_agent_message.clone());
        };
        let next_open = crate::hours::render_next_open(&next, now, language.unwrap_or("en"));
        info!(time_sheet = %sheet.id, next_open = %next_open, "outside business hours");
        Some(decide::closed_message(flow, language, &next_open))
    }

    /// The active time sheets, ready to use. A token without the right to read them (403)
    /// turns business hours off for this container, loudly; a sheet that cannot be read is
    /// left out, loudly.
    async fn load_time_sheets(&self) -> Result<Arc<Vec<crate::hours::TimeSheet>>, EngageError> {
        let records = match self.engage.time_sheets().await {
            Ok(records) => records,
            Err(err @ EngageError::Forbidden { .. }) => {
                warn!(error = %err, "time sheets not readable with this token: business hours are off");
                vec![]
            }
            Err(err) => return Err(err),
        };
        let sheets = records
            .iter()
            .filter(|record| record.active)
            .filter_map(|record| match crate::hours::TimeSheet::from_record(record) {
                Ok(sheet) => {
                    if !sheet.unreadable_holidays.is_empty() {
                        warn!(time_sheet = %sheet.id, dates = ?sheet.unreadable_holidays, "holiday dates not understood; ignored");
                    }
                    Some(sheet)
                }
                Err(err) => {
                    warn!(error = %err, "time sheet not usable; its sources are taken as always open");
                    None
                }
            })
            .collect();
        Ok(Arc::new(sheets))
    }

    /// `GET /status` for the content's source (and language, falling back to any language),
    /// judged against the channel that contains the source. Answers are reused for
    /// `AVAILABILITY_CACHE_SECONDS`.
    async fn agents_available(&self, content: &ContentEvent) -> Result<bool, EngageError> {
        let channels = self.channels.get_or_load((), || self.engage.channels()).await?;
        let mut query = StatusQuery {
            source_ids: vec![content.source_id.clone()],
            category_ids: vec![self.settings.engage.agent_category_id.clone()],
            spoken_languages: content.language.iter().cloned().collect(),
        };
        loop {
            let statuses =
                self.agent_status.get_or_load(query.clone(), || self.engage.agent_statuses(&query)).await?;
            let availability = decide::agents_available(&statuses, &channels, &content.source_id);
            if availability.channel_unknown {
                warn!(source_id = %content.source_id, "no channel lists the source; any channel counts");
            }
            if availability.available || query.spoken_languages.is_empty() {
                return Ok(availability.available);
            }
            // Nobody speaks the language: anybody will do.
            query.spoken_languages.clear();
        }
    }

    /// Closes the bot's intervention and, when configured, the thread.
    async fn resolve(
        &self,
        content: &ContentEvent,
        thread: &ThreadState,
        progress: &mut EventProgress,
    ) -> Result<(), ProcessError> {
        let intervention = progress.intervention_id.clone().or_else(|| thread.bot_intervention_id.clone());
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

/// What a turn adds to the handover statistics: a session on the thread's first bot turn, an
/// intervention when it went to the agents. Timed by the event, not by its processing.
fn turn_stats(
    content: &ContentEvent,
    thread_before: &ThreadState,
    plan: &TurnPlan,
    progress: &EventProgress,
    event_id: &str,
) -> Vec<StatsEntry> {
    let at = content
        .issued_at
        .as_deref()
        .and_then(crate::time::parse_rfc3339_ms)
        .unwrap_or_else(crate::now_millis);
    let mut stats = Vec::new();
    if thread_before.bot_turns == 0 {
        let user = content.author_id.as_deref().unwrap_or(&content.thread_id);
        stats.extend(analytics::session(at, &content.thread_id, user));
    }
    if let (Some(reason), Some(HandoverDecision::Agents), true) =
        (&plan.handover, &progress.handover, progress.recategorized)
    {
        let emergency = reason == decide::EMERGENCY_REASON;
        // Handed over to a closed contact center: counted apart, whatever asked for it.
        let reason = if progress.closed_message.is_some() { decide::CLOSED_HOURS_REASON } else { reason };
        stats.push(analytics::intervention(at, &content.thread_id, event_id, reason, emergency));
    }
    stats
}

fn bot_request(content: &ContentEvent, thread: &ThreadState) -> BotRequest {
    BotRequest {
        history: thread.bot_memory.clone(),
        conversation_id: content.thread_id.clone(),
        channel: BotChannel::Engage,
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
