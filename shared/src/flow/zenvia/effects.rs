//! Zenvia's effects (accept, message, transfer, finish) and a Zenvia bot turn. Zenvia has no
//! API to read what happened, so an effect whose outcome is unknown is made again: a refusal
//! of the repeat (accepting an accepted interaction) then counts as made, and a message can be
//! repeated (said in the README).

use tracing::{error, warn};

use super::ZenviaFlow;
use crate::analytics;
use crate::bot::{BotMessage, BotRequest, Channel};
use crate::config::FlowSettings;
use crate::flow::decide::{self, TurnPlan};
use crate::flow::turn::{BotTurn, EffectError, HandoverChoice, Made, Platform};
use crate::store::{Effect, HandoverDecision, Journal, StatsEntry, ThreadState};
use crate::zenvia::ZenviaError;

/// The effects on one interaction.
pub(super) struct ZenviaEffects<'a> {
    pub flow: &'a ZenviaFlow,
    pub hash: &'a str,
}

/// Whether Zenvia took the call: refused for good (logged), or failed as it may have been made.
fn outcome(result: Result<(), ZenviaError>, refused: &str) -> Result<Made, EffectError> {
    match result {
        Ok(()) => Ok(Made::Done),
        Err(err @ (ZenviaError::Server { .. } | ZenviaError::Transport(_))) => {
            Err(EffectError::Uncertain(err.to_string()))
        }
        Err(err) if err.is_transient() => Err(EffectError::Retry(err.to_string())),
        Err(err) => {
            error!(error = %err, "{refused}");
            Ok(Made::Refused)
        }
    }
}

#[async_trait::async_trait]
impl Platform for ZenviaEffects<'_> {
    async fn make(
        &self,
        _thread: &ThreadState,
        journal: &mut Journal,
        index: usize,
    ) -> Result<Made, EffectError> {
        let (zenvia, hash) = (&self.flow.zenvia, self.hash);
        match &journal.effects[index].effect {
            Effect::Open => outcome(zenvia.accept(hash).await, "Zenvia refused the accept"),
            reply @ (Effect::Reply { .. } | Effect::BotReply { .. }) => {
                let text = journal.message(reply).unwrap_or_default();
                outcome(
                    zenvia.send_text(hash, &text).await,
                    "Zenvia refused a message; the remaining ones are dropped",
                )
            }
            Effect::HandOver => {
                let department = self.flow.settings.transfer_department_id;
                outcome(zenvia.transfer(hash, department).await, "Zenvia refused the transfer")
            }
            Effect::Resolve => match zenvia.finish(hash).await {
                // Most likely finished already: either way the bot is done with it.
                Err(err @ ZenviaError::Refused { .. }) if !err.is_transient() => {
                    warn!(error = %err, "Zenvia refused the finish; the interaction is ended anyway");
                    Ok(Made::Refused)
                }
                other => outcome(other, "Zenvia refused the finish"),
            },
            // Zenvia's transfer carries no note, and there is nothing to give back or close.
            Effect::GiveBack | Effect::CloseThread | Effect::Note { .. } => Ok(Made::Done),
        }
    }

    /// Zenvia cannot be asked: the effect is made again.
    async fn was_made(
        &self,
        _thread: &ThreadState,
        _journal: &mut Journal,
        _index: usize,
    ) -> Result<bool, EffectError> {
        Ok(false)
    }

    fn reads_back(&self) -> bool {
        false
    }
}

/// The turn of one customer message.
pub(super) struct ZenviaTurn<'a> {
    pub effects: ZenviaEffects<'a>,
    /// The event's id in the store (`message:<delivery id>`).
    pub event_id: &'a str,
    pub content: &'a str,
    pub content_type: &'a str,
}

#[async_trait::async_trait]
impl BotTurn for ZenviaTurn<'_> {
    fn platform(&self) -> &dyn Platform {
        &self.effects
    }

    fn flow(&self) -> &FlowSettings {
        &self.effects.flow.settings.flow
    }

    fn bot_request(&self, thread: &ThreadState) -> BotRequest {
        let hash = self.effects.hash;
        BotRequest {
            history: thread.bot_memory.clone(),
            conversation_id: hash.to_string(),
            channel: Channel::Zenvia,
            message: BotMessage {
                id: self.event_id.to_string(),
                text: self.content.to_string(),
                // Non-text messages reach the bot with their type.
                message_type: self.content_type.to_string(),
                language: Some(self.effects.flow.settings.language.clone()),
                author_id: Some(hash.to_string()),
                first: thread.bot_turns == 0,
            },
        }
    }

    fn customer_text(&self) -> &str {
        self.content
    }

    /// Zenvia has no availability API: a handover always transfers.
    fn known_handover(&self, _reason: &str) -> Option<HandoverChoice> {
        Some(HandoverChoice { decision: HandoverDecision::Agents, closed_message: None })
    }

    async fn decide_handover(&self, reason: &str) -> Result<HandoverChoice, EffectError> {
        Ok(self.known_handover(reason).expect("always known"))
    }

    /// Zenvia has nothing to open per message and no thread to close.
    fn effects(&self, _thread: &ThreadState, plan: &TurnPlan, journal: &Journal) -> Vec<Effect> {
        let language = Some(self.effects.flow.settings.language.as_str());
        decide::turn_effects(plan, journal, self.flow(), language, false)
    }

    fn thread_after(
        &self,
        current: &ThreadState,
        plan: &TurnPlan,
        journal: &Journal,
        now_ms: i64,
    ) -> ThreadState {
        decide::interaction_after_turn(current, plan, journal, now_ms)
    }

    fn stats(
        &self,
        _before: &ThreadState,
        plan: &TurnPlan,
        journal: &Journal,
        event_id: &str,
    ) -> Vec<StatsEntry> {
        match &plan.handover {
            Some(reason) if journal.made(&Effect::HandOver) => {
                let emergency = reason == decide::EMERGENCY_REASON;
                vec![analytics::intervention(
                    crate::now_millis(),
                    self.effects.hash,
                    event_id,
                    reason,
                    emergency,
                )]
            }
            _ => vec![],
        }
    }
}
