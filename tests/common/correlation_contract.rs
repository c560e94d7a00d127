//! The correlation part of the counter store contract, run against the
//! in-memory store and against DynamoDB (moto): alerts counted once, owed
//! notifications handed back on redelivery, late events, window edges, and
//! a property: any permutation, duplication and split of an event set into
//! concurrent batches gives the alerts and the final state of the pure
//! transition fed the set in time order.

#![allow(dead_code)]

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use signin_watch::domain::correlation::state::{self, GroupState};
use signin_watch::domain::correlation::{FedEvent, Point};
use signin_watch::domain::counter::{GroupKey, NotifyPolicy};
use signin_watch::domain::rules::correlation::{
    Baseline, Correlation, CorrelationKind, GroupField, Slot, Threshold, Travel,
};
use signin_watch::domain::rules::pack;
use signin_watch::domain::store::{CounterStore, Feed, Recorded};
use signin_watch::domain::time::Timestamp;

const MIN: i64 = 60_000;
/// 2025-11-20T09:00:00Z, on a 5-minute mark.
pub const BASE: i64 = 1_763_629_200_000;

/// Reads a group's correlation state from a store.
pub trait StateOf {
    fn state_of(&self, key: &GroupKey) -> impl Future<Output = Option<GroupState>> + Send;
}

impl StateOf for signin_watch::adapters::memory_store::MemoryStore {
    async fn state_of(&self, key: &GroupKey) -> Option<GroupState> {
        self.correlation_state(&key.id())
    }
}

#[cfg(feature = "lambda")]
impl StateOf for signin_watch::adapters::dynamodb_store::DynamoStore {
    async fn state_of(&self, key: &GroupKey) -> Option<GroupState> {
        self.correlation_state(key).await.expect("the state reads")
    }
}

fn slot(name: &str) -> Slot {
    Slot::Rule(pack::rule(name).unwrap_or_else(|| panic!("pack rule {name}")))
}

/// A correlation of `kind` over `slots`, grouped by user.
pub fn correlation(
    name: &str,
    kind: CorrelationKind,
    slots: Vec<Slot>,
    minutes: i64,
    needs: u64,
) -> Correlation {
    let n = slots.len();
    let mut meta = (*pack::rule("failed-mfa").expect("pack").meta).clone();
    meta.name = name.into();
    meta.id = format!("contract-{name}");
    Correlation {
        meta: Arc::new(meta),
        kind,
        slots,
        group_by: vec![GroupField {
            name: "user".into(),
            paths: vec!["user".into(); n],
        }],
        value: (kind == CorrelationKind::ValueCount).then(|| GroupField {
            name: "sourceIPAddress".into(),
            paths: vec!["sourceIPAddress".into(); n],
        }),
        timespan_ms: minutes * MIN,
        threshold: Threshold {
            strict: false,
            value: if kind.counts() { needs } else { 1 },
        },
        generate: false,
        building_block: false,
        story: None,
        tests: Vec::new(),
        baseline: None,
        travel: None,
    }
}

/// One correlation of each kind, and a chained count.
pub fn every_kind() -> Vec<Correlation> {
    let inner = Arc::new(correlation(
        "inner",
        CorrelationKind::EventCount,
        vec![slot("failed-mfa")],
        10,
        3,
    ));
    vec![
        correlation(
            "count",
            CorrelationKind::EventCount,
            vec![slot("failed-mfa")],
            10,
            3,
        ),
        correlation(
            "values",
            CorrelationKind::ValueCount,
            vec![slot("console-login-success")],
            30,
            3,
        ),
        correlation(
            "unordered",
            CorrelationKind::Temporal,
            vec![
                slot("federated-signin-token"),
                slot("federated-console-login"),
            ],
            15,
            1,
        ),
        correlation(
            "ordered",
            CorrelationKind::TemporalOrdered,
            vec![slot("console-login-failure"), slot("console-login-success")],
            30,
            1,
        ),
        correlation(
            "chained",
            CorrelationKind::TemporalOrdered,
            vec![Slot::Count(inner), slot("console-login-success")],
            30,
            1,
        ),
    ]
}

