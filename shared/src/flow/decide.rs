//! Decisions as pure functions over plain data: the webhook event, the thread's state, the
//! configuration and the bot's answer in; what to do out. Every rule of CONTRACT C6 is a unit
//! test here; the executor only performs what these functions say.

use crate::bot::{BotAction, HistoryEntry, MemoryLimits};
use crate::config::ReopenPolicy;
use crate::config::{ClosedPolicy, EngageSettings, FlowSettings, NoAgentPolicy};
use crate::engage::client::{AgentStatus, Channel};
use crate::engage::{ContentEvent, InterventionEvent};
use crate::store::{BotOutcome, EventProgress, HandoverDecision, Owner, ThreadState};
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
}

impl NotForBot {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotBotCategory => "not_bot_category",
            Self::SourceNotManaged => "source_not_managed",
            Self::NotFromCustomer => "not_from_customer",
            Self::HandedOver => "handed_over",
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
    Ok(if emergency { Turn::EmergencyHandover } else { Turn::AskBot })
}

/// Open a bot intervention before the first reply? Only on a thread's first message that has
/// none, once, and when `OPEN_INTERVENTIONS` is on.
pub fn should_open_intervention(
    content: &ContentEvent,
    thread: &ThreadState,
    progress: &EventProgress,
    flow: &FlowSettings,
) -> bool {
    flow.open_interventions
        && content.first_in_thread
        && content.intervention_id.is_none()
        && thread.bot_intervention_id.is_none()
        && !progress.intervention_step_done
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

/// Check agents' availability before handing over? Not in an emergency (everyone goes to the
/// agents), not for asynchronous sources (an agent answers when there is one).
pub fn needs_availability_check(source_id: &str, reason: &str, engage: &EngageSettings) -> bool {
    reason != EMERGENCY_REASON && !engage.is_async_source(source_id)
}

/// What `GET /status` says about a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Availability {
    pub available: bool,
    /// No channel lists the source: any channel counted.
    pub channel_unknown: bool,
}

/// An agent is available when its entry for the channel containing the source has
/// `status == "available"` and `busyness != "full"` (seed 001, "Agent availabilities"). An
/// agent free only on another channel does not count. When no channel lists the source, any
/// channel counts.
pub fn agents_available(statuses: &[AgentStatus], channels: &[Channel], source_id: &str) -> Availability {
    let channel = channels.iter().find(|c| c.source_ids.iter().any(|s| s == source_id));
    let available = statuses.iter().any(|agent| {
        agent.channels.iter().any(|entry| {
            channel.is_none_or(|c| c.id == entry.id)
                && entry.status.as_deref() == Some("available")
                && entry.busyness.as_deref() != Some("full")
        })
    });
    Availability { available, channel_unknown: channel.is_none() }
}

/// Where the handover goes (CONTRACT C7 steps 1 and 2). `available` is `None` when no check
/// was needed.
pub fn handover_decision(available: Option<bool>, flow: &FlowSettings) -> HandoverDecision {
    match (available, flow.no_agent_policy) {
        (Some(false), NoAgentPolicy::Stay) => HandoverDecision::StayWithBot,
        _ => HandoverDecision::Agents,
    }
}

/// Where a handover goes while the contact center is closed (CONTRACT C16).
pub fn closed_hours_decision(
    source_id: &str,
    flow: &FlowSettings,
    engage: &EngageSettings,
) -> HandoverDecision {
    match flow.closed_policy {
        ClosedPolicy::Stay => HandoverDecision::StayWithBot,
        ClosedPolicy::Handover => HandoverDecision::Agents,
        ClosedPolicy::Async if engage.is_async_source(source_id) => HandoverDecision::Agents,
        ClosedPolicy::Async => HandoverDecision::StayWithBot,
    }
}

/// `CLOSED_MESSAGE` (or its translation for `language`) with `{next_open}` filled in.
pub fn closed_message(flow: &FlowSettings, language: Option<&str>, next_open: &str) -> String {
    flow.closed_messages.template(language).replace("{next_open}", next_open)
}

/// The analytics' reason for a handover decided while closed.
pub const CLOSED_HOURS_REASON: &str = "closed_hours";

/// A thread's new categories: `current` without `remove`, plus `add`; the others kept, in
/// order, without duplicates. Used BOT to AGENT for a handover and back for a rebot.
pub fn switch_category(current: &[String], remove: &str, add: &str) -> Vec<String> {
    let mut next: Vec<String> = Vec::with_capacity(current.len() + 1);
    for category in current {
        if category != remove && category != add && !next.contains(category) {
            next.push(category.clone());
        }
    }
    next.push(add.to_string());
    next
}

