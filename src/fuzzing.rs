//! The checks behind every fuzz target (`fuzz/fuzz_targets/`), one per
//! input path. `tests/pure/fuzz_corpora.rs` replays the committed corpora
//! through the same checks on stable, so what fuzzing found stays fixed.
//! Each check panics only when the property it states is broken; bad input
//! must come back as an error, never as a panic.

use crate::config::DetectorConfig;
use crate::domain::rules::RuleSet;
use crate::domain::rules::load::{self, EventFiles};
use crate::domain::time::Timestamp;
use crate::intake::scan::reference;
use crate::intake::{
    Decoded, ItemKind, READ_CHUNK, Scanned, Splitter, decode, decode_document, decode_item,
    decode_record, envelopes, s3_notification,
};

/// Items (as bytes) and bad records (line, message) one split gives.
type Split = (Vec<Vec<u8>>, Vec<(u64, String)>);

fn split_with(data: &[u8], avx2: bool, chunk: usize) -> Split {
    let mut splitter = Splitter::new(data).with_chunk(chunk);
    if !avx2 {
        splitter = splitter.without_avx2();
    }
    let (mut items, mut bad) = (Vec::new(), Vec::new());
    let read = splitter.run(|s| match s {
        Scanned::Item(span, bytes) => {
            assert_eq!(
                (span.end - span.start) as usize,
                bytes.len(),
                "a span matches its bytes"
            );
            items.push(bytes.to_vec());
        }
        Scanned::Malformed(m) => bad.push((m.line, m.message.clone())),
    });
    assert!(read.is_ok(), "reading a slice cannot fail");
    (items, bad)
}

/// The splitter: the same items and the same bad records whatever the read
/// size and whichever kernel runs; and, on JSON Lines of objects, the items
/// the byte-at-a-time reference finds.
pub fn splitter(data: &[u8]) {
    let whole = split_with(data, true, READ_CHUNK);
    let chunk = 1 + data.first().map_or(0, |b| *b as usize % 97);
    for (avx2, size) in [
        (false, READ_CHUNK),
        (true, chunk),
        (false, chunk),
        (true, 1),
    ] {
        assert_eq!(
            split_with(data, avx2, size),
            whole,
            "avx2 {avx2}, reads of {size} bytes"
        );
    }
    // Lines that are each one JSON object, and nothing else.
    let lines: Vec<&[u8]> = data
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let objects = !lines.is_empty()
        && data.ends_with(b"\n")
        && lines.iter().all(|l| {
            l.first() == Some(&b'{')
                && l.last() == Some(&b'}')
                && serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(l).is_ok()
        });
    if objects && !data.starts_with(b"{\"Records\"") {
        let r = reference::split(data);
        let want: Vec<Vec<u8>> = r.items.iter().map(|(s, e)| data[*s..*e].to_vec()).collect();
        assert_eq!(whole.0, want, "the reference's items");
        assert!(
            whole.1.is_empty() && r.cut_lines.is_empty(),
            "no bad records"
        );
    }
}

/// Every payload shape the function and replay accept: decoding never
/// panics, and what it reads as records are CloudTrail records.
pub fn decode_payload(data: &[u8]) {
    if let Ok(payloads) = envelopes::unwrap(data) {
        for p in &payloads {
            if let Some(Ok(objects)) = s3_notification::objects(p) {
                for o in objects {
                    let _ = s3_notification::trail_object(&o.key);
                    let _ = s3_notification::notification_for(&[o], "us-east-1");
                }
            }
            check_decoded(p);
        }
    }
    for kind in [ItemKind::Any, ItemKind::Record] {
        let _ = decode_item(data, kind, &mut |o| {
            assert!(o.record.looks_like_cloudtrail(), "an empty record was read");
        });
    }
}

fn check_decoded(data: &[u8]) {
    match decode(data) {
        Ok(Decoded::Records(records)) => {
            let _ = envelopes::untrusted_shape(&records);
            for o in &records {
                let _ = envelopes::is_genuine_signin(o);
            }
        }
        Ok(Decoded::Documents(docs)) => {
            for d in &docs {
                let _ = decode_document(d);
            }
        }
        Err(e) => {
            assert!(!e.to_string().is_empty(), "an error says what is wrong");
        }
    }
}

/// The record view the Sigma engine sees: any record decodes, evaluates
/// against the whole pack and gives facts without panicking.
pub fn record_view(data: &[u8]) {
    let Ok(o) = decode_record(data) else { return };
    let rules = RuleSet::default();
    let evaluation = rules.evaluate(&o.record);
    assert!(evaluation.matched.len() <= rules.rules().count());
    let _ = rules.any_match(&o.record);
    let received = Timestamp::from_millis(1_795_000_000_000);
    let facts = o.facts(received);
    assert!(
        facts.event_time.as_millis()
            <= received.as_millis() + crate::domain::observed::FUTURE_TOLERANCE_MILLIS,
        "no event time past the tolerance"
    );
    let _ = o.event_id();
}

struct NoFiles;

impl EventFiles for NoFiles {
    fn read(&self, name: &str) -> Result<Vec<u8>, String> {
        Err(format!("{name}: no event files while fuzzing"))
    }
}

