//! Which rules and filters there are: the pack compiled into the binary,
//! plus the files of a directory the operator gives (`--rules DIR`,
//! `SIGNIN_WATCH_RULES_DIR`), whose rules add to the pack or replace a pack
//! rule with the same id.
//!
//! Custom rules and filters are checked as they load, inline tests included:
//! any problem stops start-up with the file, the line where it can tell, and
//! the reason.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::domain::correlation::simulate;
use crate::domain::geo::Locator;
use crate::domain::rules::correlation::Correlation;
use crate::domain::rules::inline;
use crate::domain::rules::load::link;
use crate::domain::rules::load::{self, CorrelationSpec, EventFiles, Loaded, RuleError};
use crate::domain::rules::pack::{self, PackEvents};
use crate::domain::rules::{Filter, FilterTargets, Origin, Rule};

/// The rules, filters and correlations there are, enabled or not, in
/// evaluation order.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub rules: Vec<Arc<Rule>>,
    pub filters: Vec<Arc<Filter>>,
    pub correlations: Vec<Arc<Correlation>>,
}

/// Inline tests name events of the pack (`events/`) or files beside the
/// rule file.
struct BesideTheFile<'a> {
    dir: &'a Path,
}

impl EventFiles for BesideTheFile<'_> {
    fn read(&self, name: &str) -> Result<Vec<u8>, String> {
        if let Ok(bytes) = PackEvents.read(name) {
            return Ok(bytes);
        }
        let path = self.dir.join(name);
        std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    }

    fn record(&self, name: &str) -> Result<serde_json::Value, String> {
        match PackEvents.record(name) {
            Ok(record) => Ok(record),
            Err(_) => {
                let bytes = self.read(name)?;
                let value: serde_json::Value =
                    serde_json::from_slice(&bytes).map_err(|e| format!("{name}: {e}"))?;
                Ok(value.get("detail").cloned().unwrap_or(value))
            }
        }
    }
}

fn io_error(path: &Path, e: std::io::Error) -> RuleError {
    RuleError {
        origin: Origin::File(path.display().to_string()),
        line: None,
        reason: format!("cannot read: {e}"),
    }
}

/// Adds a custom correlation, or replaces the pack's with its id.
fn add_spec(
    specs: &mut Vec<CorrelationSpec>,
    spec: CorrelationSpec,
    rules: &[Arc<Rule>],
) -> Result<(), RuleError> {
    let clash = |other: &Origin, what: &str| RuleError {
        origin: spec.meta.origin.clone(),
        line: None,
        reason: format!(
            "{:?} has the {what} of the rule in {other} too",
            spec.meta.name
        ),
    };
    if let Some(i) = specs
        .iter()
        .position(|s| s.meta.id.eq_ignore_ascii_case(&spec.meta.id))
    {
        if !matches!(specs[i].meta.origin, Origin::Pack(_)) {
            return Err(clash(&specs[i].meta.origin.clone(), "id"));
        }
        specs[i] = spec;
        return Ok(());
    }
    if let Some(other) = specs
        .iter()
        .find(|s| s.meta.name.eq_ignore_ascii_case(&spec.meta.name))
    {
        return Err(clash(&other.meta.origin.clone(), "name"));
    }
    // A rule with a memory shares its name with the correlation it makes.
    if let Some(other) = rules
        .iter()
        .find(|r| r.is_named(&spec.meta.name) && !(spec.own_rule && r.id == spec.meta.id))
    {
        return Err(clash(&other.origin.clone(), "name"));
    }
    specs.push(spec);
    Ok(())
}

/// The rule files under `dir`: `*.yml` and `*.yaml`, walked in name order.
fn rule_files(dir: &Path) -> Result<Vec<PathBuf>, RuleError> {
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| io_error(dir, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| io_error(dir, e))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        if path.is_dir() {
            out.extend(rule_files(&path)?);
        } else if path.extension().is_some_and(|x| x == "yml" || x == "yaml") {
            out.push(path);
        }
    }
    Ok(out)
}

/// Whether loading runs the inline tests of what it loads.
#[derive(Debug, Clone, Copy)]
pub enum InlineTests<'l> {
    /// Run them, each record located by the locator the detector uses; the
    /// first failure stops the load.
    Run(&'l Locator),
    /// Leave them to the caller (`signin-watch rules test` reports each).
    Skip,
}

/// Loads one file, and runs its inline tests unless told not to.
fn load_file_with(path: &Path, tests: InlineTests) -> Result<Loaded, RuleError> {
    let text = std::fs::read_to_string(path).map_err(|e| io_error(path, e))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let origin = Origin::File(path.display().to_string());
    let loaded = load::parse(origin.clone(), &text, &BesideTheFile { dir })?;
    let InlineTests::Run(locator) = tests else {
        return Ok(loaded);
    };
    let failed = |name: &str, failure: inline::TestFailure| RuleError {
        origin: origin.clone(),
        line: load::line_of(&text, &failure.label),
        reason: format!("{name:?} fails its inline test {failure}"),
    };
    for rule in &loaded.rules {
        if let Some(f) = inline::run_rule(rule, locator).into_iter().next() {
            return Err(failed(&rule.name, f));
        }
    }
    for filter in &loaded.filters {
        if let Some(f) = inline::run_filter(filter, locator).into_iter().next() {
            return Err(failed(&filter.name, f));
        }
    }
    Ok(loaded)
}

impl Catalog {
    /// The pack alone.
    pub fn pack() -> Result<Catalog, RuleError> {
        Self::with_files(&[], InlineTests::Skip)
    }

