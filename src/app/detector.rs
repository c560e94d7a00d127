//! The detection service: a record in, rules evaluated, each match counted
//! in the store, notifications sent and confirmed, the outcome out. The
//! Lambda and `replay` both call [`Detector::process`].

use crate::domain::budget::{BudgetKey, Folded, Spend};
use crate::domain::correlation;
use crate::domain::counter::{
    AlertRecorded, CounterStore, Feed, GroupKey, NotifyPolicy, Recorded, Sighting, StoreError,
};
use crate::domain::finding::Finding;
use crate::domain::notify::{DigestNotice, Notice, Notifier, NotifyError};
use crate::domain::observed::Observed;
use std::sync::Arc;

use crate::domain::record::field_is;
use crate::domain::rules::{AllowlistHit, Rule, RuleMeta, RuleSet, Verdict};
use crate::domain::time::Timestamp;

/// One counted detection (or a redelivered one whose notification is still owed).
#[derive(Debug, Clone)]
pub struct Detection {
    /// The rule that made it.
    pub rule: Arc<RuleMeta>,
    pub finding: Finding,
    pub sighting: Sighting,
    /// A redelivery of an event counted before whose notification was never
    /// confirmed: it is sent, not counted.
    pub redelivered: bool,
    /// Its notification exceeded the rule's hourly budget: it went into the
    /// hour's digest instead of a message of its own.
    pub folded: bool,
}

impl Detection {
    /// Whether the policy says it is worth a notification (a message, or a
    /// line of a digest when the budget is spent).
    pub fn notify(&self) -> bool {
        self.finding.notify
    }

    /// Whether it was sent as a message of its own.
    pub fn sent(&self) -> bool {
        self.notify() && !self.folded
    }
}

/// What one record produced.
#[derive(Debug, Default)]
pub struct Outcome {
    pub detections: Vec<Detection>,
    /// Matches whose eventID was already counted (and notified, if owed).
    pub duplicates: Vec<Arc<RuleMeta>>,
    /// Matches an operator allowlist let pass.
    pub allowlisted: Vec<(Arc<RuleMeta>, AllowlistHit)>,
    /// Correlation groups the record fed (each costs the store one read and
    /// one atomic write).
    pub fed: usize,
    /// Correlations the record came too late for: older than the group's
    /// latest event by more than the lateness horizon, it was not counted.
    pub too_late: Vec<Arc<RuleMeta>>,
    /// The record states a time past its receipt (beyond the tolerance): its
    /// counts and windows used the time of receipt instead.
    pub future_dated: bool,
}

/// Why processing a record stopped.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Notify(#[from] NotifyError),
}

impl ProcessError {
    /// Whether the same record may be processed later with success.
    pub fn is_transient(&self) -> bool {
        match self {
            ProcessError::Store(e) => e.is_transient(),
            ProcessError::Notify(e) => e.is_transient(),
        }
    }
}

pub struct Detector<S> {
    rules: RuleSet,
    policy: NotifyPolicy,
    store: S,
}

impl<S: CounterStore> Detector<S> {
    pub fn new(rules: RuleSet, policy: NotifyPolicy, store: S) -> Self {
        Detector {
            rules,
            policy,
            store,
        }
    }

    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    pub fn policy(&self) -> &NotifyPolicy {
        &self.policy
    }

    /// Evaluates every rule on `observed`, counts each match once and sends
    /// every notification it owes, confirming each in the store only after
    /// it was sent: a failure leaves it owed, and the retried event sends it
    /// without counting again. `fallback_time` stands in for a record with
    /// no readable time.
    pub async fn process<N: Notifier>(
        &self,
        notifier: &N,
        observed: &Observed<'_>,
        fallback_time: Timestamp,
    ) -> Result<Outcome, ProcessError> {
        let mut outcome = self.observe(observed, fallback_time).await?;
        for d in outcome.detections.iter_mut().filter(|d| d.notify()) {
            let key = BudgetKey::new(&d.sighting.key.rule_id, d.sighting.event_time);
            if self.spend(&key, &d.sighting).await? == Spend::Within {
                let notice = Notice {
                    finding: &d.finding,
                    rule: &d.rule,
                    policy: &self.policy,
                };
                notifier.notify(&notice).await?;
            } else {
                self.store
                    .fold(&key, &d.sighting, &Folded::of(&d.finding))
                    .await?;
                d.folded = true;
            }
            self.store.mark_notified(&d.sighting).await?;
        }
        Ok(outcome)
    }

