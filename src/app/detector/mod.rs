//! The detection service: a record in, rules evaluated, each match counted
//! in the store, notifications sent and confirmed, the outcome out. The
//! Lambda and `replay` both call [`Detector::process`].

use crate::domain::budget::{BudgetKey, Folded, MAX_DIGEST_LISTED, Spend};
use crate::domain::correlation;
use crate::domain::counter::{GroupKey, NotifyPolicy, Sighting};
use crate::domain::finding::Finding;
use crate::domain::notify::{DigestNotice, Notice, Notifier, NotifyError};
use crate::domain::observed::Observed;
use crate::domain::store::{AlertRecorded, BudgetStore, CounterStore, Feed, StoreError};
use std::sync::Arc;

use crate::domain::record::field_is;
use crate::domain::rules::{AllowlistHit, Rule, RuleMeta, RuleSet, Severity, Verdict};
use crate::domain::time::Timestamp;
use crate::render;

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
    /// Its notification failed for good (see [`Outcome::failed`]).
    pub failed: bool,
}

impl Detection {
    /// A detection of `rule`, its notification not yet decided.
    fn new(rule: &Arc<RuleMeta>, finding: Finding, sighting: Sighting, redelivered: bool) -> Self {
        Detection {
            rule: rule.clone(),
            finding,
            sighting,
            redelivered,
            folded: false,
            failed: false,
        }
    }

    /// Whether the policy says it is worth a notification (a message, or a
    /// line of a digest when the budget is spent).
    pub fn notify(&self) -> bool {
        self.finding.notify || self.folded
    }

    /// Whether it was sent as a message of its own.
    pub fn sent(&self) -> bool {
        self.notify() && !self.folded && !self.failed
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
    /// Detections that failed for good (a store that refuses a request, a
    /// topic that refuses a message): the record's other detections and
    /// correlations went on. A transient failure fails the whole record
    /// instead, which is retried.
    pub failed: Vec<Failed>,
}

/// A store call's result for one rule's work on a record: a transient
/// error fails the record (it is retried whole); a permanent one is set
/// aside in `failed` (`None`), and the record's other work goes on.
fn set_aside<T>(
    result: Result<T, StoreError>,
    rule: &Arc<RuleMeta>,
    failed: &mut Vec<Failed>,
) -> Result<Option<T>, ProcessError> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_transient() => Err(e.into()),
        Err(e) => {
            failed.push(Failed {
                rule: rule.clone(),
                error: e.into(),
            });
            Ok(None)
        }
    }
}

/// What a sweep's digests came to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DigestsSent {
    pub sent: usize,
    /// Digests that failed and stay owed.
    pub failed: usize,
}

/// One rule's work on a record that failed for good.
#[derive(Debug)]
pub struct Failed {
    pub rule: Arc<RuleMeta>,
    pub error: ProcessError,
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

/// Why a finding sends no message of its own: it is a line of the digest
/// of `key`, past a budget of `budget` messages.
fn fold_reason(key: &BudgetKey, budget: u32) -> String {
    let when = if key.urgent {
        "sent by the next sweep"
    } else {
        "sent after the hour"
    };
    format!(
        "the budget of {budget} messages per rule, account and hour is spent for account {} \
         in the hour from {}: listed in that hour's digest ({when})",
        key.account, key.hour
    )
}

pub struct Detector<S> {
    rules: RuleSet,
    policy: NotifyPolicy,
    store: S,
}

impl<S: CounterStore + BudgetStore> Detector<S> {
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

    /// The store it counts in (the bucket path records its progress there).
    pub fn store(&self) -> &S {
        &self.store
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
            if let Err(error) = self.send(notifier, d).await {
                if error.is_transient() {
                    return Err(error);
                }
                d.failed = true;
                outcome.failed.push(Failed {
                    rule: d.rule.clone(),
                    error,
                });
            }
        }
        Ok(outcome)
    }

