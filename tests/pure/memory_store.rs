//! The in-memory store keeps the counter store contract.

use crate::common;

use signin_watch::adapters::memory_store::MemoryStore;

crate::store_contract_tests!(
    store: MemoryStore::new(),
    skip: |_: &str| false,
    generated_cases: 64,
);

mod replay_memory {
    use super::*;
    use common::correlation_contract as cc;

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
