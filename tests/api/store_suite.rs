//! One suite for both stores: the same semantics from the in-memory store and from DynamoDB
//! (Amazon's DynamoDB Local).

use std::sync::Arc;

use handover_core::bot::BotAnswer;
use handover_core::store::{
    BotOutcome, Claim, EmergencyState, EventProgress, Lease, Owner, Store, StoreError, ThreadState,
};

use crate::helpers::{StoreKind, new_store};

const LEASE_MS: i64 = 60_000;

fn granted(claim: Claim) -> (Lease, EventProgress, ThreadState) {
    match claim {
        Claim::Granted { lease, progress, thread } => (lease, progress, thread),
        other => panic!("expected a granted claim, got {other:?}"),
    }
}

fn answered() -> EventProgress {
    EventProgress {
        intervention_step_done: true,
        intervention_id: Some("i1".into()),
        bot: Some(BotOutcome::Answered(BotAnswer { replies: vec!["hi".into()], ..BotAnswer::default() })),
        ..EventProgress::default()
    }
}

async fn claims_and_leases(store: Arc<dyn Store>) {
    let now = 1_000_000;
    let (lease, progress, thread) = granted(store.claim_event("t1", "e1", now, LEASE_MS).await.unwrap());
    assert_eq!(progress, EventProgress::default());
    assert_eq!(thread, ThreadState::new("t1"));
    assert_eq!(store.claim_event("t1", "e1", now + 1, LEASE_MS).await.unwrap(), Claim::Busy);

    store.save_progress(&lease, &answered()).await.unwrap();

    // The lease expires (a crash): the next delivery takes over with the saved progress, and
    // the old holder can no longer write.
    let (new_lease, resumed, _) =
        granted(store.claim_event("t1", "e1", now + LEASE_MS + 1, LEASE_MS).await.unwrap());
    assert_eq!(resumed, answered());
    assert_eq!(store.save_progress(&lease, &answered()).await, Err(StoreError::LeaseLost("e1".into())));
    assert_eq!(
        store.finish_event(&lease, &answered(), None, &[]).await,
        Err(StoreError::LeaseLost("e1".into()))
    );

    store.finish_event(&new_lease, &answered(), None, &[]).await.unwrap();
    assert_eq!(store.claim_event("t1", "e1", now + 10 * LEASE_MS, LEASE_MS).await.unwrap(), Claim::Done);
}

async fn released_events_resume_at_once(store: Arc<dyn Store>) {
    let now = 2_000_000;
    let (lease, _, _) = granted(store.claim_event("t2", "e2", now, LEASE_MS).await.unwrap());
    let saved = EventProgress { replies_posted: 1, ..answered() };
    store.release_event(&lease, &saved).await.unwrap();
    let (_, resumed, _) = granted(store.claim_event("t2", "e2", now + 1, LEASE_MS).await.unwrap());
    assert_eq!(resumed, saved);
}

async fn one_event_of_a_thread_at_a_time(store: Arc<dyn Store>) {
    let now = 3_000_000;
    let (first, _, _) = granted(store.claim_event("t3", "a", now, LEASE_MS).await.unwrap());
    // Another event of the same thread waits for the turn; another thread does not.
    assert_eq!(store.claim_event("t3", "b", now + 1, LEASE_MS).await.unwrap(), Claim::Busy);
    granted(store.claim_event("t3-other", "c", now + 1, LEASE_MS).await.unwrap());
    store.finish_event(&first, &EventProgress::default(), None, &[]).await.unwrap();
    let (second, _, _) = granted(store.claim_event("t3", "b", now + 2, LEASE_MS).await.unwrap());
    // A released turn frees the thread too.
    store.release_event(&second, &EventProgress::default()).await.unwrap();
    granted(store.claim_event("t3", "d", now + 3, LEASE_MS).await.unwrap());
    // A crashed holder's turn frees itself when its lease expires.
    let (_, _, _) = granted(store.claim_event("t3", "b", now + 3 + LEASE_MS, LEASE_MS).await.unwrap());
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
    let now = store.get_thread("t4").await.unwrap();
    assert_eq!((now.owner, now.version), (Owner::Agent, 2));

    // The claim reads the thread as stored.
    let (_, _, claimed) = granted(store.claim_event("t4", "e4", 4_000_000, LEASE_MS).await.unwrap());
    assert_eq!(claimed, now);
}

async fn finishing_is_atomic_with_the_thread(store: Arc<dyn Store>) {
    let now = 5_000_000;
    let (lease, _, thread) = granted(store.claim_event("t5", "e5", now, LEASE_MS).await.unwrap());
    // Someone else saves the thread meanwhile.
    store.save_thread(&ThreadState { owner: Owner::Agent, ..thread.clone() }).await.unwrap();
    let progress = EventProgress { replies_posted: 2, ..EventProgress::default() };
    let stale = ThreadState { consecutive_fallbacks: 1, ..thread };
    assert_eq!(
        store.finish_event(&lease, &progress, Some(&stale), &[]).await,
        Err(StoreError::ThreadConflict("t5".into()))
    );
    // Neither half happened: the event is still ours to finish, the thread unchanged.
    let current = store.get_thread("t5").await.unwrap();
    assert_eq!((current.owner, current.consecutive_fallbacks), (Owner::Agent, 0));
    let next = ThreadState { consecutive_fallbacks: 1, ..current };
    store.finish_event(&lease, &progress, Some(&next), &[]).await.unwrap();
    let saved = store.get_thread("t5").await.unwrap();
    assert_eq!((saved.owner, saved.consecutive_fallbacks, saved.version), (Owner::Agent, 1, 2));
    assert_eq!(store.claim_event("t5", "e5", now + 1, LEASE_MS).await.unwrap(), Claim::Done);
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
    let (lease, _, _) = granted(store.claim_event("c1", "e", 6_000_000, LEASE_MS).await.unwrap());
    store.finish_event(&lease, &EventProgress::default(), None, &[]).await.unwrap();

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
    one_event_of_a_thread_at_a_time,
    threads_are_versioned,
    finishing_is_atomic_with_the_thread,
    the_emergency_switch_is_kept,
    bot_owned_threads_are_listed_from_an_index,
);
