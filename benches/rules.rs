//! Nanoseconds per sign-in record: the whole pack's evaluation alone, parse
//! plus evaluation, and the prefilter; a record through the whole detector
//! (rules, counters and correlations in the in-memory store, as replay runs
//! it) over the correlation scenarios; locating a sign-in's source address
//! in the embedded geo data; and the pack's load (parse and compile every
//! rule file). `cargo bench --bench rules`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

use signin_watch::adapters::counting_notifier::CountingNotifier;
use signin_watch::adapters::memory_store::MemoryStore;
use signin_watch::app::detector::Detector;
use signin_watch::domain::counter::NotifyPolicy;
use signin_watch::domain::observed::Observed;
use signin_watch::domain::record::CloudTrailRecord;
use signin_watch::domain::rules::RuleSet;
use signin_watch::domain::time::Timestamp;
use signin_watch::intake::Prefilter;

/// The sign-in records of the samples in events/, as compact JSON lines.
fn sample_records() -> Vec<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/events");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("events/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| {
            let v: serde_json::Value =
                serde_json::from_slice(&std::fs::read(f).expect("sample")).expect("JSON");
            v["detail"].clone()
        })
        .filter(|d| d["eventSource"] == "signin.amazonaws.com")
        .map(|d| d.to_string())
        .collect()
}

/// Every line of events/scenarios/*.jsonl.
fn scenario_records() -> Vec<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/events/scenarios");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("events/scenarios/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .expect("scenario")
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// An EventBridge event line as the detector takes it.
fn decode_item_one(line: &str) -> Observed<'_> {
    match signin_watch::intake::decode(line.as_bytes()).expect("an event") {
        signin_watch::intake::Decoded::Records(mut r) => r.remove(0),
        signin_watch::intake::Decoded::Documents(_) => unreachable!("an EventBridge event"),
    }
}

fn bench(c: &mut Criterion) {
    let lines = sample_records();
    let records: Vec<CloudTrailRecord> = lines
        .iter()
        .map(|l| serde_json::from_str(l).expect("record"))
        .collect();
    let rules = RuleSet::default();
    let prefilter = Prefilter::default();

    let mut g = c.benchmark_group("per_record");
    g.throughput(Throughput::Elements(records.len() as u64));
    g.bench_function("evaluate_the_pack", |b| {
        b.iter(|| {
            let mut n = 0;
            for r in &records {
                n += rules.evaluate(black_box(r)).verdicts.len();
            }
            n
        })
    });
    g.bench_function("parse_and_evaluate", |b| {
        b.iter(|| {
            let mut n = 0;
            for l in &lines {
                let r: CloudTrailRecord = serde_json::from_str(black_box(l)).expect("record");
                n += rules.evaluate(&r).verdicts.len();
            }
            n
        })
    });
    g.bench_function("prefilter", |b| {
        b.iter(|| {
            lines
                .iter()
                .filter(|l| prefilter.is_candidate(black_box(l.as_bytes())))
                .count()
        })
    });
    g.finish();

    // Locating a source address in the embedded data: public addresses of
    // both families, from access providers, clouds and resolvers.
    let addresses = [
        "8.8.8.8",
        "104.131.0.1",
        "80.128.0.1",
        "185.220.101.33",
        "3.80.0.1",
        "193.0.6.139",
        "2001:4860:4860::8888",
        "2a01:4f8::1",
    ];
    let embedded = signin_watch::config::geo::locator(None, None).expect("the embedded data");
    let mut g = c.benchmark_group("geo");
    g.throughput(Throughput::Elements(addresses.len() as u64));
    g.bench_function("locate_an_address", |b| {
        b.iter(|| {
            addresses
                .iter()
                .map(|a| embedded.locate(black_box(a)).asn.unwrap_or(0))
                .sum::<u32>()
        })
    });
    g.finish();

    // The scenarios: every record feeds correlations, most several.
    let scenarios = scenario_records();
    let mut g = c.benchmark_group("detector");
    g.throughput(Throughput::Elements(scenarios.len() as u64));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let with = RuleSet::default().with_locator(embedded.clone());
    let without = RuleSet::new(
        signin_watch::domain::rules::pack::rules().expect("the pack"),
        Vec::new(),
    )
    .with_locator(embedded.clone());
    let unlocated = RuleSet::default();
    // The correlations without the baselines and impossible travel.
    let pack_rules = signin_watch::domain::rules::pack::rules().expect("the pack");
    let forgetful = RuleSet::new(
        pack_rules
            .iter()
            .filter(|r| r.placeholders.is_empty())
            .cloned()
            .collect(),
        Vec::new(),
    )
    .with_correlations(
        signin_watch::domain::rules::load::link::link(
            signin_watch::domain::rules::pack::contents()
                .expect("the pack")
                .correlations,
            &pack_rules,
        )
        .expect("the pack links")
        .into_iter()
        .filter(|c| !c.has_memory())
        .collect(),
    )
    .with_locator(embedded.clone());
    for (name, rules) in [
        ("process_the_scenarios", &with),
        ("process_the_scenarios_without_memories", &forgetful),
        ("process_the_scenarios_without_correlations", &without),
        ("process_the_scenarios_without_geo_data", &unlocated),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let detector =
                    Detector::new(rules.clone(), NotifyPolicy::default(), MemoryStore::new());
                let notifier = CountingNotifier::new();
                let mut findings = 0;
                for line in &scenarios {
                    let observed = decode_item_one(line);
                    let outcome = runtime
                        .block_on(detector.process(&notifier, &observed, Timestamp::now()))
                        .expect("in memory");
                    findings += outcome.detections.len();
                }
                findings
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("pack");
    g.bench_function("load_and_compile", |b| {
        b.iter(|| {
            signin_watch::domain::rules::pack::FILES
                .iter()
                .map(|(name, text)| {
                    signin_watch::domain::rules::load::parse(
                        signin_watch::domain::rules::Origin::Pack(name),
                        black_box(text),
                        &signin_watch::domain::rules::pack::PackEvents,
                    )
                    .expect("the pack loads")
                    .rules
                    .len()
                })
                .sum::<usize>()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