pub fn event(id: &str, minute: f64, slot: usize, ip: &str) -> FedEvent {
    FedEvent {
        event_id: id.into(),
        time: Timestamp::from_millis(BASE + (minute * MIN as f64) as i64),
        slot,
        value: Some(ip.into()),
        src: ip.into(),
        place: None,
        user: "alice".into(),
        rule: "failed-mfa".into(),
        point: None,
    }
}

pub fn key(c: &Correlation, group: &str) -> GroupKey {
    GroupKey {
        rule_id: c.id.clone(),
        fields: vec![("user".into(), group.into())],
    }
}

/// Feeds `events` in order, one at a time; what each feed counted.
pub async fn feed_all<S: CounterStore>(
    store: &S,
    c: &Correlation,
    group: &str,
    events: &[FedEvent],
) -> Vec<(String, Recorded)> {
    let policy = NotifyPolicy::default();
    let mut out = Vec::new();
    for e in events {
        let feed = Feed {
            correlation: c,
            key: key(c, group),
            event: e.clone(),
        };
        for a in store.correlate(&feed, &policy).await.expect("store").alerts {
            out.push((a.alert.identity, a.recorded));
        }
    }
    out
}

fn counted(out: &[(String, Recorded)]) -> Vec<String> {
    out.iter()
        .filter(|(_, r)| matches!(r, Recorded::Counted { .. }))
        .map(|(id, _)| id.clone())
        .collect()
}

/// A window's alert is counted once; the event that decided it, delivered
/// again, hands it back with its notification owed until it is confirmed.
pub async fn a_window_alerts_once_and_owes_its_notification<S: CounterStore>(
    store: &S,
    group: &str,
) {
    let c = &every_kind()[0];
    let three: Vec<FedEvent> = (0..3)
        .map(|i| event(&format!("{group}-{i}"), 6.0 + f64::from(i), 0, "a"))
        .collect();
    let out = feed_all(store, c, group, &three).await;
    // 6..8 minutes lie in [0, 10) and [5, 15): two windows, each once.
    assert_eq!(counted(&out).len(), 2, "{out:?}");
    let first = match &out[0].1 {
        Recorded::Counted { notify, .. } => *notify,
        other => panic!("{other:?}"),
    };
    assert!(first.is_some(), "the first alert of a group notifies");
    // Redelivered before the notification was confirmed: handed back owed.
    let again = feed_all(store, c, group, &three[2..]).await;
    assert_eq!(again.len(), 2, "{again:?}");
    assert!(
        again
            .iter()
            .any(|(_, r)| matches!(r, Recorded::Duplicate { pending: Some(_) })),
        "{again:?}"
    );
    // Confirmed: a redelivery owes nothing, and nothing is counted again.
    let feed = Feed {
        correlation: c,
        key: key(c, group),
        event: three[2].clone(),
    };
    for (identity, _) in &again {
        let alert_sighting = signin_watch::domain::counter::Sighting {
            key: feed.key.clone(),
            event_id: feed.key.alert_event_id(identity),
            event_time: Timestamp::from_millis(0),
        };
        store.mark_notified(&alert_sighting).await.expect("store");
    }
    let after = feed_all(store, c, group, &three[2..]).await;
    assert!(
        after
            .iter()
            .all(|(_, r)| matches!(r, Recorded::Duplicate { pending: None })),
        "{after:?}"
    );
}

