//! The in-memory store keeps the counter store contract.

mod common;

use std::sync::Arc;

use common::store_contract as contract;
use signin_watch::adapters::memory_store::MemoryStore;

#[tokio::test]
async fn counts_each_event_once() {
    contract::counts_each_event_once(&MemoryStore::new()).await;
}

#[tokio::test]
async fn min_and_max_hold_out_of_order() {
    contract::min_and_max_hold_out_of_order(&MemoryStore::new()).await;
}

#[tokio::test]
async fn an_unconfirmed_notification_is_owed_on_redelivery() {
    contract::an_unconfirmed_notification_is_owed_on_redelivery(&MemoryStore::new()).await;
}

#[tokio::test]
async fn window_and_tiers_decide_notifications() {
    contract::window_and_tiers_decide_notifications(&MemoryStore::new()).await;
}

#[tokio::test]
async fn concurrent_sightings_count_exactly() {
    contract::concurrent_sightings_count_exactly(Arc::new(MemoryStore::new()), 50).await;
}

mod correlations {
    use super::*;
    use common::correlation_contract as cc;

    #[tokio::test]
    async fn a_late_event_completing_many_sequences_counts_each_once() {
        cc::a_late_event_completing_many_sequences_counts_each_once(&MemoryStore::new(), "many")
            .await;
    }

    #[tokio::test]
    async fn a_window_alerts_once_and_owes_its_notification() {
        cc::a_window_alerts_once_and_owes_its_notification(&MemoryStore::new(), "w").await;
    }

    #[tokio::test]
    async fn two_groups_alert_in_the_same_window() {
        cc::two_groups_alert_in_the_same_window(&MemoryStore::new(), "two").await;
    }

    #[tokio::test]
    async fn a_late_failure_completes_a_sequence() {
        cc::a_late_failure_completes_a_sequence(&MemoryStore::new(), "late").await;
    }

    #[tokio::test]
    async fn window_edges_are_exact() {
        cc::window_edges_are_exact(&MemoryStore::new(), "edge").await;
    }

    /// Every kind, 64 generated cases each, split across concurrent tasks.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn any_order_duplication_and_split_give_the_same_alerts_and_state() {
        for c in cc::every_kind() {
            let c = Arc::new(c);
            for (i, case) in cc::cases(c.slots.len(), 64).into_iter().enumerate() {
                let store = Arc::new(MemoryStore::new());
                cc::same_alerts_and_state(store, c.clone(), format!("g{i}"), case).await;
            }
        }
    }

    /// Replay forgets a group idle for longer than its horizon behind the
    /// newest event read; a group still fed stays.
    #[tokio::test]
    async fn idle_groups_are_forgotten_behind_the_newest_event() {
        let store = MemoryStore::new();
        let c = &cc::every_kind()[0];
        cc::feed_all(&store, c, "idle", &[cc::event("idle-0", 0.0, 0, "a")]).await;
        // Three days later, enough feeds of another group for a sweep.
        let busy: Vec<_> = (0..5000)
            .map(|i| {
                cc::event(
                    &format!("busy-{i}"),
                    3.0 * 24.0 * 60.0 + f64::from(i) * 0.01,
                    0,
                    "a",
                )
            })
            .collect();
        cc::feed_all(&store, c, "busy", &busy).await;
        assert_eq!(store.correlation_groups(), 1);
        assert!(store.correlation_state(&cc::key(c, "idle").id()).is_none());
        assert!(store.correlation_state(&cc::key(c, "busy").id()).is_some());
    }
}

#[tokio::test]
async fn the_budget_folds_what_exceeds_it_into_one_digest() {
    contract::the_budget_folds_what_exceeds_it_into_one_digest(&MemoryStore::new()).await;
}

#[tokio::test]
async fn a_digest_lists_the_earliest_and_counts_the_rest() {
    contract::a_digest_lists_the_earliest_and_counts_the_rest(&MemoryStore::new()).await;
}
