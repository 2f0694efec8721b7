//! One suite for both stores: the same semantics from the in-memory store and from DynamoDB
//! (Amazon's DynamoDB Local).

use std::sync::Arc;

use handover_core::bot::BotAnswer;
use handover_core::store::{
    BotOutcome, Claim, Effect, EffectState, EmergencyState, Generation, HourStats, Journal, JournalEntry,
    Lease, Owner, Span, Store, StoreError, SummariesRead, Summary, ThreadState, claim_of,
};

use crate::helpers::{StoreKind, new_store};

const LEASE_MS: i64 = 60_000;

/// Claims as the flows do: one load, a pure decision at `now`.
async fn claim(store: &Arc<dyn Store>, thread: &str, event: &str, now: i64) -> Claim {
    let (state, record) = store.load_event(thread, event).await.unwrap();
    claim_of(state, record, event, now, LEASE_MS)
}

fn granted(claim: Claim) -> (Lease, Journal, ThreadState) {
    match claim {
        Claim::Granted { lease, journal, thread } => (lease, journal, thread),
        other => panic!("expected a granted claim, got {other:?}"),
    }
}

fn answered() -> Journal {
    Journal {
        effects: vec![
            JournalEntry::planned(Effect::Open),
            JournalEntry::planned(Effect::Reply { text: "hi".into() }),
        ],
        intervention_id: Some("i1".into()),
        bot: Some(BotOutcome::Answered(BotAnswer { replies: vec!["hi".into()], ..BotAnswer::default() })),
        ..Journal::default()
    }
}

fn now() -> i64 {
    handover_core::now_millis()
}

async fn claims_and_leases(store: Arc<dyn Store>) {
    let (mut lease, progress, thread) = granted(claim(&store, "t1", "e1", now()).await);
    assert_eq!(progress, Journal::default());
    assert_eq!(thread, ThreadState::new("t1"));
    // Nothing is written until the first save, which is the claim.
    assert!(!lease.written);
    store.save_journal(&mut lease, &answered()).await.unwrap();
    assert!(lease.written);
    assert_eq!(claim(&store, "t1", "e1", now()).await, Claim::Busy);

    // A second delivery that loaded before the claim loses its own claim.
    let (mut late, _, _) = granted(claim_of(ThreadState::new("t1"), None, "e1", now(), LEASE_MS));
    assert_eq!(store.save_journal(&mut late, &answered()).await, Err(StoreError::LeaseLost("e1".into())));

    // The lease expires (a crash): the next delivery takes over with the saved progress, and
    // the old holder can no longer write.
    let (mut new_lease, resumed, _) = granted(claim(&store, "t1", "e1", now() + LEASE_MS + 1).await);
    assert!(new_lease.after_crash);
    assert_eq!(resumed, answered());
    store.save_journal(&mut new_lease, &resumed).await.unwrap();
    assert_eq!(store.save_journal(&mut lease, &answered()).await, Err(StoreError::LeaseLost("e1".into())));

    store.finish_event(&new_lease, None).await.unwrap();
    assert_eq!(claim(&store, "t1", "e1", now() + 10 * LEASE_MS).await, Claim::Done);
}

async fn released_events_resume_at_once(store: Arc<dyn Store>) {
    let (mut lease, _, _) = granted(claim(&store, "t2", "e2", now()).await);
    store.save_journal(&mut lease, &answered()).await.unwrap();
    let mut saved = answered();
    saved.effects[0].state = EffectState::Done;
    saved.effects[1].state = EffectState::Uncertain;
    store.release_event(&lease, &saved).await.unwrap();
    let (lease, resumed, _) = granted(claim(&store, "t2", "e2", now()).await);
    assert_eq!(resumed, saved);
    assert!(!lease.after_crash, "a released event was not a crash");
}

