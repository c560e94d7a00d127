//! The notification budget: at most so many messages per rule per hour of
//! event time; what exceeds it is folded into one digest per rule and hour.
//!
//! Whoever holds stolen keys can mint a new federated user name for every
//! session, and each new group is a first detection: without a budget a
//! flood of them is a flood of pages. Folding changes only what is sent:
//! every detection is still counted and every finding still kept.

use serde::{Deserialize, Serialize};

use super::counter::NotifyReason;
use super::time::Timestamp;

pub const HOUR_MS: i64 = 3_600_000;

/// How long after an hour ends its digest waits, so that the hour's
/// late-delivered events (CloudTrail delivers within minutes) are folded in
/// before it is sent.
pub const DIGEST_GRACE_MS: i64 = 15 * 60_000;

/// The rule, account and hour of event time a notification spends its
/// budget in. The account is part of it so that noise in one account (a
/// sandbox's flood of root password recoveries, which need only an e-mail
/// address) never folds another account's first message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BudgetKey {
    /// The hour's start.
    pub hour: Timestamp,
    pub rule_id: String,
    pub account: String,
    /// The rule is high or critical: its digest goes out at the next sweep
    /// instead of waiting for the hour's end. (A property of the rule, so it
    /// splits no budget.)
    pub urgent: bool,
}

impl BudgetKey {
    pub fn new(rule_id: &str, account: &str, event_time: Timestamp) -> Self {
        BudgetKey {
            hour: hour_of(event_time),
            rule_id: rule_id.to_owned(),
            account: account.to_owned(),
            urgent: false,
        }
    }

    /// The same key, for a rule whose digest goes out at the next sweep.
    pub fn urgent(mut self, urgent: bool) -> Self {
        self.urgent = urgent;
        self
    }

    /// When the hour ends.
    pub fn hour_end(&self) -> Timestamp {
        Timestamp::from_millis(self.hour.as_millis().saturating_add(HOUR_MS))
    }

    /// Whether its digest is due at `now`: the hour ended a grace ago; for
    /// an urgent rule, as soon as anything is folded (the sweep runs every
    /// 15 minutes, so it waits at most that long).
    pub fn is_due(&self, now: Timestamp) -> bool {
        self.urgent
            || self.hour_end().as_millis().saturating_add(DIGEST_GRACE_MS) <= now.as_millis()
    }
}

/// The start of the hour `t` lies in.
pub fn hour_of(t: Timestamp) -> Timestamp {
    Timestamp::from_millis(t.as_millis().div_euclid(HOUR_MS) * HOUR_MS)
}

/// What spending from a rule-hour's budget gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spend {
    /// Within the budget: send the message.
    Within,
    /// The budget is spent: fold the notification into the hour's digest.
    Folded,
}

/// A notification folded into a digest: enough to find the finding again
/// (its id, group and event) and to judge the flood at a glance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Folded {
    pub finding_id: String,
    /// The group's id (see `GroupKey::id`): the counter's key in the store.
    pub group: String,
    pub event_id: String,
    pub event_time: Timestamp,
    pub account: String,
    /// Chosen by whoever signed in: rendered escaped, never trusted.
    pub user: String,
    pub src: String,
    /// Where `src` is, in one line, when located (a flood's countries and
    /// networks at a glance).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<String>,
    pub count: u64,
    pub reason: Option<NotifyReason>,
}

/// The most folded notifications a digest lists (the earliest by event
/// time); it counts the rest. Reading a digest keeps no more than these in
/// memory, however large the flood.
pub const MAX_DIGEST_LISTED: usize = 100;

/// A digest owed, as the sweep finds it: its key and counts only (small),
/// so that the folded notifications are read one digest at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwedDigest {
    pub key: BudgetKey,
    /// Notifications folded in all.
    pub folded: u64,
    /// How many a digest sent before listed.
    pub listed: u64,
}

/// One rule-account-hour's digest: what was folded, as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    pub key: BudgetKey,
    /// Folded notifications no digest listed before, ordered by event time
    /// (then group and eventID), at most the number asked for: the earliest
    /// for an hour's first digest, the latest for a later one.
    pub folded: Vec<Folded>,
    /// Notifications folded in all, listed or not.
    pub folded_count: u64,
    /// How many a digest sent before listed (a later digest for the same
    /// hour exists only for events that arrived after its grace).
    pub listed_before: u64,
}

/// Keeps in `list`, ordered by event time, the `max` earliest (or, with
/// `latest`, the `max` latest) of the folded notifications offered one at
/// a time: memory bounded by `max` whatever the stream.
pub fn keep(list: &mut Vec<Folded>, item: Folded, max: usize, latest: bool) {
    let key = |f: &Folded| (f.event_time, f.group.clone(), f.event_id.clone());
    let at = list.partition_point(|f| key(f) < key(&item));
    if !latest {
        if at < max {
            list.insert(at, item);
            list.truncate(max);
        }
    } else if list.len() < max {
        list.insert(at, item);
    } else if at > 0 {
        list.insert(at, item);
        list.remove(0);
    }
}

/// Which folds a digest lists: those no digest listed before, the earliest
/// for an hour's first digest, the latest for a later one (the news of a
/// flood still going on, or of late events).
pub fn lists_latest(listed_before: u64) -> bool {
    listed_before > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[test]
    fn the_hour_is_the_event_times() {
        let k = BudgetKey::new("r", "1", t("2026-11-20T09:59:59.999Z"));
        assert_eq!(k.hour, t("2026-11-20T09:00:00Z"));
        assert_eq!(k.hour_end(), t("2026-11-20T10:00:00Z"));
        assert_eq!(
            BudgetKey::new("r", "1", t("2026-11-20T10:00:00Z")).hour,
            k.hour_end()
        );
        assert_eq!(hour_of(Timestamp::from_millis(-1)).as_millis(), -HOUR_MS);
    }

    #[test]
    fn a_digest_waits_for_its_grace() {
        let k = BudgetKey::new("r", "1", t("2026-11-20T09:30:00Z"));
        assert!(!k.is_due(t("2026-11-20T10:00:00Z")));
        assert!(!k.is_due(t("2026-11-20T10:14:59Z")));
        assert!(k.is_due(t("2026-11-20T10:15:00Z")));
        assert!(k.urgent(true).is_due(t("2026-11-20T09:31:00Z")));
    }
}