/// A user-supplied rule or filter file: it loads, or fails saying where.
pub fn rule_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let origin = crate::domain::rules::Origin::File("fuzzed.yml".into());
    if let Err(e) = load::parse(origin, text, &NoFiles) {
        assert!(
            e.to_string().contains("fuzzed.yml"),
            "the error names the file: {e}"
        );
    }
}

/// The settings: any values for the variables give a configuration or an
/// error naming the variable.
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut values = text.split('\u{0}');
    let vars = [
        crate::config::SUPPRESSION_MINUTES,
        crate::config::ESCALATION_TIERS,
        crate::config::DISABLED_RULES,
        crate::config::RULE2_ALLOW_ISSUERS,
        crate::config::RULE2_ALLOW_USER_AGENTS,
        crate::config::RULE2_ALLOW_CIDRS,
    ];
    let given: Vec<(&str, String)> = vars
        .iter()
        .filter_map(|v| values.next().map(|x| (*v, x.to_owned())))
        .collect();
    let lookup = |k: &str| given.iter().find(|(v, _)| *v == k).map(|(_, x)| x.clone());
    if let Err(e) = DetectorConfig::from_lookup(lookup) {
        assert!(vars.contains(&e.var), "the error names a variable: {e}");
    }
    {
        let mut all = given.clone();
        for (k, v) in [
            (crate::lambda::config::TABLE, "t"),
            (
                crate::lambda::config::TOPIC_ARN,
                "arn:aws:sns:us-east-1:111122223333:t",
            ),
        ] {
            all.push((k, v.to_owned()));
        }
        let mut more = text.split('\u{1}').skip(1);
        for var in [
            crate::lambda::config::RETENTION_DAYS,
            crate::lambda::config::AWS_TIMEOUT_MS,
            crate::lambda::config::AWS_ATTEMPT_TIMEOUT_MS,
            crate::lambda::config::ACCEPT_ANY_SHAPE,
        ] {
            if let Some(v) = more.next() {
                all.push((var, v.to_owned()));
            }
        }
        let lookup = |k: &str| all.iter().find(|(v, _)| *v == k).map(|(_, x)| x.clone());
        if let Err(e) = crate::lambda::config::LambdaConfig::from_lookup(lookup) {
            assert!(!e.var.is_empty(), "the error names a variable: {e}");
        }
    }
}

/// The SNS message of a finding whose signer-chosen fields are fuzzed:
/// always valid JSON, within SNS's size limit, attributes SNS accepts.
pub fn sns_message(data: &[u8]) {
    use crate::adapters::sns::message::{MAX_MESSAGE_BYTES, MessageAttribute, build};
    use crate::domain::counter::{Counters, GroupKey, NotifyPolicy, NotifyReason};
    use crate::domain::finding::Finding;
    use crate::domain::identity::Principal;
    use crate::domain::notify::Notice;
    use crate::domain::observed::EventFacts;

    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\u{0}').map(str::to_owned);
    let mut next = || parts.next().unwrap_or_default();
    let (user, agent, src, arn, issuer) = (next(), next(), next(), next(), next());
    let t = Timestamp::from_millis(1_763_600_000_000);
    let facts = EventFacts {
        event_id: next(),
        event_time: t,
        account: "111122223333".into(),
        region: next(),
        principal: Principal {
            user: user.clone(),
            identity_type: Some("FederatedUser".into()),
            arn: Some(arn),
            session_issuer: Some(issuer),
        },
        src: src.clone(),
        user_agent: Some(agent),
        signature: "GetSigninToken".into(),
        dest: next(),
        mfa_used: Some(next()),
        error_message: None,
        outcome: Some(next()),
        signin_endpoint: Some(next()),
        src_geo: None,
    };
    let Some(rule) = crate::domain::rules::pack::rule("federated-single-factor") else {
        return;
    };
    let key = GroupKey::detection(&rule.id, &facts.account, &user, &src, None);
    let c = Counters {
        count: 1,
        first_seen: t,
        last_seen: t,
        last_notified: Some(t),
    };
    let finding = Finding::new(&rule, facts, &key, &c, Some(NotifyReason::FirstDetection));
    let policy = NotifyPolicy::default();
    for fifo in [false, true] {
        let m = build(
            &Notice {
                finding: &finding,
                rule: &rule,
                policy: &policy,
            },
            fifo,
        );
        assert!(m.size() <= MAX_MESSAGE_BYTES, "{} bytes", m.size());
        let body: serde_json::Value = serde_json::from_str(&m.body).expect("the body is JSON");
        for protocol in ["sqs", "email-json", "lambda", "https"] {
            let inner = body[protocol].as_str().expect("a body per protocol");
            let _: serde_json::Value = serde_json::from_str(inner).expect("the finding is JSON");
        }
        assert!(!m.subject.is_empty() && m.subject.len() < 100 && m.subject.is_ascii());
        for (name, v) in &m.attributes {
            let (MessageAttribute::String(s)
            | MessageAttribute::Number(s)
            | MessageAttribute::StringArray(s)) = v;
            assert!(!s.trim().is_empty(), "{name} is empty");
            assert!(!s.chars().any(crate::render::is_hidden), "{name}: {s:?}");
        }
        if let Some(g) = &m.group_id {
            assert!(g.len() <= 128 && g.is_ascii());
        }
    }
}
