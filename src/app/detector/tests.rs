//! The detector on the in-memory store: future-dated records, the flood
//! budget per account, and detections that fail for good.
use super::*;
use crate::adapters::counting_notifier::CountingNotifier;
use crate::adapters::memory_store::MemoryStore;
use crate::domain::store::Recorded;
use crate::intake::decode::decode_record;

const DAY: i64 = 86_400_000;

/// The pack with the default policy, on the in-memory store.
fn pack_detector() -> Detector<MemoryStore> {
    Detector::new(
        RuleSet::default(),
        NotifyPolicy::default(),
        MemoryStore::new(),
    )
}

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
    let detector = pack_detector();
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
    let mut r = crate::test_support::sample_detail("rule2-federated-getsignintoken-no-mfa.json");
    let name = format!("minted-{i}");
    r["eventID"] = format!("flood-{i}").into();
    r["eventTime"] = time.into();
    r["userIdentity"]["principalId"] = format!("111122223333:{name}").into();
    r["userIdentity"]["arn"] = format!("arn:aws:sts::111122223333:federated-user/{name}").into();
    serde_json::to_vec(&r).unwrap()
}

#[tokio::test]
async fn a_flood_of_new_groups_sends_the_budget_and_one_digest() {
    let detector = pack_detector();
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
        detector.send_digests(&notifier, end).await.unwrap().sent,
        0,
        "within the grace"
    );
    let later = Timestamp::parse("2026-11-20T10:15:00Z").unwrap();
    assert_eq!(
        detector.send_digests(&notifier, later).await.unwrap().sent,
        1
    );
    assert_eq!(
        detector.send_digests(&notifier, later).await.unwrap().sent,
        0,
        "sent once"
    );
    assert_eq!(notifier.sent() + notifier.digests(), 21);
    for g in &groups {
        let c = detector.store.counters(g).expect("every group counted");
        assert_eq!(c.count, 1);
    }
}

/// A root password recovery (it needs only the root e-mail address) in
/// `account` from `src`.
fn recovery(i: usize, account: &str, src: &str, time: &str) -> Vec<u8> {
    let mut r = crate::test_support::sample_detail("root-password-recovery.json");
    r["eventID"] = format!("recovery-{account}-{i}").into();
    r["eventTime"] = time.into();
    r["sourceIPAddress"] = src.into();
    r["recipientAccountId"] = account.into();
    r["userIdentity"]["accountId"] = account.into();
    r["userIdentity"]["principalId"] = account.into();
    r["userIdentity"]["arn"] = format!("arn:aws:iam::{account}:root").into();
    serde_json::to_vec(&r).unwrap()
}

#[tokio::test]
async fn one_accounts_noise_never_folds_another_accounts_first_message() {
    let detector = pack_detector();
    let notifier = CountingNotifier::new();
    let t0 = Timestamp::parse("2026-11-20T09:00:00Z").unwrap();
    let budget = detector.policy().budget_per_rule_hour as usize;
    let mut folded = Vec::new();
    for i in 0..budget + 5 {
        let at = Timestamp::from_millis(t0.as_millis() + i as i64 * 60_000);
        let bytes = recovery(
            i,
            "999988887777",
            &format!("203.0.113.{i}"),
            &at.to_string(),
        );
        let o = decode_record(&bytes).unwrap();
        for d in detector
            .process(&notifier, &o, at)
            .await
            .unwrap()
            .detections
        {
            if d.folded {
                folded.push(d.finding);
            }
        }
    }
    assert_eq!(
        notifier.sent() as usize,
        budget,
        "the sandbox spent its budget"
    );
    assert_eq!(folded.len(), 5);
    // Replay and the function's reply say what was folded, and why.
    for f in &folded {
        assert!(!f.notify, "a folded finding does not notify");
        let why = f.folded.as_deref().unwrap_or_default();
        assert!(
            why.contains("budget") && why.contains("999988887777"),
            "{why}"
        );
    }
    let at = Timestamp::from_millis(t0.as_millis() + 30 * 60_000);
    let production = recovery(0, "111122223333", "198.51.100.7", &at.to_string());
    let o = decode_record(&production).unwrap();
    let outcome = detector.process(&notifier, &o, at).await.unwrap();
    assert!(
        outcome.detections.iter().all(|d| d.sent()),
        "production's first message is sent"
    );
    assert_eq!(notifier.sent() as usize, budget + 1);
    // A high detection's digest does not wait for the hour's end: the
    // next sweep sends it.
    let sweep = Timestamp::from_millis(at.as_millis() + 15 * 60_000);
    assert_eq!(
        detector.send_digests(&notifier, sweep).await.unwrap().sent,
        1
    );
    assert_eq!(
        detector.send_digests(&notifier, sweep).await.unwrap().sent,
        0
    );
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
    assert_eq!(
        detector.send_digests(&notifier, later).await.unwrap().sent,
        0
    );
}

/// The in-memory store, refusing for good every request about `rule_id`
/// (only its digests, with `digests_only`).
struct Refusing {
    inner: MemoryStore,
    rule_id: String,
    digests_only: bool,
}

