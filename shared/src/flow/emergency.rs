//! The emergency switch (CONTRACT C9): the three manual steps of the platform's emergency
//! procedure as one call. On: new bot messages go straight to the agents (the webhook reads the
//! flag), the bot sources' default categories switch BOT to AGENT (previous values saved), and
//! every bot-owned thread is recategorized BOT to AGENT, paced below the platform's rate limit.
//! Off: new messages go to the bot again and the saved default categories are restored; threads
//! already with the agents stay there.
//!
//! The work is resumable. The switch's state (with its version) says what is left: sources not
//! yet switched or restored, and where the sweep of the `bot-owned` index goes on (a cursor
//! saved after each page). The index holds only conversations the bot is in: a thread leaves it
//! when it is handed over, resolved, ended, parked (refused for good, or failed three times),
//! and the sweep takes idle ones out without a platform call. A thread's save is conditional on
//! the version read, so a message processed meanwhile is never overwritten; a run cut short
//! (time budget, crash, failure) is continued by the next invocation (the next `POST`, or the
//! schedule in AWS) from the page it was on. Recategorizing twice (a crash between the platform
//! call and the save) sets the same categories again. Zenvia interactions are transferred
//! through Zenvia's API.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tracing::{error, info, warn};

use super::claim::record_stats;
use super::decide;
use crate::config::EmergencySettings;
use crate::engage::{EngageClient, EngageError};
use crate::store::{EmergencyState, EmergencyStore, StoreError, ThreadState};
use crate::zenvia::{ZenviaClient, ZenviaError};

/// Threads read from the index at a time.
const PAGE: usize = 25;

#[derive(Debug, thiserror::Error)]
pub enum EmergencyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Engage(#[from] EngageError),
    #[error(transparent)]
    Zenvia(#[from] ZenviaError),
}

/// What became of one thread of the sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Swept {
    HandedOver,
    /// Parked: refused for good, or failed three times.
    Failed,
    /// Nothing to do (no longer the bot's, or idle: taken out of the index).
    Skipped,
}

/// The agent's briefing the sweep writes for a conversation it hands over.
struct Briefing {
    intervention: String,
    /// The intervention's user, when the thread knows it.
    user: Option<String>,
    body: String,
}

/// A handover the platform did not take.
enum HandoverFailure {
    /// 403/404/422: retrying cannot help.
    ForGood(String),
    /// 5xx, 429, timeout: another run may succeed.
    Transient(EmergencyError),
}

impl From<EngageError> for HandoverFailure {
    fn from(err: EngageError) -> Self {
        if err.is_transient() { Self::Transient(err.into()) } else { Self::ForGood(err.code().to_string()) }
    }
}

impl From<ZenviaError> for HandoverFailure {
    fn from(err: ZenviaError) -> Self {
        if err.is_transient() { Self::Transient(err.into()) } else { Self::ForGood(err.to_string()) }
    }
}

/// What `GET /emergency` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EmergencyStatus {
    pub active: bool,
    /// When it was last switched (RFC 3339, UTC).
    pub since: Option<String>,
    pub reason: Option<String>,
    /// Threads recategorized to the agents since it was switched on.
    pub handed_over: u64,
    /// Bot-owned threads still to recategorize (0 when off).
    pub remaining: u64,
    pub switched_by: Option<String>,
    /// Threads the platform refused to recategorize (closed, deleted, no access).
    pub failed: u64,
    /// The bot sources' default categories are AGENT (on) or restored (off).
    pub sources_done: bool,
}

/// Spaces platform calls evenly so that a burst stays under the rate limit.
pub struct Pacer {
    interval: Duration,
    next: tokio::sync::Mutex<Instant>,
}

impl Pacer {
    /// At most `requests` in any 60 s as the platform counts them: spaced 1% wider than
    /// exactly, so that network jitter never brings two requests closer than the limit allows
    /// (measured: exact spacing let 451 of 450 land in one sliding minute).
    pub fn per_minute(requests: u32) -> Self {
        Self {
            interval: Duration::from_secs(60) / requests.max(1) * 101 / 100,
            next: tokio::sync::Mutex::new(Instant::now()),
        }
    }

