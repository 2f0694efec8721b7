//! The turn engine: one skeleton for every platform. A platform ([`Platform`]) supplies its
//! effects and the ways to read them back; the turn, its journal, its retries and its
//! statistics are written once, here:
//!
//! claim -> ask the bot (its answer saved at once, before any other call) -> decide (pure) ->
//! effects, each journaled -> commit -> statistics.
//!
//! Exactly once, effect by effect: the journal is written with the claim, listing the planned
//! effects; an effect that fails after it may have reached the platform is `uncertain`, and
//! the next attempt asks the platform before making it again; a refusal that follows our own
//! uncertain attempt means it was made. A clean turn writes the record once (the claim) and
//! the thread once (the commit, which stands for every effect done).

use std::sync::Arc;

use tracing::{info, warn};

use super::cache::EmergencyFlag;
use super::decide::{self, Turn, TurnPlan};
use crate::bot::{Bot, BotRequest};
use crate::config::FlowSettings;
use crate::store::{
    BotOutcome, Claim, Effect, EffectState, HandoverDecision, Journal, JournalEntry, Lease, StatsEntry,
    StoreError, ThreadState, WorkerStore,
};

/// How one attempt at an effect failed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum EffectError {
    /// It may have been made (no answer in time, a 5xx to a change): the platform is asked
    /// before it is made again.
    #[error("{0} (it may have been made)")]
    Uncertain(String),
    /// Not made; the queue's next delivery tries again (a 429, a 409, a failed read).
    #[error("{0}")]
    Retry(String),
    /// Refused for good where the effect expects no refusal: retrying cannot help, so the
    /// event is finished with the thread marked for a person (parked). The platform's code.
    #[error("refused for good ({0})")]
    Refused(String),
}

/// What an attempt at an effect did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Made {
    Done,
    /// Refused in a way the effect expects (closed already, no right to reply): not made,
    /// logged by the platform, nothing to retry.
    Refused,
}

/// Where a handover goes, and the closed-hours message when the contact center is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandoverChoice {
    pub decision: HandoverDecision,
    pub closed_message: Option<String>,
}

/// The effects a platform offers, and the ways to read them back. Implemented per event by
/// each platform (the event's ids are in `self`).
#[async_trait::async_trait]
pub trait Platform: Send + Sync {
    /// Makes effect `index` of the journal, recording what it learns in the journal (an
    /// intervention id, the categories it set).
    async fn make(
        &self,
        thread: &ThreadState,
        journal: &mut Journal,
        index: usize,
    ) -> Result<Made, EffectError>;

    /// After an attempt whose outcome is unknown (an uncertain answer, a crash): whether effect
    /// `index` was made. A platform that cannot tell answers `false` (it is then made again).
    async fn was_made(
        &self,
        thread: &ThreadState,
        journal: &mut Journal,
        index: usize,
    ) -> Result<bool, EffectError>;

    /// Whether [`Platform::was_made`] can tell. A platform that cannot has its journal saved
    /// after each effect that another follows, so a crash repeats at most the effect it hit.
    fn reads_back(&self) -> bool {
        true
    }
}