impl Refusing {
    fn check(&self, rule_id: &str) -> Result<(), StoreError> {
        if rule_id == self.rule_id && !self.digests_only {
            return self.refuse(rule_id);
        }
        Ok(())
    }

    fn refuse(&self, rule_id: &str) -> Result<(), StoreError> {
        if rule_id == self.rule_id {
            return Err(StoreError::Rejected {
                operation: "TransactWriteItems",
                message: "injected".into(),
            });
        }
        Ok(())
    }
}

impl CounterStore for Refusing {
    async fn record(&self, s: &Sighting, p: &NotifyPolicy) -> Result<Recorded, StoreError> {
        self.check(&s.key.rule_id)?;
        self.inner.record(s, p).await
    }
    async fn mark_notified(&self, s: &Sighting) -> Result<(), StoreError> {
        self.inner.mark_notified(s).await
    }
    async fn correlate(
        &self,
        f: &Feed<'_>,
        p: &NotifyPolicy,
    ) -> Result<crate::domain::store::Correlated, StoreError> {
        self.check(&f.key.rule_id)?;
        self.inner.correlate(f, p).await
    }
}

impl BudgetStore for Refusing {
    async fn spend(&self, k: &BudgetKey, s: &Sighting, b: u32) -> Result<Spend, StoreError> {
        self.inner.spend(k, s, b).await
    }
    async fn fold(&self, k: &BudgetKey, s: &Sighting, f: &Folded) -> Result<(), StoreError> {
        self.inner.fold(k, s, f).await
    }
    async fn owed_digests(
        &self,
        now: Timestamp,
    ) -> Result<Vec<crate::domain::budget::OwedDigest>, StoreError> {
        self.inner.owed_digests(now).await
    }
    async fn digest(
        &self,
        owed: &crate::domain::budget::OwedDigest,
        max: usize,
    ) -> Result<crate::domain::budget::Digest, StoreError> {
        self.refuse(&owed.key.rule_id)?;
        self.inner.digest(owed, max).await
    }
    async fn mark_digest_sent(&self, d: &crate::domain::budget::Digest) -> Result<(), StoreError> {
        self.inner.mark_digest_sent(d).await
    }
}

/// The pack on a store that refuses `rule` for good (its digests only,
/// with `digests_only`).
fn refusing(rule: &str, digests_only: bool) -> Detector<Refusing> {
    let rules = RuleSet::default();
    let rule_id = rules
        .rules()
        .find(|r| r.meta.name == rule)
        .unwrap()
        .id
        .clone();
    let store = Refusing {
        inner: MemoryStore::new(),
        rule_id,
        digests_only,
    };
    Detector::new(rules, NotifyPolicy::default(), store)
}

#[tokio::test]
async fn a_detection_refused_for_good_does_not_stop_the_records_others() {
    // A root console sign-in failing MFA fires failed-mfa and feeds the
    // failed-mfa-3 correlation; the store refuses failed-mfa for good.
    let detector = refusing("failed-mfa", false);
    let notifier = CountingNotifier::new();
    let t0 = Timestamp::parse("2026-11-20T09:00:00Z").unwrap();
    let mut failed = 0;
    let mut correlated = 0;
    for i in 0..3 {
        let at = Timestamp::from_millis(t0.as_millis() + i * 60_000);
        let bytes = failed_mfa(&format!("mfa-{i}"), &at.to_string());
        let o = decode_record(&bytes).unwrap();
        let outcome = detector
            .process(&notifier, &o, at)
            .await
            .expect("a permanent failure is reported in the outcome, not as an error");
        for f in &outcome.failed {
            assert_eq!(f.rule.name, "failed-mfa");
            assert!(!f.error.is_transient());
            failed += 1;
        }
        correlated += outcome.fed;
    }
    assert_eq!(failed, 3, "each record reports its refused detection");
    assert!(correlated >= 3, "the correlations were fed all the same");
}

#[tokio::test]
async fn one_digest_that_fails_stays_owed_and_the_others_are_sent() {
    let detector = refusing("federated-single-factor", true);
    let notifier = CountingNotifier::new();
    let t0 = Timestamp::parse("2026-11-20T09:00:00Z").unwrap();
    for i in 0..25 {
        let at = Timestamp::from_millis(t0.as_millis() + i as i64 * 60_000);
        for bytes in [
            minted(i, &at.to_string()),
            recovery(
                i,
                "999988887777",
                &format!("203.0.113.{i}"),
                &at.to_string(),
            ),
        ] {
            let o = decode_record(&bytes).unwrap();
            detector.process(&notifier, &o, at).await.unwrap();
        }
    }
    let later = Timestamp::parse("2026-11-20T10:15:00Z").unwrap();
    let done = detector.send_digests(&notifier, later).await.unwrap();
    assert_eq!((done.sent, done.failed), (1, 1));
    let again = detector.send_digests(&notifier, later).await.unwrap();
    assert_eq!(
        (again.sent, again.failed),
        (0, 1),
        "the failed one stays owed"
    );
}
