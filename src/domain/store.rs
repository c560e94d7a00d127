//! The store ports: where counters, correlation state and the notification
//! budget live (in memory for `replay`, DynamoDB in the Lambda), and what
//! the detector gets back from them. Both implementations pass the same
//! contract tests.
//!
//! Counting and correlating are one port ([`CounterStore`]) because one
//! DynamoDB transaction writes a correlation's state and the counters of the
//! alerts it decides; the budget and digests are another ([`BudgetStore`]).

use std::future::Future;

use serde::{Deserialize, Serialize};

use super::budget::{BudgetKey, Digest, Folded, OwedDigest, Spend};
use super::correlation::{Alert, FedEvent};
use super::counter::{Counters, GroupKey, NotifyPolicy, NotifyReason, Sighting};
use super::rules::correlation::Correlation;
use super::time::Timestamp;

/// A notification decided but not yet confirmed as sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingNotification {
    pub counters: Counters,
    pub reason: NotifyReason,
}

/// What the store made of a sighting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// Counted now. When `notify` is set the notification stays pending until
    /// [`CounterStore::mark_notified`].
    Counted {
        counters: Counters,
        notify: Option<NotifyReason>,
    },
    /// This eventID was counted before. `pending` holds a notification that
    /// was decided then and never confirmed as sent: send it now.
    Duplicate {
        pending: Option<PendingNotification>,
    },
}

impl Recorded {
    /// What a finding is made of: the group's counters, the notification
    /// owed, and whether this is a redelivery; `None` for an event counted
    /// before whose notification went out.
    pub fn to_report(&self) -> Option<(Counters, Option<NotifyReason>, bool)> {
        match self {
            Recorded::Counted { counters, notify } => Some((*counters, *notify, false)),
            Recorded::Duplicate { pending: Some(p) } => Some((p.counters, Some(p.reason), true)),
            Recorded::Duplicate { pending: None } => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store could not be reached or refused the request; worth a retry.
    #[error("counter store request failed ({operation}): {source}")]
    Unavailable {
        operation: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The request could not even be built: a bug, which no retry mends.
    #[error("counter store request could not be built ({operation}): {source}")]
    InvalidRequest {
        operation: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The store refused the request for good (DynamoDB's
    /// ValidationException: an item or key past a limit): the same request
    /// is refused again, so it is not retried.
    #[error("counter store refused the request for good ({operation}): {message}")]
    Rejected {
        operation: &'static str,
        message: String,
    },
    /// Too many concurrent writers on one group; worth a retry later.
    #[error("counter store: gave up after {attempts} conflicting writes on group {group}")]
    Contention { group: String, attempts: u32 },
    /// The store holds an item this code cannot read.
    #[error("counter store holds an unreadable item {key}: {message}")]
    Corrupt { key: String, message: String },
}

impl StoreError {
    /// Whether the same request may succeed later.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable { .. } | StoreError::Contention { .. }
        )
    }
}

/// An event fed to a correlation: the correlation, the group (its
/// `group-by` values, under the correlation's id), and the event.
#[derive(Debug, Clone)]
pub struct Feed<'a> {
    pub correlation: &'a Correlation,
    pub key: GroupKey,
    pub event: FedEvent,
}

impl Feed<'_> {
    /// The sighting an alert of this feed's group is counted as: its
    /// identity stands for an eventID, so each alert counts once.
    pub fn sighting(&self, alert: &Alert) -> Sighting {
        Sighting {
            key: self.key.clone(),
            event_id: self.key.alert_event_id(&alert.identity),
            event_time: alert.time,
        }
    }
}

/// A correlation alert, as the store counted it (or found it counted before,
/// with any notification still owed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRecorded {
    pub alert: Alert,
    pub sighting: Sighting,
    pub recorded: Recorded,
}

/// What feeding an event to a correlation group did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Correlated {
    /// The alerts it decided, or decided before (a redelivery).
    pub alerts: Vec<AlertRecorded>,
    /// The event is older than the group's lateness horizon: not counted.
    pub too_late: bool,
}

/// Where counters live: in memory for `replay`, DynamoDB in the Lambda. Both
/// implement the same contract and pass the same tests.
pub trait CounterStore: Sync {
    /// Counts `sighting` once per (rule, eventID) and decides, atomically with
    /// the count, whether it notifies.
    fn record(
        &self,
        sighting: &Sighting,
        policy: &NotifyPolicy,
    ) -> impl Future<Output = Result<Recorded, StoreError>> + Send;

    /// Confirms that the notification decided for this sighting was sent.
    fn mark_notified(
        &self,
        sighting: &Sighting,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Feeds an event to a correlation group: applies the pure transition
    /// ([`state::feed`](super::correlation::state::feed)) to the group's
    /// state and counts each alert it decides as a sighting of the group,
    /// atomically, so that an alert is never decided without being counted.
    /// For an event fed before, hands back the alerts it decided then, with
    /// any notification still owed.
    fn correlate(
        &self,
        feed: &Feed<'_>,
        policy: &NotifyPolicy,
    ) -> impl Future<Output = Result<Correlated, StoreError>> + Send;

    /// Feeds one record's events to several correlation groups, each as
    /// [`CounterStore::correlate`] would, in as few requests as the store
    /// can (DynamoDB: one read and one transaction for all, when they fit);
    /// one result per feed, in order.
    fn correlate_together(
        &self,
        feeds: &[Feed<'_>],
        policy: &NotifyPolicy,
    ) -> impl Future<Output = Vec<Result<Correlated, StoreError>>> + Send {
        async move {
            let mut out = Vec::with_capacity(feeds.len());
            for feed in feeds {
                out.push(self.correlate(feed, policy).await);
            }
            out
        }
    }
}

/// Where the notification budget and its digests live. Apart from
/// [`CounterStore`]: each of these is a transaction of its own.
pub trait BudgetStore {
    /// Spends one message from `key`'s budget of `budget` for `sighting`'s
    /// notification, atomically. A sighting that spent before (a
    /// redelivery whose notification is still owed) gets what it got then,
    /// without spending again.
    fn spend(
        &self,
        key: &BudgetKey,
        sighting: &Sighting,
        budget: u32,
    ) -> impl Future<Output = Result<Spend, StoreError>> + Send;

    /// Folds `sighting`'s notification into `key`'s digest (once, however
    /// often it is redelivered) and marks the digest owed.
    fn fold(
        &self,
        key: &BudgetKey,
        sighting: &Sighting,
        folded: &Folded,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The digests owed at `now`: rule-account-hours due
    /// ([`BudgetKey::is_due`]) with folds no digest listed yet; their keys
    /// and counts only.
    fn owed_digests(
        &self,
        now: Timestamp,
    ) -> impl Future<Output = Result<Vec<OwedDigest>, StoreError>> + Send;

    /// The digest `owed`, listing at most `max_listed` folded notifications
    /// no digest listed before ([`Digest::folded`]), read with memory
    /// bounded by that number.
    fn digest(
        &self,
        owed: &OwedDigest,
        max_listed: usize,
    ) -> impl Future<Output = Result<Digest, StoreError>> + Send;

    /// Confirms that `digest` was sent: its `folded_count` is counted as
    /// listed, and each notification it lists as listed.
    fn mark_digest_sent(
        &self,
        digest: &Digest,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}
