//! The pure transition: counts in hopping windows, sequences, late events,
//! window boundaries, caps, and the same alerts under any order and
//! duplication.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use proptest::prelude::*;

use super::state::{GroupState, feed};
use super::*;
use crate::domain::rules::RuleMeta;
use crate::domain::rules::correlation::*;
use crate::domain::rules::pack;

const MIN: i64 = 60_000;
/// 2025-11-20T00:50:00Z, on a 5-minute mark.
const BASE: i64 = 1_763_599_800_000;

fn meta(name: &str) -> Arc<RuleMeta> {
    let mut m = (*pack::rule("failed-mfa").unwrap().meta).clone();
    m.name = name.into();
    m.id = format!("{name}-id");
    Arc::new(m)
}

fn rule(name: &str) -> Slot {
    Slot::Rule(pack::rule(name).unwrap_or_else(|| panic!("pack rule {name}")))
}

fn correlation(kind: CorrelationKind, slots: Vec<Slot>, minutes: i64, needs: u64) -> Correlation {
    let n = slots.len();
    Correlation {
        meta: meta("test"),
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

fn event(id: &str, minute: f64, slot: usize, value: &str) -> FedEvent {
    FedEvent {
        event_id: id.into(),
        time: Timestamp::from_millis(BASE + (minute * MIN as f64) as i64),
        slot,
        value: Some(value.into()),
        src: value.into(),
        place: None,
        user: "alice".into(),
        rule: "failed-mfa".into(),
        point: None,
    }
}

/// Feeds `events` in order; the alert identities, and the final state.
fn run(c: &Correlation, events: &[FedEvent]) -> (Vec<String>, GroupState) {
    let mut state = GroupState::default();
    let mut alerts = Vec::new();
    for e in events {
        let tr = feed(c, &state, e);
        alerts.extend(tr.alerts.into_iter().map(|a| a.identity));
        state = tr.state;
    }
    (alerts, state)
}

#[test]
fn a_count_alerts_once_per_window_that_meets_it() {
    // Threshold 5 in 10 minutes: windows of 10 minutes every 5.
    let c = correlation(CorrelationKind::EventCount, vec![rule("failed-mfa")], 10, 5);
    let four: Vec<FedEvent> = (0..4)
        .map(|i| event(&format!("e{i}"), 5.0 + i as f64, 0, "a"))
        .collect();
    assert!(run(&c, &four).0.is_empty(), "four is not five");
    let mut five = four.clone();
    five.push(event("e4", 5.5, 0, "a"));
    // 5.0..8.0 lie in [0, 10) and [5, 15): both windows alert, once each.
    let (alerts, _) = run(&c, &five);
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    // Fed again, and in reverse: nothing more, and the same alerts.
    let mut again = five.clone();
    again.extend(five.iter().cloned());
    assert_eq!(run(&c, &again).0, alerts);
    let reversed: Vec<FedEvent> = five.iter().rev().cloned().collect();
    let set = |v: Vec<String>| v.into_iter().collect::<BTreeSet<_>>();
    assert_eq!(set(run(&c, &reversed).0), set(alerts));
}

#[test]
fn a_burst_across_a_half_boundary_is_caught_by_the_window_over_both_halves() {
    let c = correlation(CorrelationKind::EventCount, vec![rule("failed-mfa")], 10, 4);
    // Two before 5 minutes, two after: only [0, 10) holds all four.
    let events = [
        event("a", 4.0, 0, "x"),
        event("b", 4.9, 0, "x"),
        event("c", 5.1, 0, "x"),
        event("d", 6.0, 0, "x"),
    ];
    let (alerts, _) = run(&c, &events);
    let start = Timestamp::from_millis(BASE);
    assert_eq!(alerts, vec![format!("window:{start}")]);
}

#[test]
fn window_boundaries_are_half_open() {
    // Window [0, 10) with half-windows on 5-minute marks: an event at exactly
    // 10 minutes belongs to [5, 15) and [10, 20), not to [0, 10).
    let c = correlation(CorrelationKind::EventCount, vec![rule("failed-mfa")], 10, 2);
    let base = BASE;
    let at = |id: &str, ms: i64| FedEvent {
        time: Timestamp::from_millis(base + ms),
        ..event(id, 0.0, 0, "x")
    };
    let (alerts, _) = run(&c, &[at("a", 0), at("b", 10 * MIN)]);
    assert!(alerts.is_empty(), "just outside: {alerts:?}");
    let (alerts, _) = run(&c, &[at("a", 0), at("b", 10 * MIN - 1)]);
    assert_eq!(alerts.len(), 1, "just inside");
}

#[test]
fn value_count_counts_distinct_values() {
    let c = correlation(
        CorrelationKind::ValueCount,
        vec![rule("console-login-success")],
        60,
        3,
    );
    let events = [
        event("a", 1.0, 0, "198.51.100.1"),
        event("b", 2.0, 0, "198.51.100.1"),
        event("c", 3.0, 0, "198.51.100.2"),
    ];
    assert!(run(&c, &events).0.is_empty(), "two addresses");
    let mut more = events.to_vec();
    more.push(event("d", 4.0, 0, "198.51.100.3"));
    let (alerts, _) = run(&c, &more);
    assert_eq!(alerts.len(), 2, "three addresses, in both windows");
}

fn ordered() -> Correlation {
    correlation(
        CorrelationKind::TemporalOrdered,
        vec![rule("console-login-failure"), rule("console-login-success")],
        30,
        1,
    )
}

/// Every permutation of `events` (at most a handful), fed in that order.
fn every_order(events: &[FedEvent]) -> Vec<Vec<FedEvent>> {
    if events.len() <= 1 {
        return vec![events.to_vec()];
    }
    let mut all = Vec::new();
    for i in 0..events.len() {
        let mut rest = events.to_vec();
        let first = rest.remove(i);
        for mut tail in every_order(&rest) {
            tail.insert(0, first.clone());
            all.push(tail);
        }
    }
    all
}

#[test]
fn failures_in_the_same_second_as_the_success_count_in_every_order() {
    // CloudTrail's whole seconds: a burst of guesses and the success share one.
    let inner = Arc::new(correlation(
        CorrelationKind::EventCount,
        vec![rule("console-login-failure")],
        30,
        3,
    ));
    let c = correlation(
        CorrelationKind::TemporalOrdered,
        vec![Slot::Count(inner), rule("console-login-success")],
        30,
        1,
    );
    let mut events: Vec<FedEvent> = (0..3)
        .map(|i| event(&format!("f{i}"), 7.0, 0, "a"))
        .collect();
    // eventIDs sort either side of the success's: none may decide the order.
    events.push(event("e-ok", 7.0, 1, "a"));
    for order in every_order(&events) {
        let (alerts, _) = run(&c, &order);
        assert_eq!(alerts, ["e-ok"], "order {:?}", ids(&order));
    }
    // A rule slot in the same second counts too, whatever the eventIDs.
    let plain = ordered();
    for order in every_order(&[event("z-fail", 7.0, 0, "a"), event("a-ok", 7.0, 1, "a")]) {
        assert_eq!(run(&plain, &order).0, ["a-ok"], "order {:?}", ids(&order));
    }
    // One second later is after: the success then is not preceded.
    let (alerts, _) = run(
        &plain,
        &[
            event("ok", 7.0, 1, "a"),
            event("fail", 7.0 + 1.0 / 60.0, 0, "a"),
        ],
    );
    assert!(alerts.is_empty(), "{alerts:?}");
}

fn ids(events: &[FedEvent]) -> Vec<&str> {
    events.iter().map(|e| e.event_id.as_str()).collect()
}

#[test]
fn an_ordered_sequence_alerts_for_each_completing_event() {
    let c = ordered();
    let (alerts, _) = run(&c, &[event("fail", 1.0, 0, "a"), event("ok", 2.0, 1, "a")]);
    assert_eq!(alerts, ["ok"]);
    let (alerts, _) = run(&c, &[event("ok", 1.0, 1, "a"), event("fail", 2.0, 0, "a")]);
    assert!(alerts.is_empty(), "the success came first in event time");
    let (alerts, _) = run(&c, &[event("fail", 1.0, 0, "a"), event("ok", 31.5, 1, "a")]);
    assert!(alerts.is_empty(), "outside the timespan");
}

#[test]
fn a_late_failure_completes_a_sequence() {
    let c = ordered();
    // The success arrives first; the failure that precedes it in event time
    // arrives hours later, within the lateness horizon.
    let ok = event("ok", 10.0, 1, "a");
    let (alerts, state) = run(&c, &[ok.clone(), event("other", 300.0, 1, "b")]);
    assert!(alerts.is_empty());
    let tr = feed(&c, &state, &event("fail", 5.0, 0, "a"));
    assert_eq!(
        tr.alerts
            .iter()
            .map(|a| a.identity.as_str())
            .collect::<Vec<_>>(),
        ["ok"]
    );
    let alert = &tr.alerts[0];
    assert_eq!(
        alert.completing.as_ref().map(|e| e.event_id.as_str()),
        Some("ok")
    );
    assert_eq!(
        alert
            .evidence
            .iter()
            .map(|e| e.event_id.as_str())
            .collect::<Vec<_>>(),
        ["fail"]
    );
    // Beyond the horizon it is too late.
    let (_, state) = run(&c, &[ok, event("later", 10.0 + 25.0 * 60.0, 1, "b")]);
    assert!(feed(&c, &state, &event("fail", 5.0, 0, "a")).too_late);
}

#[test]
fn a_chained_count_is_taken_in_the_window_ending_at_the_completing_event() {
    let inner = Arc::new(correlation(
        CorrelationKind::EventCount,
        vec![rule("failed-mfa")],
        10,
        3,
    ));
    let c = correlation(
        CorrelationKind::TemporalOrdered,
        vec![Slot::Count(inner), rule("console-login-success")],
        30,
        1,
    );
    let fails = |n: usize, from: f64| -> Vec<FedEvent> {
        (0..n)
            .map(|i| event(&format!("f{from}-{i}"), from + i as f64, 0, "a"))
            .collect()
    };
    let mut two = fails(2, 1.0);
    two.push(event("ok", 5.0, 1, "a"));
    assert!(run(&c, &two).0.is_empty(), "two failures are not three");
    let mut three = fails(3, 1.0);
    three.push(event("ok", 5.0, 1, "a"));
    assert_eq!(run(&c, &three).0, ["ok"]);
    // Three failures, but more than the count's 10 minutes before the success.
    let mut old = fails(3, 1.0);
    old.push(event("ok", 14.0, 1, "a"));
    assert!(run(&c, &old).0.is_empty());
}

#[test]
fn unordered_needs_every_rule_in_the_timespan() {
    let c = correlation(
        CorrelationKind::Temporal,
        vec![
            rule("federated-signin-token"),
            rule("federated-console-login"),
        ],
        15,
        1,
    );
    let (alerts, _) = run(
        &c,
        &[event("login", 1.0, 1, "a"), event("token", 2.0, 0, "b")],
    );
    assert_eq!(
        alerts,
        ["token"],
        "the later event completes it, whatever the order"
    );
    let (alerts, _) = run(
        &c,
        &[event("token", 2.0, 0, "b"), event("login", 1.0, 1, "a")],
    );
    assert_eq!(alerts, ["token"]);
}

#[test]
fn a_sequence_keeps_at_most_its_cap_of_events() {
    let c = ordered();
    let mut events: Vec<FedEvent> = vec![event("first-fail", 0.0, 0, "a")];
    // More successes than the cap, all after the failure and within 30 minutes.
    for i in 0..MAX_SEQUENCE_EVENTS + 10 {
        events.push(event(&format!("ok{i}"), 1.0 + i as f64 * 0.001, 1, "a"));
    }
    let (alerts, state) = run(&c, &events);
    assert_eq!(state.events.len(), MAX_SEQUENCE_EVENTS);
    assert!(
        !state
            .events
            .iter()
            .any(|e| e.evidence.event_id == "first-fail"),
        "the oldest event is forgotten at the cap"
    );
    // Successes fed while the failure was still kept completed the sequence;
    // later ones no longer find it.
    assert_eq!(alerts.len(), MAX_SEQUENCE_EVENTS - 1);
}

#[test]
fn a_slow_brute_force_for_a_day_stays_under_the_state_limit() {
    // Nine failures every ten minutes, one short of the threshold in every
    // window, for 26 hours, under long user names and addresses: without a
    // cap on bytes the state would pass DynamoDB's 400 KB item limit.
    let c = correlation(
        CorrelationKind::EventCount,
        vec![rule("failed-mfa")],
        10,
        10,
    );
    let long = "u".repeat(64);
    let mut state = GroupState::default();
    let mut largest = 0;
    let mut alerts = 0;
    for i in 0..(26 * 6 * 9) {
        let minute = (i / 9) as f64 * 10.0 + (i % 9) as f64;
        let e = FedEvent {
            user: long.clone(),
            src: "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff".into(),
            place: None,
            ..event(&format!("{i:036}"), minute, 0, "a")
        };
        let tr = feed(&c, &state, &e);
        alerts += tr.alerts.len();
        state = tr.state;
        if i % 27 == 0 {
            largest = largest.max(serde_json::to_vec(&state).unwrap().len());
        }
    }
    largest = largest.max(serde_json::to_vec(&state).unwrap().len());
    assert_eq!(alerts, 0, "nine in ten minutes is not ten");
    assert!(largest <= MAX_STATE_BYTES, "{largest} bytes");
    assert!(
        largest > MAX_STATE_BYTES / 3,
        "the cap was reached: {largest}"
    );
    // The newest windows are kept: a burst now still alerts.
    let end = 26.0 * 60.0;
    let burst: Vec<FedEvent> = (0..10)
        .map(|i| event(&format!("burst{i}"), end + 1.0 + i as f64 * 0.1, 0, "a"))
        .collect();
    let mut now = 0;
    for e in &burst {
        let tr = feed(&c, &state, e);
        now += tr.alerts.len();
        state = tr.state;
    }
    assert!(now >= 1, "the burst alerts");
    // A late event within the horizon but older than what the cap kept
    // opens a window of its own, and does not alert alone.
    let tr = feed(&c, &state, &event("late", end - 20.0 * 60.0, 0, "a"));
    assert!(tr.alerts.is_empty() && !tr.too_late);
}

#[test]
fn a_redelivered_event_hands_back_the_alerts_it_decided() {
    let c = ordered();
    let (_, state) = run(&c, &[event("fail", 1.0, 0, "a"), event("ok", 2.0, 1, "a")]);
    let tr = feed(&c, &state, &event("ok", 2.0, 1, "a"));
    assert!(!tr.changed && tr.alerts.is_empty());
    assert_eq!(tr.redelivered, ["ok"]);
    let count = correlation(CorrelationKind::EventCount, vec![rule("failed-mfa")], 10, 2);
    let (alerts, state) = run(&count, &[event("a", 5.0, 0, "x"), event("b", 6.0, 0, "x")]);
    let tr = feed(&count, &state, &event("b", 6.0, 0, "x"));
    assert_eq!(tr.redelivered.len(), alerts.len());
}

/// Events of two groups, with duplicates, in any order and split into any
/// number of consecutive batches, give the same alerts and the same state.
fn same_whatever_the_order(
    c: &Correlation,
    events: Vec<(FedEvent, u8)>,
    seed: u64,
    dup_every: usize,
) -> Result<(), TestCaseError> {
    let sets = |order: &[(FedEvent, u8)]| {
        let mut states: HashMap<u8, GroupState> = HashMap::new();
        let mut alerts = BTreeSet::new();
        for (e, g) in order {
            let s = states.entry(*g).or_default();
            let tr = feed(c, s, e);
            alerts.extend(tr.alerts.into_iter().map(|a| (*g, a.identity)));
            *s = tr.state;
        }
        let mut states: Vec<(u8, GroupState)> = states.into_iter().collect();
        states.sort_by_key(|(g, _)| *g);
        // Which event decided an alert depends on the order; nothing else does.
        let states: Vec<(u8, GroupState)> = states
            .into_iter()
            .map(|(g, mut s)| {
                s.decided.iter_mut().for_each(|d| d.caused_by.clear());
                s.decided.sort_by(|a, b| a.identity.cmp(&b.identity));
                (g, s)
            })
            .collect();
        (alerts, states)
    };
    let mut delivery = events.clone();
    delivery.extend(events.iter().step_by(dup_every.max(1)).cloned());
    let mut state = seed | 1;
    for i in (1..delivery.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        delivery.swap(i, (state % (i as u64 + 1)) as usize);
    }
    let (want_alerts, want_states) = sets(&events);
    let (got_alerts, got_states) = sets(&delivery);
    prop_assert_eq!(&got_alerts, &want_alerts);
    prop_assert_eq!(&got_states, &want_states);
    Ok(())
}

fn events_strategy(slots: usize) -> impl Strategy<Value = Vec<(FedEvent, u8)>> {
    events_with(slots, 4, 40)
}

/// Up to `n` events of `slots` slots and `ips` addresses, in two groups.
fn events_with(slots: usize, ips: u8, n: usize) -> impl Strategy<Value = Vec<(FedEvent, u8)>> {
    events_at(slots, ips, n, 120)
}

/// As [`events_with`], at `times` distinct minutes only: few enough that
/// many events share one time, as CloudTrail's whole seconds make them.
fn events_at(
    slots: usize,
    ips: u8,
    n: usize,
    times: u32,
) -> impl Strategy<Value = Vec<(FedEvent, u8)>> {
    proptest::collection::vec((0u8..2, 0usize..slots, 0u32..times, 0u8..ips), 1..n).prop_map(
        move |v| {
            v.into_iter()
                .enumerate()
                .map(|(i, (g, slot, minute, ip))| {
                    (
                        event(
                            &format!("e{i}"),
                            f64::from(minute),
                            slot,
                            &format!("10.0.0.{ip}"),
                        ),
                        g,
                    )
                })
                .collect()
        },
    )
}

proptest! {
    #[test]
    fn counts_are_the_same_whatever_the_order(events in events_strategy(1), seed in any::<u64>(), dup in 1usize..5, needs in 2u64..6) {
        let c = correlation(CorrelationKind::EventCount, vec![rule("failed-mfa")], 10, needs);
        same_whatever_the_order(&c, events, seed, dup)?;
    }

    #[test]
    fn value_counts_are_the_same_whatever_the_order(events in events_strategy(1), seed in any::<u64>(), dup in 1usize..5) {
        let c = correlation(CorrelationKind::ValueCount, vec![rule("console-login-success")], 30, 3);
        same_whatever_the_order(&c, events, seed, dup)?;
    }

    #[test]
    fn more_values_than_the_evidence_holds_give_the_same_state(events in events_with(1, 60, 120), seed in any::<u64>(), dup in 1usize..5) {
        let c = correlation(CorrelationKind::ValueCount, vec![rule("console-login-success")], 240, 40);
        same_whatever_the_order(&c, events, seed, dup)?;
    }

    #[test]
    fn ordered_sequences_are_the_same_whatever_the_order(events in events_strategy(2), seed in any::<u64>(), dup in 1usize..5) {
        same_whatever_the_order(&ordered(), events, seed, dup)?;
    }

    #[test]
    fn unordered_sequences_are_the_same_whatever_the_order(events in events_strategy(2), seed in any::<u64>(), dup in 1usize..5) {
        let c = correlation(
            CorrelationKind::Temporal,
            vec![rule("federated-signin-token"), rule("federated-console-login")],
            15,
            1,
        );
        same_whatever_the_order(&c, events, seed, dup)?;
    }

    #[test]
    fn sequences_sharing_their_times_are_the_same_whatever_the_order(events in events_at(2, 4, 30, 3), seed in any::<u64>(), dup in 1usize..5, chained in any::<bool>()) {
        let c = if chained {
            let inner = Arc::new(correlation(CorrelationKind::EventCount, vec![rule("failed-mfa")], 10, 3));
            correlation(CorrelationKind::TemporalOrdered, vec![Slot::Count(inner), rule("console-login-success")], 30, 1)
        } else {
            ordered()
        };
        same_whatever_the_order(&c, events, seed, dup)?;
    }

    #[test]
    fn counts_sharing_their_times_are_the_same_whatever_the_order(events in events_at(1, 4, 30, 3), seed in any::<u64>(), dup in 1usize..5, needs in 2u64..6) {
        let c = correlation(CorrelationKind::EventCount, vec![rule("failed-mfa")], 10, needs);
        same_whatever_the_order(&c, events, seed, dup)?;
    }

    #[test]
    fn chained_counts_are_the_same_whatever_the_order(events in events_strategy(2), seed in any::<u64>(), dup in 1usize..5) {
        let inner = Arc::new(correlation(CorrelationKind::EventCount, vec![rule("failed-mfa")], 10, 3));
        let c = correlation(
            CorrelationKind::TemporalOrdered,
            vec![Slot::Count(inner), rule("console-login-success")],
            30,
            1,
        );
        same_whatever_the_order(&c, events, seed, dup)?;
    }
}
