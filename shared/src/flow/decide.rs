//! Decisions as pure functions over plain data: the webhook event, the thread's state, the
//! configuration and the bot's answer in; what to do out. Every rule of CONTRACT C6 is a unit
//! test here; the executor only performs what these functions say.

use crate::bot::BotAction;
use crate::config::{EngageSettings, FlowSettings};
use crate::engage::ContentEvent;
use crate::store::{BotOutcome, EventProgress, Owner, ThreadState};
use crate::text::to_plain_text;

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

/// Is this content the bot's to answer? (CONTRACT C6)
pub fn bot_turn(
    content: &ContentEvent,
    thread: &ThreadState,
    engage: &EngageSettings,
) -> Result<(), NotForBot> {
    if !content
        .category_ids
        .iter()
        .any(|c| c == &engage.bot_category_id)
    {
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
    Ok(())
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
        BotOutcome::Failed { reason } => {
            return TurnPlan {
                replies: vec![],
                resolve: false,
                handover: Some(reason.clone()),
                fallback: false,
            };
        }
        BotOutcome::Answered(answer) => answer,
    };
    let replies: Vec<String> = answer
        .replies
        .iter()
        .map(|r| to_plain_text(r))
        .filter(|r| !r.is_empty())
        .collect();
    let fallback = answer.is_fallback();
    match answer.action {
        BotAction::Handover => TurnPlan {
            replies,
            resolve: false,
            handover: Some(
                answer
                    .reason
                    .clone()
                    .unwrap_or_else(|| "bot_handover".into()),
            ),
            fallback: false,
        },
        BotAction::Resolve => TurnPlan {
            replies,
            resolve: true,
            handover: None,
            fallback: false,
        },
        BotAction::None
            if fallback && thread.consecutive_fallbacks + 1 >= flow.max_bot_failures.max(1) =>
        {
            // The customer has not been understood repeatedly: another "sorry?" helps nobody.
            TurnPlan {
                replies: vec![],
                resolve: false,
                handover: Some("max_bot_failures".into()),
                fallback,
            }
        }
        BotAction::None => TurnPlan {
            replies,
            resolve: false,
            handover: None,
            fallback,
        },
    }
}