/// A platform's side of a bot turn: what the bot is asked, where a handover goes, which
/// effects the turn has, and what it leaves on the thread. Everything but the handover's
/// platform reads is pure.
#[async_trait::async_trait]
pub trait BotTurn: Send + Sync {
    /// The effects of the turn's conversation.
    fn platform(&self) -> &dyn Platform;
    fn flow(&self) -> &FlowSettings;
    fn bot_request(&self, thread: &ThreadState) -> BotRequest;
    /// The customer's message, as the bot's memory keeps it.
    fn customer_text(&self) -> &str;
    /// Where a handover goes when this container can tell without a call (cached answers);
    /// `None`: [`BotTurn::decide_handover`] must ask the platform.
    fn known_handover(&self, reason: &str) -> Option<HandoverChoice>;
    async fn decide_handover(&self, reason: &str) -> Result<HandoverChoice, EffectError>;
    /// The turn's effects, in order.
    fn effects(&self, thread: &ThreadState, plan: &TurnPlan, journal: &Journal) -> Vec<Effect>;
    /// The thread after the turn, applied to the thread as it is at the commit.
    fn thread_after(
        &self,
        current: &ThreadState,
        plan: &TurnPlan,
        journal: &Journal,
        now_ms: i64,
    ) -> ThreadState;
    /// Whether the conversation's last messages are kept for the agent's briefing.
    fn keeps_transcript(&self) -> bool {
        false
    }
    /// The statistics facts of the turn (`before`: the thread as the turn found it).
    fn stats(
        &self,
        before: &ThreadState,
        plan: &TurnPlan,
        journal: &Journal,
        event_id: &str,
    ) -> Vec<StatsEntry>;
}

/// A failure the queue's next delivery will finish.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("another delivery of event {0} is being processed")]
    Busy(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the platform: {0}")]
    Platform(#[from] EffectError),
    /// A failed delivery, counted on the event's record.
    #[error("{cause} (failed delivery {attempts})")]
    Failed { attempts: u32, cause: Box<ProcessError> },
    /// The invocation's time ran out: the event was released for the next delivery, what it
    /// was making left to be read back.
    #[error("the invocation's time ran out; released for the next delivery")]
    OutOfTime,
}

impl ProcessError {
    /// The deliveries of the event that failed so far, when its record counts them.
    pub fn failed_attempts(&self) -> Option<u32> {
        match self {
            Self::Failed { attempts, .. } => Some(*attempts),
            _ => None,
        }
    }
}

/// An event held by this delivery: its lease, its journal, its thread as loaded.
pub struct Claimed {
    pub lease: Lease,
    pub journal: Journal,
    pub thread: ThreadState,
}

/// What every platform's turn shares: the store, the bot, the emergency switch.
pub struct Engine {
    pub store: Arc<dyn WorkerStore>,
    pub bot: Arc<dyn Bot>,
    pub emergency: Arc<EmergencyFlag>,
}

/// What became of a customer's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    /// Not the bot's (the reason): recorded.
    NotTheBots(&'static str),
    Turn(TurnDone),
}

/// What a bot turn did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnDone {
    pub replies: usize,
    pub resolved: bool,
    pub handover: Option<HandoverDecision>,
    /// The handover effect was made (the conversation is with the agents).
    pub handed_over: bool,
    /// The platform refused an effect for good: the event is finished, the thread marked.
    pub parked: bool,
}

impl Engine {
    /// Claims the event: `Ok(None)` when it is done already (a redelivery).
    pub async fn claim(&self, thread_id: &str, event_id: &str) -> Result<Option<Claimed>, ProcessError> {
        match super::claim::claim(self.store.as_ref(), thread_id, event_id).await? {
            Claim::Granted { lease, journal, thread } => Ok(Some(Claimed { lease, journal, thread })),
            Claim::Done => Ok(None),
            Claim::Busy => Err(ProcessError::Busy(event_id.to_string())),
        }
    }

