//! An Engage Digital bot turn: what the bot is asked, the turn's effects in order (the bot's
//! intervention on a first message, the replies, the handover, the resolve), the thread after
//! it and its statistics. All pure but the handover's reads.

use super::effects::EngageEffects;
use crate::analytics;
use crate::bot::{BotMessage, BotRequest, Channel as BotChannel, HistoryEntry};
use crate::config::FlowSettings;
use crate::engage::ContentEvent;
use crate::flow::decide::{self, TurnPlan};
use crate::flow::turn::{BotTurn, EffectError, HandoverChoice, Platform};
use crate::store::{BotOutcome, Effect, HandoverDecision, Journal, StatsEntry, ThreadState};

/// The turn of one customer content.
pub(super) struct EngageTurn<'a> {
    pub effects: EngageEffects<'a>,
    pub content: &'a ContentEvent,
}

impl EngageTurn<'_> {
    /// The agent's briefing, when the conversation goes to the agents with the briefing on and
    /// a bot intervention to put it on (`opens`: this turn opens one).
    fn briefing(
        &self,
        thread: &ThreadState,
        plan: &TurnPlan,
        journal: &Journal,
        opens: bool,
    ) -> Option<Effect> {
        let reason = plan.handover.as_deref()?;
        let goes = journal.handover == Some(HandoverDecision::Agents);
        if !(self.flow().agent_briefing && goes && (opens || thread.bot_intervention_id.is_some())) {
            return None;
        }
        let mut conversation =
            if thread.transcript.is_empty() { thread.bot_memory.clone() } else { thread.transcript.clone() };
        conversation.push(HistoryEntry::Customer(self.content.body.as_str().into()));
        conversation.extend(plan.replies.iter().map(|reply| HistoryEntry::Bot(reply.as_str().into())));
        let summary = match &journal.bot {
            Some(BotOutcome::Answered(answer)) => answer.summary.as_deref(),
            _ => None,
        };
        let reason = if journal.closed_message.is_some() { decide::CLOSED_HOURS_REASON } else { reason };
        let body = decide::briefing(reason, summary, self.content.language.as_deref(), &conversation);
        Some(Effect::Note { body })
    }
}

#[async_trait::async_trait]
impl BotTurn for EngageTurn<'_> {
    fn platform(&self) -> &dyn Platform {
        &self.effects
    }

    fn flow(&self) -> &FlowSettings {
        &self.effects.flow.settings.flow
    }

    fn bot_request(&self, thread: &ThreadState) -> BotRequest {
        let content = self.content;
        BotRequest {
            history: thread.bot_memory.clone(),
            conversation_id: content.thread_id.clone(),
            channel: BotChannel::Engage,
            message: BotMessage {
                id: content.content_id.clone(),
                text: content.body.clone(),
                message_type: "text".into(),
                language: content.language.clone(),
                author_id: content.author_id.clone(),
                first: content.first_in_thread,
            },
        }
    }

    fn customer_text(&self) -> &str {
        &self.content.body
    }

    fn known_handover(&self, reason: &str) -> Option<HandoverChoice> {
        self.effects.flow.known_handover(self.content, reason)
    }

    async fn decide_handover(&self, reason: &str) -> Result<HandoverChoice, EffectError> {
        self.effects.flow.decide_handover(self.content, reason).await
    }

    fn effects(&self, thread: &ThreadState, plan: &TurnPlan, journal: &Journal) -> Vec<Effect> {
        let flow = self.flow();
        let mut effects = Vec::new();
        // A reply needs an open intervention (CONTRACT C6); an emergency handover, where the
        // bot takes no turn, opens none.
        let bot_turn = !matches!(journal.bot, Some(BotOutcome::NotAsked { .. }));
        if bot_turn && decide::should_open_intervention(self.content, thread, flow) {
            effects.push(Effect::Open);
        }
        let opens = effects.contains(&Effect::Open);
        effects.extend(decide::turn_effects(
            plan,
            journal,
            flow,
            self.content.language.as_deref(),
            flow.close_thread_on_resolve,
        ));
        // The agent's briefing, before the handover that brings the agent.
        if let Some(note) = self.briefing(thread, plan, journal, opens) {
            let at = effects.iter().position(|e| *e == Effect::HandOver).unwrap_or(effects.len());
            effects.insert(at, note);
        }
        effects
    }

    fn keeps_transcript(&self) -> bool {
        self.flow().agent_briefing
    }

    fn thread_after(
        &self,
        current: &ThreadState,
        plan: &TurnPlan,
        journal: &Journal,
        now_ms: i64,
    ) -> ThreadState {
        decide::thread_after_turn(current, self.content, plan, journal, now_ms)
    }

    fn stats(
        &self,
        before: &ThreadState,
        plan: &TurnPlan,
        journal: &Journal,
        event_id: &str,
    ) -> Vec<StatsEntry> {
        let content = self.content;
        let at = content
            .issued_at
            .as_deref()
            .and_then(crate::time::parse_rfc3339_ms)
            .unwrap_or_else(crate::now_millis);
        let mut stats = Vec::new();
        if before.bot_turns == 0 {
            let user = content.author_id.as_deref().unwrap_or(&content.thread_id);
            stats.extend(analytics::session(at, &content.thread_id, user));
        }
        if let Some(reason) = &plan.handover
            && journal.made(&Effect::HandOver)
        {
            let emergency = reason == decide::EMERGENCY_REASON;
            // Handed over to a closed contact center: counted apart, whatever asked for it.
            let reason = if journal.closed_message.is_some() { decide::CLOSED_HOURS_REASON } else { reason };
            stats.push(analytics::intervention(at, &content.thread_id, event_id, reason, emergency));
        }
        stats
    }
}
