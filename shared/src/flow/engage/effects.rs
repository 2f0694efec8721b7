//! Engage Digital's effects, and how each is read back after an uncertain attempt: the
//! content's intervention, the thread's contents in reply to the customer's message, the
//! thread's categories.

use tracing::warn;

use super::EngageFlow;
use crate::engage::EngageError;
use crate::flow::decide;
use crate::flow::turn::{EffectError, Made, Platform};
use crate::store::{Effect, Journal, ThreadState};

/// The effects on one thread (and, for a bot turn, the customer's content it answers).
pub(super) struct EngageEffects<'a> {
    pub flow: &'a EngageFlow,
    pub thread_id: &'a str,
    /// The content the replies answer (empty outside a bot turn).
    pub content_id: &'a str,
    /// The thread's categories as the event carried them (an intervention event's).
    pub event_categories: &'a [String],
}

impl EngageError {
    /// A call that changes something failed after it may have reached the platform: no answer,
    /// or a 5xx (a proxy's 502 after the platform did the work). Checked before it is repeated.
    pub fn may_have_happened(&self) -> bool {
        matches!(self, Self::Transport(_) | Self::Server { .. } | Self::Decode(_))
    }
}

/// A failed change: uncertain, to retry, or refused for good.
fn change_failed(err: EngageError) -> EffectError {
    if err.may_have_happened() { EffectError::Uncertain(err.to_string()) } else { read_failed(err) }
}

/// A failed read: nothing was changed, so it is only ever retried or refused.
fn read_failed(err: EngageError) -> EffectError {
    if err.is_transient() {
        return EffectError::Retry(err.to_string());
    }
    warn!(error = %err, code = %err.code(), "refused by the platform for good");
    EffectError::Refused(err.code())
}

/// A change the effect expects the platform may refuse (logged, not retried); anything
/// uncertain or transient still is.
fn expected_refusal(err: EngageError, what: &str) -> Result<Made, EffectError> {
    if err.may_have_happened() || err.is_transient() {
        return Err(change_failed(err));
    }
    warn!(error = %err, code = %err.code(), "{what}");
    Ok(Made::Refused)
}

impl EngageEffects<'_> {
    /// BOT to AGENT for a handover, AGENT to BOT for a rebot.
    fn switch(&self, effect: &Effect) -> (&str, &str) {
        let engage = &self.flow.settings.engage;
        match effect {
            Effect::GiveBack => (&engage.agent_category_id, &engage.bot_category_id),
            _ => (&engage.bot_category_id, &engage.agent_category_id),
        }
    }

    async fn recategorize(
        &self,
        thread: &ThreadState,
        journal: &mut Journal,
        index: usize,
    ) -> Result<Made, EffectError> {
        if journal.new_categories.is_none() {
            let current = match &thread.categories {
                Some(known) => known.clone(),
                None if !self.event_categories.is_empty() => self.event_categories.to_vec(),
                None => {
                    self.flow
                        .engage
                        .get_thread(self.thread_id)
                        .await
                        .map_err(read_failed)?
                        .thread_category_ids
                }
            };
            let (remove, add) = self.switch(&journal.effects[index].effect);
            journal.new_categories = Some(decide::switch_category(&current, remove, add));
        }
        let categories = journal.new_categories.as_deref().unwrap_or_default();
        // 409 (being categorized) and 429 are retried with backoff inside the client.
        self.flow.engage.update_thread_categories(self.thread_id, categories).await.map_err(change_failed)?;
        Ok(Made::Done)
    }

    async fn open_intervention(&self, journal: &mut Journal) -> Result<Made, EffectError> {
        match self.flow.engage.create_intervention(self.content_id).await {
            Ok(intervention) => {
                journal.intervention_id = Some(intervention.id);
                journal.intervention_user_id = intervention.user_id;
                Ok(Made::Done)
            }
            Err(err) if err.may_have_happened() || err.is_transient() => Err(change_failed(err)),
            // A 422 is logged and the turn goes on (CONTRACT C6); an intervention opened
            // meanwhile is named by the content.
            Err(err) => {
                warn!(error = %err, code = %err.code(), "intervention not opened; the turn goes on");
                match self.intervention_of_content().await {
                    Ok(Some(id)) => {
                        journal.intervention_id = Some(id);
                        Ok(Made::Done)
                    }
                    Ok(None) => Ok(Made::Refused),
                    Err(err) => Err(err),
                }
            }
        }
    }

    /// The intervention the content belongs to, if any (a content that cannot be read has none).
    async fn intervention_of_content(&self) -> Result<Option<String>, EffectError> {
        match self.flow.engage.get_content(self.content_id).await {
            Ok(content) => Ok(content.intervention_id),
            Err(err) if err.is_transient() => Err(read_failed(err)),
            Err(err) => {
                warn!(error = %err, code = %err.code(), "content not readable; intervention unknown");
                Ok(None)
            }
        }
    }

    async fn resolve(&self, thread: &ThreadState, journal: &Journal) -> Result<Made, EffectError> {
        let Some(id) = journal.intervention_id.as_ref().or(thread.bot_intervention_id.as_ref()) else {
            return Ok(Made::Done);
        };
        match self.flow.engage.close_intervention(id).await {
            Ok(_) => Ok(Made::Done),
            // 403 (no agent reply yet, closed already) and 409 (being closed): logged, not
            // retried (CONTRACT C6).
            Err(err @ (EngageError::Forbidden { .. } | EngageError::Conflict { .. })) => {
                warn!(error = %err, code = %err.code(), "intervention not closed");
                Ok(Made::Refused)
            }
            Err(err) => expected_refusal(err, "intervention not closed"),
        }
    }

    /// The agent's briefing, on the bot's intervention as its user. A refusal (403, 404, 422)
    /// is logged and never blocks the handover; a failure that may have reached the platform is
    /// read back before the note is written again, as for any effect.
    async fn note(
        &self,
        thread: &ThreadState,
        journal: &mut Journal,
        body: &str,
    ) -> Result<Made, EffectError> {
        let Some(intervention) =
            journal.intervention_id.clone().or_else(|| thread.bot_intervention_id.clone())
        else {
            return Ok(Made::Refused);
        };
        let known_user =
            journal.intervention_user_id.clone().or_else(|| thread.bot_intervention_user_id.clone());
        let user = match known_user {
            Some(user) => Some(user),
            None => self.flow.engage.get_intervention(&intervention).await.ok().and_then(|i| i.user_id),
        };
        let Some(user) = user else {
            warn!("the bot's intervention names no user; briefing left out");
            return Ok(Made::Refused);
        };
        journal.intervention_user_id = Some(user.clone());
        match self.flow.engage.create_intervention_comment(&intervention, &user, body).await {
            Ok(_) => Ok(Made::Done),
            Err(err) => expected_refusal(err, "agent briefing refused; the handover goes on"),
        }
    }

    /// After a crash: whether the intervention already has this briefing.
    async fn note_was_made(
        &self,
        thread: &ThreadState,
        journal: &Journal,
        body: &str,
    ) -> Result<bool, EffectError> {
        let Some(intervention) = journal.intervention_id.as_ref().or(thread.bot_intervention_id.as_ref())
        else {
            return Ok(false);
        };
        let comments = self.flow.engage.intervention_comments(intervention).await.map_err(read_failed)?;
        Ok(comments.iter().any(|c| c.body.as_deref() == Some(body)))
    }

    /// How many replies to the customer's content the thread has (newest page).
    async fn replies_on_platform(&self) -> Result<usize, EffectError> {
        let contents = self.flow.engage.thread_contents(self.thread_id).await.map_err(read_failed)?;
        Ok(contents.iter().filter(|c| c.in_reply_to_id.as_deref() == Some(self.content_id)).count())
    }
}