/// Two groups whose windows meet the threshold at the same times alert
/// each: an alert's identity is its group's as well as its window's.
pub async fn two_groups_alert_in_the_same_window<S: CounterStore>(store: &S, prefix: &str) {
    let c = &every_kind()[0];
    let mut alerts = Vec::new();
    for group in ["alice", "bob"] {
        let group = format!("{prefix}-{group}");
        let three: Vec<FedEvent> = (0..3)
            .map(|i| event(&format!("{group}-{i}"), 1.0 + f64::from(i), 0, "a"))
            .collect();
        let out = feed_all(store, c, &group, &three).await;
        assert_eq!(counted(&out).len(), 2, "{group}: {out:?}");
        alerts.extend(out);
    }
    let notified = alerts
        .iter()
        .filter(|(_, r)| {
            matches!(
                r,
                Recorded::Counted {
                    notify: Some(_),
                    ..
                }
            )
        })
        .count();
    assert_eq!(notified, 2, "each group's first alert notifies: {alerts:?}");
}

/// A failure that arrives after the success it precedes completes the
/// sequence; one beyond the lateness horizon does not count at all.
pub async fn a_late_failure_completes_a_sequence<S: CounterStore>(store: &S, group: &str) {
    let c = &every_kind()[3];
    let success = event(&format!("{group}-ok"), 20.0, 1, "a");
    let failure = event(&format!("{group}-fail"), 12.0, 0, "b");
    assert!(
        feed_all(store, c, group, std::slice::from_ref(&success))
            .await
            .is_empty()
    );
    let out = feed_all(store, c, group, std::slice::from_ref(&failure)).await;
    assert_eq!(
        counted(&out),
        std::slice::from_ref(&success.event_id),
        "the success completes it"
    );
    // A day and more later, an older failure is past the horizon.
    let much_later = event(&format!("{group}-ok2"), 26.0 * 60.0, 1, "a");
    feed_all(store, c, group, &[much_later]).await;
    let stale = event(&format!("{group}-stale"), 25.0, 0, "b");
    assert!(feed_all(store, c, group, &[stale]).await.is_empty());
}

/// A late failure completes every success after it in the timespan: 150
/// alerts from one feed (more than one DynamoDB transaction holds), each
/// counted once, and the feed delivered again counts none.
pub async fn a_late_event_completing_many_sequences_counts_each_once<S: CounterStore>(
    store: &S,
    group: &str,
) {
    let c = &every_kind()[3];
    let successes: Vec<FedEvent> = (0..150)
        .map(|i| {
            event(
                &format!("{group}-ok-{i:03}"),
                10.0 + f64::from(i) * 0.1,
                1,
                "a",
            )
        })
        .collect();
    assert!(feed_all(store, c, group, &successes).await.is_empty());
    let failure = event(&format!("{group}-fail"), 9.0, 0, "b");
    let out = feed_all(store, c, group, std::slice::from_ref(&failure)).await;
    let mut got = counted(&out);
    got.sort();
    let want: Vec<String> = successes.iter().map(|e| e.event_id.clone()).collect();
    assert_eq!(got, want, "each success completed once");
    let again = feed_all(store, c, group, &[failure]).await;
    assert!(counted(&again).is_empty(), "nothing counted twice");
}

/// Events just inside a window's end count in it; just outside do not.
pub async fn window_edges_are_exact<S: CounterStore>(store: &S, group: &str) {
    let c = correlation(
        "edges",
        CorrelationKind::EventCount,
        vec![slot("failed-mfa")],
        10,
        2,
    );
    let at = |id: &str, ms: i64| FedEvent {
        time: Timestamp::from_millis(BASE + ms),
        ..event(&format!("{group}-{id}"), 0.0, 0, "x")
    };
    let outside = feed_all(
        store,
        &c,
        &format!("{group}-out"),
        &[at("a", 0), at("b", 10 * MIN)],
    )
    .await;
    assert!(
        outside.is_empty(),
        "10 minutes apart is outside: {outside:?}"
    );
    let inside = feed_all(
        store,
        &c,
        &format!("{group}-in"),
        &[at("a", 0), at("b", 10 * MIN - 1)],
    )
    .await;
    assert_eq!(counted(&inside).len(), 1, "just inside: {inside:?}");
}

