//! Counters and correlation state in memory: the store behind `replay`, and
//! the reference the DynamoDB store is tested against.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::domain::correlation::Alert;
use crate::domain::correlation::state::{self, GroupState};
use crate::domain::counter::{
    AlertRecorded, CounterStore, Counters, Feed, NotifyPolicy, PendingNotification, Recorded,
    Sighting, StoreError, advance,
};

#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

/// What the store knows of a (rule, eventID): the notification still owed
/// for it, and, for a correlation alert, the alert.
#[derive(Debug, Clone, Default)]
struct EventEntry {
    pending: Option<PendingNotification>,
    alert: Option<Alert>,
}

#[derive(Default)]
struct Inner {
    groups: HashMap<String, Counters>,
    /// (rule, eventID) → what is known of it.
    events: HashMap<(String, String), EventEntry>,
    /// Correlation group id → its state.
    correlations: HashMap<String, GroupState>,
}

impl Inner {
    /// Counts `s` once, deciding whether it notifies (see [`CounterStore::record`]).
    fn record(&mut self, s: &Sighting, policy: &NotifyPolicy, alert: Option<&Alert>) -> Recorded {
        let event_key = (s.key.rule_id.clone(), s.event_id.clone());
        if let Some(entry) = self.events.get(&event_key) {
            return Recorded::Duplicate {
                pending: entry.pending,
            };
        }
        let group = s.key.id();
        let (counters, notify) = advance(self.groups.get(&group), s, policy);
        self.groups.insert(group, counters);
        let pending = notify.map(|reason| PendingNotification { counters, reason });
        self.events.insert(
            event_key,
            EventEntry {
                pending,
                alert: alert.cloned(),
            },
        );
        Recorded::Counted { counters, notify }
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn counters(&self, group_id: &str) -> Option<Counters> {
        self.inner.lock().ok()?.groups.get(group_id).copied()
    }

    /// A correlation group's state, for tests.
    pub fn correlation_state(&self, group_id: &str) -> Option<GroupState> {
        self.inner.lock().ok()?.correlations.get(group_id).cloned()
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
        Ok(self.lock()?.record(s, policy, None))
    }

    async fn mark_notified(&self, s: &Sighting) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        if let Some(entry) = inner
            .events
            .get_mut(&(s.key.rule_id.clone(), s.event_id.clone()))
        {
            entry.pending = None;
        }
        Ok(())
    }

    async fn correlate(
        &self,
        feed: &Feed<'_>,
        policy: &NotifyPolicy,
    ) -> Result<Vec<AlertRecorded>, StoreError> {
        let mut inner = self.lock()?;
        let group = feed.key.id();
        let before = inner.correlations.get(&group).cloned().unwrap_or_default();
        let tr = state::feed(feed.correlation, &before, &feed.event);
        let mut out = Vec::new();
        for identity in &tr.redelivered {
            let key = (feed.key.rule_id.clone(), feed.key.alert_event_id(identity));
            if let Some(EventEntry {
                pending,
                alert: Some(alert),
            }) = inner.events.get(&key).cloned()
            {
                out.push(AlertRecorded {
                    sighting: feed.sighting(&alert),
                    alert,
                    recorded: Recorded::Duplicate { pending },
                });
            }
        }
        for alert in tr.alerts {
            let sighting = feed.sighting(&alert);
            let recorded = inner.record(&sighting, policy, Some(&alert));
            out.push(AlertRecorded {
                alert,
                sighting,
                recorded,
            });
        }
        if tr.changed {
            inner.correlations.insert(group, tr.state);
        }
        Ok(out)
    }
}
