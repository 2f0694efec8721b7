//! Where a handover goes: the agents' availability, business hours, the categories.

use super::turn::EMERGENCY_REASON;
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
