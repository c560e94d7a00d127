//! Counters in memory: the store behind `replay`, and the reference the
//! DynamoDB store is tested against.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::domain::counter::{
    CounterStore, Counters, NotifyPolicy, PendingNotification, Recorded, Sighting, StoreError,
    advance,
};

#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    groups: HashMap<String, Counters>,
    /// (rule, eventID) → the notification still owed for it, if any.
    events: HashMap<(String, String), Option<PendingNotification>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn counters(&self, group_id: &str) -> Option<Counters> {
        self.inner.lock().ok()?.groups.get(group_id).copied()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Inner>, StoreError> {
        self.inner.lock().map_err(|_| StoreError::Corrupt {
            key: "memory".into(),
            message: "a thread panicked while holding the store".into(),
        })
    }
}

impl CounterStore for MemoryStore {
    async fn record(&self, s: &Sighting, policy: &NotifyPolicy) -> Result<Recorded, StoreError> {
        let mut inner = self.lock()?;
        let event_key = (s.key.rule_id.clone(), s.event_id.clone());
        if let Some(pending) = inner.events.get(&event_key) {
            return Ok(Recorded::Duplicate { pending: *pending });
        }
        let group = s.key.id();
        let (counters, notify) = advance(inner.groups.get(&group), s, policy);
        inner.groups.insert(group, counters);
        let pending = notify.map(|reason| PendingNotification { counters, reason });
        inner.events.insert(event_key, pending);
        Ok(Recorded::Counted { counters, notify })
    }

    async fn mark_notified(&self, s: &Sighting) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        if let Some(pending) = inner
            .events
            .get_mut(&(s.key.rule_id.clone(), s.event_id.clone()))
        {
            *pending = None;
        }
        Ok(())
    }
}
