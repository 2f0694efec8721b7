//! The domain model: what the product knows of a conversation and of one event's work, as
//! plain data. The store keeps it ([`crate::store`]); the decisions read and change it
//! ([`crate::flow::decide`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::bot::BotAnswer;

/// Who answers a thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Owner {
    #[default]
    Bot,
    Agent,
}

impl Owner {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bot => "bot",
            Self::Agent => "agent",
        }
    }
}

/// What the product knows of one Engage Digital thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ThreadState {
    pub thread_id: String,
    pub owner: Owner,
    /// Optimistic-concurrency version: 0 for a thread never saved, +1 at every save.
    pub version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    /// The thread's categories as last read or set; `None` while unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
    /// The intervention the bot opened and has not closed, and its user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_intervention_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_intervention_user_id: Option<String>,
    /// Fallback answers in a row.
    #[serde(default)]
    pub consecutive_fallbacks: u32,
    /// Turns the bot took on this conversation.
    #[serde(default)]
    pub bot_turns: u32,
    /// Set when a handover is needed and not yet done, with its reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_handover: Option<String>,
    /// `issued_at` of the event that last changed the owner: older events never undo it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_changed_at: Option<String>,
    #[serde(default)]
    pub updated_at_ms: i64,
    /// The conversation is over (a Zenvia interaction finished): nobody answers it any more.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ended: bool,
    /// The Zenvia department the interaction started in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department_id: Option<i64>,
    /// The bot resolved the conversation; its next message starts a new one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resolved: bool,
    /// The platform refused to act on the thread for good (or the emergency switch failed on
    /// it three times): nobody can hand it over, so the switch leaves it alone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub parked: bool,
    /// Emergency handovers that failed on this thread in a row.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub emergency_attempts: u32,
    /// When `categories` were last read or set (ms; 0: unknown).
    #[serde(default, skip_serializing_if = "is_zero_ms")]
    pub categories_at_ms: i64,
    /// The categories of the thread's last message, and when it was issued (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_event_categories: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "is_zero_ms")]
    pub last_event_ms: i64,
    /// The event whose commit last wrote this state: a commit that meets a newer version than
    /// it read, carrying its own event here, was its own write (an answer lost, the write
    /// retried), not a conflict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_event_id: Option<String>,
    /// The conversation's recent messages, for a bot backend that needs them (an LLM), bounded
    /// by its `MemoryLimits`; empty for the others.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bot_memory: Vec<crate::bot::HistoryEntry>,
    /// The conversation's last messages for the agent's briefing (`AGENT_BRIEFING=on`, a bot
    /// that keeps no memory of its own), bounded like the briefing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transcript: Vec<crate::bot::HistoryEntry>,
    /// Events committed on this thread (stored beside the state, not in it): an event record
    /// claimed at a lower count is done.
    #[serde(skip)]
    pub events_committed: u64,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_zero_ms(n: &i64) -> bool {
    *n == 0
}

impl ThreadState {
    pub fn new(thread_id: &str) -> Self {
        Self { thread_id: thread_id.to_string(), ..Self::default() }
    }

    /// Whether the bot is in this conversation: it is the bot's, not ended, not resolved, not
    /// parked. Only such threads are in the `bot-owned` index the emergency switch sweeps.
    pub fn bot_is_in_it(&self) -> bool {
        self.owner == Owner::Bot && !self.ended && !self.resolved && !self.parked
    }
}

/// What the bot said for one event, saved before anything is posted so a resumed run posts
/// exactly the same text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BotOutcome {
    Answered(BotAnswer),
    Failed {
        reason: String,
    },
    /// The bot was not asked (emergency): straight to the agents.
    NotAsked {
        reason: String,
    },
}

/// Where a handover goes, decided once per event and kept, so that a resumed run carries out
/// the same decision (a later availability check could say otherwise).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "to", rename_all = "snake_case")]
pub enum HandoverDecision {
    /// Recategorize the thread to the agents.
    Agents,
    /// No agent available and `NO_AGENT_POLICY=stay`: the bot keeps the thread.
    StayWithBot,
}

/// The effects journal of one event: what was decided (the bot's answer, where a handover
/// goes) and each effect of the turn with its state. Written with the claim, before the first
/// effect, and again only when the event stops short (released after a failure); a clean turn's
/// commit makes every entry done without writing the record again (see [`crate::store`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Journal {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot: Option<BotOutcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handover: Option<HandoverDecision>,
    /// The contact center was closed when the handover was decided: the message sent instead
    /// of the handover or no-agent message (rendered once, so a redelivery posts the same).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_message: Option<String>,
    /// The turn's effects in the order they are made; empty until planned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub effects: Vec<JournalEntry>,
    /// What [`Effect::Open`] learned: the intervention the bot's replies belong to, and its
    /// user (the API token's, who writes the agent's briefing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intervention_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intervention_user_id: Option<String>,
    /// The categories a recategorization sets (decided once, so a retry sets the same).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_categories: Option<Vec<String>>,
    /// The event is finished without changing its thread (not the bot's, an intervention event
    /// that changes nothing): why. Such a record is its own mark that the event is done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marked: Option<String>,
    /// Deliveries of the event that failed: after `MAX_ATTEMPTS` the worker dead-letters it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failed_attempts: u32,
}