    /// Waits for the next slot.
    pub async fn wait(&self) {
        let mut next = self.next.lock().await;
        let now = Instant::now();
        if *next > now {
            tokio::time::sleep(*next - now).await;
        }
        *next = (*next).max(now) + self.interval;
    }
}

pub struct EmergencyFlow {
    pub settings: Arc<EmergencySettings>,
    pub store: Arc<dyn EmergencyStore>,
    pub engage: EngageClient,
    /// Zenvia's API, when Zenvia is used.
    pub zenvia: Option<ZenviaClient>,
    pacer: Pacer,
    /// How long one invocation works before returning (the rest continues later).
    budget: Duration,
    /// The view of the switch of the flows in this process, told at once of a switch.
    flag: Option<Arc<super::cache::EmergencyFlag>>,
}

impl EmergencyFlow {
    pub fn new(
        settings: EmergencySettings,
        store: Arc<dyn EmergencyStore>,
        engage: EngageClient,
        zenvia: Option<ZenviaClient>,
        budget: Duration,
    ) -> Self {
        Self {
            zenvia,
            pacer: Pacer::per_minute(settings.requests_per_minute),
            settings: Arc::new(settings),
            store,
            engage,
            budget,
            flag: None,
        }
    }

    /// Works at most `budget` per invocation (tests and the benchmark use short ones).
    pub fn with_budget(mut self, budget: Duration) -> Self {
        self.budget = budget;
        self
    }

    /// Tells the flows of this process at once when the switch changes (the dev server runs
    /// the switch and the worker in one process).
    pub fn telling(mut self, flag: Arc<super::cache::EmergencyFlag>) -> Self {
        self.flag = Some(flag);
        self
    }

    pub async fn status(&self) -> Result<EmergencyStatus, EmergencyError> {
        let state = self.store.get_emergency().await?;
        let remaining = if state.active { self.store.count_bot_owned().await? } else { 0 };
        let sources_done =
            if state.active { state.sources_switched } else { state.saved_default_categories.is_empty() };
        Ok(EmergencyStatus {
            active: state.active,
            since: state.since_ms.map(crate::time::format_rfc3339),
            reason: state.reason,
            handed_over: state.handed_over,
            remaining,
            switched_by: state.switched_by,
            failed: state.failed,
            sources_done,
        })
    }

    /// Switches on or off (switching to the current state changes nothing), then works on
    /// what the switch implies for up to the time budget.
    pub async fn switch(
        &self,
        active: bool,
        reason: Option<String>,
        switched_by: &str,
    ) -> Result<EmergencyStatus, EmergencyError> {
        let mut attempts = 1;
        loop {
            let state = self.store.get_emergency().await?;
            if state.active == active {
                info!(audit = true, active, %switched_by, "emergency switch already in this state; nothing changed");
                self.flag.iter().for_each(|flag| flag.switched(active));
                break;
            }
            let now = crate::now_millis();
            let next = EmergencyState {
                version: state.version,
                active,
                since_ms: Some(now),
                reason: reason.clone(),
                switched_by: Some(switched_by.to_string()),
                // Kept across switches until restored, so an unfinished restore is never lost.
                saved_default_categories: state.saved_default_categories,
                sources_switched: if active { false } else { state.sources_switched },
                handed_over: if active { 0 } else { state.handed_over },
                failed: if active { 0 } else { state.failed },
                sweep_after: None,
                // Switching takes the work over: a run still at it meets the new version and stops.
                worked_on_until_ms: None,
            };
            match self.store.set_emergency(&next).await {
                Ok(_) => {
                    warn!(audit = true, active, reason = reason.as_deref().unwrap_or(""), %switched_by, "emergency switch changed");
                    self.flag.iter().for_each(|flag| flag.switched(active));
                    break;
                }
                Err(StoreError::EmergencyConflict)
                    if crate::retry::Backoff::CONFLICTS.allows_another(attempts) =>
                {
                    attempts += 1
                }
                Err(err) => return Err(err.into()),
            }
        }
        self.continue_work().await?;
        self.status().await
    }