/// The thread's state after a completed bot turn.
pub fn thread_after_turn(
    thread: &ThreadState,
    content: &ContentEvent,
    plan: &TurnPlan,
    progress: &EventProgress,
    now_ms: i64,
) -> ThreadState {
    let mut next = thread.clone();
    next.source_id = Some(content.source_id.clone());
    if let Some(id) = &progress.intervention_id {
        next.bot_intervention_id = Some(id.clone());
    }
    if plan.resolve && progress.intervention_closed {
        next.bot_intervention_id = None;
    }
    next.consecutive_fallbacks = if plan.fallback {
        thread.consecutive_fallbacks + 1
    } else {
        0
    };
    if let Some(reason) = &plan.handover {
        next.pending_handover = Some(reason.clone());
        next.consecutive_fallbacks = 0;
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
            verify_token: Secret::new("v"),
            webhook_secret: None,
            bot_category_id: "BOT".into(),
            agent_category_id: "AGENT".into(),
            bot_source_ids: Some(vec!["s1".into()]),
            async_source_ids: vec![],
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
            bot_turn(&customer_message(), &ThreadState::new("t1"), &engage()),
            Ok(())
        );
    }

    #[test]
    fn everything_else_is_only_recorded() {
        let thread = ThreadState::new("t1");
        let cases: Vec<(ContentEvent, NotForBot)> = vec![
            (
                ContentEvent {
                    category_ids: vec!["AGENT".into()],
                    ..customer_message()
                },
                NotForBot::NotBotCategory,
            ),
            (
                ContentEvent {
                    category_ids: vec![],
                    ..customer_message()
                },
                NotForBot::NotBotCategory,
            ),
            (
                ContentEvent {
                    source_id: "s2".into(),
                    ..customer_message()
                },
                NotForBot::SourceNotManaged,
            ),
            (
                ContentEvent {
                    creator_id: Some("bot-user".into()),
                    ..customer_message()
                },
                NotForBot::NotFromCustomer,
            ),
            (
                ContentEvent {
                    status: Some("replied".into()),
                    ..customer_message()
                },
                NotForBot::NotFromCustomer,
            ),
            (
                ContentEvent {
                    status: Some("ignored".into()),
                    ..customer_message()
                },
                NotForBot::NotFromCustomer,
            ),
        ];
        for (content, reason) in cases {
            assert_eq!(
                bot_turn(&content, &thread, &engage()),
                Err(reason),
                "{content:?}"
            );
        }
        let handed_over = ThreadState {
            owner: Owner::Agent,
            ..ThreadState::new("t1")
        };
        assert_eq!(
            bot_turn(&customer_message(), &handed_over, &engage()),
            Err(NotForBot::HandedOver)
        );
    }

    #[test]
    fn all_sources_are_the_bots_without_a_source_list() {
        let settings = EngageSettings {
            bot_source_ids: None,
            ..engage()
        };
        let content = ContentEvent {
            source_id: "anything".into(),
            ..customer_message()
        };
        assert_eq!(
            bot_turn(&content, &ThreadState::new("t1"), &settings),
            Ok(())
        );
    }

    #[test]
    fn an_intervention_is_opened_once_on_a_first_message_without_one() {
        let thread = ThreadState::new("t1");
        let none = EventProgress::default();
        assert!(should_open_intervention(
            &customer_message(),
            &thread,
            &none,
            &flow()
        ));
        let follow_up = ContentEvent {
            first_in_thread: false,
            ..customer_message()
        };
        assert!(!should_open_intervention(
            &follow_up,
            &thread,
            &none,
            &flow()
        ));
        let has_one = ContentEvent {
            intervention_id: Some("i0".into()),
            ..customer_message()
        };
        assert!(!should_open_intervention(&has_one, &thread, &none, &flow()));
        let done = EventProgress {
            intervention_step_done: true,
            ..EventProgress::default()
        };
        assert!(!should_open_intervention(
            &customer_message(),
            &thread,
            &done,
            &flow()
        ));
        let off = FlowSettings {
            open_interventions: false,
            ..flow()
        };
        assert!(!should_open_intervention(
            &customer_message(),
            &thread,
            &none,
            &off
        ));
        let thread_has_one = ThreadState {
            bot_intervention_id: Some("i1".into()),
            ..thread
        };
        assert!(!should_open_intervention(
            &customer_message(),
            &thread_has_one,
            &none,
            &flow()
        ));
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
        let plan = plan_turn(
            &answered(&["<b>Hi</b>", "  "], BotAction::None, None),
            &thread,
            &flow(),
        );
        assert_eq!(
            plan,
            TurnPlan {
                replies: vec!["Hi".into()],
                resolve: false,
                handover: None,
                fallback: false
            }
        );

        let plan = plan_turn(
            &answered(&["Bye"], BotAction::Resolve, None),
            &thread,
            &flow(),
        );
        assert!(plan.resolve);
        assert_eq!(plan.replies, vec!["Bye"]);

        let plan = plan_turn(
            &answered(
                &["One moment"],
                BotAction::Handover,
                Some("asked_for_agent"),
            ),
            &thread,
            &flow(),
        );
        assert_eq!(plan.handover.as_deref(), Some("asked_for_agent"));
        assert_eq!(plan.replies, vec!["One moment"]);

        let plan = plan_turn(
            &BotOutcome::Failed {
                reason: "bot_timeout".into(),
            },
            &thread,
            &flow(),
        );
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
        let after_one = ThreadState {
            consecutive_fallbacks: 1,
            ..ThreadState::new("t1")
        };
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
        let plan = TurnPlan {
            replies: vec!["Sorry?".into()],
            resolve: false,
            handover: None,
            fallback: true,
        };
        let next = thread_after_turn(&ThreadState::new("t1"), &content, &plan, &progress, 42);
        assert_eq!(next.bot_intervention_id.as_deref(), Some("i1"));
        assert_eq!(next.consecutive_fallbacks, 1);
        assert_eq!(next.source_id.as_deref(), Some("s1"));
        assert_eq!(next.updated_at_ms, 42);

        let resolved = EventProgress {
            intervention_closed: true,
            ..EventProgress::default()
        };
        let plan = TurnPlan {
            replies: vec![],
            resolve: true,
            handover: None,
            fallback: false,
        };
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
}