impl Journal {
    /// Whether `effect` was planned and made (not refused, not still to do).
    pub fn made(&self, effect: &Effect) -> bool {
        self.effects.iter().any(|e| &e.effect == effect && e.state == EffectState::Done)
    }

    /// Whether `effect` was planned and is finished, made or refused for good.
    pub fn finished(&self, effect: &Effect) -> bool {
        self.effects.iter().any(|e| &e.effect == effect && e.state.is_finished())
    }

    /// The replies made so far.
    pub fn replies_made(&self) -> usize {
        self.effects.iter().filter(|e| e.effect.is_reply() && e.state == EffectState::Done).count()
    }

    /// The text a reply effect posts (`None`: not a reply, or a bot reply the answer lacks).
    pub fn message(&self, effect: &Effect) -> Option<String> {
        match (effect, &self.bot) {
            (Effect::Reply { text }, _) => Some(text.clone()),
            (Effect::BotReply { index }, Some(BotOutcome::Answered(answer))) => {
                answer.replies.get(*index).map(|reply| crate::text::to_plain_text(reply))
            }
            _ => None,
        }
    }
}

/// One side effect on the platform. What each means is the platform's (see
/// [`crate::flow::turn::Platform`]); the turn engine only knows their order and state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    /// Engage Digital: open the bot's intervention before its first reply. Zenvia: accept the
    /// interaction.
    Open,
    /// Post the product's own message to the customer (handover, no agent, closed hours).
    Reply { text: String },
    /// Post the bot's reply number `index` of its answer (kept once, in the journal's answer).
    BotReply { index: usize },
    /// To the agents: Engage Digital recategorizes BOT to AGENT, Zenvia transfers.
    HandOver,
    /// Back to the bot: Engage Digital recategorizes AGENT to BOT.
    GiveBack,
    /// The bot is done: Engage Digital closes its intervention, Zenvia finishes the interaction.
    Resolve,
    /// Engage Digital with `CLOSE_THREAD_ON_RESOLVE`: close the thread.
    CloseThread,
    /// Engage Digital with `AGENT_BRIEFING=on`: a private comment on the bot's intervention
    /// telling the agent why the conversation comes and what was said.
    Note { body: String },
}

impl Effect {
    /// Whether it posts a message to the customer.
    pub fn is_reply(&self) -> bool {
        matches!(self, Self::Reply { .. } | Self::BotReply { .. })
    }

    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Reply { .. } | Self::BotReply { .. } => "reply",
            Self::HandOver => "hand_over",
            Self::GiveBack => "give_back",
            Self::Resolve => "resolve",
            Self::CloseThread => "close_thread",
            Self::Note { .. } => "note",
        }
    }
}

/// Where an effect stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum EffectState {
    /// Not made yet, as far as anybody knows.
    #[default]
    Planned,
    /// Attempted without a clear answer (no answer, a 5xx to a change): it may have been made,
    /// so the platform is asked before it is made again.
    Uncertain,
    Done,
    /// Refused for good in a way this effect expects (a closed thread, an intervention closed
    /// already): not made, nothing to retry.
    Refused,
}

impl EffectState {
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Done | Self::Refused)
    }
}

/// An effect and its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    #[serde(flatten)]
    pub effect: Effect,
    #[serde(default)]
    pub state: EffectState,
}

impl JournalEntry {
    pub fn planned(effect: Effect) -> Self {
        Self { effect, state: EffectState::Planned }
    }
}

/// The emergency switch (CONTRACT C9): while active, every bot message goes to the agents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct EmergencyState {
    /// Optimistic-concurrency version: 0 never saved, +1 at every save.
    #[serde(default)]
    pub version: u64,
    pub active: bool,
    /// When it was last switched, ms since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Who switched it (the caller's identity as API Gateway saw it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switched_by: Option<String>,
    /// The bot sources' default categories before the switch, to restore (source id to list).
    /// An entry is removed once restored.
    #[serde(default)]
    pub saved_default_categories: BTreeMap<String, Vec<String>>,
    /// Every bot source's default categories are switched to AGENT.
    #[serde(default)]
    pub sources_switched: bool,
    /// Threads recategorized BOT to AGENT since it was switched on.
    #[serde(default)]
    pub handed_over: u64,
    /// Threads that could not be recategorized (403/404: closed, deleted, no access; or three
    /// failures in a row).
    #[serde(default)]
    pub failed: u64,
    /// Where the sweep of the bot-owned index goes on: the last thread of the last page done
    /// (`None`: from the top).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep_after: Option<String>,
    /// One run works at a time: the run holding this lease (until then, ms) does the work; the
    /// others return at once. A run that dies leaves it to expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worked_on_until_ms: Option<i64>,
}

/// Which activity set of an hour's statistics an entry goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StatsSet {
    Sessions,
    Interventions,
}

impl StatsSet {
    pub fn attribute(self) -> &'static str {
        match self {
            Self::Sessions => "sessions",
            Self::Interventions => "interventions",
        }
    }
}

/// One entry of the handover statistics: a string added to a set of an hour's item, so that
/// recording the same entry twice (a retry) counts once. The entries' format belongs to
/// [`crate::analytics`]; the store only keeps them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsEntry {
    /// Hours since the epoch.
    pub hour: i64,
    pub set: StatsSet,
    pub value: String,
}

/// An hour's recorded entries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HourStats {
    pub hour: i64,
    pub sessions: Vec<String>,
    pub interventions: Vec<String>,
}