    /// Runs `work` on a claimed event; when it fails, the event is released with its journal,
    /// so the next delivery resumes at once where it stopped, and the failed delivery is
    /// counted on the record. A record never written yet is written first: a failure never
    /// forgets what a retry needs (the bot's answer, an uncertain effect, the count).
    pub async fn released_on_failure<T>(
        &self,
        claimed: &mut Claimed,
        deadline: Option<tokio::time::Instant>,
        work: impl AsyncFnOnce(&mut Claimed) -> Result<T, ProcessError>,
    ) -> Result<T, ProcessError> {
        let worked = match deadline {
            None => work(claimed).await,
            // Released before the invocation's deadline rather than killed with it: an effect
            // cut short may have been made, so every one not finished is read back next time.
            Some(deadline) => tokio::time::timeout_at(deadline, work(claimed)).await.unwrap_or_else(|_| {
                claimed.journal.effects.iter_mut().filter(|e| !e.state.is_finished()).for_each(|e| {
                    e.state = EffectState::Uncertain;
                });
                Err(ProcessError::OutOfTime)
            }),
        };
        let cause = match worked {
            Ok(done) => return Ok(done),
            Err(cause) => cause,
        };
        claimed.journal.failed_attempts += 1;
        let unsaved = !claimed.lease.written;
        let saved = if unsaved { self.save(claimed).await.map_err(|e| e.to_string()) } else { Ok(()) };
        let released = saved
            .and(self.store.release_event(&claimed.lease, &claimed.journal).await.map_err(|e| e.to_string()));
        if let Err(err) = released {
            warn!(error = %err, "could not release the event; a retry waits for its lease to expire");
        }
        Err(ProcessError::Failed { attempts: claimed.journal.failed_attempts, cause: Box::new(cause) })
    }

    /// Finishes an event that changes no thread: its record is the mark that it is done.
    pub async fn mark(&self, claimed: &mut Claimed, reason: &str) -> Result<(), ProcessError> {
        claimed.journal.marked = Some(reason.to_string());
        self.store.save_journal(&mut claimed.lease, &claimed.journal).await?;
        Ok(())
    }

    /// Saves the journal: the first save is the claim.
    pub async fn save(&self, claimed: &mut Claimed) -> Result<(), ProcessError> {
        self.store.save_journal(&mut claimed.lease, &claimed.journal).await?;
        Ok(())
    }

    /// Commits the event: `change` applied to its thread, in one conditional write.
    pub async fn commit(
        &self,
        claimed: &Claimed,
        change: impl Fn(&ThreadState) -> ThreadState,
    ) -> Result<(), ProcessError> {
        let event_id = claimed.lease.event_id.clone();
        let stamped =
            |current: &ThreadState| ThreadState { last_event_id: Some(event_id.clone()), ..change(current) };
        super::claim::finish_applying(self.store.as_ref(), &claimed.lease, &claimed.thread, stamped).await?;
        Ok(())
    }

    /// A customer's message, whatever the platform: a turn begun goes on as it began (whatever
    /// changed since); otherwise `decide` says, with the emergency switch as it is now, whether
    /// the message is the bot's. One that is not is marked with the reason.
    pub async fn take_turn<T: BotTurn>(
        &self,
        platform: &T,
        claimed: &mut Claimed,
        decide: impl FnOnce(&ThreadState, bool) -> Result<Turn, &'static str>,
    ) -> Result<Taken, ProcessError> {
        let turn = match &claimed.journal.bot {
            Some(BotOutcome::NotAsked { .. }) => Turn::EmergencyHandover,
            Some(_) => Turn::AskBot,
            None => {
                let emergency = self.emergency.active(self.store.as_ref()).await?;
                match decide(&claimed.thread, emergency) {
                    Ok(turn) => turn,
                    Err(reason) => {
                        info!(reason, "not the bot's; recorded");
                        self.mark(claimed, reason).await?;
                        return Ok(Taken::NotTheBots(reason));
                    }
                }
            }
        };
        Ok(Taken::Turn(self.bot_turn(platform, turn, claimed).await?))
    }

