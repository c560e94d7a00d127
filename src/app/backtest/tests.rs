use std::collections::HashMap;

use super::*;
use crate::domain::counter::NotifyPolicy;
use crate::domain::rules::pack;
use crate::render::tests::sample_finding;

/// `n` detections of `rule` from `user` at `src`, an hour apart from
/// `hour`, fed to `b` with `delivery`.
fn feed(b: &mut Backtest, rule: &str, f: &Finding, delivery: Delivery) {
    let meta = pack::rule(rule).expect("a pack rule");
    let policy = NotifyPolicy::default();
    let mut f = f.clone();
    f.rule = meta.name.clone();
    f.rule_id = meta.id.clone();
    b.detection(
        &Notice {
            finding: &f,
            rule: &meta,
            policy: &policy,
        },
        delivery,
    );
}

fn at_hour(f: &Finding, hour: i64) -> Finding {
    let mut f = f.clone();
    f.event_time = Timestamp::from_millis(1_763_596_800_000 + hour * HOUR_MS);
    f
}

fn report(b: Backtest) -> Report {
    let mut r = Report::default();
    b.fill(&mut r);
    r
}

#[test]
fn counts_per_rule_hour_and_group_add_up_to_what_was_fed() {
    let mut b = Backtest::new();
    let alice = sample_finding("alice", "Mozilla/5.0");
    let mut bob = sample_finding("bob", "Mozilla/5.0");
    bob.group = "bob's group".into();
    // failed-mfa: 25 detections, alice 20 (in hours 0 and 1), bob 5 in hour 2.
    for i in 0..20 {
        let delivery = if i == 0 {
            Delivery::Sent
        } else {
            Delivery::Counted
        };
        feed(&mut b, "failed-mfa", &at_hour(&alice, i % 2), delivery);
    }
    for i in 0..5 {
        let delivery = if i < 2 {
            Delivery::Sent
        } else {
            Delivery::Folded
        };
        feed(&mut b, "failed-mfa", &at_hour(&bob, 2), delivery);
    }
    b.digest("failed-mfa");
    // root-console-login: one.
    feed(
        &mut b,
        "root-console-login",
        &at_hour(&alice, 1),
        Delivery::Sent,
    );
    let r = report(b);

    assert_eq!(r.axis.bars, 3, "hours 0 to 2");
    let names: Vec<&str> = r.rules.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["failed-mfa", "root-console-login"], "most first");
    let s = &r.rules[0];
    assert_eq!(
        (s.detections, s.notifications, s.folded, s.digests),
        (25, 3, 3, 1)
    );
    assert_eq!(
        s.series.bars.values().copied().collect::<Vec<_>>(),
        [(10, 1), (10, 0), (5, 2)]
    );
    assert_eq!(s.groups, 2);
    assert_eq!(
        s.top_groups
            .iter()
            .map(|g| (g.user.as_str(), g.detections, g.notifications))
            .collect::<Vec<_>>(),
        [("alice", 20, 1), ("bob", 5, 2)]
    );
    assert_eq!(s.top_groups[0].place, "private", "a documentation address");
    assert_eq!((s.listed.len(), s.unlisted), (LISTED_PER_RULE, 5));
    assert_eq!(s.listed[0].status, "sent");
    assert!(s.listed[0].email.contains("alice"));
    assert!(s.listed[0].evidence.contains("\"rule\": \"failed-mfa\""));
    assert_eq!(r.read.first_event.as_deref(), Some("2025-11-20T00:00:00Z"));
}

/// `counts` of issuers, in one account, each from an address of its own.
fn federated(b: &mut Backtest, issuers: &[(&str, usize)]) {
    let base = sample_finding("broker-user", "Mozilla/5.0");
    let mut k = 0;
    for (issuer, n) in issuers {
        for _ in 0..*n {
            let mut f = base.clone();
            f.session_issuer = Some((*issuer).to_owned());
            f.src = format!("198.51.100.{k}");
            f.account = format!("{:012}", 100_000_000_000u64 + k as u64);
            k += 1;
            feed(b, RULE2, &f, Delivery::Sent);
        }
    }
}

use crate::config::RULE2;

