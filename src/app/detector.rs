//! The detection service: a record in, rules evaluated, the detection counted
//! in the store, findings out. Used alike by `replay` and the Lambda.

use crate::domain::counter::{
    CounterStore, GroupKey, NotifyPolicy, Recorded, Sighting, StoreError,
};
use crate::domain::finding::Finding;
use crate::domain::observed::Observed;
use crate::domain::rules::{Rule, RuleSet, Verdict};
use crate::domain::time::Timestamp;
use crate::domain::tuning::AllowlistHit;

/// One counted detection (or a redelivered one whose notification is still owed).
#[derive(Debug, Clone)]
pub struct Detection {
    pub rule: &'static Rule,
    pub finding: Finding,
    pub sighting: Sighting,
    /// A redelivery of an event counted before whose notification was never
    /// confirmed: send it, do not count it.
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
    pub duplicates: Vec<&'static Rule>,
    /// Matches an operator allowlist let pass.
    pub allowlisted: Vec<(&'static Rule, AllowlistHit)>,
}

/// Where notifying findings go (SNS in the Lambda).
pub trait Notifier {
    fn notify(
        &self,
        detection: &Detection,
        policy: &NotifyPolicy,
    ) -> impl Future<Output = Result<(), NotifyError>> + Send;
}

/// A notification could not be sent; worth a retry.
#[derive(Debug, thiserror::Error)]
#[error("publishing finding {finding_id} failed: {source}")]
pub struct NotifyError {
    pub finding_id: String,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// Why processing a record stopped. Both kinds are transient: retry the event.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Notify(#[from] NotifyError),
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

    pub fn policy(&self) -> &NotifyPolicy {
        &self.policy
    }

    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// Evaluates every rule on `observed` and counts each match once.
    /// `fallback_time` stands in for a record with no readable time.
    pub async fn observe(
        &self,
        observed: &Observed<'_>,
        fallback_time: Timestamp,
    ) -> Result<Outcome, StoreError> {
        let mut outcome = Outcome::default();
        for (rule, verdict) in self.rules.evaluate(&observed.record) {
            match verdict {
                Verdict::NoMatch => {}
                Verdict::Allowlisted(hit) => outcome.allowlisted.push((rule, hit)),
                Verdict::Match => {
                    let facts = observed.facts(fallback_time);
                    let key = GroupKey {
                        rule_id: rule.id.to_owned(),
                        account: facts.account.clone(),
                        user: facts.principal.user.clone(),
                        src: facts.src.clone(),
                    };
                    let sighting = Sighting {
                        key,
                        event_id: facts.event_id.clone(),
                        event_time: facts.event_time,
                    };
                    let (counters, notify, redelivered) =
                        match self.store.record(&sighting, &self.policy).await? {
                            Recorded::Counted { counters, notify } => (counters, notify, false),
                            Recorded::Duplicate { pending: Some(p) } => {
                                (p.counters, Some(p.reason), true)
                            }
                            Recorded::Duplicate { pending: None } => {
                                outcome.duplicates.push(rule);
                                continue;
                            }
                        };
                    let finding = Finding::new(rule, facts, &sighting.key, &counters, notify);
                    outcome.detections.push(Detection {
                        rule,
                        finding,
                        sighting,
                        redelivered,
                    });
                }
            }
        }
        Ok(outcome)
    }

    /// Observes a record and sends every notification it owes, confirming
    /// each one only after it was sent: a failure leaves it owed, and the
    /// retried event sends it without counting again.
    pub async fn process<N: Notifier>(
        &self,
        notifier: &N,
        observed: &Observed<'_>,
        fallback_time: Timestamp,
    ) -> Result<Outcome, ProcessError> {
        let outcome = self.observe(observed, fallback_time).await?;
        for d in outcome.detections.iter().filter(|d| d.notify()) {
            notifier.notify(d, &self.policy).await?;
            self.confirm_notified(d).await?;
        }
        Ok(outcome)
    }

    /// Records that the notification for `detection` was sent.
    pub async fn confirm_notified(&self, detection: &Detection) -> Result<(), StoreError> {
        self.store.mark_notified(&detection.sighting).await
    }
}