#[async_trait::async_trait]
impl Platform for EngageEffects<'_> {
    async fn make(
        &self,
        thread: &ThreadState,
        journal: &mut Journal,
        index: usize,
    ) -> Result<Made, EffectError> {
        let engage = &self.flow.engage;
        match &journal.effects[index].effect {
            Effect::Open => self.open_intervention(journal).await,
            reply @ (Effect::Reply { .. } | Effect::BotReply { .. }) => {
                let text = journal.message(reply).unwrap_or_default();
                match engage.create_reply(self.content_id, &text).await {
                    Ok(_) => Ok(Made::Done),
                    // The platform will never accept it (thread closed, no right to reply).
                    Err(err) => expected_refusal(err, "reply refused; the remaining messages are dropped"),
                }
            }
            Effect::HandOver | Effect::GiveBack => self.recategorize(thread, journal, index).await,
            Effect::Resolve => self.resolve(thread, journal).await,
            Effect::Note { body } => {
                let body = body.clone();
                self.note(thread, journal, &body).await
            }
            Effect::CloseThread => match engage.close_thread(self.thread_id).await {
                Ok(_) => Ok(Made::Done),
                // Many source types cannot be closed (403).
                Err(err) => expected_refusal(err, "thread not closed"),
            },
        }
    }

    async fn was_made(
        &self,
        thread: &ThreadState,
        journal: &mut Journal,
        index: usize,
    ) -> Result<bool, EffectError> {
        let effect = journal.effects[index].effect.clone();
        match effect {
            Effect::Open => {
                let id = self.intervention_of_content().await?;
                let made = id.is_some();
                journal.intervention_id = id.or(journal.intervention_id.take());
                Ok(made)
            }
            Effect::Reply { .. } | Effect::BotReply { .. } => {
                // Replies are posted in order: the platform holding more replies to the content
                // than this one's place among them means this one is there.
                let place = journal.effects[..index].iter().filter(|e| e.effect.is_reply()).count();
                Ok(self.replies_on_platform().await? > place)
            }
            Effect::HandOver | Effect::GiveBack => {
                let current = self
                    .flow
                    .engage
                    .get_thread(self.thread_id)
                    .await
                    .map_err(read_failed)?
                    .thread_category_ids;
                let (remove, add) = self.switch(&effect);
                let made = current.iter().any(|c| c == add) && !current.iter().any(|c| c == remove);
                if made {
                    journal.new_categories = Some(current);
                }
                Ok(made)
            }
            Effect::Note { body } => self.note_was_made(thread, journal, &body).await,
            // Closing again is refused when it was closed: that refusal counts as made.
            Effect::Resolve | Effect::CloseThread => Ok(false),
        }
    }
}
