//! One suite for both stores: the same semantics from the in-memory store and from DynamoDB
//! (Amazon's DynamoDB Local).

use std::sync::Arc;

use handover_core::bot::BotAnswer;
use handover_core::store::{
    BotOutcome, Claim, EventProgress, Owner, Store, StoreError, ThreadState,
};

use crate::helpers::{StoreKind, new_store};

const LEASE_MS: i64 = 60_000;

fn granted(claim: Claim) -> (handover_core::store::Lease, EventProgress) {
    match claim {
        Claim::Granted { lease, progress } => (lease, progress),
        other => panic!("expected a granted claim, got {other:?}"),
    }
}

async fn claims_and_leases(store: Arc<dyn Store>) {
    let now = 1_000_000;
    let (lease, progress) = granted(store.claim_event("e1", now, LEASE_MS).await.unwrap());
    assert_eq!(progress, EventProgress::default());
    assert_eq!(
        store.claim_event("e1", now + 1, LEASE_MS).await.unwrap(),
        Claim::Busy
    );

    let saved = EventProgress {
        intervention_step_done: true,
        intervention_id: Some("i1".into()),
        bot: Some(BotOutcome::Answered(BotAnswer {
            replies: vec!["hi".into()],
            ..BotAnswer::default()
        })),
        ..EventProgress::default()
    };
    store.save_progress(&lease, &saved).await.unwrap();

    // The lease expires (a crash): the next delivery takes over with the saved progress, and
    // the old holder can no longer write.
    let (new_lease, resumed) = granted(
        store
            .claim_event("e1", now + LEASE_MS + 1, LEASE_MS)
            .await
            .unwrap(),
    );
    assert_eq!(resumed, saved);
    assert_eq!(
        store.save_progress(&lease, &saved).await,
        Err(StoreError::LeaseLost("e1".into()))
    );
    assert_eq!(
        store.finish_event(&lease, &saved, None).await,
        Err(StoreError::LeaseLost("e1".into()))
    );

    store.finish_event(&new_lease, &saved, None).await.unwrap();
    assert_eq!(
        store
            .claim_event("e1", now + 10 * LEASE_MS, LEASE_MS)
            .await
            .unwrap(),
        Claim::Done
    );
}

async fn released_leases_resume_at_once(store: Arc<dyn Store>) {
    let now = 2_000_000;
    let (lease, _) = granted(store.claim_event("e2", now, LEASE_MS).await.unwrap());
    let saved = EventProgress {
        replies_posted: 1,
        ..EventProgress::default()
    };
    store.save_progress(&lease, &saved).await.unwrap();
    store.release_event(&lease).await.unwrap();
    let (_, resumed) = granted(store.claim_event("e2", now + 1, LEASE_MS).await.unwrap());
    assert_eq!(resumed, saved);
}

async fn threads_are_versioned(store: Arc<dyn Store>) {
    assert_eq!(store.get_thread("t1").await.unwrap(), None);
    let fresh = ThreadState {
        categories: vec!["a".into(), "b".into()],
        ..ThreadState::new("t1")
    };
    store.save_thread(&fresh).await.unwrap();
    let stored = store.get_thread("t1").await.unwrap().unwrap();
    assert_eq!(stored.version, 1);
    assert_eq!(stored.categories, vec!["a", "b"]);

    // A second writer that read version 0 loses.
    assert_eq!(
        store.save_thread(&fresh).await,
        Err(StoreError::ThreadConflict("t1".into()))
    );

    let handed_over = ThreadState {
        owner: Owner::Agent,
        ..stored.clone()
    };
    store.save_thread(&handed_over).await.unwrap();
    assert_eq!(
        store.save_thread(&stored).await,
        Err(StoreError::ThreadConflict("t1".into()))
    );
    let now = store.get_thread("t1").await.unwrap().unwrap();
    assert_eq!((now.owner, now.version), (Owner::Agent, 2));
}

async fn finishing_is_atomic_with_the_thread(store: Arc<dyn Store>) {
    let now = 3_000_000;
    store.save_thread(&ThreadState::new("t3")).await.unwrap();
    let stale = ThreadState {
        consecutive_fallbacks: 1,
        ..ThreadState::new("t3")
    }; // read at version 0
    let (lease, _) = granted(store.claim_event("e3", now, LEASE_MS).await.unwrap());
    let progress = EventProgress {
        replies_posted: 2,
        ..EventProgress::default()
    };
    assert_eq!(
        store.finish_event(&lease, &progress, Some(&stale)).await,
        Err(StoreError::ThreadConflict("t3".into()))
    );
    // Neither half happened: the event is still ours to finish, the thread unchanged.
    assert_eq!(
        store
            .get_thread("t3")
            .await
            .unwrap()
            .unwrap()
            .consecutive_fallbacks,
        0
    );
    let current = store.get_thread("t3").await.unwrap().unwrap();
    let next = ThreadState {
        consecutive_fallbacks: 1,
        ..current
    };
    store
        .finish_event(&lease, &progress, Some(&next))
        .await
        .unwrap();
    assert_eq!(
        store
            .get_thread("t3")
            .await
            .unwrap()
            .unwrap()
            .consecutive_fallbacks,
        1
    );
    assert_eq!(
        store.claim_event("e3", now + 1, LEASE_MS).await.unwrap(),
        Claim::Done
    );
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
    released_leases_resume_at_once,
    threads_are_versioned,
    finishing_is_atomic_with_the_thread
);
