//! Counters and correlation state in memory: the store behind `replay`, and
//! the reference the DynamoDB store is tested against.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use crate::domain::budget::{BudgetKey, Digest, Folded, OwedDigest, Spend, keep, lists_latest};
use crate::domain::correlation::Alert;
use crate::domain::correlation::state::{self, GroupState};
use crate::domain::counter::{Counters, NotifyPolicy, Sighting, advance};
use crate::domain::store::{
    AlertRecorded, BudgetStore, Correlated, CounterStore, Feed, PendingNotification, Recorded,
    StoreError,
};
use crate::domain::time::Timestamp;
use crate::intake::objects::{ObjectProgress, progress_key};
use crate::intake::s3_notification::ObjectRef;

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
    /// Correlation group id → its state, and how far behind the newest
    /// event read it may fall before it is forgotten.
    correlations: HashMap<String, (GroupState, i64)>,
    /// The newest event time fed to any correlation.
    newest: Option<Timestamp>,
    /// Feeds since the last sweep of idle groups.
    feeds: u32,
    /// Each rule-hour's notification budget and digest.
    budgets: BTreeMap<BudgetKey, Budget>,
    /// How far each trail object was read (`bucket/key` → candidates done).
    objects: HashMap<String, u64>,
}

/// A sighting's identity: its group and eventID.
type SightingId = (String, String);

/// One rule-hour: the messages sent (by sighting, so a redelivery spends
/// nothing), what was folded, and how many of those a digest listed.
#[derive(Default)]
struct Budget {
    spent: HashSet<SightingId>,
    folded: BTreeMap<(i64, SightingId), Folded>,
    listed: u64,
    /// The folds a sent digest listed, by (group, eventID).
    listed_folds: HashSet<SightingId>,
}

fn sighting_id(s: &Sighting) -> SightingId {
    (s.key.id(), s.event_id.clone())
}

/// Feeds between two sweeps of idle correlation groups.
const SWEEP_EVERY: u32 = 4096;

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

impl Inner {
    /// Forgets, every [`SWEEP_EVERY`] feeds, the groups whose latest event
    /// is further behind the newest event read than their lateness horizon
    /// and timespan: replay reads archives in about time order, so a group
    /// idle that long is done, and its state would otherwise stay to the end.
    fn sweep(&mut self, fed: Timestamp) {
        self.newest = Some(self.newest.map_or(fed, |n| n.max(fed)));
        self.feeds += 1;
        if self.feeds < SWEEP_EVERY {
            return;
        }
        self.feeds = 0;
        let Some(newest) = self.newest else { return };
        self.correlations.retain(|_, (state, idle)| {
            state
                .latest
                .is_some_and(|l| l.as_millis() + *idle >= newest.as_millis())
        });
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
        let inner = self.inner.lock().ok()?;
        inner.correlations.get(group_id).map(|(s, _)| s.clone())
    }

    /// How many correlation groups the store holds.
    pub fn correlation_groups(&self) -> usize {
        self.inner.lock().map_or(0, |i| i.correlations.len())
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
    ) -> Result<Correlated, StoreError> {
        let mut inner = self.lock()?;
        let group = feed.key.id();
        let idle = state::keep_ms(feed.correlation);
        // In place: a busy group's state is not copied for every event.
        let (group_state, _) = inner
            .correlations
            .entry(group)
            .or_insert_with(|| (GroupState::default(), idle));
        let tr = state::apply(feed.correlation, group_state, &feed.event);
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
        inner.sweep(feed.event.time);
        Ok(Correlated {
            alerts: out,
            too_late: tr.too_late,
        })
    }
}

impl BudgetStore for MemoryStore {
    async fn spend(&self, key: &BudgetKey, s: &Sighting, budget: u32) -> Result<Spend, StoreError> {
        let mut inner = self.lock()?;
        let b = inner.budgets.entry(key.clone()).or_default();
        let id = sighting_id(s);
        if b.spent.contains(&id) {
            return Ok(Spend::Within);
        }
        if b.folded
            .contains_key(&(s.event_time.as_millis(), id.clone()))
        {
            return Ok(Spend::Folded);
        }
        if b.spent.len() < budget as usize {
            b.spent.insert(id);
            return Ok(Spend::Within);
        }
        Ok(Spend::Folded)
    }

    async fn fold(&self, key: &BudgetKey, s: &Sighting, folded: &Folded) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        let b = inner.budgets.entry(key.clone()).or_default();
        b.folded
            .entry((s.event_time.as_millis(), sighting_id(s)))
            .or_insert_with(|| folded.clone());
        Ok(())
    }

    async fn owed_digests(&self, now: Timestamp) -> Result<Vec<OwedDigest>, StoreError> {
        let inner = self.lock()?;
        Ok(inner
            .budgets
            .iter()
            .filter(|(k, b)| k.is_due(now) && b.folded.len() as u64 > b.listed)
            .map(|(k, b)| OwedDigest {
                key: k.clone(),
                folded: b.folded.len() as u64,
                listed: b.listed,
            })
            .collect())
    }

    async fn digest(&self, owed: &OwedDigest, max_listed: usize) -> Result<Digest, StoreError> {
        let inner = self.lock()?;
        let mut folded = Vec::new();
        let b = inner.budgets.get(&owed.key);
        let latest = lists_latest(owed.listed);
        for (_, f) in b.into_iter().flat_map(|b| {
            b.folded
                .iter()
                .filter(|((_, id), _)| !b.listed_folds.contains(id))
        }) {
            keep(&mut folded, f.clone(), max_listed, latest);
        }
        Ok(Digest {
            key: owed.key.clone(),
            folded,
            folded_count: b.map_or(0, |b| b.folded.len() as u64),
            listed_before: owed.listed,
        })
    }

    async fn mark_digest_sent(&self, digest: &Digest) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        if let Some(b) = inner.budgets.get_mut(&digest.key) {
            b.listed = b.listed.max(digest.folded_count);
            b.listed_folds.extend(
                digest
                    .folded
                    .iter()
                    .map(|f| (f.group.clone(), f.event_id.clone())),
            );
        }
        Ok(())
    }
}

impl ObjectProgress for MemoryStore {
    async fn progress(&self, object: &ObjectRef, rules: &str) -> Result<u64, StoreError> {
        let key = progress_key(object, rules);
        Ok(self.lock()?.objects.get(&key).copied().unwrap_or(0))
    }

    async fn save_progress(
        &self,
        object: &ObjectRef,
        rules: &str,
        done: u64,
    ) -> Result<(), StoreError> {
        let key = progress_key(object, rules);
        let mut inner = self.lock()?;
        let at = inner.objects.entry(key).or_default();
        *at = (*at).max(done);
        Ok(())
    }
}