async fn a_committed_event_is_done_and_later_events_are_new(store: Arc<dyn Store>) {
    let (mut first, _, thread) = granted(claim(&store, "t3", "a", now()).await);
    store.save_journal(&mut first, &answered()).await.unwrap();
    store.finish_event(&first, Some(&ThreadState { bot_turns: 1, ..thread })).await.unwrap();
    assert_eq!(claim(&store, "t3", "a", now()).await, Claim::Done);
    let (mut second, progress, thread) = granted(claim(&store, "t3", "b", now()).await);
    assert_eq!((progress, thread.bot_turns, thread.events_committed), (Journal::default(), 1, 1));
    store.save_journal(&mut second, &answered()).await.unwrap();
    // A finish without a thread change still commits the event.
    store.finish_event(&second, None).await.unwrap();
    assert_eq!(claim(&store, "t3", "b", now()).await, Claim::Done);
    assert_eq!(claim(&store, "t3", "a", now()).await, Claim::Done);
}

/// An event that changes no thread leaves a mark of its own: a redelivery hours later (past
/// the queue's deduplication) finds it done, and the thread is not written.
async fn a_marked_event_is_done_without_a_thread_write(store: Arc<dyn Store>) {
    let (mut lease, _, _) = granted(claim(&store, "t4", "m", now()).await);
    let mark = Journal { marked: Some("handed_over".into()), ..Journal::default() };
    store.save_journal(&mut lease, &mark).await.unwrap();
    assert_eq!(claim(&store, "t4", "m", now() + 10 * LEASE_MS).await, Claim::Done);
    let thread = store.get_thread("t4").await.unwrap();
    assert_eq!((thread.version, thread.events_committed), (0, 0));
}

async fn threads_are_versioned(store: Arc<dyn Store>) {
    assert_eq!(store.get_thread("t4").await.unwrap(), ThreadState::new("t4"));
    let fresh = ThreadState { categories: Some(vec!["a".into(), "b".into()]), ..ThreadState::new("t4") };
    store.save_thread(&fresh).await.unwrap();
    let stored = store.get_thread("t4").await.unwrap();
    assert_eq!(stored.version, 1);
    assert_eq!(stored.categories, Some(vec!["a".into(), "b".into()]));

    // A second writer that read version 0 loses.
    assert_eq!(store.save_thread(&fresh).await, Err(StoreError::ThreadConflict("t4".into())));

    let handed_over = ThreadState { owner: Owner::Agent, ..stored.clone() };
    store.save_thread(&handed_over).await.unwrap();
    assert_eq!(store.save_thread(&stored).await, Err(StoreError::ThreadConflict("t4".into())));
    let current = store.get_thread("t4").await.unwrap();
    assert_eq!((current.owner, current.version), (Owner::Agent, 2));

    // The load reads the thread as stored.
    let (_, _, claimed) = granted(claim(&store, "t4", "e4", now()).await);
    assert_eq!(claimed, current);
}

async fn finishing_is_conditional_on_the_thread(store: Arc<dyn Store>) {
    let (mut lease, _, thread) = granted(claim(&store, "t5", "e5", now()).await);
    store.save_journal(&mut lease, &answered()).await.unwrap();
    // Someone else saves the thread meanwhile.
    store.save_thread(&ThreadState { owner: Owner::Agent, ..thread.clone() }).await.unwrap();
    let stale = ThreadState { consecutive_fallbacks: 1, ..thread };
    assert_eq!(store.finish_event(&lease, Some(&stale)).await, Err(StoreError::ThreadConflict("t5".into())));
    // Nothing happened: the event is not done, the thread unchanged.
    assert!(matches!(claim(&store, "t5", "e5", now()).await, Claim::Busy));
    let current = store.get_thread("t5").await.unwrap();
    assert_eq!(
        (current.owner, current.consecutive_fallbacks, current.events_committed),
        (Owner::Agent, 0, 0)
    );
    let next = ThreadState { consecutive_fallbacks: 1, ..current };
    store.finish_event(&lease, Some(&next)).await.unwrap();
    let saved = store.get_thread("t5").await.unwrap();
    assert_eq!((saved.owner, saved.consecutive_fallbacks, saved.version), (Owner::Agent, 1, 2));
    assert_eq!(claim(&store, "t5", "e5", now()).await, Claim::Done);
}