/// One generated case: events, the order they are delivered in (with
/// duplicates), and how many concurrent batches deliver them.
#[derive(Debug, Clone)]
pub struct Case {
    pub events: Vec<FedEvent>,
    pub delivery: Vec<usize>,
    pub batches: usize,
}

impl Case {
    /// `events` delivered each once, and again those `dups` name, in an
    /// order shuffled by `seed` (xorshift), across `batches` tasks.
    fn shuffled(events: Vec<FedEvent>, dups: &[usize], seed: u64, batches: usize) -> Case {
        let mut delivery: Vec<usize> = (0..events.len()).collect();
        delivery.extend(dups.iter().map(|d| d % events.len()));
        let mut s = seed | 1;
        for i in (1..delivery.len()).rev() {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            delivery.swap(i, (s % (i as u64 + 1)) as usize);
        }
        Case {
            events,
            delivery,
            batches,
        }
    }
}

/// `n` cases for a correlation with `slots` slots.
pub fn cases(slots: usize, n: usize) -> Vec<Case> {
    let strategy = (
        proptest::collection::vec((0usize..slots, 0u32..80, 0u8..4), 1..24),
        proptest::collection::vec(any_index(), 0..12),
        any_seed(),
        1usize..5,
    );
    let mut runner = TestRunner::default();
    (0..n)
        .map(|_| {
            let (raw, dups, seed, batches) = strategy
                .new_tree(&mut runner)
                .expect("a strategy without filters")
                .current();
            let events: Vec<FedEvent> = raw
                .iter()
                .enumerate()
                .map(|(i, (slot, half_minutes, ip))| {
                    event(
                        &format!("e{i}"),
                        f64::from(*half_minutes) / 2.0,
                        *slot,
                        &format!("10.0.0.{ip}"),
                    )
                })
                .collect();
            Case::shuffled(events, &dups, seed, batches)
        })
        .collect()
}

fn any_index() -> impl Strategy<Value = usize> {
    0usize..1000
}

fn any_seed() -> impl Strategy<Value = u64> {
    proptest::num::u64::ANY
}

/// The pure transition fed `events` in time order: the alert identities
/// and the final state, with what varies by order (which event decided an
/// alert) cleared.
pub fn reference(c: &Correlation, events: &[FedEvent]) -> (BTreeSet<String>, GroupState) {
    let mut sorted = events.to_vec();
    sorted.sort_by(|a, b| (a.time, &a.event_id).cmp(&(b.time, &b.event_id)));
    let mut s = GroupState::default();
    let mut alerts = BTreeSet::new();
    for e in &sorted {
        let tr = state::feed(c, &s, e);
        alerts.extend(tr.alerts.into_iter().map(|a| a.identity));
        s = tr.state;
    }
    (alerts, canonical(s))
}

fn canonical(mut s: GroupState) -> GroupState {
    // A baseline's alert stands at the time of the event that decided it,
    // whichever of a burst's events arrived first.
    s.decided.iter_mut().for_each(|d| {
        d.caused_by.clear();
        d.time = Timestamp::from_millis(0);
    });
    s.decided.sort_by(|a, b| a.identity.cmp(&b.identity));
    // Which of a value's times a baseline keeps depends on the order they
    // came in (each kept set answers alike); the values do not.
    s.seen.values_mut().for_each(Vec::clear);
    s
}

const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;

/// A baseline over the values of `FedEvent::value` (learning a day, a value
/// forgotten after three) and impossible travel (500 km, 1,000 km/h).
pub fn every_history_kind() -> Vec<Correlation> {
    let mut baseline = correlation(
        "baseline",
        CorrelationKind::Baseline,
        vec![slot("console-login-success")],
        0,
        1,
    );
    baseline.baseline = Some(Baseline {
        values: vec![GroupField {
            name: "src_country".into(),
            paths: vec!["src_country".into()],
        }],
        learning_ms: DAY,
        forget_ms: 3 * DAY,
    });
    baseline.timespan_ms = 3 * DAY;
    let mut travel = correlation(
        "travel",
        CorrelationKind::ImpossibleTravel,
        vec![slot("console-login-success")],
        0,
        1,
    );
    let t = Travel {
        min_km: 500.0,
        max_kmh: 1000.0,
    };
    travel.timespan_ms = t.window_ms();
    travel.travel = Some(t);
    vec![baseline, travel]
}