/// Every message to post for the turn, in order: the bot's replies, then the handover,
/// no-agent or closed message when there is one (an empty configured text sends nothing).
/// `closed_message`: the contact center was closed when the handover was decided.
pub fn messages_to_post(
    plan: &TurnPlan,
    decision: Option<&HandoverDecision>,
    closed_message: Option<&str>,
    flow: &FlowSettings,
) -> Vec<String> {
    let mut messages = plan.replies.clone();
    let extra = match (closed_message, decision) {
        (Some(closed), Some(_)) => closed,
        (_, Some(HandoverDecision::Agents)) => flow.handover_message.as_str(),
        (_, Some(HandoverDecision::StayWithBot)) => flow.no_agent_message.as_str(),
        (_, None) => "",
    };
    let extra = to_plain_text(extra);
    if !extra.is_empty() {
        messages.push(extra);
    }
    messages
}

/// The thread's state after a completed turn. Applied to the thread as it is when the turn
/// finishes (it may have changed meanwhile): it never gives a thread back to the bot.
pub fn thread_after_turn(
    thread: &ThreadState,
    content: &ContentEvent,
    plan: &TurnPlan,
    progress: &EventProgress,
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
    if let Some(id) = &progress.intervention_id {
        next.bot_intervention_id = Some(id.clone());
    }
    if plan.resolve && progress.intervention_closed {
        next.bot_intervention_id = None;
    }
    next.consecutive_fallbacks = if plan.fallback { thread.consecutive_fallbacks + 1 } else { 0 };
    match (&plan.handover, &progress.handover) {
        (Some(_), Some(HandoverDecision::Agents)) if progress.recategorized => {
            next.owner = Owner::Agent;
            next.categories = progress.new_categories.clone();
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

/// Why an `intervention.closed` gives nothing back to the bot (CONTRACT C8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepOwner {
    /// The product never saw the thread.
    UnknownThread,
    /// The bot's own intervention was closed.
    BotsOwnIntervention,
    /// The thread is not with the agents.
    NotWithAgents,
    /// `REOPEN_POLICY=agent`.
    PolicyKeepsAgents,
    /// Issued before the thread's last change of owner: an old event must not undo it.
    Stale,
}

impl KeepOwner {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownThread => "unknown_thread",
            Self::BotsOwnIntervention => "bots_own_intervention",
            Self::NotWithAgents => "not_with_agents",
            Self::PolicyKeepsAgents => "reopen_policy_agent",
            Self::Stale => "stale_event",
        }
    }
}

/// An agent closed an intervention: does the thread go back to the bot?
pub fn rebot(event: &InterventionEvent, thread: &ThreadState, flow: &FlowSettings) -> Result<(), KeepOwner> {
    if thread.version == 0 {
        return Err(KeepOwner::UnknownThread);
    }
    if thread.bot_intervention_id.as_deref() == Some(event.intervention_id.as_str()) {
        return Err(KeepOwner::BotsOwnIntervention);
    }
    if thread.owner != Owner::Agent {
        return Err(KeepOwner::NotWithAgents);
    }
    if is_older(event.issued_at.as_deref(), thread.owner_changed_at.as_deref()) {
        return Err(KeepOwner::Stale);
    }
    if flow.reopen_policy == ReopenPolicy::Agent {
        return Err(KeepOwner::PolicyKeepsAgents);
    }
    Ok(())
}

/// Whether `event` was issued strictly before `last_change` (unknown times are not older).
pub fn is_older(event: Option<&str>, last_change: Option<&str>) -> bool {
    let parse = |t: Option<&str>| t.and_then(crate::time::parse_rfc3339_ms);
    matches!((parse(event), parse(last_change)), (Some(e), Some(c)) if e < c)
}

/// The thread given back to the bot.
pub fn thread_after_rebot(
    thread: &ThreadState,
    event: &InterventionEvent,
    categories: Vec<String>,
    now_ms: i64,
) -> ThreadState {
    ThreadState {
        owner: Owner::Bot,
        categories: Some(categories),
        categories_at_ms: now_ms,
        bot_intervention_id: None,
        consecutive_fallbacks: 0,
        pending_handover: None,
        owner_changed_at: event.issued_at.clone().or_else(|| thread.owner_changed_at.clone()),
        updated_at_ms: now_ms,
        ..thread.clone()
    }
}

/// A bot-owned thread handed to the agents by the emergency switch.
pub fn thread_after_emergency(thread: &ThreadState, categories: Vec<String>, now_ms: i64) -> ThreadState {
    ThreadState {
        owner: Owner::Agent,
        categories: Some(categories),
        categories_at_ms: now_ms,
        pending_handover: None,
        consecutive_fallbacks: 0,
        emergency_attempts: 0,
        owner_changed_at: Some(crate::time::format_rfc3339(now_ms)),
        updated_at_ms: now_ms,
        ..thread.clone()
    }
}

