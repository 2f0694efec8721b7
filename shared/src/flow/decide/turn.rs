//! Is a message the bot's, what the bot's answer leads to, and the thread after a turn.

use crate::bot::{BotAction, HistoryEntry, MemoryLimits};
use crate::config::{EngageSettings, FlowSettings};
use crate::engage::ContentEvent;
use crate::store::{BotOutcome, Effect, HandoverDecision, Journal, Owner, ThreadState};
use crate::text::to_plain_text;

/// The handover reason recorded while the emergency switch is on.
pub const EMERGENCY_REASON: &str = "emergency";

/// Why a `content.imported` event is recorded but not answered by the bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotForBot {
    /// The content does not carry `BOT_CATEGORY_ID`.
    NotBotCategory,
    /// The source is not in `ENGAGE_SOURCE_IDS`.
    SourceNotManaged,
    /// Written by an agent or through the API (the bot's own replies included), or already
    /// replied to / ignored.
    NotFromCustomer,
    /// The thread is with the agents.
    HandedOver,
    /// Issued before the thread last changed hands (a redelivery hours late, a message the
    /// agents had): never the bot's to answer.
    Stale,
}

impl NotForBot {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotBotCategory => "not_bot_category",
            Self::SourceNotManaged => "source_not_managed",
            Self::NotFromCustomer => "not_from_customer",
            Self::HandedOver => "handed_over",
            Self::Stale => "stale_event",
        }
    }
}

/// What to do with a content that is the bot's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Ask the bot.
    AskBot,
    /// The emergency switch is on: straight to the agents, no bot, no availability check.
    EmergencyHandover,
}

/// Is this content the bot's to answer, and how? (CONTRACT C6, C9)
pub fn bot_turn(
    content: &ContentEvent,
    thread: &ThreadState,
    engage: &EngageSettings,
    emergency: bool,
) -> Result<Turn, NotForBot> {
    if !content.category_ids.iter().any(|c| c == &engage.bot_category_id) {
        return Err(NotForBot::NotBotCategory);
    }
    if !engage.is_bot_source(&content.source_id) {
        return Err(NotForBot::SourceNotManaged);
    }
    let handled_status = matches!(content.status.as_deref(), Some("replied" | "ignored"));
    if content.creator_id.is_some() || handled_status {
        return Err(NotForBot::NotFromCustomer);
    }
    if thread.owner == Owner::Agent {
        return Err(NotForBot::HandedOver);
    }
    if super::is_older(content.issued_at.as_deref(), thread.owner_changed_at.as_deref()) {
        return Err(NotForBot::Stale);
    }
    Ok(if emergency { Turn::EmergencyHandover } else { Turn::AskBot })
}

/// Open a bot intervention before the first reply? Only on a thread's first message that has
/// none, and when `OPEN_INTERVENTIONS` is on.
pub fn should_open_intervention(content: &ContentEvent, thread: &ThreadState, flow: &FlowSettings) -> bool {
    flow.open_interventions
        && content.first_in_thread
        && content.intervention_id.is_none()
        && thread.bot_intervention_id.is_none()
}

/// What the bot's answer leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnPlan {
    /// Plain-text replies to post, in order.
    pub replies: Vec<String>,
    /// Close the bot's intervention (and the thread when configured).
    pub resolve: bool,
    /// Hand the conversation to agents, with the reason.
    pub handover: Option<String>,
    /// The answer was a fallback (did not understand).
    pub fallback: bool,
}

/// Turns the bot's outcome into a plan (CONTRACT C6 steps 3 to 5, C12).
pub fn plan_turn(outcome: &BotOutcome, thread: &ThreadState, flow: &FlowSettings) -> TurnPlan {
    let answer = match outcome {
        BotOutcome::Failed { reason } | BotOutcome::NotAsked { reason } => {
            return TurnPlan {
                replies: vec![],
                resolve: false,
                handover: Some(reason.clone()),
                fallback: false,
            };
        }
        BotOutcome::Answered(answer) => answer,
    };
    let replies: Vec<String> =
        answer.replies.iter().map(|r| to_plain_text(r)).filter(|r| !r.is_empty()).collect();
    let fallback = answer.is_fallback();
    match answer.action {
        BotAction::Handover => TurnPlan {
            replies,
            resolve: false,
            handover: Some(answer.reason.clone().unwrap_or_else(|| "bot_handover".into())),
            fallback: false,
        },
        BotAction::Resolve => TurnPlan { replies, resolve: true, handover: None, fallback: false },
        BotAction::None if fallback && thread.consecutive_fallbacks + 1 >= flow.max_bot_failures.max(1) => {
            // The customer has not been understood repeatedly: another "sorry?" helps nobody.
            TurnPlan { replies: vec![], resolve: false, handover: Some("max_bot_failures".into()), fallback }
        }
        BotAction::None => TurnPlan { replies, resolve: false, handover: None, fallback },
    }
}

