//! The contract every counter store keeps, written once and run against each
//! store (in memory, DynamoDB). Uses only the `CounterStore` trait.
#![allow(dead_code)]

use std::sync::Arc;

use signin_watch::domain::budget::{BudgetKey, Digest, Folded, Spend};
use signin_watch::domain::counter::{Counters, GroupKey, NotifyPolicy, NotifyReason, Sighting};
use signin_watch::domain::store::{BudgetStore, CounterStore, Recorded};
use signin_watch::domain::time::Timestamp;

pub fn sighting(user: &str, event_id: &str, minute: i64) -> Sighting {
    Sighting {
        key: GroupKey::detection(
            "55349868-5583-466f-98ab-d3beb321961e",
            "111122223333",
            user,
            "203.0.113.7",
            None,
        ),
        event_id: event_id.into(),
        event_time: Timestamp::from_millis(1_763_600_000_000 + minute * 60_000),
    }
}

fn counted(r: Recorded) -> (Counters, Option<NotifyReason>) {
    match r {
        Recorded::Counted { counters, notify } => (counters, notify),
        other => panic!("expected Counted, got {other:?}"),
    }
}

pub async fn counts_each_event_once<S: CounterStore + BudgetStore>(store: &S) {
    let p = NotifyPolicy::default();
    let s = sighting("once", "ev-1", 0);
    let (c, why) = counted(store.record(&s, &p).await.expect("store"));
    assert_eq!((c.count, why), (1, Some(NotifyReason::FirstDetection)));
    store.mark_notified(&s).await.expect("store");
    for _ in 0..4 {
        assert_eq!(
            store.record(&s, &p).await.expect("store"),
            Recorded::Duplicate { pending: None }
        );
    }
    let (c, _) = counted(
        store
            .record(&sighting("once", "ev-2", 1), &p)
            .await
            .expect("store"),
    );
    assert_eq!(c.count, 2);
}

pub async fn min_and_max_hold_out_of_order<S: CounterStore + BudgetStore>(store: &S) {
    let p = NotifyPolicy::default();
    let mut last = None;
    for (id, minute) in [("b", 50), ("a", 10), ("d", 90), ("c", 70), ("e", 30)] {
        last = Some(
            counted(
                store
                    .record(&sighting("order", id, minute), &p)
                    .await
                    .expect("store"),
            )
            .0,
        );
    }
    let c = last.expect("five sightings");
    assert_eq!(c.count, 5);
    assert_eq!(c.first_seen, sighting("", "", 10).event_time);
    assert_eq!(c.last_seen, sighting("", "", 90).event_time);
}

pub async fn an_unconfirmed_notification_is_owed_on_redelivery<S: CounterStore + BudgetStore>(
    store: &S,
) {
    let p = NotifyPolicy::default();
    let s = sighting("owed", "ev-owed", 0);
    let (c, why) = counted(store.record(&s, &p).await.expect("store"));
    assert!(why.is_some());
    // The publish failed: the redelivery must hand the same notification back, uncounted.
    match store.record(&s, &p).await.expect("store") {
        Recorded::Duplicate {
            pending: Some(pending),
        } => {
            assert_eq!(pending.counters, c);
            assert_eq!(pending.reason, NotifyReason::FirstDetection);
        }
        other => panic!("expected a pending notification, got {other:?}"),
    }
    store.mark_notified(&s).await.expect("store");
    assert_eq!(
        store.record(&s, &p).await.expect("store"),
        Recorded::Duplicate { pending: None }
    );
    // A detection that did not notify owes nothing.
    let quiet = sighting("owed", "ev-quiet", 1);
    let (c, why) = counted(store.record(&quiet, &p).await.expect("store"));
    assert_eq!((c.count, why), (2, None));
    assert_eq!(
        store.record(&quiet, &p).await.expect("store"),
        Recorded::Duplicate { pending: None }
    );
}

pub async fn window_and_tiers_decide_notifications<S: CounterStore + BudgetStore>(store: &S) {
    let p = NotifyPolicy {
        suppression_window_minutes: 60,
        escalation_tiers: vec![3],
        ..NotifyPolicy::default()
    };
    let mut reasons = Vec::new();
    for (i, minute) in [0, 1, 2, 3, 70].into_iter().enumerate() {
        let s = sighting("policy", &format!("p{i}"), minute);
        let (_, why) = counted(store.record(&s, &p).await.expect("store"));
        if why.is_some() {
            store.mark_notified(&s).await.expect("store");
        }
        reasons.push(why);
    }
    assert_eq!(
        reasons,
        vec![
            Some(NotifyReason::FirstDetection),
            None,
            Some(NotifyReason::EscalationTier(3)),
            None,
            Some(NotifyReason::WindowElapsed)
        ]
    );
}

