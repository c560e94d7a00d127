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
    f.severity = meta.severity;
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
    report_with(b, &CurrentAllowlist::default())
}

fn report_with(b: Backtest, current: &CurrentAllowlist) -> Report {
    let mut r = Report::default();
    b.fill(&mut r, current);
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
            let mut f = at_hour(&base, 7 * k as i64);
            f.session_issuer = Some((*issuer).to_owned());
            f.src = format!("198.51.100.{k}");
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
    assert_eq!(hints.len(), 1, "the addresses are spread: {hints:?}");
    assert_eq!(
        hints[0].text,
        "3 session issuers make 92% of federated-single-factor's 25 detections (23), over 7 days, for 1 users: allowlist them, if they are yours?"
    );
    assert_eq!(
        hints[0].setting,
        format!(r#"--rule2-allow-issuers '["{a}","{c}","{d}"]'"#)
    );
    assert!(hints[0].how.contains("SIGNIN_WATCH_RULE2_ALLOW_ISSUERS"));
}

#[test]
fn a_hint_keeps_the_allowlist_in_effect_or_offers_a_filter_beside_user_agents() {
    let arn = |n: &str| format!("arn:aws:iam::111122223333:role/{n}");
    let feed_broker = |b: &mut Backtest| federated(b, &[(&arn("broker"), 9), (&arn("x"), 1)]);
    let current = CurrentAllowlist {
        issuers: vec![arn("old")],
        ..CurrentAllowlist::default()
    };
    let mut b = Backtest::new();
    feed_broker(&mut b);
    let h = &report_with(b, &current).rules[0].hints[0];
    assert_eq!(
        h.setting,
        format!(
            r#"--rule2-allow-issuers '["{}","{}"]'"#,
            arn("old"),
            arn("broker")
        )
    );
    assert!(h.how.contains("keeps the 1 value(s) set now"), "{}", h.how);
    let agents = CurrentAllowlist {
        user_agents: true,
        ..current
    };
    let mut b = Backtest::new();
    feed_broker(&mut b);
    let h = &report_with(b, &agents).rules[0].hints[0];
    assert!(
        h.setting
            .contains("userIdentity.sessionContext.sessionIssuer.arn|cased"),
        "{}",
        h.setting
    );
    assert!(
        h.how
            .contains("SIGNIN_WATCH_RULE2_ALLOW_USER_AGENTS is set"),
        "{}",
        h.how
    );
}

#[test]
fn no_hint_when_the_noise_is_spread_small_brief_or_chosen_by_the_signer() {
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
    // A burst within a day: what a brute force looks like.
    let mut b = Backtest::new();
    let f = sample_finding("alice", "Mozilla/5.0");
    for i in 0..20 {
        feed(&mut b, "failed-mfa", &at_hour(&f, i % 20), Delivery::Sent);
    }
    assert!(
        report(b).rules[0].hints.is_empty(),
        "twenty hours is not a day and more"
    );
}

#[test]
fn an_address_is_offered_only_from_a_network_people_work_from() {
    let f = sample_finding("alice", "Mozilla/5.0");
    let run = |network: &str| {
        let mut b = Backtest::new();
        let mut f = f.clone();
        if let Some(g) = &f.src_geo {
            let mut g = (**g).clone();
            g.network = network.to_owned();
            f.src_geo = Some(std::sync::Arc::new(g));
        }
        for day in 0..10 {
            feed(&mut b, "failed-mfa", &at_hour(&f, 24 * day), Delivery::Sent);
        }
        report(b).rules[0].hints.clone()
    };
    let offered = run("isp");
    assert_eq!(offered.len(), 1);
    assert_eq!(
        offered[0].text,
        "1 source address (203.0.113.7: isp) makes 100% of failed-mfa's 10 detections (10), over 10 days, for 1 users: allowlist it, if it is yours?"
    );
    let yaml = &offered[0].setting;
    assert!(
        yaml.contains("sourceIPAddress|cidr:\n      - \"203.0.113.7/32\"\n"),
        "{yaml}"
    );
    assert!(yaml.contains("rules:\n    - \"failed-mfa\"\n"), "{yaml}");
    for hosting in ["cloud", "aws", "unknown"] {
        assert!(run(hosting).is_empty(), "{hosting}");
    }
}

#[test]
fn high_and_critical_rules_and_correlations_get_no_hint() {
    let f = sample_finding("alice", "Mozilla/5.0");
    for (rule, kind) in [
        ("root-console-login", "detection"),
        ("failed-mfa", "correlation"),
    ] {
        let mut b = Backtest::new();
        let mut f = f.clone();
        f.kind = kind;
        for day in 0..10 {
            feed(&mut b, rule, &at_hour(&f, 24 * day), Delivery::Sent);
        }
        let r = report(b);
        assert!(
            r.rules[0].hints.is_empty(),
            "{rule}: {:?}",
            r.rules[0].hints
        );
    }
}

#[test]
fn the_axis_is_the_detections_and_a_date_decades_off_does_not_stretch_it() {
    let mut b = Backtest::new();
    b.saw(Timestamp::from_millis(0));
    let f = sample_finding("alice", "Mozilla/5.0");
    feed(&mut b, "failed-mfa", &at_hour(&f, 0), Delivery::Sent);
    feed(&mut b, "failed-mfa", &at_hour(&f, 2), Delivery::Sent);
    let r = report(b);
    assert_eq!(
        r.axis.bars, 3,
        "hours of the detections, not of every record read"
    );
    assert_eq!(
        r.read.first_event.as_deref(),
        Some("1970-01-01T00:00:00Z"),
        "what was read, said"
    );
    let mut b = Backtest::new();
    let mut old = at_hour(&f, 0);
    old.event_time = Timestamp::from_millis(-60_000_000_000_000);
    feed(&mut b, "failed-mfa", &old, Delivery::Sent);
    feed(&mut b, "failed-mfa", &at_hour(&f, 0), Delivery::Sent);
    let r = report(b);
    assert!(r.axis.bars <= 2 * 366 + 1, "{}", r.axis.bars);
}

#[test]
fn a_correlations_group_is_what_it_groups_by() {
    let mut f = sample_finding("user4", "Mozilla/5.0");
    f.kind = "correlation";
    f.correlation = Some(crate::domain::finding::CorrelationFacts {
        correlation_type: crate::domain::rules::correlation::CorrelationKind::ValueCount,
        group_fields: [("sourceIPAddress".to_owned(), "192.0.2.99".to_owned())].into(),
        window_start: f.event_time,
        window_end: f.event_time,
        matched_events: 10,
        distinct_values: Some(10),
        evidence: Vec::new(),
        completing_event: None,
        detail: None,
        story: "ten users from one address".to_owned(),
    });
    let row = group_row(&f, "private", true);
    assert_eq!(
        (
            row.account.as_str(),
            row.user.as_str(),
            row.src.as_str(),
            row.place.as_str()
        ),
        ("—", "—", "192.0.2.99", "private"),
        "a spray is one address's, whoever its last user was"
    );
}