/// The categories the emergency switch recategorizes a thread from, when they are known well
/// enough (`None`: read the thread first). The stored list, unless the thread had a message
/// since it was read or set (a category may have been added meanwhile); the last message's
/// categories when nothing is stored.
pub fn known_categories(thread: &ThreadState) -> Option<Vec<String>> {
    match (&thread.categories, &thread.last_event_categories) {
        (Some(stored), _) if thread.categories_at_ms >= thread.last_event_ms => Some(stored.clone()),
        (Some(_), _) => None,
        (None, Some(last)) => Some(last.clone()),
        (None, None) => None,
    }
}

/// A thread the emergency switch could not hand over: after `MAX_EMERGENCY_ATTEMPTS` failures
/// in a row (or a refusal for good), it is parked and left alone.
pub fn thread_after_emergency_failure(
    thread: &ThreadState,
    for_good: bool,
    reason: &str,
    now_ms: i64,
) -> ThreadState {
    let attempts = thread.emergency_attempts + 1;
    let parked = for_good || attempts >= MAX_EMERGENCY_ATTEMPTS;
    ThreadState {
        emergency_attempts: attempts,
        parked,
        pending_handover: if parked {
            Some(format!("emergency: {reason}"))
        } else {
            thread.pending_handover.clone()
        },
        updated_at_ms: now_ms,
        ..thread.clone()
    }
}

/// Emergency handovers of one thread that may fail in a row before it is left alone.
pub const MAX_EMERGENCY_ATTEMPTS: u32 = 3;

/// Why a Zenvia message is not answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZenviaSkip {
    /// The bot never accepted this interaction.
    UnknownInteraction,
    /// The interaction was finished.
    Ended,
    /// The interaction was transferred to the agents.
    Transferred,
}

impl ZenviaSkip {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownInteraction => "unknown_interaction",
            Self::Ended => "interaction_ended",
            Self::Transferred => "transferred",
        }
    }
}

/// Is a Zenvia message the bot's, and how? (CONTRACT C10)
pub fn zenvia_turn(interaction: &ThreadState, emergency: bool) -> Result<Turn, ZenviaSkip> {
    if interaction.version == 0 {
        return Err(ZenviaSkip::UnknownInteraction);
    }
    if interaction.ended {
        return Err(ZenviaSkip::Ended);
    }
    if interaction.owner == Owner::Agent {
        return Err(ZenviaSkip::Transferred);
    }
    Ok(if emergency { Turn::EmergencyHandover } else { Turn::AskBot })
}

