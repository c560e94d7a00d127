//! The detection service: a record in, rules evaluated, each match counted
//! in the store, notifications sent and confirmed, the outcome out. The
//! Lambda and `replay` both call [`Detector::process`].

use crate::domain::correlation;
use crate::domain::counter::{
    AlertRecorded, CounterStore, Feed, GroupKey, NotifyPolicy, Recorded, Sighting, StoreError,
};
use crate::domain::finding::Finding;
use crate::domain::notify::{Notice, Notifier, NotifyError};
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
}

impl Detection {
    pub fn notify(&self) -> bool {
        self.finding.notify
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
        let outcome = self.observe(observed, fallback_time).await?;
        for d in outcome.detections.iter().filter(|d| d.notify()) {
            let notice = Notice {
                finding: &d.finding,
                rule: &d.rule,
                policy: &self.policy,
            };
            notifier.notify(&notice).await?;
            self.store.mark_notified(&d.sighting).await?;
        }
        Ok(outcome)
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
}
