use super::*;
use crate::bot::BotAnswer;
use crate::bot::{BotAction, HistoryEntry, MemoryLimits};
use crate::config::ReopenPolicy;
use crate::config::{EngageSettings, FlowSettings, NoAgentPolicy};
use crate::engage::client::{AgentStatus, Channel};
use crate::engage::{ContentEvent, InterventionEvent};
use crate::secret::Secret;
use crate::store::{
    BotOutcome, Effect, EffectState, HandoverDecision, Journal, JournalEntry, Owner, ThreadState,
};

/// A journal whose `effect` is done.
fn made(effect: Effect) -> Journal {
    Journal { effects: vec![JournalEntry { effect, state: EffectState::Done }], ..Journal::default() }
}
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
        requests_per_minute: None,
    }
}

fn flow() -> FlowSettings {
    FlowSettings {
        open_interventions: true,
        close_thread_on_resolve: false,
        reopen_policy: ReopenPolicy::Bot,
        no_agent_policy: NoAgentPolicy::Stay,
        texts: crate::config::Texts {
            handover: crate::texts::Localized::everywhere("handing"),
            no_agent: crate::texts::Localized::everywhere("none"),
            closed: closed_texts(),
        },
        default_language: "en".into(),
        agent_briefing: true,
        availability_cache: Duration::from_secs(30),
        max_bot_failures: 2,
        emergency_cache: Duration::ZERO,
        business_hours: true,
        closed_policy: crate::config::ClosedPolicy::Stay,
    }
}