/// The interaction's state after a bot turn on Zenvia.
pub fn interaction_after_turn(
    interaction: &ThreadState,
    plan: &TurnPlan,
    progress: &EventProgress,
    now_ms: i64,
) -> ThreadState {
    let mut next = interaction.clone();
    next.bot_turns += 1;
    next.consecutive_fallbacks = if plan.fallback { interaction.consecutive_fallbacks + 1 } else { 0 };
    if let Some(reason) = &plan.handover {
        if progress.transferred {
            next.owner = Owner::Agent;
            next.pending_handover = None;
            next.owner_changed_at = Some(crate::time::format_rfc3339(now_ms));
        } else {
            next.pending_handover = Some(format!("transfer failed: {reason}"));
        }
        next.consecutive_fallbacks = 0;
    }
    if plan.resolve && progress.finished {
        next.ended = true;
    }
    next.updated_at_ms = now_ms;
    next
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bot::BotAnswer;
    use crate::config::{NoAgentPolicy, ReopenPolicy};
    use crate::secret::Secret;
    use std::time::Duration;

    fn engage() -> EngageSettings {
        EngageSettings {
            api_url: "http://engage".into(),
            access_token: Secret::new("t"),
            bot_category_id: "BOT".into(),
            agent_category_id: "AGENT".into(),
            bot_source_ids: Some(vec!["s1".into()]),
            async_source_ids: vec![],
            timeout: Duration::from_secs(1),
        }
    }

    fn flow() -> FlowSettings {
        FlowSettings {
            open_interventions: true,
            close_thread_on_resolve: false,
            reopen_policy: ReopenPolicy::Bot,
            no_agent_policy: NoAgentPolicy::Stay,
            no_agent_message: "none".into(),
            handover_message: "handing".into(),
            availability_cache: Duration::from_secs(30),
            max_bot_failures: 2,
            emergency_cache: Duration::ZERO,
            business_hours: true,
            closed_policy: crate::config::ClosedPolicy::Stay,
            closed_messages: crate::config::ClosedMessages {
                default: "Back {next_open}.".into(),
                by_language: vec![("fr".into(), "De retour {next_open}.".into())],
            },
        }
    }

    #[test]
    fn the_bot_remembers_answered_turns_only_and_forgets_a_resolved_conversation() {
        let limits = Some(MemoryLimits { messages: 10, chars: 1000 });
        let before = vec![HistoryEntry::Customer("hi".into()), HistoryEntry::Bot("hello".into())];
        let answered =
            BotOutcome::Answered(BotAnswer { replies: vec!["It is open.".into()], ..BotAnswer::default() });
        let plain = TurnPlan { replies: vec![], resolve: false, handover: None, fallback: false };
        let mut expected = before.clone();
        expected.extend([HistoryEntry::Customer("open?".into()), HistoryEntry::Bot("It is open.".into())]);
        assert_eq!(memory_after_turn(&before, "open?", &answered, &plain, limits), expected);
        // A turn the bot did not take (it failed, or the switch is on) adds nothing.
        let failed = BotOutcome::Failed { reason: "bot_timeout".into() };
        assert_eq!(memory_after_turn(&before, "open?", &failed, &plain, limits), before);
        // Resolved: the next message starts a new conversation.
        let resolved = TurnPlan { resolve: true, ..plain.clone() };
        assert!(memory_after_turn(&before, "bye", &answered, &resolved, limits).is_empty());
        // A backend that keeps nothing (builtin, http, lex) never stores the conversation.
        assert!(memory_after_turn(&before, "open?", &answered, &plain, None).is_empty());
    }

    #[test]
    fn closed_hours_follow_the_policy_and_speak_the_customers_language() {
        use crate::config::ClosedPolicy;
        let engage = engage();
        let with = |closed_policy| FlowSettings { closed_policy, ..flow() };
        let async_source = EngageSettings { async_source_ids: vec!["s1".into()], ..engage.clone() };
        assert_eq!(
            closed_hours_decision("s1", &with(ClosedPolicy::Stay), &engage),
            HandoverDecision::StayWithBot
        );
        assert_eq!(
            closed_hours_decision("s1", &with(ClosedPolicy::Handover), &engage),
            HandoverDecision::Agents
        );
        assert_eq!(
            closed_hours_decision("s1", &with(ClosedPolicy::Async), &engage),
            HandoverDecision::StayWithBot
        );
        assert_eq!(
            closed_hours_decision("s1", &with(ClosedPolicy::Async), &async_source),
            HandoverDecision::Agents
        );

        assert_eq!(closed_message(&flow(), Some("fr"), "lundi 09:00 (CET)"), "De retour lundi 09:00 (CET).");
        assert_eq!(closed_message(&flow(), Some("FR"), "x"), "De retour x.");
        assert_eq!(closed_message(&flow(), Some("de"), "Monday 09:00 (CET)"), "Back Monday 09:00 (CET).");
        assert_eq!(closed_message(&flow(), None, "Monday 09:00 (CET)"), "Back Monday 09:00 (CET).");

        // The closed message replaces the handover or no-agent message.
        let plan = TurnPlan {
            replies: vec!["Sure".into()],
            resolve: false,
            handover: Some("asked_for_agent".into()),
            fallback: false,
        };
        for decision in [HandoverDecision::Agents, HandoverDecision::StayWithBot] {
            assert_eq!(
                messages_to_post(&plan, Some(&decision), Some("Back Monday."), &flow()),
                vec!["Sure", "Back Monday."]
            );
        }
    }

    fn customer_message() -> ContentEvent {
        ContentEvent {
            event_id: "e1".into(),
            content_id: "c1".into(),
            thread_id: "t1".into(),
            source_id: "s1".into(),
            author_id: Some("a1".into()),
            body: "hello".into(),
            category_ids: vec!["OTHER".into(), "BOT".into()],
            first_in_thread: true,
            status: Some("assigned".into()),
            ..ContentEvent::default()
        }
    }

    #[test]
    fn the_bot_answers_customer_messages_in_the_bot_category() {
        assert_eq!(
            bot_turn(&customer_message(), &ThreadState::new("t1"), &engage(), false),
            Ok(Turn::AskBot)
        );
        assert_eq!(
            bot_turn(&customer_message(), &ThreadState::new("t1"), &engage(), true),
            Ok(Turn::EmergencyHandover)
        );
    }

    #[test]
    fn everything_else_is_only_recorded() {
        let thread = ThreadState::new("t1");
        let cases: Vec<(ContentEvent, NotForBot)> = vec![
            (
                ContentEvent { category_ids: vec!["AGENT".into()], ..customer_message() },
                NotForBot::NotBotCategory,
            ),
            (ContentEvent { category_ids: vec![], ..customer_message() }, NotForBot::NotBotCategory),
            (ContentEvent { source_id: "s2".into(), ..customer_message() }, NotForBot::SourceNotManaged),
            (
                ContentEvent { creator_id: Some("bot-user".into()), ..customer_message() },
                NotForBot::NotFromCustomer,
            ),
            (
                ContentEvent { status: Some("replied".into()), ..customer_message() },
                NotForBot::NotFromCustomer,
            ),
            (
                ContentEvent { status: Some("ignored".into()), ..customer_message() },
                NotForBot::NotFromCustomer,
            ),
        ];
        for (content, reason) in cases {
            assert_eq!(bot_turn(&content, &thread, &engage(), false), Err(reason), "{content:?}");
            assert_eq!(bot_turn(&content, &thread, &engage(), true), Err(reason), "{content:?}");
        }
        let handed_over = ThreadState { owner: Owner::Agent, ..ThreadState::new("t1") };
        assert_eq!(bot_turn(&customer_message(), &handed_over, &engage(), false), Err(NotForBot::HandedOver));
        assert_eq!(bot_turn(&customer_message(), &handed_over, &engage(), true), Err(NotForBot::HandedOver));
    }

    #[test]
    fn all_sources_are_the_bots_without_a_source_list() {
        let settings = EngageSettings { bot_source_ids: None, ..engage() };
        let content = ContentEvent { source_id: "anything".into(), ..customer_message() };
        assert_eq!(bot_turn(&content, &ThreadState::new("t1"), &settings, false), Ok(Turn::AskBot));
    }

    #[test]
    fn an_intervention_is_opened_once_on_a_first_message_without_one() {
        let thread = ThreadState::new("t1");
        let none = EventProgress::default();
        assert!(should_open_intervention(&customer_message(), &thread, &none, &flow()));
        let follow_up = ContentEvent { first_in_thread: false, ..customer_message() };
        assert!(!should_open_intervention(&follow_up, &thread, &none, &flow()));
        let has_one = ContentEvent { intervention_id: Some("i0".into()), ..customer_message() };
        assert!(!should_open_intervention(&has_one, &thread, &none, &flow()));
        let done = EventProgress { intervention_step_done: true, ..EventProgress::default() };
        assert!(!should_open_intervention(&customer_message(), &thread, &done, &flow()));
        let off = FlowSettings { open_interventions: false, ..flow() };
        assert!(!should_open_intervention(&customer_message(), &thread, &none, &off));
        let thread_has_one = ThreadState { bot_intervention_id: Some("i1".into()), ..thread };
        assert!(!should_open_intervention(&customer_message(), &thread_has_one, &none, &flow()));
    }

    fn answered(replies: &[&str], action: BotAction, reason: Option<&str>) -> BotOutcome {
        BotOutcome::Answered(BotAnswer {
            replies: replies.iter().map(|r| r.to_string()).collect(),
            action,
            reason: reason.map(String::from),
        })
    }

    #[test]
    fn plans_follow_the_bots_action() {
        let thread = ThreadState::new("t1");
        let plan = plan_turn(&answered(&["<b>Hi</b>", "  "], BotAction::None, None), &thread, &flow());
        assert_eq!(
            plan,
            TurnPlan { replies: vec!["Hi".into()], resolve: false, handover: None, fallback: false }
        );

        let plan = plan_turn(&answered(&["Bye"], BotAction::Resolve, None), &thread, &flow());
        assert!(plan.resolve);
        assert_eq!(plan.replies, vec!["Bye"]);

        let plan = plan_turn(
            &answered(&["One moment"], BotAction::Handover, Some("asked_for_agent")),
            &thread,
            &flow(),
        );
        assert_eq!(plan.handover.as_deref(), Some("asked_for_agent"));
        assert_eq!(plan.replies, vec!["One moment"]);

        let plan = plan_turn(&BotOutcome::Failed { reason: "bot_timeout".into() }, &thread, &flow());
        assert_eq!(
            plan,
            TurnPlan {
                replies: vec![],
                resolve: false,
                handover: Some("bot_timeout".into()),
                fallback: false
            }
        );
    }

    #[test]
    fn repeated_fallbacks_hand_over() {
        let fallback = answered(&["Sorry?"], BotAction::None, Some("fallback"));
        let first = plan_turn(&fallback, &ThreadState::new("t1"), &flow());
        assert_eq!(first.handover, None);
        assert!(first.fallback);
        let after_one = ThreadState { consecutive_fallbacks: 1, ..ThreadState::new("t1") };
        let second = plan_turn(&fallback, &after_one, &flow());
        assert_eq!(second.handover.as_deref(), Some("max_bot_failures"));
        assert!(second.replies.is_empty());
    }

    #[test]
    fn the_thread_remembers_the_turn() {
        let content = customer_message();
        let progress = EventProgress {
            intervention_id: Some("i1".into()),
            intervention_step_done: true,
            ..EventProgress::default()
        };
        let plan =
            TurnPlan { replies: vec!["Sorry?".into()], resolve: false, handover: None, fallback: true };
        let next = thread_after_turn(&ThreadState::new("t1"), &content, &plan, &progress, 42);
        assert_eq!(next.bot_intervention_id.as_deref(), Some("i1"));
        assert_eq!(next.consecutive_fallbacks, 1);
        assert_eq!(next.source_id.as_deref(), Some("s1"));
        assert_eq!(next.updated_at_ms, 42);

        let resolved = EventProgress { intervention_closed: true, ..EventProgress::default() };
        let plan = TurnPlan { replies: vec![], resolve: true, handover: None, fallback: false };
        let after = thread_after_turn(&next, &content, &plan, &resolved, 43);
        assert_eq!(after.bot_intervention_id, None);
        assert_eq!(after.consecutive_fallbacks, 0);

        let plan = TurnPlan {
            replies: vec![],
            resolve: false,
            handover: Some("bot_timeout".into()),
            fallback: false,
        };
        let after = thread_after_turn(&next, &content, &plan, &EventProgress::default(), 44);
        assert_eq!(after.pending_handover.as_deref(), Some("bot_timeout"));
    }

    fn agent(channels: &[(&str, Option<&str>, Option<&str>)]) -> AgentStatus {
        AgentStatus {
            agent_id: "a".into(),
            channels: channels
                .iter()
                .map(|(id, status, busyness)| crate::engage::client::AgentChannelStatus {
                    id: id.to_string(),
                    name: None,
                    status: status.map(String::from),
                    busyness: busyness.map(String::from),
                })
                .collect(),
        }
    }

    fn chat_channels() -> Vec<Channel> {
        vec![
            Channel { id: "chat".into(), name: None, source_ids: vec!["s1".into()] },
            Channel { id: "mail".into(), name: None, source_ids: vec!["s2".into()] },
        ]
    }

    #[test]
    fn availability_counts_only_the_sources_channel() {
        let channels = chat_channels();
        let free = |statuses: &[AgentStatus]| agents_available(statuses, &channels, "s1").available;
        assert!(free(&[agent(&[("chat", Some("available"), Some("ok"))])]));
        assert!(free(&[agent(&[("chat", Some("available"), Some("busy"))])]));
        assert!(free(&[agent(&[("chat", Some("available"), None)])]));
        assert!(!free(&[]), "nobody connected");
        assert!(!free(&[agent(&[("chat", Some("away"), Some("ok"))])]));
        assert!(!free(&[agent(&[("chat", Some("available"), Some("full"))])]));
        assert!(!free(&[agent(&[("chat", None, None)])]));
        assert!(
            !free(&[agent(&[("mail", Some("available"), Some("unoccupied")), ("chat", Some("away"), None)])]),
            "free only on another channel"
        );
        assert!(free(&[
            agent(&[("chat", Some("away"), None)]),
            agent(&[("chat", Some("available"), Some("ok"))])
        ]));
    }

    #[test]
    fn without_a_channel_for_the_source_any_channel_counts() {
        let result =
            agents_available(&[agent(&[("mail", Some("available"), Some("ok"))])], &chat_channels(), "s9");
        assert_eq!(result, Availability { available: true, channel_unknown: true });
        let result = agents_available(&[agent(&[("mail", Some("away"), Some("ok"))])], &[], "s9");
        assert_eq!(result, Availability { available: false, channel_unknown: true });
    }

    #[test]
    fn the_no_agent_policy_decides_when_nobody_is_available() {
        assert_eq!(handover_decision(Some(true), &flow()), HandoverDecision::Agents);
        assert_eq!(handover_decision(None, &flow()), HandoverDecision::Agents);
        assert_eq!(handover_decision(Some(false), &flow()), HandoverDecision::StayWithBot);
        let anyway = FlowSettings { no_agent_policy: NoAgentPolicy::Handover, ..flow() };
        assert_eq!(handover_decision(Some(false), &anyway), HandoverDecision::Agents);
    }

    #[test]
    fn availability_is_skipped_in_emergencies_and_for_async_sources() {
        let settings = EngageSettings { async_source_ids: vec!["mail".into()], ..engage() };
        assert!(needs_availability_check("s1", "bot_timeout", &settings));
        assert!(!needs_availability_check("s1", EMERGENCY_REASON, &settings));
        assert!(!needs_availability_check("mail", "asked_for_agent", &settings));
    }

    #[test]
    fn switching_categories_keeps_the_others_in_order() {
        let list = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(switch_category(&list(&["x", "BOT", "y"]), "BOT", "AGENT"), list(&["x", "y", "AGENT"]));
        assert_eq!(switch_category(&list(&["BOT"]), "BOT", "AGENT"), list(&["AGENT"]));
        assert_eq!(switch_category(&list(&[]), "BOT", "AGENT"), list(&["AGENT"]));
        assert_eq!(
            switch_category(&list(&["x", "AGENT", "x", "BOT"]), "BOT", "AGENT"),
            list(&["x", "AGENT"])
        );
        assert_eq!(switch_category(&list(&["AGENT", "z"]), "AGENT", "BOT"), list(&["z", "BOT"]));
    }

    #[test]
    fn the_handover_or_no_agent_message_follows_the_replies() {
        let plan = TurnPlan {
            replies: vec!["One moment".into()],
            resolve: false,
            handover: Some("r".into()),
            fallback: false,
        };
        assert_eq!(
            messages_to_post(&plan, Some(&HandoverDecision::Agents), None, &flow()),
            vec!["One moment", "handing"]
        );
        assert_eq!(
            messages_to_post(&plan, Some(&HandoverDecision::StayWithBot), None, &flow()),
            vec!["One moment", "none"]
        );
        assert_eq!(messages_to_post(&plan, None, None, &flow()), vec!["One moment"]);
        let silent = FlowSettings { handover_message: String::new(), ..flow() };
        assert_eq!(
            messages_to_post(&plan, Some(&HandoverDecision::Agents), None, &silent),
            vec!["One moment"]
        );
    }

    #[test]
    fn a_completed_handover_gives_the_thread_to_the_agents() {
        let content = ContentEvent { issued_at: Some("2026-01-01T00:00:00Z".into()), ..customer_message() };
        let plan =
            TurnPlan { replies: vec![], resolve: false, handover: Some("asked".into()), fallback: false };
        let done = EventProgress {
            handover: Some(HandoverDecision::Agents),
            new_categories: Some(vec!["OTHER".into(), "AGENT".into()]),
            recategorized: true,
            ..EventProgress::default()
        };
        let thread = ThreadState { consecutive_fallbacks: 1, ..ThreadState::new("t1") };
        let next = thread_after_turn(&thread, &content, &plan, &done, 7);
        assert_eq!(next.owner, Owner::Agent);
        assert_eq!(next.categories, Some(vec!["OTHER".into(), "AGENT".into()]));
        assert_eq!(next.pending_handover, None);
        assert_eq!(next.owner_changed_at.as_deref(), Some("2026-01-01T00:00:00Z"));

        let stayed =
            EventProgress { handover: Some(HandoverDecision::StayWithBot), ..EventProgress::default() };
        let next = thread_after_turn(&thread, &content, &plan, &stayed, 7);
        assert_eq!((next.owner, next.pending_handover, next.consecutive_fallbacks), (Owner::Bot, None, 0));

        // A turn that finishes after someone else handed the thread over never takes it back.
        let taken = ThreadState { owner: Owner::Agent, ..ThreadState::new("t1") };
        let plain = TurnPlan { replies: vec!["hi".into()], resolve: false, handover: None, fallback: false };
        assert_eq!(
            thread_after_turn(&taken, &content, &plain, &EventProgress::default(), 8).owner,
            Owner::Agent
        );
    }

    fn closed(intervention: &str, issued_at: &str) -> InterventionEvent {
        InterventionEvent {
            event_id: "e".into(),
            issued_at: Some(issued_at.into()),
            intervention_id: intervention.into(),
            thread_id: Some("t1".into()),
            ..InterventionEvent::default()
        }
    }

    fn handed_over() -> ThreadState {
        ThreadState {
            owner: Owner::Agent,
            version: 3,
            bot_intervention_id: Some("bot-int".into()),
            owner_changed_at: Some("2026-01-01T10:00:00Z".into()),
            ..ThreadState::new("t1")
        }
    }

    #[test]
    fn a_closed_agent_intervention_gives_the_thread_back() {
        assert_eq!(rebot(&closed("agent-int", "2026-01-01T11:00:00.000Z"), &handed_over(), &flow()), Ok(()));
        let agent_policy = FlowSettings { reopen_policy: ReopenPolicy::Agent, ..flow() };
        assert_eq!(
            rebot(&closed("agent-int", "2026-01-01T11:00:00Z"), &handed_over(), &agent_policy),
            Err(KeepOwner::PolicyKeepsAgents)
        );
    }

    #[test]
    fn other_closed_interventions_change_nothing() {
        let event = closed("agent-int", "2026-01-01T11:00:00Z");
        assert_eq!(rebot(&event, &ThreadState::new("t1"), &flow()), Err(KeepOwner::UnknownThread));
        assert_eq!(
            rebot(&closed("bot-int", "2026-01-01T11:00:00Z"), &handed_over(), &flow()),
            Err(KeepOwner::BotsOwnIntervention)
        );
        let with_bot = ThreadState { owner: Owner::Bot, ..handed_over() };
        assert_eq!(rebot(&event, &with_bot, &flow()), Err(KeepOwner::NotWithAgents));
        // Closed before the latest handover: a late event never undoes newer state.
        assert_eq!(
            rebot(&closed("old-int", "2026-01-01T09:59:59.999Z"), &handed_over(), &flow()),
            Err(KeepOwner::Stale)
        );
    }

    #[test]
    fn the_thread_back_with_the_bot() {
        let next = thread_after_rebot(
            &handed_over(),
            &closed("agent-int", "2026-01-01T11:00:00Z"),
            vec!["x".into(), "BOT".into()],
            9,
        );
        assert_eq!(next.owner, Owner::Bot);
        assert_eq!(next.categories, Some(vec!["x".into(), "BOT".into()]));
        assert_eq!(next.bot_intervention_id, None);
        assert_eq!(next.owner_changed_at.as_deref(), Some("2026-01-01T11:00:00Z"));
        assert_eq!(next.version, 3, "the store bumps the version");
    }

    #[test]
    fn zenvia_messages_go_to_the_bot_only_on_accepted_open_interactions() {
        let accepted = ThreadState { version: 1, ..ThreadState::new("zenvia:h") };
        assert_eq!(zenvia_turn(&accepted, false), Ok(Turn::AskBot));
        assert_eq!(zenvia_turn(&accepted, true), Ok(Turn::EmergencyHandover));
        assert_eq!(zenvia_turn(&ThreadState::new("zenvia:h"), false), Err(ZenviaSkip::UnknownInteraction));
        let ended = ThreadState { ended: true, ..accepted.clone() };
        assert_eq!(zenvia_turn(&ended, false), Err(ZenviaSkip::Ended));
        let transferred = ThreadState { owner: Owner::Agent, ..accepted };
        assert_eq!(zenvia_turn(&transferred, true), Err(ZenviaSkip::Transferred));
    }

    #[test]
    fn a_zenvia_interaction_after_transfer_or_finish() {
        let accepted = ThreadState { version: 1, ..ThreadState::new("zenvia:h") };
        let handover =
            TurnPlan { replies: vec![], resolve: false, handover: Some("asked".into()), fallback: false };
        let transferred = EventProgress { transferred: true, ..EventProgress::default() };
        assert_eq!(interaction_after_turn(&accepted, &handover, &transferred, 1).owner, Owner::Agent);
        let failed = interaction_after_turn(&accepted, &handover, &EventProgress::default(), 1);
        assert_eq!(
            (failed.owner, failed.pending_handover.as_deref()),
            (Owner::Bot, Some("transfer failed: asked"))
        );
        let resolve = TurnPlan { replies: vec![], resolve: true, handover: None, fallback: false };
        let finished = EventProgress { finished: true, ..EventProgress::default() };
        assert!(interaction_after_turn(&accepted, &resolve, &finished, 1).ended);
    }

    #[test]
    fn the_emergency_recategorizes_from_what_is_known_and_reads_when_stale() {
        let base = ThreadState::new("t");
        let stored = |at: i64, last: i64| ThreadState {
            categories: Some(vec!["s".into()]),
            categories_at_ms: at,
            last_event_categories: Some(vec!["e".into()]),
            last_event_ms: last,
            ..base.clone()
        };
        assert_eq!(
            known_categories(&stored(10, 5)),
            Some(vec!["s".into()]),
            "stored, newer than the last message"
        );
        assert_eq!(known_categories(&stored(5, 10)), None, "stored before the last message: read");
        let event_only = ThreadState { last_event_categories: Some(vec!["e".into()]), ..base.clone() };
        assert_eq!(known_categories(&event_only), Some(vec!["e".into()]));
        assert_eq!(known_categories(&base), None, "nothing known: read");
    }

    #[test]
    fn a_thread_is_parked_after_three_emergency_failures_or_one_for_good() {
        let once = thread_after_emergency_failure(&ThreadState::new("t"), false, "503", 1);
        assert_eq!((once.emergency_attempts, once.parked), (1, false));
        let twice = thread_after_emergency_failure(&once, false, "503", 2);
        let thrice = thread_after_emergency_failure(&twice, false, "503", 3);
        assert!(!twice.parked && thrice.parked && !thrice.bot_is_in_it());
        assert_eq!(thrice.pending_handover.as_deref(), Some("emergency: 503"));
        assert!(thread_after_emergency_failure(&ThreadState::new("t"), true, "404", 1).parked);
    }
}