    /// One bot turn, whatever the platform: the answer (asked once, saved at once), the plan,
    /// the effects, the commit, the statistics.
    pub async fn bot_turn<T: BotTurn>(
        &self,
        platform: &T,
        turn: Turn,
        claimed: &mut Claimed,
    ) -> Result<TurnDone, ProcessError> {
        let outcome = self.answer(platform, turn, claimed).await?;
        let plan = decide::plan_turn(&outcome, &claimed.thread, platform.flow());
        if claimed.journal.effects.is_empty() {
            self.plan_effects(platform, &plan, claimed).await?;
        }
        if let Some(parked) = self.make_effects(platform.platform(), claimed).await? {
            return Ok(parked);
        }
        let (now, memory) = (crate::now_millis(), self.bot.memory());
        let journal = &claimed.journal;
        self.commit(claimed, |current| {
            let mut next = platform.thread_after(current, &plan, journal, now);
            next.bot_memory = decide::memory_after_turn(
                &current.bot_memory,
                platform.customer_text(),
                &outcome,
                &plan,
                memory,
            );
            // A bot with a memory of its own has the conversation already.
            let keep = platform.keeps_transcript() && memory.is_none();
            let ended = plan.resolve || journal.made(&Effect::HandOver);
            let text = platform.customer_text();
            next.transcript =
                decide::transcript_after_turn(&current.transcript, text, &plan.replies, ended, keep);
            next
        })
        .await?;
        let stats = platform.stats(&claimed.thread, &plan, journal, &claimed.lease.event_id);
        super::claim::record_stats(self.store.as_ref(), &stats).await;
        Ok(TurnDone {
            replies: journal.replies_made(),
            resolved: plan.resolve,
            handed_over: journal.made(&Effect::HandOver),
            handover: journal.handover.clone(),
            parked: false,
        })
    }

    /// Makes the journal's effects, the record written first (the claim) so that an effect's
    /// uncertain outcome is never forgotten. `Ok(Some(parked))`: the platform refused one for
    /// good, and the event is finished with its thread marked.
    pub async fn make_effects(
        &self,
        platform: &dyn Platform,
        claimed: &mut Claimed,
    ) -> Result<Option<TurnDone>, ProcessError> {
        if !claimed.lease.written {
            self.save(claimed).await?;
        }
        match self.run_effects(platform, claimed).await {
            Ok(()) => Ok(None),
            Err(ProcessError::Platform(EffectError::Refused(reason))) => {
                self.park(claimed, reason).await.map(Some)
            }
            Err(err) => Err(err),
        }
    }

    /// Makes every effect of the journal not finished yet, in order. An effect whose earlier
    /// attempt is unknown (uncertain, or the previous delivery died) is read back first.
    async fn run_effects(&self, platform: &dyn Platform, claimed: &mut Claimed) -> Result<(), ProcessError> {
        let count = claimed.journal.effects.len();
        for index in 0..count {
            if claimed.journal.effects[index].state.is_finished() {
                continue;
            }
            make_effect(platform, claimed, index).await?;
            // The commit stands for the last effect; the others are saved as they are made when
            // the platform cannot be asked afterwards.
            if !platform.reads_back() && index + 1 < count {
                self.save(claimed).await?;
            }
        }
        Ok(())
    }

    /// The bot's outcome for this event: from the journal, or asked now and saved at once, so
    /// nothing that fails after it (a platform read, the store) has the bot asked again.
    async fn answer<T: BotTurn>(
        &self,
        platform: &T,
        turn: Turn,
        claimed: &mut Claimed,
    ) -> Result<BotOutcome, ProcessError> {
        if let Some(outcome) = &claimed.journal.bot {
            return Ok(outcome.clone());
        }
        let outcome = match turn {
            Turn::EmergencyHandover => BotOutcome::NotAsked { reason: decide::EMERGENCY_REASON.into() },
            Turn::AskBot => {
                let asked = std::time::Instant::now();
                match crate::bot::ask_within_bounds(self.bot.as_ref(), &platform.bot_request(&claimed.thread))
                    .await
                {
                    Ok(answer) => {
                        crate::metrics::bot_answered(asked.elapsed());
                        BotOutcome::Answered(answer)
                    }
                    Err(err) => {
                        crate::metrics::bot_failed(asked.elapsed());
                        warn!(error = %err, "bot failed; handing over");
                        BotOutcome::Failed { reason: err.reason() }
                    }
                }
            }
        };
        claimed.journal.bot = Some(outcome.clone());
        // Where a handover goes is known without a call more often than not (cached answers):
        // then the claim below saves the answer and the plan together, before any call.
        let plan = decide::plan_turn(&outcome, &claimed.thread, platform.flow());
        let reason = plan.handover.as_deref();
        if reason.is_some_and(|reason| platform.known_handover(reason).is_none()) {
            self.save(claimed).await?;
        }
        Ok(outcome)
    }

