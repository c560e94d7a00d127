//! Counters per rule, account, user and source IP, and when a detection
//! notifies.
//!
//! Delivery is at least once and out of order, so: an eventID counts once;
//! first_seen is a minimum and last_seen a maximum of event times; the count
//! is exact whatever the order. [`advance`] is the whole policy as a pure
//! function; stores apply it atomically.

use serde::{Deserialize, Serialize};

use super::time::Timestamp;

/// The longest group id, in bytes: it is part of DynamoDB keys (a sort key
/// holds at most 1,024 bytes) beside a prefix and an eventID.
pub const MAX_GROUP_ID_BYTES: usize = 512;

/// What detections are grouped by: the rule, and the group's fields by
/// name. A detection's are `account`, `user`, `src` and, for a federated
/// principal, `issuer`; a correlation's are its `group-by` fields.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct GroupKey {
    pub rule_id: String,
    pub fields: Vec<(String, String)>,
}

impl GroupKey {
    /// A detection's group. `issuer` is set for a federated principal: the
    /// session issuer (ARN, else name) whose keys minted the session.
    /// Whoever signs in chooses the federated name, so a session minted with
    /// other keys under a reused name and address is another group.
    pub fn detection(
        rule_id: &str,
        account: &str,
        user: &str,
        src: &str,
        issuer: Option<&str>,
    ) -> Self {
        let mut fields = vec![
            ("account".to_owned(), account.to_owned()),
            ("user".to_owned(), user.to_owned()),
            ("src".to_owned(), src.to_owned()),
        ];
        if let Some(issuer) = issuer {
            fields.push(("issuer".to_owned(), issuer.to_owned()));
        }
        GroupKey {
            rule_id: rule_id.to_owned(),
            fields,
        }
    }

    /// The value of the field `name`.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A stable string for the group: the rule id and the fields' values
    /// joined by `#`, each with `%` and `#` percent-encoded so that no two
    /// groups share an id.
    ///
    /// At most [`MAX_GROUP_ID_BYTES`]: a longer id (an IAM path of `#`s in a
    /// session issuer's ARN) keeps a readable prefix and the hash of the rest
    /// ([`bounded`](super::hash::bounded)).
    pub fn id(&self) -> String {
        let parts = std::iter::once(&self.rule_id).chain(self.fields.iter().map(|(_, v)| v));
        let mut id = String::with_capacity(
            self.rule_id.len() + self.fields.iter().map(|(_, v)| v.len() + 1).sum::<usize>(),
        );
        // One pass, one string: the id is built for every feed.
        for (i, part) in parts.enumerate() {
            if i > 0 {
                id.push('#');
            }
            for c in part.chars() {
                match c {
                    '%' => id.push_str("%25"),
                    '#' => id.push_str("%23"),
                    c => id.push(c),
                }
            }
        }
        super::hash::bounded(id, MAX_GROUP_ID_BYTES)
    }

    /// What a correlation alert of this group is counted as, in place of an
    /// eventID: its identity (a window, or the completing event) and the
    /// group, since every group of a correlation has windows starting at
    /// the same times.
    pub fn alert_event_id(&self, identity: &str) -> String {
        let id = self.id();
        let group = super::hash::sha256_hex([id.as_bytes()], 8);
        format!("{identity}@{group}")
    }
}

/// One detection of a rule on one CloudTrail event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sighting {
    pub key: GroupKey,
    pub event_id: String,
    pub event_time: Timestamp,
}

/// A group's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub count: u64,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// Event time of the latest detection that notified.
    pub last_notified: Option<Timestamp>,
}

/// Why a detection notifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "tier", rename_all = "snake_case")]
pub enum NotifyReason {
    /// The group's first detection.
    FirstDetection,
    /// The suppression window since the last notification has passed.
    WindowElapsed,
    /// The count reached an escalation tier.
    EscalationTier(u64),
}

impl NotifyReason {
    pub fn describe(&self, policy: &NotifyPolicy) -> String {
        match self {
            NotifyReason::FirstDetection => "first detection for this rule and group".into(),
            NotifyReason::WindowElapsed => format!(
                "more than {} minutes since the last notification for this group",
                policy.suppression_window_minutes
            ),
            NotifyReason::EscalationTier(n) => format!("count reached escalation tier {n}"),
        }
    }
}

/// The default budget: messages per rule per hour before folding.
pub const DEFAULT_BUDGET_PER_RULE_HOUR: u32 = 20;

/// When a later detection in a group notifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyPolicy {
    /// Minutes of event time after a notification during which further
    /// detections are folded into the counter.
    pub suppression_window_minutes: u32,
    /// Counts at which a detection notifies whatever the window.
    pub escalation_tiers: Vec<u64>,
    /// Messages per rule per hour of event time; what exceeds it is folded
    /// into the hour's digest (see [`super::budget`]). 0: no budget.
    pub budget_per_rule_hour: u32,
    /// Detections of events before this time are counted and remembered
    /// (counters, correlations, baselines) but notify nobody: a new
    /// deployment warms its state from the trail's past quietly.
    pub quiet_before: Option<Timestamp>,
}

impl Default for NotifyPolicy {
    fn default() -> Self {
        Self {
            suppression_window_minutes: 60,
            escalation_tiers: vec![5, 25, 100],
            budget_per_rule_hour: DEFAULT_BUDGET_PER_RULE_HOUR,
            quiet_before: None,
        }
    }
}