async fn statistics_facts_count_once(store: Arc<dyn Store>) {
    let entries = handover_core::analytics::session(3_600_000 * 100 + 120_000, "c1", "u1");
    store.record_stats(&entries, now()).await.unwrap();
    store.record_stats(&entries, now()).await.unwrap();
    let hours = store.read_stats(99, 101).await.unwrap();
    assert_eq!(hours.len(), 1);
    assert_eq!((hours[0].hour, hours[0].sessions.clone()), (100, vec!["02|c1|u1".to_string()]));
    assert!(store.read_stats(101, 200).await.unwrap().is_empty());
}

/// Issue 26's roll-up race: a summary is kept only at the generation its roll-up read before
/// reading the facts; a late fact moves its span on and drops its summary.
async fn a_summary_is_kept_only_at_the_generation_its_roll_up_read(store: Arc<dyn Store>) {
    use handover_core::analytics::session;
    let (hour, span) = (100, Span::hour(100));
    let at = hour * 3_600_000 + 60_000;
    store.record_stats(&session(at, "c1", "u1"), at + 1_000).await.unwrap();
    let read = store.read_summaries(&[span]).await.unwrap();
    assert_eq!(read, SummariesRead { found: vec![], missing: vec![(span, Generation::default())] });
    let without_late = Summary::of_facts(span, &store.read_stats(hour, hour).await.unwrap());

    // A fact comes in late while the hour is rolled up: that roll-up is refused.
    let late_at = now();
    store.record_stats(&session(at + 60_000, "c2", "u2"), late_at).await.unwrap();
    let refused = Err(StoreError::SpanChanged { first_hour: hour, hours: 1 });
    assert_eq!(store.write_summary(&without_late, Generation::default()).await, refused);
    let generation = Generation { count: 1, late_at_ms: Some(late_at) };
    let read = store.read_summaries(&[span, Span::day(4)]).await.unwrap();
    assert_eq!(read.missing, vec![(span, generation), (Span::day(4), generation)], "its day too");

    // The next roll-up reads the new generation and is kept, written again the same.
    let with_late = Summary::of_facts(span, &store.read_stats(hour, hour).await.unwrap());
    store.write_summary(&with_late, generation).await.unwrap();
    store.write_summary(&with_late, generation).await.unwrap();
    // The stale roll-up, arriving after it, changes nothing.
    assert_eq!(store.write_summary(&without_late, Generation::default()).await, refused);
    let read = store.read_summaries(&[span]).await.unwrap();
    assert_eq!((read.found, read.missing), (vec![with_late], vec![]));

    // A later late fact drops it again.
    store.record_stats(&session(at + 120_000, "c3", "u3"), now()).await.unwrap();
    let read = store.read_summaries(&[span]).await.unwrap();
    assert!(read.found.is_empty());
    assert_eq!(read.missing.iter().map(|(_, g)| g.count).collect::<Vec<_>>(), vec![2]);
}