    /// Does what the switch's state says is left, for up to the time budget. Safe to call
    /// at any time and from several places: the scheduled continuation calls it every minute.
    pub async fn continue_work(&self) -> Result<(), EmergencyError> {
        self.continue_work_for(self.budget).await
    }

    /// The same, for up to `budget` (the Lambda function's: what its invocation has left).
    /// One run at a time: a run finding another's lease alive leaves the work to it, so two
    /// sweeps never pace themselves apart over the platform's rate limit.
    pub async fn continue_work_for(&self, budget: Duration) -> Result<(), EmergencyError> {
        let deadline = Instant::now() + budget;
        let mut state = self.store.get_emergency().await?;
        let now = crate::now_millis();
        if state.worked_on_until_ms.is_some_and(|until| until > now) {
            info!("another run works on the emergency switch; this one leaves it to it");
            return Ok(());
        }
        state.worked_on_until_ms = Some(now + budget.as_millis() as i64);
        match self.save(&mut state).await {
            // Taken or switched meanwhile by someone else: their run does the work.
            Err(EmergencyError::Store(StoreError::EmergencyConflict)) => return Ok(()),
            other => other?,
        }
        let result = self.work(&mut state, deadline).await;
        // Released for the next run, whatever happened (a failed save leaves it to expire).
        state.worked_on_until_ms = None;
        let released = self.save(&mut state).await;
        match result.and(released) {
            // Switched meanwhile by someone else: their run does the work.
            Err(EmergencyError::Store(StoreError::EmergencyConflict)) => Ok(()),
            other => other,
        }
    }

    async fn work(&self, state: &mut EmergencyState, deadline: Instant) -> Result<(), EmergencyError> {
        if state.active {
            self.switch_sources(state).await?;
            self.hand_over_threads(state, deadline).await
        } else {
            self.restore_sources(state).await
        }
    }

    async fn save(&self, state: &mut EmergencyState) -> Result<(), EmergencyError> {
        state.version = self.store.set_emergency(state).await?;
        Ok(())
    }

    /// The bot sources' default categories BOT to AGENT, each source's previous value saved
    /// before it is changed.
    async fn switch_sources(&self, state: &mut EmergencyState) -> Result<(), EmergencyError> {
        if state.sources_switched {
            return Ok(());
        }
        let sources = match &self.settings.engage.bot_source_ids {
            Some(ids) => {
                let mut sources = Vec::with_capacity(ids.len());
                for id in ids {
                    self.pacer.wait().await;
                    sources.push(self.engage.get_source(id).await?);
                }
                sources
            }
            None => {
                self.pacer.wait().await;
                self.engage.list_sources().await?
            }
        };
        let (bot, agent) = (&self.settings.engage.bot_category_id, &self.settings.engage.agent_category_id);
        for source in sources.iter().filter(|s| s.default_category_ids.contains(bot)) {
            if !state.saved_default_categories.contains_key(&source.id) {
                state.saved_default_categories.insert(source.id.clone(), source.default_category_ids.clone());
                self.save(state).await?;
            }
            let switched = decide::switch_category(&source.default_category_ids, bot, agent);
            self.pacer.wait().await;
            self.engage.update_source_default_categories(&source.id, &switched).await?;
            info!(audit = true, source_id = %source.id, "source default categories switched BOT to AGENT");
        }
        state.sources_switched = true;
        self.save(state).await
    }

    async fn restore_sources(&self, state: &mut EmergencyState) -> Result<(), EmergencyError> {
        let saved: Vec<(String, Vec<String>)> =
            state.saved_default_categories.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        for (source_id, categories) in saved {
            self.pacer.wait().await;
            self.engage.update_source_default_categories(&source_id, &categories).await?;
            info!(audit = true, %source_id, "source default categories restored");
            state.saved_default_categories.remove(&source_id);
            state.sources_switched = false;
            self.save(state).await?;
        }
        Ok(())
    }