/// The counters after `sighting`, and whether it notifies. `prev` is the
/// group's counters before it (`None` for a new group). The caller has
/// already made sure the eventID was not counted before.
pub fn advance(
    prev: Option<&Counters>,
    sighting: &Sighting,
    policy: &NotifyPolicy,
) -> (Counters, Option<NotifyReason>) {
    let t = sighting.event_time;
    let (counters, reason) = decide(prev, t, policy);
    // Before the quiet time nothing notifies, and nothing counts as
    // notified: the first detection after it notifies.
    if policy.quiet_before.is_some_and(|q| t < q) {
        let last_notified = prev.and_then(|p| p.last_notified);
        return (
            Counters {
                last_notified,
                ..counters
            },
            None,
        );
    }
    (counters, reason)
}

fn decide(
    prev: Option<&Counters>,
    t: Timestamp,
    policy: &NotifyPolicy,
) -> (Counters, Option<NotifyReason>) {
    let Some(prev) = prev else {
        let counters = Counters {
            count: 1,
            first_seen: t,
            last_seen: t,
            last_notified: Some(t),
        };
        return (counters, Some(NotifyReason::FirstDetection));
    };
    let count = prev.count.saturating_add(1);
    let window_ms = i64::from(policy.suppression_window_minutes) * 60_000;
    let reason = if policy.escalation_tiers.contains(&count) {
        Some(NotifyReason::EscalationTier(count))
    } else {
        match prev.last_notified {
            None => Some(NotifyReason::WindowElapsed),
            Some(last) if t.as_millis() - last.as_millis() >= window_ms => {
                Some(NotifyReason::WindowElapsed)
            }
            Some(_) => None,
        }
    };
    let last_notified = match reason {
        Some(_) => Some(prev.last_notified.map_or(t, |l| l.max(t))),
        None => prev.last_notified,
    };
    let counters = Counters {
        count,
        first_seen: prev.first_seen.min(t),
        last_seen: prev.last_seen.max(t),
        last_notified,
    };
    (counters, reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(min: i64) -> Timestamp {
        Timestamp::from_millis(1_700_000_000_000 + min * 60_000)
    }

    fn sight(id: &str, min: i64) -> Sighting {
        Sighting {
            key: GroupKey::detection("r", "1", "u", "s", None),
            event_id: id.into(),
            event_time: at(min),
        }
    }

    #[test]
    fn first_detection_notifies() {
        let (c, why) = advance(None, &sight("a", 0), &NotifyPolicy::default());
        assert_eq!(c.count, 1);
        assert_eq!(why, Some(NotifyReason::FirstDetection));
    }

    #[test]
    fn window_and_tiers() {
        let p = NotifyPolicy::default();
        let (mut c, _) = advance(None, &sight("0", 0), &p);
        let mut notes = Vec::new();
        // The tier-5 notification at minute 4 restarts the window: 63 is inside it, 64 is not.
        for (i, min) in [1, 2, 3, 4, 63, 64, 65].into_iter().enumerate() {
            let (next, why) = advance(Some(&c), &sight(&i.to_string(), min), &p);
            c = next;
            notes.push(why);
        }
        assert_eq!(
            notes,
            vec![
                None,
                None,
                None,
                Some(NotifyReason::EscalationTier(5)),
                None,
                Some(NotifyReason::WindowElapsed),
                None
            ]
        );
        assert_eq!(c.count, 8);
        assert_eq!(c.last_notified, Some(at(64)));
    }

    #[test]
    fn before_the_quiet_time_nothing_notifies_and_the_first_after_it_does() {
        let p = NotifyPolicy {
            quiet_before: Some(at(50)),
            ..NotifyPolicy::default()
        };
        let (c, why) = advance(None, &sight("a", 10), &p);
        assert_eq!((c.count, why, c.last_notified), (1, None, None));
        // An escalation tier reached in the quiet time stays quiet too.
        let mut c = c;
        for (i, min) in [11, 12, 13, 14].into_iter().enumerate() {
            let (next, why) = advance(Some(&c), &sight(&format!("q{i}"), min), &p);
            assert_eq!(why, None, "minute {min}");
            c = next;
        }
        assert_eq!(c.count, 5);
        let (c, why) = advance(Some(&c), &sight("b", 50), &p);
        assert_eq!(why, Some(NotifyReason::WindowElapsed));
        assert_eq!(
            (c.count, c.first_seen, c.last_notified),
            (6, at(10), Some(at(50)))
        );
    }

    #[test]
    fn older_events_move_first_seen_and_never_reopen_the_window() {
        let p = NotifyPolicy {
            suppression_window_minutes: 60,
            escalation_tiers: vec![],
            ..NotifyPolicy::default()
        };
        let (c, _) = advance(None, &sight("a", 100), &p);
        let (c, why) = advance(Some(&c), &sight("b", 10), &p);
        assert_eq!(why, None);
        assert_eq!((c.first_seen, c.last_seen), (at(10), at(100)));
    }

    #[test]
    fn group_ids_cannot_collide() {
        let a = GroupKey::detection("r", "1", "a#b", "c", None);
        let b = GroupKey::detection("r", "1", "a", "b#c", None);
        assert_ne!(a.id(), b.id());
        let issued = GroupKey::detection("r", "1", "a#b", "c", Some("arn:aws:iam::1:user/broker"));
        assert_eq!(
            a.id(),
            "r#1#a%23b#c",
            "without an issuer the id is as it always was"
        );
        assert_eq!(issued.id(), "r#1#a%23b#c#arn:aws:iam::1:user/broker");
        assert_eq!(issued.field("issuer"), Some("arn:aws:iam::1:user/broker"));
    }
}