/// `n` concurrent sightings of one group, each delivered twice: the count is
/// exactly `n`, and only the notifications the policy allows are decided.
pub async fn concurrent_sightings_count_exactly<S>(store: Arc<S>, n: usize)
where
    S: CounterStore + BudgetStore + Send + Sync + 'static,
{
    let p = NotifyPolicy {
        suppression_window_minutes: 24 * 60,
        escalation_tiers: vec![5, 25],
        ..NotifyPolicy::default()
    };
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        for _ in 0..2 {
            let (store, p) = (store.clone(), p.clone());
            tasks.spawn(async move {
                store
                    .record(&sighting("busy", &format!("c{i}"), (i % 7) as i64), &p)
                    .await
            });
        }
    }
    let mut counts = Vec::new();
    let mut notified = Vec::new();
    let mut duplicates = 0;
    while let Some(joined) = tasks.join_next().await {
        match joined.expect("task").expect("store") {
            Recorded::Counted { counters, notify } => {
                counts.push(counters.count);
                notified.extend(notify);
            }
            Recorded::Duplicate { .. } => duplicates += 1,
        }
    }
    counts.sort_unstable();
    assert_eq!(
        counts,
        (1..=n as u64).collect::<Vec<_>>(),
        "each count handed out exactly once"
    );
    assert_eq!(duplicates, n);
    notified.sort_by_key(|r| format!("{r:?}"));
    let mut want = vec![NotifyReason::FirstDetection];
    want.extend(
        [5u64, 25]
            .into_iter()
            .filter(|t| *t as usize <= n)
            .map(NotifyReason::EscalationTier),
    );
    want.sort_by_key(|r| format!("{r:?}"));
    assert_eq!(notified, want);
}

fn folded(s: &Sighting) -> Folded {
    Folded {
        finding_id: format!("f-{}", s.event_id),
        group: s.key.id(),
        event_id: s.event_id.clone(),
        event_time: s.event_time,
        account: "111122223333".into(),
        user: s.key.field("user").unwrap_or_default().into(),
        src: "203.0.113.7".into(),
        place: Some("Germany, AS3320 Deutsche Telekom AG, isp".into()),
        count: 1,
        reason: Some(NotifyReason::FirstDetection),
    }
}

/// Every digest owed at `now`, each listing at most `max`.
async fn owed<S: CounterStore + BudgetStore>(store: &S, now: Timestamp, max: usize) -> Vec<Digest> {
    let mut out = Vec::new();
    for owed in store.owed_digests(now).await.expect("owed digests") {
        out.push(store.digest(&owed, max).await.expect("digest"));
    }
    out
}

/// A digest of many folds lists the earliest `max` (read with memory
/// bounded by it) and counts them all.
pub async fn a_digest_lists_the_earliest_and_counts_the_rest<S: CounterStore + BudgetStore>(
    store: &S,
) {
    let s: Vec<Sighting> = (0..30)
        .rev()
        .map(|i| sighting(&format!("many-{i}"), &format!("mn{i:02}"), i))
        .collect();
    let key = BudgetKey::new(&s[0].key.rule_id, "555566667777", s[0].event_time);
    for x in &s {
        store.fold(&key, x, &folded(x)).await.expect("fold");
    }
    let after = Timestamp::from_millis(key.hour_end().as_millis() + 16 * 60_000);
    let due = owed(store, after, 7).await;
    let d = due.iter().find(|d| d.key == key).expect("owed");
    assert_eq!(d.folded_count, 30);
    let ids: Vec<&str> = d.folded.iter().map(|f| f.event_id.as_str()).collect();
    assert_eq!(
        ids,
        ["mn00", "mn01", "mn02", "mn03", "mn04", "mn05", "mn06"]
    );
    // Each listed fold comes back whole, where its address is included.
    assert_eq!(d.folded[0], folded(&s[s.len() - 1]));
    store.mark_digest_sent(d).await.expect("sent");
    assert!(
        due_for(store, after, &key).await.is_none(),
        "all 30 counted as listed"
    );
    // One more folds (a flood still going on): the next digest lists the
    // latest folds no digest listed, the new one among them.
    let late = sighting("many-late", "mn99", 59);
    store.fold(&key, &late, &folded(&late)).await.expect("fold");
    let d = due_for_listing(store, after, &key, 3)
        .await
        .expect("owed again");
    let ids: Vec<&str> = d.folded.iter().map(|f| f.event_id.as_str()).collect();
    assert_eq!(
        ids,
        ["mn28", "mn29", "mn99"],
        "the latest not listed before"
    );
    assert_eq!((d.folded_count, d.listed_before), (31, 30));
}