/// A summary larger than one item (a busy hour's sampled customers and conversations) is read
/// back whole, and a stale roll-up's parts never mix with the kept one's.
async fn a_summary_of_many_parts_is_read_back_whole(store: Arc<dyn Store>) {
    let span = Span::hour(200);
    let hour_of = |sessions: usize, tag: &str| HourStats {
        hour: 200,
        sessions: (0..sessions).map(|i| format!("{:02}|{tag}{i}|{tag}u{i}", i % 60)).collect(),
        interventions: (0..sessions / 5)
            .map(|i| format!("{:02}|{tag}{i}|e{i}|bot_timeout|0", i % 60))
            .collect(),
    };
    let stale = Summary::of_facts(span, &[hour_of(45_000, "old")]);
    let kept = Summary::of_facts(span, &[hour_of(44_000, "new")]);
    assert!(kept.encode().2.len() > handover_core::analytics::rollup::PART_BYTES, "two parts");
    assert_ne!(kept, stale);

    // The stale one read generation 0; a late fact moved the hour to 1; the kept one read 1.
    store.record_stats(&handover_core::analytics::session(200 * 3_600_000, "c", "u"), now()).await.unwrap();
    let read = store.read_summaries(&[span]).await.unwrap();
    let generation = read.missing[0].1;
    store.write_summary(&kept, generation).await.unwrap();
    assert!(matches!(
        store.write_summary(&stale, Generation::default()).await,
        Err(StoreError::SpanChanged { .. })
    ));
    assert_eq!(store.read_summaries(&[span]).await.unwrap().found, vec![kept]);
}

async fn the_emergency_switch_is_kept(store: Arc<dyn Store>) {
    assert_eq!(store.get_emergency().await.unwrap(), EmergencyState::default());
    let on = EmergencyState {
        active: true,
        since_ms: Some(42),
        reason: Some("bot loops".into()),
        switched_by: Some("ops".into()),
        saved_default_categories: [("s1".to_string(), vec!["BOT".to_string(), "x".to_string()])].into(),
        ..EmergencyState::default()
    };
    assert_eq!(store.set_emergency(&on).await, Ok(1));
    assert_eq!(store.get_emergency().await.unwrap(), EmergencyState { version: 1, ..on.clone() });
    // A writer that read the switch before this change loses.
    assert_eq!(store.set_emergency(&on).await, Err(StoreError::EmergencyConflict));
    let off = EmergencyState { version: 1, active: false, ..on };
    assert_eq!(store.set_emergency(&off).await, Ok(2));
}

async fn bot_owned_threads_are_listed_from_an_index(store: Arc<dyn Store>) {
    for id in ["b1", "b2", "b3", "a1"] {
        store.save_thread(&ThreadState::new(id)).await.unwrap();
    }
    let agent = store.get_thread("a1").await.unwrap();
    store.save_thread(&ThreadState { owner: Owner::Agent, ..agent }).await.unwrap();
    // An event on a thread that never got a state does not make it bot-owned.
    let (mut lease, _, _) = granted(claim(&store, "c1", "e", now()).await);
    store.save_journal(&mut lease, &Journal::default()).await.unwrap();
    store.finish_event(&lease, None).await.unwrap();
    // Nor does an ended conversation stay in the index.
    let ended = ThreadState { ended: true, ..ThreadState::new("e1") };
    store.save_thread(&ended).await.unwrap();

    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let (page, next) = store.bot_owned_threads(after.as_deref(), 2).await.unwrap();
        assert!(page.len() <= 2);
        seen.extend(page);
        match next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, vec!["b1", "b2", "b3"]);
    assert_eq!(store.count_bot_owned().await.unwrap(), 3);
}

macro_rules! store_suite {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test] async fn $name() { super::$name(super::new_store(super::StoreKind::Memory).await).await; })*
        }
        mod dynamodb {
            $(#[tokio::test] async fn $name() { super::$name(super::new_store(super::StoreKind::Dynamo).await).await; })*
        }
    };
}

store_suite!(
    claims_and_leases,
    released_events_resume_at_once,
    a_committed_event_is_done_and_later_events_are_new,
    a_marked_event_is_done_without_a_thread_write,
    threads_are_versioned,
    finishing_is_conditional_on_the_thread,
    statistics_facts_count_once,
    a_summary_is_kept_only_at_the_generation_its_roll_up_read,
    a_summary_of_many_parts_is_read_back_whole,
    the_emergency_switch_is_kept,
    bot_owned_threads_are_listed_from_an_index,
);