    /// The pack, then the rules and filters of `dir`, their inline tests run
    /// with `locator`.
    pub fn with_dir(dir: &Path, locator: &Locator) -> Result<Catalog, RuleError> {
        Self::with_dir_and(dir, InlineTests::Run(locator))
    }

    /// The pack, then the rules and filters of `dir`.
    pub fn with_dir_and(dir: &Path, tests: InlineTests) -> Result<Catalog, RuleError> {
        Self::with_files(&rule_files(dir)?, tests)
    }

    /// The pack, then the rules, filters and correlations of `files`, in
    /// order; correlations linked once all are read.
    pub fn with_files(files: &[PathBuf], tests: InlineTests) -> Result<Catalog, RuleError> {
        let pack = pack::contents()?;
        let mut catalog = Catalog {
            rules: pack.rules,
            filters: Vec::new(),
            correlations: Vec::new(),
        };
        let mut specs = pack.correlations;
        let mut custom_correlations = Vec::new();
        let mut test_records = 0;
        for path in files {
            let loaded = load_file_with(path, tests)?;
            // Every cold start runs the inline tests: the directory's bound.
            test_records += loaded.test_records();
            if test_records > load::MAX_CATALOGUE_TEST_RECORDS {
                return Err(RuleError {
                    origin: Origin::File(path.display().to_string()),
                    line: None,
                    reason: format!(
                        "with this file the inline tests of the rules directory make more than the {} records they may make",
                        load::MAX_CATALOGUE_TEST_RECORDS
                    ),
                });
            }
            for rule in loaded.rules {
                catalog.add(rule)?;
            }
            catalog
                .filters
                .extend(loaded.filters.into_iter().map(Arc::new));
            for spec in loaded.correlations {
                custom_correlations.push(spec.meta.id.clone());
                add_spec(&mut specs, spec, &catalog.rules)?;
            }
        }
        catalog.check_filter_targets()?;
        // A baseline or travel made from a rule goes with that rule: a rule
        // of the same id from another file without the block replaces both.
        specs.retain(|s| {
            !s.own_rule
                || catalog
                    .rules
                    .iter()
                    .any(|r| r.id.eq_ignore_ascii_case(&s.meta.id) && r.origin == s.meta.origin)
        });
        catalog.correlations = link::link(specs, &catalog.rules)?;
        if let InlineTests::Run(locator) = tests {
            for c in catalog
                .correlations
                .iter()
                .filter(|c| custom_correlations.contains(&c.id))
            {
                if let Some(f) = simulate::run(c, locator).into_iter().next() {
                    return Err(RuleError {
                        origin: c.origin.clone(),
                        line: None,
                        reason: format!("{:?} fails its inline test {f}", c.name),
                    });
                }
            }
        }
        Ok(catalog)
    }

    /// Adds a custom rule, or replaces the pack rule with its id.
    fn add(&mut self, rule: Rule) -> Result<(), RuleError> {
        if let Some(i) = self
            .rules
            .iter()
            .position(|r| r.id.eq_ignore_ascii_case(&rule.id))
        {
            if !matches!(self.rules[i].origin, Origin::Pack(_)) {
                return Err(RuleError {
                    origin: rule.origin.clone(),
                    line: None,
                    reason: format!(
                        "{:?} has the id {} of the rule in {} too",
                        rule.name, rule.id, self.rules[i].origin
                    ),
                });
            }
            self.rules[i] = Arc::new(rule);
            return Ok(());
        }
        if let Some(other) = self
            .rules
            .iter()
            .find(|r| r.name.eq_ignore_ascii_case(&rule.name))
        {
            return Err(RuleError {
                origin: rule.origin.clone(),
                line: None,
                reason: format!(
                    "the name {:?} is taken by the rule in {} (a rule's name is its key; give another, or the same id to replace it)",
                    rule.name, other.origin
                ),
            });
        }
        self.rules.push(Arc::new(rule));
        Ok(())
    }

    /// Every rule a filter names must exist.
    fn check_filter_targets(&self) -> Result<(), RuleError> {
        for filter in &self.filters {
            let FilterTargets::Rules(keys) = &filter.targets else {
                continue;
            };
            for key in keys {
                if !self.rules.iter().any(|r| r.is_named(key)) {
                    return Err(RuleError {
                        origin: filter.origin.clone(),
                        line: None,
                        reason: format!(
                            "filter {:?} names the rule {key:?}, which is not loaded (known: {})",
                            filter.name,
                            self.names().join(", ")
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// Every rule's and correlation's name, in order.
    pub fn names(&self) -> Vec<&str> {
        self.rules
            .iter()
            .map(|r| r.name.as_str())
            .chain(self.correlations.iter().map(|c| c.name.as_str()))
            .collect()
    }

    /// The rule a key (name or id) names.
    pub fn find(&self, key: &str) -> Option<&Arc<Rule>> {
        self.rules.iter().find(|r| r.is_named(key))
    }

    /// The correlation a key (name or id) names.
    pub fn find_correlation(&self, key: &str) -> Option<&Arc<Correlation>> {
        self.correlations.iter().find(|c| c.is_named(key))
    }

    /// Whether `rule` selects the events of a baseline or impossible travel
    /// of the same name: the rule is that correlation's, listed and tested
    /// as the correlation.
    pub fn has_memory(&self, rule: &Rule) -> bool {
        self.correlations
            .iter()
            .any(|c| c.id == rule.id && (c.baseline.is_some() || c.travel.is_some()))
    }
}