/// Four cities: their country codes are the baseline's values.
const PLACES: &[(&str, f64, f64)] = &[
    ("DE", 52.52, 13.405),
    ("US", 40.7128, -74.006),
    ("FR", 48.8566, 2.3522),
    ("JP", 35.6762, 139.6503),
];

/// One generated case for a correlation with a memory: bursts of events,
/// each burst shorter than the lateness horizon (20 hours) and a few days
/// after the one before. Bursts are delivered in turn; within one, in any
/// order, with duplicates, split into concurrent batches.
#[derive(Debug, Clone)]
pub struct HistoryCase {
    pub bursts: Vec<Case>,
}

/// `n` cases of 1 to 5 bursts.
pub fn history_cases(n: usize) -> Vec<HistoryCase> {
    let burst = (
        0i64..5,
        proptest::collection::vec((0i64..20 * 60, 0usize..PLACES.len()), 1..10),
        proptest::collection::vec(any_index(), 0..6),
        any_seed(),
        1usize..4,
    );
    let strategy = proptest::collection::vec(burst, 1..6);
    let mut runner = TestRunner::default();
    (0..n)
        .map(|_| {
            let raw = strategy
                .new_tree(&mut runner)
                .expect("a strategy without filters")
                .current();
            let mut start = BASE;
            let mut id = 0;
            let bursts = raw
                .into_iter()
                .map(|(gap_days, minutes, dups, seed, batches)| {
                    // Each burst begins after the one before has ended.
                    start += 20 * HOUR + gap_days * DAY;
                    let events: Vec<FedEvent> = minutes
                        .iter()
                        .map(|(minute, place)| {
                            id += 1;
                            let (code, lat, lon) = PLACES[*place];
                            FedEvent {
                                time: Timestamp::from_millis(start + minute * MIN),
                                value: Some(code.into()),
                                point: Some(Point::new(lat, lon, true)),
                                ..event(&format!("h{id}"), 0.0, 0, code)
                            }
                        })
                        .collect();
                    Case::shuffled(events, &dups, seed, batches)
                })
                .collect();
            HistoryCase { bursts }
        })
        .collect()
}

/// The property for a correlation with a memory: `case`'s bursts, each in
/// its own order and concurrent batches, count each of the reference's
/// alerts (every event fed in time order) exactly once, and leave its state.
pub async fn same_alerts_and_state_over_days<S>(
    store: Arc<S>,
    c: Arc<Correlation>,
    group: String,
    case: HistoryCase,
) -> usize
where
    S: CounterStore + StateOf + Send + Sync + 'static,
{
    let all: Vec<FedEvent> = case.bursts.iter().flat_map(|b| b.events.clone()).collect();
    let (want_alerts, want_state) = reference(&c, &all);
    let mut got: HashMap<String, usize> = HashMap::new();
    for burst in &case.bursts {
        let per_batch = burst.delivery.len().div_ceil(burst.batches);
        let mut tasks = tokio::task::JoinSet::new();
        for chunk in burst.delivery.chunks(per_batch.max(1)) {
            let events: Vec<FedEvent> = chunk.iter().map(|&i| burst.events[i].clone()).collect();
            let (store, c, group) = (store.clone(), c.clone(), group.clone());
            tasks.spawn(async move { feed_all(store.as_ref(), &c, &group, &events).await });
        }
        while let Some(joined) = tasks.join_next().await {
            for id in counted(&joined.expect("task")) {
                *got.entry(id).or_default() += 1;
            }
        }
    }
    assert!(
        got.values().all(|n| *n == 1),
        "an alert counted twice: {got:?} in {case:?}"
    );
    let got_alerts: BTreeSet<String> = got.into_keys().collect();
    assert_eq!(got_alerts, want_alerts, "{} alerts for {case:?}", c.name);
    let state = store
        .state_of(&key(&c, &group))
        .await
        .map(canonical)
        .unwrap_or_default();
    // A baseline forgets a decision two horizons after the event that made
    // it, and that event is whichever of its burst came first: what is
    // still kept at the end depends on the order (the alerts do not).
    let decisions = |mut s: GroupState| {
        if c.baseline.is_some() {
            s.decided.clear();
        }
        s
    };
    assert_eq!(
        decisions(state),
        decisions(want_state),
        "{} state for {case:?}",
        c.name
    );
    want_alerts.len()
}

