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