async fn due_for_listing<S: CounterStore + BudgetStore>(
    store: &S,
    now: Timestamp,
    key: &BudgetKey,
    max: usize,
) -> Option<Digest> {
    owed(store, now, max)
        .await
        .into_iter()
        .find(|d| &d.key == key)
}

async fn due_for<S: CounterStore + BudgetStore>(
    store: &S,
    now: Timestamp,
    key: &BudgetKey,
) -> Option<Digest> {
    owed(store, now, 1)
        .await
        .into_iter()
        .find(|d| &d.key == key)
}

/// A budget of 3: three messages, then folds; a redelivery spends nothing
/// more and gets what it got; the digest is owed once the hour's grace has
/// passed, lists each fold once, and is owed again only for later folds,
/// which it then lists.
pub async fn the_budget_folds_what_exceeds_it_into_one_digest<S: CounterStore + BudgetStore>(
    store: &S,
) {
    let s: Vec<Sighting> = (0..6)
        .map(|i| sighting(&format!("flood-{i}"), &format!("fl{i}"), i))
        .collect();
    let key = BudgetKey::new(&s[0].key.rule_id, "111122223333", s[0].event_time);
    assert_eq!(
        key,
        BudgetKey::new(&s[5].key.rule_id, "111122223333", s[5].event_time),
        "one hour"
    );
    let mut spent = Vec::new();
    for x in &s[..5] {
        spent.push(store.spend(&key, x, 3).await.expect("spend"));
    }
    use Spend::{Folded as F, Within as W};
    assert_eq!(spent, vec![W, W, W, F, F]);
    assert_eq!(
        store.spend(&key, &s[1], 3).await.expect("spend"),
        W,
        "a redelivery of a sent one"
    );
    for x in &s[3..5] {
        store.fold(&key, x, &folded(x)).await.expect("fold");
        store.fold(&key, x, &folded(x)).await.expect("fold twice");
    }
    assert_eq!(
        store.spend(&key, &s[3], 3).await.expect("spend"),
        F,
        "a redelivery of a folded one"
    );

    let during = key.hour_end();
    assert!(
        owed(store, during, 100).await.is_empty(),
        "within the grace"
    );
    let after = Timestamp::from_millis(key.hour_end().as_millis() + 16 * 60_000);
    let due = owed(store, after, 100).await;
    assert_eq!(due.len(), 1);
    let ids: Vec<&str> = due[0].folded.iter().map(|f| f.event_id.as_str()).collect();
    assert_eq!(ids, ["fl3", "fl4"], "each fold once, in event time");
    assert_eq!(due[0].listed_before, 0);
    store.mark_digest_sent(&due[0]).await.expect("sent");
    assert!(owed(store, after, 100).await.is_empty(), "sent");

    // A late event of the same hour: the digest is owed again, counting all
    // and listing what no digest listed.
    assert_eq!(store.spend(&key, &s[5], 3).await.expect("spend"), F);
    store.fold(&key, &s[5], &folded(&s[5])).await.expect("fold");
    let due = owed(store, after, 100).await;
    assert_eq!(due.len(), 1);
    assert_eq!((due[0].folded_count, due[0].listed_before), (3, 2));
    let ids: Vec<&str> = due[0].folded.iter().map(|f| f.event_id.as_str()).collect();
    assert_eq!(ids, ["fl5"]);
    store.mark_digest_sent(&due[0]).await.expect("sent");

    // Another account's budget is its own: its first message is within.
    let other = BudgetKey::new(&s[0].key.rule_id, "999988887777", s[0].event_time);
    let o: Vec<Sighting> = (0..4)
        .map(|i| sighting(&format!("other-{i}"), &format!("ot{i}"), i))
        .collect();
    let mut spent = Vec::new();
    for x in &o {
        spent.push(store.spend(&other, x, 3).await.expect("spend"));
    }
    assert_eq!(spent, vec![W, W, W, F]);
    // An urgent rule's digest is due at the next sweep, within the hour.
    let other = other.urgent(true);
    store
        .fold(&other, &o[3], &folded(&o[3]))
        .await
        .expect("fold");
    let due = owed(store, key.hour, 100).await;
    assert_eq!(due.len(), 1, "only the urgent one is due within the hour");
    assert_eq!(due[0].key, other);
    let ids: Vec<&str> = due[0].folded.iter().map(|f| f.event_id.as_str()).collect();
    assert_eq!(ids, ["ot3"]);
}