    /// Every thread the bot is in, BOT to AGENT, page by page from the store's index, from
    /// where the last run stopped. Each page's progress is saved before the next page.
    async fn hand_over_threads(
        &self,
        state: &mut EmergencyState,
        deadline: Instant,
    ) -> Result<(), EmergencyError> {
        let activation = format!("emergency:{}", state.since_ms.unwrap_or(0));
        loop {
            let (ids, next) = self.store.bot_owned_threads(state.sweep_after.as_deref(), PAGE).await?;
            let (mut handed_over, mut failed) = (0, 0);
            for thread_id in &ids {
                if Instant::now() >= deadline {
                    // The page is taken up again by the next run: what was done has left the index.
                    crate::metrics::sweep_unfinished();
                    return self.count(state, handed_over, failed).await;
                }
                match self.hand_over_thread(thread_id, &activation).await {
                    Ok(Swept::HandedOver) => {
                        crate::metrics::sweep_handed_over();
                        handed_over += 1
                    }
                    Ok(Swept::Failed) => failed += 1,
                    Ok(Swept::Skipped) => {}
                    Err(err) => {
                        self.count(state, handed_over, failed).await?;
                        return Err(err);
                    }
                }
            }
            state.handed_over += handed_over;
            state.failed += failed;
            // At the end of the index, the next run starts from the top: by then the index
            // holds only what came back to the bot meanwhile.
            state.sweep_after = next.clone();
            self.save(state).await?;
            // A page at a time: a run's calls stay within what the metrics keep between writes.
            crate::metrics::flush();
            if next.is_none() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                crate::metrics::sweep_unfinished();
                return Ok(());
            }
        }
    }

    async fn count(
        &self,
        state: &mut EmergencyState,
        handed_over: u64,
        failed: u64,
    ) -> Result<(), EmergencyError> {
        if handed_over + failed == 0 {
            return Ok(());
        }
        state.handed_over += handed_over;
        state.failed += failed;
        self.save(state).await
    }

    /// One thread of the sweep. A transient failure is counted on the thread and stops this
    /// run (the platform is struggling: the next run goes on); at the third in a row, or at a
    /// refusal for good, the thread is parked and left alone.
    async fn hand_over_thread(&self, thread_id: &str, activation: &str) -> Result<Swept, EmergencyError> {
        let thread = self.store.get_thread(thread_id).await?;
        if !thread.bot_is_in_it() {
            return Ok(Swept::Skipped);
        }
        let now = crate::now_millis();
        if now - thread.updated_at_ms > self.settings.idle_after.as_millis() as i64 {
            // Its next message, if any, goes to the agents at once: nothing to hand over now.
            return match self.store.leave_bot_index(&thread).await {
                Ok(()) | Err(StoreError::ThreadConflict(_)) => Ok(Swept::Skipped),
                Err(err) => Err(err.into()),
            };
        }
        let briefing = self.briefing_of(&thread);
        let handed = match thread_id.strip_prefix("zenvia:") {
            Some(hash) => {
                self.transfer(hash, &thread).await.map(|()| thread.categories.clone().unwrap_or_default())
            }
            None => self.recategorize(&thread).await,
        };
        let parked_now = thread.emergency_attempts + 1 >= decide::MAX_EMERGENCY_ATTEMPTS;
        let saved = self
            .save_applying(thread, |current| match &handed {
                Ok(categories) => decide::thread_after_emergency(current, categories.clone(), now),
                Err(HandoverFailure::ForGood(reason)) => {
                    decide::thread_after_emergency_failure(current, true, reason, now)
                }
                Err(HandoverFailure::Transient(err)) => {
                    decide::thread_after_emergency_failure(current, false, &err.to_string(), now)
                }
            })
            .await?;
        if !saved {
            return Ok(Swept::Skipped);
        }
        match handed {
            Ok(_) => {
                if let Some(briefing) = briefing {
                    self.brief(briefing).await;
                }
                let stats =
                    [crate::analytics::intervention(now, thread_id, activation, "emergency_switch", true)];
                record_stats(self.store.as_ref(), &stats).await;
                Ok(Swept::HandedOver)
            }
            Err(HandoverFailure::ForGood(reason)) => {
                error!(%thread_id, %reason, "thread refused by the platform; parked, left with the bot");
                Ok(Swept::Failed)
            }
            Err(HandoverFailure::Transient(_)) if parked_now => Ok(Swept::Failed),
            Err(HandoverFailure::Transient(err)) => {
                warn!(%thread_id, error = %err, "thread not handed over; this run stops here");
                Err(err)
            }
        }
    }

    /// Saves `update` applied to the thread. A message of the thread processed meanwhile is
    /// read and the outcome applied to it, unless the agents have it already (`Ok(false)`).
    /// Bounded: a thread changing under every attempt is left to the next run.
    async fn save_applying(
        &self,
        thread: ThreadState,
        update: impl Fn(&ThreadState) -> ThreadState,
    ) -> Result<bool, EmergencyError> {
        let mut current = thread;
        for _ in 0..crate::retry::Backoff::CONFLICTS.attempts {
            match self.store.save_thread(&update(&current)).await {
                Ok(()) => return Ok(true),
                Err(StoreError::ThreadConflict(_)) => {
                    current = self.store.get_thread(&current.thread_id).await?;
                    if !current.bot_is_in_it() {
                        return Ok(false);
                    }
                }
                Err(err) => return Err(err.into()),
            }
        }
        Err(StoreError::ThreadConflict(current.thread_id).into())
    }

    /// The agent's briefing for a conversation the sweep hands over: on the bot's intervention,
    /// when there is one (`None`: briefing off, no intervention, or a Zenvia interaction).
    fn briefing_of(&self, thread: &ThreadState) -> Option<Briefing> {
        let intervention = thread.bot_intervention_id.clone().filter(|_| self.settings.agent_briefing)?;
        let conversation = if thread.transcript.is_empty() { &thread.bot_memory } else { &thread.transcript };
        let body = decide::briefing(decide::EMERGENCY_REASON, None, None, conversation);
        Some(Briefing { intervention, user: thread.bot_intervention_user_id.clone(), body })
    }

    /// Writes the briefing, after the handover was saved: at most once (a run that dies first
    /// leaves it out), never in the sweep's way (a failure is logged), within the sweep's pace.
    async fn brief(&self, briefing: Briefing) {
        let user = match briefing.user {
            Some(user) => Some(user),
            None => {
                self.pacer.wait().await;
                self.engage.get_intervention(&briefing.intervention).await.ok().and_then(|i| i.user_id)
            }
        };
        let Some(user) = user else { return };
        self.pacer.wait().await;
        if let Err(err) =
            self.engage.create_intervention_comment(&briefing.intervention, &user, &briefing.body).await
        {
            warn!(error = %err, code = %err.code(), "agent briefing not written; the conversation is with the agents");
        }
    }

    /// A Zenvia interaction to the agents, through Zenvia's API. A refusal after an earlier
    /// run's attempt failed (perhaps after Zenvia did the work) means the transfer was made.
    async fn transfer(&self, hash: &str, thread: &ThreadState) -> Result<(), HandoverFailure> {
        let Some(zenvia) = &self.zenvia else {
            return Err(HandoverFailure::ForGood("Zenvia is not configured in this function".into()));
        };
        let department = self.settings.zenvia.as_ref().and_then(|z| z.transfer_department_id);
        match zenvia.transfer(hash, department).await {
            Err(err) if !err.is_transient() && thread.emergency_attempts > 0 => {
                info!(error = %err, "transfer refused after an earlier attempt: taken as made");
                Ok(())
            }
            other => Ok(other?),
        }
    }

    /// An Engage Digital thread BOT to AGENT, from the categories known well enough, or read.
    async fn recategorize(&self, thread: &ThreadState) -> Result<Vec<String>, HandoverFailure> {
        let current = match decide::known_categories(thread) {
            Some(known) => known,
            None => {
                self.pacer.wait().await;
                self.engage.get_thread(&thread.thread_id).await?.thread_category_ids
            }
        };
        let (bot, agent) = (&self.settings.engage.bot_category_id, &self.settings.engage.agent_category_id);
        let categories = decide::switch_category(&current, bot, agent);
        self.pacer.wait().await;
        self.engage.update_thread_categories(&thread.thread_id, &categories).await?;
        Ok(categories)
    }
}
