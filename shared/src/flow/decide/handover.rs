//! Where a handover goes: the agents' availability, business hours, the categories.

use super::turn::EMERGENCY_REASON;
use crate::bot::HistoryEntry;
use crate::config::{ClosedPolicy, EngageSettings, FlowSettings, NoAgentPolicy};
use crate::engage::client::{AgentStatus, Channel};
use crate::store::HandoverDecision;

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
    flow.texts.closed.text(language).replace("{next_open}", next_open)
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

/// The agent's briefing is at most this many lines and characters.
pub const BRIEFING_LINES: usize = 20;
pub const BRIEFING_CHARS: usize = 2_000;

/// The agent's briefing at a handover (CONTRACT C17): the bot's summary when it gave one,
/// why the conversation comes, the customer's language, and the conversation's last messages,
/// the oldest left out first until it fits [`BRIEFING_LINES`] and [`BRIEFING_CHARS`].
pub fn briefing(
    reason: &str,
    summary: Option<&str>,
    language: Option<&str>,
    conversation: &[HistoryEntry],
) -> String {
    let mut head: Vec<String> = Vec::new();
    if let Some(summary) = summary.map(str::trim).filter(|s| !s.is_empty()) {
        head.push(one_line(summary, 600));
    }
    head.push(format!("Handed over by the bot: {}.", reason_in_words(reason)));
    if let Some(language) = language {
        head.push(format!("Customer's language: {language}."));
    }
    head.push("Conversation (latest last):".into());
    let lines: Vec<String> = conversation
        .iter()
        .map(|entry| match entry {
            HistoryEntry::Customer(text) => format!("Customer: {}", one_line(text, 300)),
            HistoryEntry::Bot(text) => format!("Bot: {}", one_line(text, 300)),
        })
        .collect();
    let fits = |from: usize| {
        let count = head.len() + lines.len() - from;
        let chars: usize = head.iter().chain(&lines[from..]).map(|l| l.chars().count() + 1).sum();
        count <= BRIEFING_LINES && chars <= BRIEFING_CHARS
    };
    let from = (0..lines.len()).find(|from| fits(*from)).unwrap_or(lines.len());
    let text = head.into_iter().chain(lines.into_iter().skip(from)).collect::<Vec<_>>().join("\n");
    text.chars().take(BRIEFING_CHARS).collect()
}

fn one_line(text: &str, chars: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(chars) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat,
    }
}

/// A handover's reason as the agent reads it.
pub fn reason_in_words(reason: &str) -> String {
    let words = match reason {
        "asked_for_agent" | "ask_for_agent" => "the customer asked for a person",
        "cannot_help" => "the bot could not help",
        "complaint" => "the customer has a complaint",
        "sensitive" => "the matter is sensitive",
        "max_bot_failures" => "the bot did not understand the customer several times in a row",
        "emergency" | "emergency_switch" => "the emergency switch is on",
        "bot_timeout" => "the bot did not answer in time",
        "bot_unreachable" => "the bot could not be reached",
        "bot_malformed_answer" => "the bot's answer could not be read",
        "bot_answer_too_large" => "the bot's answer was too large",
        other if other.starts_with("bot_http_") => return format!("the bot failed (HTTP {})", &other[9..]),
        other => return format!("the bot asked for a person ({other})"),
    };
    words.to_string()
}

/// The conversation kept for the agent's briefing after a turn (`keep`: the briefing is on and
/// the bot keeps no memory of its own): this turn's messages added, bounded like the briefing;
/// nothing once the conversation went to the agents or was resolved.
pub fn transcript_after_turn(
    transcript: &[HistoryEntry],
    customer_text: &str,
    replies: &[String],
    ended: bool,
    keep: bool,
) -> Vec<HistoryEntry> {
    if !keep || ended {
        return vec![];
    }
    let limits = crate::bot::MemoryLimits { messages: BRIEFING_LINES, chars: BRIEFING_CHARS };
    crate::bot::remember(transcript, customer_text, replies, limits)
}
