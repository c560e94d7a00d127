//! `signin-watch rules list|test|check`: what the rules are, whether they
//! pass their inline tests, whether a file of rules loads.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use signin_watch::config;
use signin_watch::config::catalog::{Catalog, InlineTests};
use signin_watch::domain::correlation::simulate;
use signin_watch::domain::rules::correlation::Slot;
use std::collections::BTreeSet;

use signin_watch::config::DetectorConfig;
use signin_watch::domain::rules::event_names::{PATTERN_EVENT_NAMES, Reach};
use signin_watch::domain::rules::inline;
use signin_watch::domain::rules::{Filter, Origin, Rule};

use crate::cli::DetectorArgs;
use crate::fail;

/// One line per rule, one per correlation, then one per filter.
pub fn list(args: &DetectorArgs) -> ExitCode {
    let config = match args.detector_config() {
        Ok(c) => c,
        Err(e) => return fail(&format!("invalid setting {e}")),
    };
    let mut out = io::stdout().lock();
    let rows = pack_rows(&config);
    let header = ["NAME", "ID", "LEVEL", "KIND", "SOURCE", "ENABLED"].map(String::from);
    let mut widths = header.each_ref().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut write = || -> io::Result<()> {
        for row in std::iter::once(&header).chain(&rows) {
            let cells: Vec<String> = row
                .iter()
                .zip(widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            writeln!(out, "{}", cells.join("  ").trim_end())?;
        }
        // The filters of the files, and the allowlist variables' when set.
        for filter in &loaded_filters(&config) {
            writeln!(
                out,
                "filter {} ({}): {}",
                filter.name, filter.origin, filter.title
            )?;
        }
        Ok(())
    };
    match write() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&format!("writing the list: {e}")),
    }
}