    /// Decides where a handover goes (once) and plans the turn's effects.
    async fn plan_effects<T: BotTurn>(
        &self,
        platform: &T,
        plan: &TurnPlan,
        claimed: &mut Claimed,
    ) -> Result<(), ProcessError> {
        if let Some(reason) = &plan.handover
            && claimed.journal.handover.is_none()
        {
            let choice = match platform.known_handover(reason) {
                Some(choice) => choice,
                None => platform.decide_handover(reason).await?,
            };
            info!(%reason, decision = ?choice.decision, closed = choice.closed_message.is_some(), "handover decided");
            claimed.journal.handover = Some(choice.decision);
            claimed.journal.closed_message = choice.closed_message;
        }
        let effects = platform.effects(&claimed.thread, plan, &claimed.journal);
        claimed.journal.effects = effects.into_iter().map(JournalEntry::planned).collect();
        // The plan goes with the claim when the claim is still to come; after an earlier save
        // (the answer, before a platform read), it is saved now, before the first effect.
        if claimed.lease.written {
            self.save(claimed).await?;
        }
        Ok(())
    }

    /// Finishes an event the platform refused for good: the thread is marked for a person.
    async fn park(&self, claimed: &mut Claimed, reason: String) -> Result<TurnDone, ProcessError> {
        tracing::error!(%reason, "the platform refused a step for good; thread marked, event parked");
        crate::metrics::parked();
        let now = crate::now_millis();
        let pending = format!("refused by the platform: {reason}");
        self.commit(claimed, |current| ThreadState {
            pending_handover: Some(pending.clone()),
            parked: true,
            updated_at_ms: now,
            ..current.clone()
        })
        .await?;
        let replies = claimed.journal.replies_made();
        Ok(TurnDone { replies, resolved: false, handover: None, handed_over: false, parked: true })
    }
}

/// Makes effect `index`, reading it back first when an earlier attempt's outcome is unknown
/// (uncertain, or the previous delivery died), and records its new state.
async fn make_effect(
    platform: &dyn Platform,
    claimed: &mut Claimed,
    index: usize,
) -> Result<(), EffectError> {
    let state = claimed.journal.effects[index].state;
    let name = claimed.journal.effects[index].effect.name();
    let unsure = state == EffectState::Uncertain || claimed.lease.after_crash;
    if unsure && platform.was_made(&claimed.thread, &mut claimed.journal, index).await? {
        info!(effect = name, "made by an earlier attempt; not made again");
        claimed.journal.effects[index].state = EffectState::Done;
        return Ok(());
    }
    let made = platform.make(&claimed.thread, &mut claimed.journal, index).await;
    claimed.journal.effects[index].state = match made {
        Ok(Made::Done) => EffectState::Done,
        // Our own earlier attempt went through: the platform refuses the repeat.
        Ok(Made::Refused) if unsure => EffectState::Done,
        Ok(Made::Refused) => refused(&mut claimed.journal, index),
        Err(err @ EffectError::Uncertain(_)) => {
            claimed.journal.effects[index].state = EffectState::Uncertain;
            return Err(err);
        }
        Err(err) => return Err(err),
    };
    Ok(())
}

/// A refused effect; a refused reply drops the replies after it (the thread takes none).
fn refused(journal: &mut Journal, index: usize) -> EffectState {
    if journal.effects[index].effect.is_reply() {
        for entry in journal.effects[index + 1..].iter_mut() {
            if entry.effect.is_reply() {
                entry.state = EffectState::Refused;
            }
        }
    }
    EffectState::Refused
}
