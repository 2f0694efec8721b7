//! Zenvia's interactions (CONTRACT C10).

use super::turn::{Turn, TurnPlan};
use crate::store::{Effect, Journal, Owner, ThreadState};

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
    journal: &Journal,
    now_ms: i64,
) -> ThreadState {
    let mut next = interaction.clone();
    next.bot_turns += 1;
    next.consecutive_fallbacks = if plan.fallback { interaction.consecutive_fallbacks + 1 } else { 0 };
    if let Some(reason) = &plan.handover {
        if journal.made(&Effect::HandOver) {
            next.owner = Owner::Agent;
            next.pending_handover = None;
            next.owner_changed_at = Some(crate::time::format_rfc3339(now_ms));
        } else {
            next.pending_handover = Some(format!("transfer failed: {reason}"));
        }
        next.consecutive_fallbacks = 0;
    }
    if plan.resolve && journal.finished(&Effect::Resolve) {
        next.ended = true;
    }
    next.updated_at_ms = now_ms;
    next
}
