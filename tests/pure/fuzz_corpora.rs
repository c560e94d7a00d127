//! Every fuzz target's check (`signin_watch::fuzzing`) on stable, over the
//! committed corpora (`fuzz/corpus/TARGET/`, minimized by `make fuzz`), the
//! regressions fuzzing found (`fuzz/regressions/TARGET/`), and the seeds
//! fuzzing starts from (`events/`, `rules/`, `../shared/corpus`).
#![cfg(feature = "fuzzing")]

use crate::common;

use std::path::{Path, PathBuf};

use signin_watch::fuzzing;

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// The inputs of `target`: its corpus and regressions, and `seeds`.
fn inputs(target: &str, seeds: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in [
        format!("fuzz/corpus/{target}"),
        format!("fuzz/regressions/{target}"),
    ] {
        files(&common::repo_path(&dir), &mut out);
    }
    for seed in seeds {
        files(&common::repo_path(seed), &mut out);
    }
    let shared = common::repo_path("../shared/corpus");
    if shared.is_dir() {
        files(&shared, &mut out);
    } else {
        common::say_skipped(&format!(
            "{target}: ../shared/corpus is absent; its records are not replayed"
        ));
    }
    out.sort();
    out
}

fn replay(target: &str, seeds: &[&str], check: fn(&[u8])) {
    let inputs = inputs(target, seeds);
    assert!(!inputs.is_empty(), "{target}: no inputs");
    for path in &inputs {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let result = std::panic::catch_unwind(|| check(&data));
        assert!(result.is_ok(), "{target} fails on {}", path.display());
    }
}

#[test]
fn splitter() {
    replay("splitter", &["events"], fuzzing::splitter);
}

#[test]
fn decode() {
    replay("decode", &["events"], fuzzing::decode_payload);
}

#[test]
fn record_view() {
    replay("record_view", &["events"], fuzzing::record_view);
}

#[test]
fn rule_file() {
    replay("rule_file", &["rules"], fuzzing::rule_file);
}

#[test]
fn sns_message() {
    replay("sns_message", &["events"], fuzzing::sns_message);
}

#[test]
fn config() {
    replay("config", &["events"], fuzzing::config);
}

/// Found by replaying ../shared/corpus/SOURCES.md (a Markdown file, read as
/// JSON Lines) through the splitter check: the excerpt a "cut short" or
/// "text outside" message quoted depended on the read size (the top value's
/// start was gone from the buffer; the excerpt ran past what was read). The
/// crafted case is `fuzz/regressions/splitter/cut-value-excerpt-read-size`.
#[test]
fn a_cut_values_excerpt_is_the_same_whatever_the_read_size() {
    let crafted = std::fs::read(common::repo_path(
        "fuzz/regressions/splitter/cut-value-excerpt-read-size",
    ))
    .expect("the regression is committed");
    fuzzing::splitter(&crafted);
    // Read in place: the corpus is not copied into the repository.
    match std::fs::read(common::repo_path("../shared/corpus/SOURCES.md")) {
        Ok(data) => fuzzing::splitter(&data),
        Err(_) => common::say_skipped("../shared/corpus/SOURCES.md is absent"),
    }
}