/// The property: `case` delivered to `store` in its order, split into its
/// concurrent batches, counts each of the reference's alerts exactly once
/// and leaves the reference's state: a case of one burst.
pub async fn same_alerts_and_state<S>(store: Arc<S>, c: Arc<Correlation>, group: String, case: Case)
where
    S: CounterStore + StateOf + Send + Sync + 'static,
{
    let one = HistoryCase { bursts: vec![case] };
    same_alerts_and_state_over_days(store, c, group, one).await;
}

/// Feeds each event to every one of `cs` together
/// ([`CounterStore::correlate_together`]); what each counted, by
/// correlation.
async fn feed_together<S: CounterStore>(
    store: &S,
    cs: &[Arc<Correlation>],
    group: &str,
    events: &[FedEvent],
) -> Vec<Vec<String>> {
    let policy = NotifyPolicy::default();
    let mut out = vec![Vec::new(); cs.len()];
    for e in events {
        let feeds: Vec<Feed> = cs
            .iter()
            .map(|c| Feed {
                correlation: c,
                key: key(c, group),
                event: e.clone(),
            })
            .collect();
        for (i, result) in store
            .correlate_together(&feeds, &policy)
            .await
            .into_iter()
            .enumerate()
        {
            let alerts = result.expect("store").alerts;
            out[i].extend(
                alerts
                    .into_iter()
                    .filter(|a| matches!(a.recorded, Recorded::Counted { .. }))
                    .map(|a| a.alert.identity),
            );
        }
    }
    out
}

/// The memories fed together, as the detector feeds one record's: each
/// correlation counts the alerts the time-ordered feed gives it, once.
pub async fn memories_together_give_the_same_alerts<S>(
    store: Arc<S>,
    group: String,
    case: HistoryCase,
) where
    S: CounterStore + Send + Sync + 'static,
{
    let cs: Vec<Arc<Correlation>> = every_history_kind().into_iter().map(Arc::new).collect();
    let all: Vec<FedEvent> = case.bursts.iter().flat_map(|b| b.events.clone()).collect();
    let mut got: Vec<HashMap<String, usize>> = vec![HashMap::new(); cs.len()];
    for burst in &case.bursts {
        let per_batch = burst.delivery.len().div_ceil(burst.batches);
        let mut tasks = tokio::task::JoinSet::new();
        for chunk in burst.delivery.chunks(per_batch.max(1)) {
            let events: Vec<FedEvent> = chunk.iter().map(|&i| burst.events[i].clone()).collect();
            let (store, cs, group) = (store.clone(), cs.clone(), group.clone());
            tasks.spawn(async move { feed_together(store.as_ref(), &cs, &group, &events).await });
        }
        while let Some(joined) = tasks.join_next().await {
            for (i, ids) in joined.expect("task").into_iter().enumerate() {
                for id in ids {
                    *got[i].entry(id).or_default() += 1;
                }
            }
        }
    }
    for (c, got) in cs.iter().zip(got) {
        assert!(
            got.values().all(|n| *n == 1),
            "{}: counted twice: {got:?}",
            c.name
        );
        let (want, _) = reference(c, &all);
        let got: BTreeSet<String> = got.into_keys().collect();
        assert_eq!(got, want, "{} together for {case:?}", c.name);
    }
}