/// The counter store's contract and the correlation contract, as tests of
/// one store: `store` is an expression (it may `.await`) giving a fresh
/// store, `skip` a `fn(&str) -> bool` that says, naming the test, that the
/// store cannot be reached here (`moto::unavailable`), and `generated_cases`
/// how many generated cases each correlation kind runs (each is a few dozen
/// requests, slow on an emulator).
#[macro_export]
macro_rules! store_contract_tests {
    (store: $store:expr, skip: $skip:expr, generated_cases: $cases:expr $(,)?) => {
        $crate::store_contract_tests!(@each $store, $skip;
            counts_each_event_once,
            min_and_max_hold_out_of_order,
            an_unconfirmed_notification_is_owed_on_redelivery,
            window_and_tiers_decide_notifications,
            the_budget_folds_what_exceeds_it_into_one_digest,
            a_digest_lists_the_earliest_and_counts_the_rest,
        );

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn concurrent_sightings_count_exactly() {
            if ($skip)("concurrent_sightings_count_exactly") {
                return;
            }
            let store = std::sync::Arc::new($store);
            $crate::common::store_contract::concurrent_sightings_count_exactly(store, 50).await;
        }

        mod correlation_contract {
            use super::*;
            use $crate::common::correlation_contract as cc;

            $crate::store_contract_tests!(@grouped $store, $skip;
                a_window_alerts_once_and_owes_its_notification "w",
                two_groups_alert_in_the_same_window "two",
                a_late_failure_completes_a_sequence "late",
                a_late_event_completing_many_sequences_counts_each_once "many",
                window_edges_are_exact "edge",
            );

            /// Every kind, generated cases split across concurrent tasks
            /// racing on the group's state.
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn any_order_duplication_and_split_give_the_same_alerts_and_state() {
                if ($skip)("any_order_duplication_and_split_give_the_same_alerts_and_state") {
                    return;
                }
                // One store for all: each case is a group of its own.
                let store = std::sync::Arc::new($store);
                for c in cc::every_kind() {
                    let c = std::sync::Arc::new(c);
                    for (i, case) in cc::cases(c.slots.len(), $cases).into_iter().enumerate() {
                        cc::same_alerts_and_state(store.clone(), c.clone(), format!("g{i}"), case)
                            .await;
                    }
                }
            }

            /// Baselines and impossible travel, over days: bursts in turn,
            /// each in any order, duplicated, split across concurrent tasks.
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn memories_give_the_same_alerts_and_state_in_any_order_over_days() {
                if ($skip)("memories_give_the_same_alerts_and_state_in_any_order_over_days") {
                    return;
                }
                let store = std::sync::Arc::new($store);
                for c in cc::every_history_kind() {
                    let c = std::sync::Arc::new(c);
                    let mut alerts = 0;
                    for (i, case) in cc::history_cases($cases).into_iter().enumerate() {
                        alerts += cc::same_alerts_and_state_over_days(
                            store.clone(),
                            c.clone(),
                            format!("m{i}"),
                            case,
                        )
                        .await;
                    }
                    assert!(alerts > 0, "{}: the cases make alerts", c.name);
                }
            }

            /// A record's memories fed together (one read and one
            /// transaction on DynamoDB) count what each counts alone.
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn memories_fed_together_count_what_each_counts_alone() {
                if ($skip)("memories_fed_together_count_what_each_counts_alone") {
                    return;
                }
                let store = std::sync::Arc::new($store);
                for (i, case) in cc::history_cases($cases).into_iter().enumerate() {
                    cc::memories_together_give_the_same_alerts(store.clone(), format!("t{i}"), case)
                        .await;
                }
            }
        }
    };
    (@each $store:expr, $skip:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                if ($skip)(stringify!($name)) {
                    return;
                }
                $crate::common::store_contract::$name(&$store).await;
            }
        )*
    };
    (@grouped $store:expr, $skip:expr; $($name:ident $group:literal),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                if ($skip)(stringify!($name)) {
                    return;
                }
                cc::$name(&$store, $group).await;
            }
        )*
    };
}