#[test]
fn a_few_issuers_that_make_most_detections_get_the_setting_that_allowlists_them() {
    let mut b = Backtest::new();
    let arn = |n: &str| format!("arn:aws:iam::111122223333:role/{n}");
    let (a, c, d) = (arn("broker-a"), arn("broker-b"), arn("broker-c"));
    federated(
        &mut b,
        &[(&a, 10), (&c, 8), (&d, 5), (&arn("x"), 1), (&arn("y"), 1)],
    );
    let r = report(b);
    let hints = &r.rules[0].hints;
    assert_eq!(
        hints.len(),
        1,
        "addresses and accounts are spread: {hints:?}"
    );
    assert_eq!(
        hints[0].text,
        "3 session issuers make 92% of federated-single-factor's 25 detections (23): allowlist them?"
    );
    assert_eq!(
        hints[0].setting,
        format!(r#"--rule2-allow-issuers '["{a}","{c}","{d}"]'"#)
    );
    assert!(hints[0].how.contains("SIGNIN_WATCH_RULE2_ALLOW_ISSUERS"));
}

#[test]
fn no_hint_when_the_noise_is_spread_or_small_or_chosen_by_the_signer() {
    let arn = |n: usize| format!("arn:aws:iam::111122223333:role/r{n}");
    // Four issuers needed for 80%.
    let mut b = Backtest::new();
    let names: Vec<String> = (0..4).map(arn).collect();
    federated(
        &mut b,
        &names.iter().map(|n| (n.as_str(), 5)).collect::<Vec<_>>(),
    );
    assert!(report(b).rules[0].hints.is_empty());
    // Few detections.
    let mut b = Backtest::new();
    federated(&mut b, &[(&arn(0), 4)]);
    assert!(report(b).rules[0].hints.is_empty());
    // An issuer that is a name, not an ARN, or holds a quote.
    let mut b = Backtest::new();
    federated(&mut b, &[("broker", 9)]);
    assert!(report(b).rules[0].hints.is_empty());
    let mut b = Backtest::new();
    federated(&mut b, &[("arn:aws:iam::1:role/x'y", 9)]);
    assert!(report(b).rules[0].hints.is_empty());
}

#[test]
fn other_rules_get_a_sigma_filter_on_what_the_signer_cannot_choose() {
    let mut b = Backtest::new();
    let f = sample_finding("alice", "Mozilla/5.0");
    for _ in 0..17 {
        feed(&mut b, "failed-mfa", &f, Delivery::Sent);
    }
    // Four other accounts: accounts are offered only among five or more.
    for i in 0..4 {
        let mut other = f.clone();
        other.src = "192.0.2.9".into();
        other.account = format!("44445555666{i}");
        feed(&mut b, "failed-mfa", &other, Delivery::Sent);
    }
    let r = report(b);
    let texts: Vec<&str> = r.rules[0].hints.iter().map(|h| h.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "1 source address makes 80% of failed-mfa's 21 detections (17): allowlist it?",
            "1 account makes 80% of failed-mfa's 21 detections (17): if it is one of your sandboxes, filter it out?"
        ]
    );
    let yaml = &r.rules[0].hints[0].setting;
    assert!(
        yaml.contains("sourceIPAddress|cidr:\n      - \"203.0.113.7/32\"\n"),
        "{yaml}"
    );
    assert!(yaml.contains("rules:\n    - \"failed-mfa\"\n"), "{yaml}");
    assert!(
        r.rules[0].hints[1]
            .setting
            .contains("recipientAccountId:\n      - \"111122223333\"\n")
    );
    // With fewer than five accounts, none is offered.
    let mut b = Backtest::new();
    for _ in 0..11 {
        feed(&mut b, "failed-mfa", &f, Delivery::Sent);
    }
    let mut other = f.clone();
    other.account = "444455556666".into();
    feed(&mut b, "failed-mfa", &other, Delivery::Sent);
    let r = report(b);
    assert_eq!(
        r.rules[0].hints.len(),
        1,
        "the source only: {:?}",
        r.rules[0].hints
    );
}

#[test]
fn correlations_get_no_filter_hint() {
    let hints = hints(
        "password-spray",
        "correlation",
        50,
        &HashMap::new(),
        &HashMap::from([("203.0.113.7".to_owned(), 50)]),
        &HashMap::new(),
    );
    assert!(hints.is_empty());
}