/// `Back {next_open}.` in English (the default), `De retour {next_open}.` in French.
fn closed_texts() -> crate::texts::Localized {
    let env: std::collections::HashMap<&str, &str> = std::collections::HashMap::from([
        ("CLOSED_MESSAGE", "Back {next_open}."),
        ("CLOSED_MESSAGE_FR", "De retour {next_open}."),
    ]);
    crate::config::Texts::from_env(&env, "en").closed
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
    assert_eq!(closed_hours_decision("s1", &with(ClosedPolicy::Handover), &engage), HandoverDecision::Agents);
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
    // German keeps its built-in text; a language the product does not speak gets the default's.
    assert!(closed_message(&flow(), Some("de"), "Montag 09:00 (CET)").contains("Montag 09:00 (CET) wieder"));
    assert_eq!(closed_message(&flow(), Some("ja"), "Monday 09:00 (CET)"), "Back Monday 09:00 (CET).");
    assert_eq!(closed_message(&flow(), None, "Monday 09:00 (CET)"), "Back Monday 09:00 (CET).");

    // The closed message replaces the handover or no-agent message.
    let plan = TurnPlan {
        replies: vec!["Sure".into()],
        resolve: false,
        handover: Some("asked_for_agent".into()),
        fallback: false,
    };
    for decision in [HandoverDecision::Agents, HandoverDecision::StayWithBot] {
        let journal = Journal {
            handover: Some(decision),
            closed_message: Some("Back Monday.".into()),
            ..answered_with(&["Sure"])
        };
        assert_eq!(messages(&plan, &journal, &flow()), vec!["Sure", "Back Monday."]);
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
    assert_eq!(bot_turn(&customer_message(), &ThreadState::new("t1"), &engage(), false), Ok(Turn::AskBot));
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
        (ContentEvent { status: Some("replied".into()), ..customer_message() }, NotForBot::NotFromCustomer),
        (ContentEvent { status: Some("ignored".into()), ..customer_message() }, NotForBot::NotFromCustomer),
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
fn an_intervention_is_opened_on_a_first_message_without_one() {
    let thread = ThreadState::new("t1");
    assert!(should_open_intervention(&customer_message(), &thread, &flow()));
    let follow_up = ContentEvent { first_in_thread: false, ..customer_message() };
    assert!(!should_open_intervention(&follow_up, &thread, &flow()));
    let has_one = ContentEvent { intervention_id: Some("i0".into()), ..customer_message() };
    assert!(!should_open_intervention(&has_one, &thread, &flow()));
    let off = FlowSettings { open_interventions: false, ..flow() };
    assert!(!should_open_intervention(&customer_message(), &thread, &off));
    let thread_has_one = ThreadState { bot_intervention_id: Some("i1".into()), ..thread };
    assert!(!should_open_intervention(&customer_message(), &thread_has_one, &flow()));
}

fn answered(replies: &[&str], action: BotAction, reason: Option<&str>) -> BotOutcome {
    BotOutcome::Answered(BotAnswer {
        summary: None,
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

    let plan =
        plan_turn(&answered(&["One moment"], BotAction::Handover, Some("asked_for_agent")), &thread, &flow());
    assert_eq!(plan.handover.as_deref(), Some("asked_for_agent"));
    assert_eq!(plan.replies, vec!["One moment"]);

    let plan = plan_turn(&BotOutcome::Failed { reason: "bot_timeout".into() }, &thread, &flow());
    assert_eq!(
        plan,
        TurnPlan { replies: vec![], resolve: false, handover: Some("bot_timeout".into()), fallback: false }
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
    let progress = Journal { intervention_id: Some("i1".into()), ..made(Effect::Open) };
    let plan = TurnPlan { replies: vec!["Sorry?".into()], resolve: false, handover: None, fallback: true };
    let next = thread_after_turn(&ThreadState::new("t1"), &content, &plan, &progress, 42);
    assert_eq!(next.bot_intervention_id.as_deref(), Some("i1"));
    assert_eq!(next.consecutive_fallbacks, 1);
    assert_eq!(next.source_id.as_deref(), Some("s1"));
    assert_eq!(next.updated_at_ms, 42);

    let resolved = made(Effect::Resolve);
    let plan = TurnPlan { replies: vec![], resolve: true, handover: None, fallback: false };
    let after = thread_after_turn(&next, &content, &plan, &resolved, 43);
    assert_eq!(after.bot_intervention_id, None);
    assert_eq!(after.consecutive_fallbacks, 0);

    let plan =
        TurnPlan { replies: vec![], resolve: false, handover: Some("bot_timeout".into()), fallback: false };
    let after = thread_after_turn(&next, &content, &plan, &Journal::default(), 44);
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
    assert_eq!(switch_category(&list(&["x", "AGENT", "x", "BOT"]), "BOT", "AGENT"), list(&["x", "AGENT"]));
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
    let decided = |decision: Option<HandoverDecision>| Journal {
        handover: decision,
        ..answered_with(&["One moment", "<p></p>"])
    };
    let agents = decided(Some(HandoverDecision::Agents));
    assert_eq!(messages(&plan, &agents, &flow()), vec!["One moment", "handing"]);
    assert_eq!(
        messages(&plan, &decided(Some(HandoverDecision::StayWithBot)), &flow()),
        vec!["One moment", "none"]
    );
    assert_eq!(messages(&plan, &decided(None), &flow()), vec!["One moment"]);
    let silent = FlowSettings {
        texts: crate::config::Texts { handover: crate::texts::Localized::everywhere(""), ..flow().texts },
        ..flow()
    };
    assert_eq!(messages(&plan, &agents, &silent), vec!["One moment"]);
    // The bot's replies are kept once, in its answer: the effects point at them.
    assert_eq!(reply_effects(&plan, &decided(None), &flow(), None), vec![Effect::BotReply { index: 0 }]);
    // Replies dropped by the plan (MAX_BOT_FAILURES) are not posted.
    let dropped = TurnPlan { replies: vec![], ..plan };
    assert_eq!(messages(&dropped, &agents, &flow()), vec!["handing"]);
}

/// A journal with the bot's answer `replies`.
fn answered_with(replies: &[&str]) -> Journal {
    Journal { bot: Some(answered(replies, BotAction::None, None)), ..Journal::default() }
}

/// The texts a turn posts.
fn messages(plan: &TurnPlan, journal: &Journal, flow: &FlowSettings) -> Vec<String> {
    reply_effects(plan, journal, flow, None).iter().filter_map(|effect| journal.message(effect)).collect()
}

#[test]
fn a_completed_handover_gives_the_thread_to_the_agents() {
    let content = ContentEvent { issued_at: Some("2026-01-01T00:00:00Z".into()), ..customer_message() };
    let plan = TurnPlan { replies: vec![], resolve: false, handover: Some("asked".into()), fallback: false };
    let done = Journal {
        handover: Some(HandoverDecision::Agents),
        new_categories: Some(vec!["OTHER".into(), "AGENT".into()]),
        ..made(Effect::HandOver)
    };
    let thread = ThreadState { consecutive_fallbacks: 1, ..ThreadState::new("t1") };
    let next = thread_after_turn(&thread, &content, &plan, &done, 7);
    assert_eq!(next.owner, Owner::Agent);
    assert_eq!(next.categories, Some(vec!["OTHER".into(), "AGENT".into()]));
    assert_eq!(next.pending_handover, None);
    assert_eq!(next.owner_changed_at.as_deref(), Some("2026-01-01T00:00:00Z"));

    let stayed = Journal { handover: Some(HandoverDecision::StayWithBot), ..Journal::default() };
    let next = thread_after_turn(&thread, &content, &plan, &stayed, 7);
    assert_eq!((next.owner, next.pending_handover, next.consecutive_fallbacks), (Owner::Bot, None, 0));

    // A turn that finishes after someone else handed the thread over never takes it back.
    let taken = ThreadState { owner: Owner::Agent, ..ThreadState::new("t1") };
    let plain = TurnPlan { replies: vec!["hi".into()], resolve: false, handover: None, fallback: false };
    assert_eq!(thread_after_turn(&taken, &content, &plain, &Journal::default(), 8).owner, Owner::Agent);
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
    let transferred = made(Effect::HandOver);
    assert_eq!(interaction_after_turn(&accepted, &handover, &transferred, 1).owner, Owner::Agent);
    let failed = interaction_after_turn(&accepted, &handover, &Journal::default(), 1);
    assert_eq!(
        (failed.owner, failed.pending_handover.as_deref()),
        (Owner::Bot, Some("transfer failed: asked"))
    );
    let resolve = TurnPlan { replies: vec![], resolve: true, handover: None, fallback: false };
    let finished = made(Effect::Resolve);
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

#[test]
fn a_message_issued_before_the_thread_last_changed_hands_is_not_the_bots() {
    let earlier = ContentEvent { issued_at: Some("2026-01-01T10:00:00Z".into()), ..customer_message() };
    let given_back =
        ThreadState { owner_changed_at: Some("2026-01-01T11:00:00Z".into()), ..ThreadState::new("t1") };
    assert_eq!(bot_turn(&earlier, &given_back, &engage(), false), Err(NotForBot::Stale));
    let later = ContentEvent { issued_at: Some("2026-01-01T12:00:00Z".into()), ..customer_message() };
    assert_eq!(bot_turn(&later, &given_back, &engage(), false), Ok(Turn::AskBot));
    let unknown_time = ContentEvent { issued_at: None, ..customer_message() };
    assert_eq!(bot_turn(&unknown_time, &given_back, &engage(), false), Ok(Turn::AskBot));
}