/// A turn's effects after the platform's own first ones, in order: the messages
/// ([`reply_effects`]), the handover when it goes to the agents, the resolve (and the thread's
/// close, where the platform and the configuration have one).
pub fn turn_effects(
    plan: &TurnPlan,
    journal: &Journal,
    flow: &FlowSettings,
    language: Option<&str>,
    close_thread: bool,
) -> Vec<Effect> {
    let mut effects = reply_effects(plan, journal, flow, language);
    if journal.handover == Some(HandoverDecision::Agents) {
        effects.push(Effect::HandOver);
    }
    if plan.resolve {
        effects.push(Effect::Resolve);
        if close_thread {
            effects.push(Effect::CloseThread);
        }
    }
    effects
}

/// Every message the turn posts, as effects in order: the bot's replies (by their place in its
/// answer, so the journal keeps each text once), then the handover, no-agent or closed message
/// in the customer's `language` when there is one (an empty configured text sends nothing).
/// The closed message, when the contact center was closed, replaces the handover or no-agent
/// message.
pub fn reply_effects(
    plan: &TurnPlan,
    journal: &Journal,
    flow: &FlowSettings,
    language: Option<&str>,
) -> Vec<Effect> {
    let mut effects = Vec::new();
    if let (false, Some(BotOutcome::Answered(answer))) = (plan.replies.is_empty(), &journal.bot) {
        let posted = answer.replies.iter().enumerate().filter(|(_, reply)| !to_plain_text(reply).is_empty());
        effects.extend(posted.map(|(index, _)| Effect::BotReply { index }));
    }
    let extra = match (journal.closed_message.as_deref(), journal.handover.as_ref()) {
        (Some(closed), Some(_)) => closed,
        (_, Some(HandoverDecision::Agents)) => flow.texts.handover.text(language),
        (_, Some(HandoverDecision::StayWithBot)) => flow.texts.no_agent.text(language),
        (_, None) => "",
    };
    let extra = to_plain_text(extra);
    if !extra.is_empty() {
        effects.push(Effect::Reply { text: extra });
    }
    effects
}

/// The thread's state after a completed turn. Applied to the thread as it is when the turn
/// finishes (it may have changed meanwhile): it never gives a thread back to the bot.
pub fn thread_after_turn(
    thread: &ThreadState,
    content: &ContentEvent,
    plan: &TurnPlan,
    journal: &Journal,
    now_ms: i64,
) -> ThreadState {
    let mut next = thread.clone();
    next.bot_turns += 1;
    next.source_id = Some(content.source_id.clone());
    // What the emergency switch recategorizes with, when it must.
    next.last_event_categories = Some(content.category_ids.clone());
    next.last_event_ms =
        content.issued_at.as_deref().and_then(crate::time::parse_rfc3339_ms).unwrap_or(now_ms);
    next.resolved = plan.resolve;
    next.parked = false;
    next.emergency_attempts = 0;
    if let Some(id) = &journal.intervention_id {
        next.bot_intervention_id = Some(id.clone());
    }
    if journal.intervention_user_id.is_some() {
        next.bot_intervention_user_id = journal.intervention_user_id.clone();
    }
    if plan.resolve && journal.finished(&Effect::Resolve) {
        next.bot_intervention_id = None;
        next.bot_intervention_user_id = None;
    }
    next.consecutive_fallbacks = if plan.fallback { thread.consecutive_fallbacks + 1 } else { 0 };
    match (&plan.handover, &journal.handover) {
        (Some(_), Some(HandoverDecision::Agents)) if journal.made(&Effect::HandOver) => {
            next.owner = Owner::Agent;
            next.categories = journal.new_categories.clone();
            next.categories_at_ms = now_ms;
            next.pending_handover = None;
            next.owner_changed_at = content.issued_at.clone();
            next.consecutive_fallbacks = 0;
        }
        (Some(_), Some(HandoverDecision::StayWithBot)) => {
            next.pending_handover = None;
            next.consecutive_fallbacks = 0;
        }
        (Some(reason), _) => next.pending_handover = Some(reason.clone()),
        (None, _) => {}
    }
    next.updated_at_ms = now_ms;
    next
}

/// What the bot remembers after a turn (`limits`: the backend's, `None` when it keeps
/// nothing): the customer's message and the replies of a bot that answered, nothing of a turn
/// the bot did not take, and a clean slate once the conversation is resolved.
pub fn memory_after_turn(
    memory: &[HistoryEntry],
    customer_text: &str,
    outcome: &BotOutcome,
    plan: &TurnPlan,
    limits: Option<MemoryLimits>,
) -> Vec<HistoryEntry> {
    match (limits, outcome) {
        (None, _) => vec![],
        (Some(_), _) if plan.resolve => vec![],
        (Some(limits), BotOutcome::Answered(answer)) => {
            crate::bot::remember(memory, customer_text, &answer.replies, limits)
        }
        (Some(_), _) => memory.to_vec(),
    }
}
