//! Any permutation and duplication of a set of events gives the same final
//! counters: each eventID counts once, first_seen is the minimum and
//! last_seen the maximum event time.

use crate::common;

use std::collections::HashMap;

use proptest::prelude::*;
use signin_watch::adapters::memory_store::MemoryStore;
use signin_watch::domain::counter::{GroupKey, NotifyPolicy, Sighting};
use signin_watch::domain::store::{CounterStore, Recorded};
use signin_watch::domain::time::Timestamp;

fn key(g: u8) -> GroupKey {
    GroupKey::detection("r", "1", &format!("u{g}"), "203.0.113.1", None)
}

proptest! {
    #[test]
    fn permutation_and_duplication_do_not_change_counters(
        events in proptest::collection::vec((0u8..3, 0i64..10_000), 1..40),
        order_seed in any::<u64>(),
        dup_every in 1usize..5,
    ) {
        // Unique eventIDs; each in one of three groups.
        let sightings: Vec<Sighting> = events.iter().enumerate().map(|(i, (g, minute))| Sighting {
            key: key(*g), event_id: format!("e{i}"), event_time: Timestamp::from_millis(minute * 60_000),
        }).collect();
        let mut delivery: Vec<Sighting> = sightings.clone();
        delivery.extend(sightings.iter().step_by(dup_every).cloned());
        // A seeded shuffle.
        let mut state = order_seed | 1;
        for i in (1..delivery.len()).rev() {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            delivery.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let store = MemoryStore::new();
        let policy = NotifyPolicy::default();
        let mut counted = 0;
        for s in &delivery {
            if let Recorded::Counted { .. } = common::block_on(store.record(s, &policy)).expect("memory") {
                counted += 1;
            }
        }
        prop_assert_eq!(counted, sightings.len());
        let mut want: HashMap<String, (u64, Timestamp, Timestamp)> = HashMap::new();
        for s in &sightings {
            let e = want.entry(s.key.id()).or_insert((0, s.event_time, s.event_time));
            e.0 += 1;
            e.1 = e.1.min(s.event_time);
            e.2 = e.2.max(s.event_time);
        }
        for (group, (count, first, last)) in want {
            let c = store.counters(&group).expect("group exists");
            prop_assert_eq!((c.count, c.first_seen, c.last_seen), (count, first, last));
        }
    }
}
