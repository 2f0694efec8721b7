//! An agent closed an intervention: does the thread go back to the bot? (CONTRACT C8)

use crate::config::FlowSettings;
use crate::config::ReopenPolicy;
use crate::engage::InterventionEvent;
use crate::store::{Owner, ThreadState};

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