    /// Sends the notification `d` owes, or folds it into its digest past the
    /// budget, and confirms it in the store.
    async fn send<N: Notifier>(&self, notifier: &N, d: &mut Detection) -> Result<(), ProcessError> {
        let key = BudgetKey::new(
            &d.sighting.key.rule_id,
            &d.finding.account,
            d.sighting.event_time,
        )
        .urgent(d.finding.severity >= Severity::High);
        if self.spend(&key, &d.sighting).await? == Spend::Within {
            let notice = Notice {
                finding: &d.finding,
                rule: &d.rule,
                policy: &self.policy,
            };
            notifier.notify(&notice).await?;
        } else {
            self.store
                .fold(&key, &d.sighting, &Folded::from(&d.finding))
                .await?;
            d.folded = true;
            d.finding.notify = false;
            d.finding.folded = Some(fold_reason(&key, self.policy.budget_per_rule_hour));
        }
        self.store.mark_notified(&d.sighting).await?;
        Ok(())
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

    /// Sends every digest owed at `now` (rule-account-hours due with folds
    /// no digest listed), confirming each in the store once sent. One
    /// digest that fails (read, sent or confirmed) is logged and left owed
    /// for the next sweep; the others go on. Fails only when the owed
    /// digests cannot be listed.
    pub async fn send_digests<N: Notifier>(
        &self,
        notifier: &N,
        now: Timestamp,
    ) -> Result<DigestsSent, ProcessError> {
        let mut done = DigestsSent::default();
        for owed in self.store.owed_digests(now).await? {
            let Some(rule) = self.meta(&owed.key.rule_id) else {
                // A rule switched off since the fold: its digest stays owed
                // (never lost) until the rule is back or the item expires.
                tracing::warn!(rule_id = %owed.key.rule_id, "digest owed for a rule not loaded");
                continue;
            };
            let result: Result<bool, ProcessError> = async {
                let digest = self.store.digest(&owed, MAX_DIGEST_LISTED).await?;
                // Nothing left to list (a fold listed by the last digest
                // while it was being sent): settled without a message.
                let send = !digest.folded.is_empty();
                if send {
                    let notice = DigestNotice {
                        digest: &digest,
                        rule: &rule,
                        policy: &self.policy,
                    };
                    notifier.notify_digest(&notice).await?;
                }
                self.store.mark_digest_sent(&digest).await?;
                Ok(send)
            }
            .await;
            match result {
                Ok(sent) => done.sent += usize::from(sent),
                Err(error) => {
                    tracing::error!(
                        rule = %rule.name,
                        account = %owed.key.account,
                        hour = %owed.key.hour,
                        error = %error,
                        "a digest failed; it stays owed for the next sweep, the others go on"
                    );
                    done.failed += 1;
                }
            }
        }
        Ok(done)
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
    ) -> Result<Outcome, ProcessError> {
        let mut outcome = Outcome {
            future_dated: observed.is_future_dated(fallback_time),
            ..Outcome::default()
        };
        // A sign-in is located once, for the rules, the findings and the
        // correlations alike.
        let located;
        let observed = if observed.record.src_geo.is_none() && observed.record.is_from_signin() {
            let mut copy = observed.clone();
            copy.record.enrich(self.rules.locator());
            located = copy;
            &located
        } else {
            observed
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
            let recorded = self.store.record(&sighting, &self.policy).await;
            let Some(recorded) = set_aside(recorded, &rule.meta, &mut outcome.failed)? else {
                continue;
            };
            let Some((counters, notify, redelivered)) = recorded.to_report() else {
                outcome.duplicates.push(rule.meta.clone());
                continue;
            };
            let finding = Finding::new(&rule, facts, &sighting.key, &counters, notify);
            outcome
                .detections
                .push(Detection::new(&rule.meta, finding, sighting, redelivered));
        }
        let matched: Vec<&Rule> = evaluation.matched.iter().map(|r| r.as_ref()).collect();
        if matched.is_empty() {
            return Ok(outcome);
        }
        let source = correlation::FeedSource::new(observed, observed.event_time(fallback_time));
        let mut feeds = Vec::new();
        for c in self.rules.correlations() {
            for (fields, event) in correlation::feeds(c, &source, &matched) {
                feeds.push(Feed {
                    correlation: c,
                    key: GroupKey {
                        rule_id: c.id.clone(),
                        fields,
                    },
                    event,
                });
            }
        }
        // A record's baselines and travel are moved together: one read and
        // one transaction for all of them (docs/baselines.md#cost).
        let (together, alone): (Vec<Feed>, Vec<Feed>) =
            feeds.into_iter().partition(|f| f.correlation.has_memory());
        let mut fed = Vec::with_capacity(alone.len() + together.len());
        for feed in alone {
            let correlated = self.store.correlate(&feed, &self.policy).await;
            fed.push((feed, correlated));
        }
        let results = self.store.correlate_together(&together, &self.policy).await;
        fed.extend(together.into_iter().zip(results));
        for (feed, correlated) in fed {
            let c = feed.correlation;
            {
                outcome.fed += 1;
                let Some(correlated) = set_aside(correlated, &c.meta, &mut outcome.failed)? else {
                    continue;
                };
                if correlated.too_late {
                    outcome.too_late.push(c.meta.clone());
                }
                for recorded in correlated.alerts {
                    let AlertRecorded {
                        alert,
                        sighting,
                        recorded,
                    } = recorded;
                    let Some((counters, notify, redelivered)) = recorded.to_report() else {
                        outcome.duplicates.push(c.meta.clone());
                        continue;
                    };
                    let mut finding =
                        render::correlation_finding(c, &alert, &sighting.key, &counters, notify);
                    // Where the alert's source address is, as for any
                    // finding: the record's own place when it is this one.
                    finding.src_geo = match &observed.record.src_geo {
                        Some(geo)
                            if observed.record.source_ip_address.as_deref()
                                == Some(finding.src.as_str()) =>
                        {
                            Some(geo.clone())
                        }
                        _ => Some(std::sync::Arc::new(
                            self.rules.locator().locate(&finding.src),
                        )),
                    };
                    outcome.detections.push(Detection::new(
                        &c.meta,
                        finding,
                        sighting,
                        redelivered,
                    ));
                }
            }
        }
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests;