    /// Spends from the rule-hour budget `key` (always within when the
    /// policy sets none).
    async fn spend(&self, key: &BudgetKey, sighting: &Sighting) -> Result<Spend, StoreError> {
        let budget = self.policy.budget_per_rule_hour;
        if budget == 0 {
            return Ok(Spend::Within);
        }
        self.store.spend(key, sighting, budget).await
    }

    /// Sends every digest owed at `now` (rule-hours past their grace with
    /// folds no digest listed), confirming each in the store once sent; a
    /// failure leaves it owed for the next sweep. Returns how many it sent.
    pub async fn send_digests<N: Notifier>(
        &self,
        notifier: &N,
        now: Timestamp,
    ) -> Result<usize, ProcessError> {
        let mut sent = 0;
        for digest in self.store.due_digests(now).await? {
            let Some(rule) = self.meta(&digest.key.rule_id) else {
                // A rule switched off since the fold: its digest stays owed
                // (never lost) until the rule is back or the item expires.
                tracing::warn!(rule_id = %digest.key.rule_id, "digest owed for a rule not loaded");
                continue;
            };
            let notice = DigestNotice {
                digest: &digest,
                rule: &rule,
                policy: &self.policy,
            };
            notifier.notify_digest(&notice).await?;
            self.store.mark_digest_sent(&digest).await?;
            sent += 1;
        }
        Ok(sent)
    }

    /// The metadata of the rule or correlation with Sigma id `id`.
    fn meta(&self, id: &str) -> Option<Arc<RuleMeta>> {
        self.rules
            .rules()
            .map(|r| &r.meta)
            .chain(self.rules.correlations().iter().map(|c| &c.meta))
            .find(|m| m.id == id)
            .cloned()
    }