/// Runs every inline test of the pack and of `--rules DIR`.
pub fn test(args: &DetectorArgs) -> ExitCode {
    let dir = args.rules_dir().map(PathBuf::from);
    let geoip = args.geoip_dir().map(PathBuf::from);
    let locator = match signin_watch::config::geo::locator(dir.as_deref(), geoip.as_deref()) {
        Ok(l) => l,
        Err(e) => return fail(&format!("invalid setting {e}")),
    };
    let catalog = match args.rules_dir() {
        Some(dir) => Catalog::with_dir_and(&PathBuf::from(dir), InlineTests::Skip),
        None => Catalog::pack(),
    };
    let catalog = match catalog {
        Ok(c) => c,
        Err(e) => return fail(&e.to_string()),
    };
    let mut out = io::stdout().lock();
    let (mut failures, mut tests) = (0usize, 0usize);
    let mut report = |what: &str, name: &str, count: usize, failed: Vec<inline::TestFailure>| {
        tests += count;
        failures += failed.len();
        let status = match (count, failed.is_empty()) {
            (0, _) => "none",
            (_, true) => "ok",
            (_, false) => "FAIL",
        };
        let _ = writeln!(out, "{status:<4} {what} {name} ({count} tests)");
        for f in failed {
            let _ = writeln!(out, "       {f}");
        }
    };
    for rule in catalog.rules.iter().filter(|r| !catalog.has_memory(r)) {
        report(
            "rule",
            &rule.name,
            rule.tests.len(),
            inline::run_rule(rule, &locator),
        );
    }
    for c in &catalog.correlations {
        report(
            "correlation",
            &c.name,
            c.tests.len(),
            simulate::run(c, &locator),
        );
    }
    for filter in &catalog.filters {
        report(
            "filter",
            &filter.name,
            filter.tests.len(),
            inline::run_filter(filter, &locator),
        );
    }
    let _ = writeln!(
        out,
        "signin-watch rules test: {tests} tests, {failures} failed"
    );
    if failures > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Loads the files beside the pack, inline tests included, and says what
/// each holds or what is wrong.
pub fn check(files: &[PathBuf], geoip: Option<&str>) -> ExitCode {
    // The files' tests run as the function would run them from the files'
    // directory: the embedded geo data (or --geoip's) and the lists of
    // networks/ beside them.
    let mut dirs: Vec<&std::path::Path> = files
        .iter()
        .map(|f| f.parent().unwrap_or(std::path::Path::new(".")))
        .collect();
    dirs.dedup();
    let geoip = geoip.filter(|d| !d.trim().is_empty()).map(PathBuf::from);
    let mut lists = Vec::new();
    for dir in dirs {
        match signin_watch::config::geo::network_lists(dir) {
            Ok(found) => lists.extend(found),
            Err(e) => return fail(&format!("invalid setting {e}")),
        }
    }
    let locator = match signin_watch::config::geo::locator(None, geoip.as_deref()) {
        Ok(l) => l.with_lists(lists),
        Err(e) => return fail(&format!("invalid setting {e}")),
    };
    match Catalog::with_files(files, InlineTests::Run(&locator)) {
        Ok(catalog) => {
            for path in files {
                let origin = Origin::File(path.display().to_string());
                let rules = catalog.rules.iter().filter(|r| r.origin == origin).count();
                let correlations = catalog
                    .correlations
                    .iter()
                    .filter(|c| c.origin == origin)
                    .count();
                let filters = catalog
                    .filters
                    .iter()
                    .filter(|f| f.origin == origin)
                    .count();
                println!(
                    "{}: ok ({rules} rules, {correlations} correlations, {filters} filters)",
                    path.display()
                );
                for rule in catalog.rules.iter().filter(|r| r.origin == origin) {
                    if let Some(warning) = reach_warning(rule) {
                        println!("{}: warning: {warning}", path.display());
                    }
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}

/// What a rule misses on the EventBridge path, when it misses anything.
fn reach_warning(rule: &Rule) -> Option<String> {
    match rule.reach() {
        Reach::Passed => None,
        Reach::Missing(names) => Some(format!(
            "rule {:?} matches {}, which the template's EventBridge pattern does not pass \
             (or not as the rule's positive tests show them): it fires on them only through \
             the trail bucket and replay; deploy with ExtraEventNames={} (see `signin-watch rules pattern`)",
            rule.name,
            names.join(", "),
            names.join(",")
        )),
        Reach::Unpinned => Some(format!(
            "rule {:?} names no eventName: on the EventBridge path it sees only the event \
             names the template's pattern passes ({}); name the event names it is for, \
             and pass the others with ExtraEventNames",
            rule.name,
            PATTERN_EVENT_NAMES.join(", ")
        )),
    }
}

/// The event names the enabled rules need beyond the template's pattern,
/// as the `ExtraEventNames` parameter takes them, then the whole pattern
/// for a rule managed by hand.
pub fn pattern(args: &DetectorArgs) -> ExitCode {
    let config = match args.detector_config() {
        Ok(c) => c,
        Err(e) => return fail(&format!("invalid setting {e}")),
    };
    let mut extra: BTreeSet<String> = BTreeSet::new();
    let mut unpinned = Vec::new();
    for rule in config.rules.rules() {
        match rule.reach() {
            Reach::Passed => {}
            Reach::Missing(names) => extra.extend(names),
            Reach::Unpinned => unpinned.push(rule.name.clone()),
        }
    }
    let extra: Vec<String> = extra.into_iter().collect();
    let mut names: Vec<serde_json::Value> = PATTERN_EVENT_NAMES
        .iter()
        .copied()
        .chain(extra.iter().map(String::as_str))
        .map(|n| serde_json::json!({"equals-ignore-case": n}))
        .collect();
    names.dedup();
    let whole = serde_json::json!({
        "source": ["aws.signin"],
        "detail": {
            "eventSource": [{"equals-ignore-case": "signin.amazonaws.com"}],
            "eventName": names,
        }
    });
    let write = || -> io::Result<()> {
        let mut out = io::stdout().lock();
        writeln!(out, "ExtraEventNames={}", extra.join(","))?;
        for name in &unpinned {
            writeln!(
                out,
                "# rule {name:?} names no eventName: it sees only what the pattern passes"
            )?;
        }
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&whole).unwrap_or_default()
        )
    };
    match write() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&format!("writing the pattern: {e}")),
    }
}

/// Every rule and correlation of the pack and the rules directory, as
/// `rules list` and the backtest report show them: name, id, level, kind,
/// source, enabled.
pub fn pack_rows(config: &DetectorConfig) -> Vec<[String; 6]> {
    config
        .catalog
        .rules
        .iter()
        .filter(|r| !config.catalog.has_memory(r))
        .map(|r| {
            // A rule with placeholders runs as a copy filled from the settings.
            let enabled = config.rules.rules().any(|e| e.id == r.id);
            let inactive = config.inactive.iter().find(|(name, _)| *name == r.name);
            let state = match (enabled, inactive) {
                (true, _) => "yes".to_owned(),
                (false, Some((_, why))) => {
                    format!("no: inactive, {why} ({})", config::PLACEHOLDERS)
                }
                (false, None) => "no".to_owned(),
            };
            [
                r.name.clone(),
                r.id.clone(),
                if r.severity_from_list {
                    "the list's".to_owned()
                } else {
                    r.severity.as_str().to_owned()
                },
                r.kind.as_str().to_owned(),
                r.origin.to_string(),
                state,
            ]
        })
        .chain(config.catalog.correlations.iter().map(|c| {
            let enabled = if c.building_block {
                // A chained count is on when a correlation that is on uses it.
                config.rules.correlations().iter().any(|outer| {
                    outer.slots.iter().any(
                        |s| matches!(s, Slot::Count(inner) if std::sync::Arc::ptr_eq(inner, c)),
                    )
                })
            } else {
                config
                    .rules
                    .correlations()
                    .iter()
                    .any(|e| std::sync::Arc::ptr_eq(e, c))
            };
            let role = if c.building_block {
                "building-block"
            } else {
                "correlation"
            };
            [
                c.name.clone(),
                c.id.clone(),
                c.severity.as_str().to_owned(),
                format!("{role}/{}", c.kind.as_str()),
                c.origin.to_string(),
                if enabled { "yes" } else { "no" }.to_owned(),
            ]
        }))
        .collect()
}

/// The filters of the files, and the allowlist variables' when set.
pub fn loaded_filters(config: &DetectorConfig) -> Vec<std::sync::Arc<Filter>> {
    let mut filters = config.catalog.filters.clone();
    for f in config
        .rules
        .rules()
        .flat_map(|r| config.rules.filters_of(r))
    {
        if !filters.iter().any(|known| std::sync::Arc::ptr_eq(known, f)) {
            filters.push(f.clone());
        }
    }
    filters
}
