//! The emergency switch (CONTRACT C9): the three manual steps of the platform's emergency
//! procedure as one call. On: new bot messages go straight to the agents (the webhook reads the
//! flag), the bot sources' default categories switch BOT to AGENT (previous values saved), and
//! every bot-owned thread is recategorized BOT to AGENT, paced below the platform's rate limit.
//! Off: new messages go to the bot again and the saved default categories are restored; threads
//! already with the agents stay there.
//!
//! The work is resumable. The switch's state (with its version) says what is left: sources not
//! yet switched or restored, and the bot-owned threads still in the store's index. A thread
//! leaves the index when it is saved as the agents', so no thread is done twice; its save is
//! conditional on the version read, so a message processed meanwhile is never overwritten; and
//! a run cut short (time budget, crash, platform refusal) is continued by the next invocation:
//! the next `POST`, or the schedule in AWS. Recategorizing twice (a crash between the platform
//! call and the save) sets the same categories again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tracing::{error, info, warn};

use super::claim::record_stats;
use super::decide;
use crate::config::EmergencySettings;
use crate::engage::{EngageClient, EngageError};
use crate::store::{EmergencyState, Owner, Store, StoreError, ThreadState};

/// Threads read from the index at a time.
const PAGE: usize = 25;

#[derive(Debug, thiserror::Error)]
pub enum EmergencyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Engage(#[from] EngageError),
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
    pub fn per_minute(requests: u32) -> Self {
        Self {
            interval: Duration::from_secs(60) / requests.max(1),
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
    pub store: Arc<dyn Store>,
    pub engage: EngageClient,
    pacer: Pacer,
    /// How long one invocation works before returning (the rest continues later).
    budget: Duration,
    /// The view of the switch of the flows in this process, told at once of a switch.
    flag: Option<Arc<super::cache::EmergencyFlag>>,
}

impl EmergencyFlow {
    pub fn new(
        settings: EmergencySettings,
        store: Arc<dyn Store>,
        engage: EngageClient,
        budget: Duration,
    ) -> Self {
        Self {
            pacer: Pacer::per_minute(settings.requests_per_minute),
            settings: Arc::new(settings),
            store,
            engage,
            budget,
            flag: None,
        }
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
        let mut attempts = 0;
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
            };
            match self.store.set_emergency(&next).await {
                Ok(_) => {
                    warn!(audit = true, active, reason = reason.as_deref().unwrap_or(""), %switched_by, "emergency switch changed");
                    self.flag.iter().for_each(|flag| flag.switched(active));
                    break;
                }
                Err(StoreError::EmergencyConflict) if attempts < 3 => attempts += 1,
                Err(err) => return Err(err.into()),
            }
        }
        self.continue_work().await?;
        self.status().await
    }

    /// Does what the switch's state says is left, for up to the time budget. Safe to call
    /// at any time and from several places: the scheduled continuation calls it every minute.
    pub async fn continue_work(&self) -> Result<(), EmergencyError> {
        let deadline = Instant::now() + self.budget;
        let mut state = self.store.get_emergency().await?;
        let result = if state.active {
            match self.switch_sources(&mut state).await {
                Ok(()) => self.hand_over_threads(&mut state, deadline).await,
                Err(err) => Err(err),
            }
        } else {
            self.restore_sources(&mut state).await
        };
        match result {
            // Switched meanwhile by someone else: their run does the work.
            Err(EmergencyError::Store(StoreError::EmergencyConflict)) => Ok(()),
            other => other,
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
        let sources = match &self.settings.bot_source_ids {
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
        let (bot, agent) = (&self.settings.bot_category_id, &self.settings.agent_category_id);
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

    /// Every bot-owned thread BOT to AGENT, page by page from the store's index.
    async fn hand_over_threads(
        &self,
        state: &mut EmergencyState,
        deadline: Instant,
    ) -> Result<(), EmergencyError> {
        let activation = format!("emergency:{}", state.since_ms.unwrap_or(0));
        let mut after: Option<String> = None;
        loop {
            let (ids, next) = self.store.bot_owned_threads(after.as_deref(), PAGE).await?;
            let (mut handed_over, mut failed) = (0, 0);
            for thread_id in &ids {
                if Instant::now() >= deadline {
                    break;
                }
                match self.hand_over_thread(thread_id, &activation).await {
                    Ok(Some(true)) => handed_over += 1,
                    Ok(Some(false)) => failed += 1,
                    Ok(None) => {}
                    Err(err) => {
                        self.count(state, handed_over, failed).await?;
                        return Err(err);
                    }
                }
            }
            self.count(state, handed_over, failed).await?;
            match next {
                Some(next) if Instant::now() < deadline => after = Some(next),
                _ => return Ok(()),
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

    /// One thread: `Some(true)` handed over, `Some(false)` refused by the platform, `None`
    /// nothing to do (no longer the bot's).
    async fn hand_over_thread(
        &self,
        thread_id: &str,
        activation: &str,
    ) -> Result<Option<bool>, EmergencyError> {
        let mut thread = self.store.get_thread(thread_id).await?;
        if thread.owner != Owner::Bot || thread.ended {
            return Ok(None);
        }
        let categories = match self.recategorize(&thread).await {
            Ok(categories) => categories,
            Err(err) if !err.is_transient() => {
                error!(%thread_id, error = %err, code = %err.code(), "thread not recategorized; left with the bot");
                return Ok(Some(false));
            }
            Err(err) => return Err(err.into()),
        };
        let now = crate::now_millis();
        loop {
            match self
                .store
                .save_thread(&decide::thread_after_emergency(&thread, categories.clone(), now))
                .await
            {
                Ok(()) => break,
                // A message of the thread was processed meanwhile: apply the handover to it.
                Err(StoreError::ThreadConflict(_)) => {
                    thread = self.store.get_thread(thread_id).await?;
                    if thread.owner != Owner::Bot {
                        return Ok(None);
                    }
                }
                Err(err) => return Err(err.into()),
            }
        }
        let stats = [crate::analytics::intervention(now, thread_id, activation, "emergency_switch", true)];
        record_stats(self.store.as_ref(), &stats).await;
        Ok(Some(true))
    }

    async fn recategorize(&self, thread: &ThreadState) -> Result<Vec<String>, EngageError> {
        let current = match &thread.categories {
            Some(known) => known.clone(),
            None => {
                self.pacer.wait().await;
                self.engage.get_thread(&thread.thread_id).await?.thread_category_ids
            }
        };
        let (bot, agent) = (&self.settings.bot_category_id, &self.settings.agent_category_id);
        let categories = decide::switch_category(&current, bot, agent);
        self.pacer.wait().await;
        self.engage.update_thread_categories(&thread.thread_id, &categories).await?;
        Ok(categories)
    }
}