    /// Evaluates every rule on `observed` and counts each match once.
    async fn observe(
        &self,
        observed: &Observed<'_>,
        fallback_time: Timestamp,
    ) -> Result<Outcome, StoreError> {
        let mut outcome = Outcome {
            future_dated: observed.is_future_dated(fallback_time),
            ..Outcome::default()
        };
        let evaluation = self.rules.evaluate(&observed.record);
        for (rule, verdict) in evaluation.verdicts {
            // Building blocks make no finding; correlation rules count them.
            if !self.rules.makes_findings(&rule) {
                continue;
            }
            if let Verdict::Allowlisted(hit) = verdict {
                outcome.allowlisted.push((rule.meta.clone(), hit));
                continue;
            }
            let facts = observed.facts(fallback_time);
            let sighting = Sighting {
                key: GroupKey::detection(
                    &rule.id,
                    &facts.account,
                    &facts.principal.user,
                    &facts.src,
                    field_is(facts.principal.identity_type.as_deref(), "FederatedUser")
                        .then_some(facts.principal.session_issuer.as_deref())
                        .flatten(),
                ),
                event_id: facts.event_id.clone(),
                event_time: facts.event_time,
            };
            let (counters, notify, redelivered) =
                match self.store.record(&sighting, &self.policy).await? {
                    Recorded::Counted { counters, notify } => (counters, notify, false),
                    Recorded::Duplicate { pending: Some(p) } => (p.counters, Some(p.reason), true),
                    Recorded::Duplicate { pending: None } => {
                        outcome.duplicates.push(rule.meta.clone());
                        continue;
                    }
                };
            let finding = Finding::new(&rule, facts, &sighting.key, &counters, notify);
            outcome.detections.push(Detection {
                rule: rule.meta.clone(),
                finding,
                sighting,
                redelivered,
                folded: false,
            });
        }
        let matched: Vec<&Rule> = evaluation.matched.iter().map(|r| r.as_ref()).collect();
        if matched.is_empty() {
            return Ok(outcome);
        }
        let source = correlation::FeedSource::new(observed, observed.event_time(fallback_time));
        for c in self.rules.correlations() {
            for (fields, event) in correlation::feeds(c, &source, &matched) {
                let feed = Feed {
                    correlation: c,
                    key: GroupKey {
                        rule_id: c.id.clone(),
                        fields,
                    },
                    event,
                };
                outcome.fed += 1;
                let correlated = self.store.correlate(&feed, &self.policy).await?;
                if correlated.too_late {
                    outcome.too_late.push(c.meta.clone());
                }
                for recorded in correlated.alerts {
                    let AlertRecorded {
                        alert,
                        sighting,
                        recorded,
                    } = recorded;
                    let (counters, notify, redelivered) = match recorded {
                        Recorded::Counted { counters, notify } => (counters, notify, false),
                        Recorded::Duplicate { pending: Some(p) } => {
                            (p.counters, Some(p.reason), true)
                        }
                        Recorded::Duplicate { pending: None } => {
                            outcome.duplicates.push(c.meta.clone());
                            continue;
                        }
                    };
                    let finding = Finding::correlation(c, &alert, &sighting.key, &counters, notify);
                    outcome.detections.push(Detection {
                        rule: c.meta.clone(),
                        finding,
                        sighting,
                        redelivered,
                        folded: false,
                    });
                }
            }
        }
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::counting_notifier::CountingNotifier;
    use crate::adapters::memory_store::MemoryStore;
    use crate::intake::decode::decode_record;

    const DAY: i64 = 86_400_000;

    fn failed_mfa(event_id: &str, time: &str) -> Vec<u8> {
        let mut r = crate::test_support::sample_detail("rule1-failed-mfa-iam-user.json");
        r["eventID"] = event_id.into();
        r["eventTime"] = time.into();
        serde_json::to_vec(&r).unwrap()
    }

    /// Processes `bytes` as read at `received`; whether it notified.
    async fn notified(d: &Detector<MemoryStore>, bytes: &[u8], received: Timestamp) -> bool {
        let o = decode_record(bytes).unwrap();
        let outcome = d
            .process(&CountingNotifier::new(), &o, received)
            .await
            .unwrap();
        outcome
            .detections
            .iter()
            .any(|x| x.notify() && x.rule.name == "failed-mfa")
    }

    #[tokio::test]
    async fn a_record_dated_in_the_future_cannot_silence_its_group() {
        let detector = Detector::new(
            RuleSet::default(),
            NotifyPolicy::default(),
            MemoryStore::new(),
        );
        let t0 = Timestamp::parse("2026-11-20T09:00:00Z").unwrap();
        let poison = failed_mfa("poison", "9999-12-31T23:59:59Z");
        let o = decode_record(&poison).unwrap();
        assert!(o.is_future_dated(t0));
        assert_eq!(o.event_time(t0), t0, "counted at its receipt");
        assert!(notified(&detector, &poison, t0).await);
        let mut genuine = 0;
        for day in 1..=4 {
            let at = Timestamp::from_millis(t0.as_millis() + day * DAY);
            let bytes = failed_mfa(&format!("genuine-{day}"), &at.to_string());
            genuine += u32::from(notified(&detector, &bytes, at).await);
        }
        assert_eq!(genuine, 4, "each genuine sign-in a day apart notifies");
    }

    #[test]
    fn a_time_within_the_tolerance_is_the_events_own() {
        let t0 = Timestamp::parse("2026-11-20T09:00:00Z").unwrap();
        let near = failed_mfa("near", "2026-11-20T09:04:00Z");
        let o = decode_record(&near).unwrap();
        assert!(!o.is_future_dated(t0));
        assert_eq!(o.event_time(t0).to_string(), "2026-11-20T09:04:00Z");
        for unreadable in [
            "10000-01-01T00:00:00Z",
            "+9999-01-01T00:00:00Z",
            "-0001-01-01T00:00:00Z",
        ] {
            let bytes = failed_mfa("far", unreadable);
            let o = decode_record(&bytes).unwrap();
            assert_eq!(o.stated_time(), None, "{unreadable}");
            assert_eq!(
                o.event_time(t0),
                t0,
                "{unreadable}: the time of receipt stands in"
            );
        }
    }

    /// A federated sign-in without MFA by a freshly minted name: each one a
    /// new group, so a first detection.
    fn minted(i: usize, time: &str) -> Vec<u8> {
        let mut r =
            crate::test_support::sample_detail("rule2-federated-getsignintoken-no-mfa.json");
        let name = format!("minted-{i}");
        r["eventID"] = format!("flood-{i}").into();
        r["eventTime"] = time.into();
        r["userIdentity"]["principalId"] = format!("111122223333:{name}").into();
        r["userIdentity"]["arn"] =
            format!("arn:aws:sts::111122223333:federated-user/{name}").into();
        serde_json::to_vec(&r).unwrap()
    }

    #[tokio::test]
    async fn a_flood_of_new_groups_sends_the_budget_and_one_digest() {
        let detector = Detector::new(
            RuleSet::default(),
            NotifyPolicy::default(),
            MemoryStore::new(),
        );
        let notifier = CountingNotifier::new();
        let t0 = Timestamp::parse("2026-11-20T09:00:00Z").unwrap();
        let mut groups = std::collections::HashSet::new();
        let mut folded = 0;
        for i in 0..1000 {
            let at = Timestamp::from_millis(t0.as_millis() + i as i64 * 3_000);
            let bytes = minted(i, &at.to_string());
            let o = decode_record(&bytes).unwrap();
            let outcome = detector.process(&notifier, &o, at).await.unwrap();
            for d in outcome.detections {
                assert!(d.notify(), "each a first detection");
                folded += u64::from(d.folded);
                groups.insert(d.finding.group.clone());
            }
            // Redelivered: nothing more is sent or folded.
            let again = detector.process(&notifier, &o, at).await.unwrap();
            assert!(again.detections.is_empty());
        }
        assert_eq!(groups.len(), 1000);
        assert_eq!(notifier.sent(), 20, "the budget");
        assert_eq!(folded, 980);
        let end = Timestamp::parse("2026-11-20T10:00:00Z").unwrap();
        assert_eq!(
            detector.send_digests(&notifier, end).await.unwrap(),
            0,
            "within the grace"
        );
        let later = Timestamp::parse("2026-11-20T10:15:00Z").unwrap();
        assert_eq!(detector.send_digests(&notifier, later).await.unwrap(), 1);
        assert_eq!(
            detector.send_digests(&notifier, later).await.unwrap(),
            0,
            "sent once"
        );
        assert_eq!(notifier.sent() + notifier.digests(), 21);
        for g in &groups {
            let c = detector.store.counters(g).expect("every group counted");
            assert_eq!(c.count, 1);
        }
    }

    #[tokio::test]
    async fn a_budget_of_zero_folds_nothing() {
        let policy = NotifyPolicy {
            budget_per_rule_hour: 0,
            ..NotifyPolicy::default()
        };
        let detector = Detector::new(RuleSet::default(), policy, MemoryStore::new());
        let notifier = CountingNotifier::new();
        let t0 = Timestamp::parse("2026-11-20T09:00:00Z").unwrap();
        for i in 0..50 {
            let bytes = minted(i, &t0.to_string());
            let o = decode_record(&bytes).unwrap();
            detector.process(&notifier, &o, t0).await.unwrap();
        }
        assert_eq!(notifier.sent(), 50);
        let later = Timestamp::parse("2026-11-21T00:00:00Z").unwrap();
        assert_eq!(detector.send_digests(&notifier, later).await.unwrap(), 0);
    }
}
