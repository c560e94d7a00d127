//! The report's HTML: a heading with what was read and the settings, a
//! table of every rule that detected anything, then one section per rule
//! (its chart, its top groups, its hints, its first findings).

use std::fmt::Write;

use super::chart::svg;
use super::{Hint, ListedFinding, Report, RuleSection, esc};

/// No script, no request: the browser refuses anything but the page's own
/// style and inline pictures.
const POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

const STYLE: &str = r#"
:root { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; line-height: 1.45; color: #1a1a1a; background: #fff; }
body { max-width: 72rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.25rem; margin-top: 2rem; border-top: 2px solid #1a1a1a; padding-top: .75rem; }
h3 { font-size: 1.05rem; }
table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid #bbb; vertical-align: top; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.scroll { overflow-x: auto; max-width: 100%; }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: .85rem; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #f3f3f3; border: 1px solid #bbb; padding: .5rem; }
td, li, summary, p { overflow-wrap: anywhere; }
.chart { width: 100%; height: auto; max-width: 720px; }
.chart text { font-size: 11px; fill: #1a1a1a; }
.chart .det { fill: #9a9a9a; } .chart .note { fill: #000; }
.chart .axis { stroke: #1a1a1a; } .chart .grid { stroke: #bbb; stroke-dasharray: 4 3; }
.legend span { display: inline-block; margin-right: 1rem; }
.swatch { display: inline-block; width: .9rem; height: .9rem; vertical-align: middle; margin-right: .3rem; border: 1px solid #1a1a1a; }
.swatch.det { background: #9a9a9a; } .swatch.note { background: #000; width: .35rem; }
.hint { border-left: 4px solid #1a1a1a; padding: .25rem .75rem; margin: .75rem 0; }
details { margin: .25rem 0; } summary { cursor: pointer; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; }
dl.facts dt { font-weight: 600; } dl.facts dd { margin: 0; }
@media (max-width: 40rem) { body { padding: .5rem; } th, td { padding: .2rem .3rem; } dl.facts { grid-template-columns: 1fr; } }
@media print { body { max-width: none; } .scroll { overflow: visible; } h2 { break-before: page; } pre { background: none; } details::details-content { content-visibility: visible; display: block; } }
"#;

/// A fragment id from a rule's name: its letters and digits, with an index
/// that keeps two names apart.
fn anchor(i: usize, name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(48)
        .collect();
    format!("r{i}-{safe}")
}

fn share(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "0%".to_owned();
    }
    // Rounded down, as the hints' shares are: the same value never reads
    // 81% here and 80% there.
    format!("{}%", 100 * part / whole)
}

/// The whole page.
pub fn report_html(r: &Report) -> String {
    let mut s = String::with_capacity(64 << 10);
    let _ = write!(
        s,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{POLICY}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>signin-watch backtest: {} detections, {} notifications</title>
<style>{STYLE}</style></head><body>
<header><h1>signin-watch backtest</h1>
<p>What the rules would have found in the records read, and what would have reached people (after suppression, escalation and the hourly budget). signin-watch {}.</p></header>
<main>
"#,
        r.read.detections,
        r.read.notifications,
        esc(&r.version)
    );
    read_section(&mut s, r);
    settings_section(&mut s, r);
    summary_table(&mut s, r);
    for (i, rule) in r.rules.iter().enumerate().filter(|(_, r)| r.detections > 0) {
        rule_section(&mut s, r, i, rule);
    }
    s.push_str("</main></body></html>\n");
    s
}

fn read_section(s: &mut String, r: &Report) {
    let f = &r.read;
    s.push_str(r#"<section id="read"><h2>What was read</h2><dl class="facts">"#);
    let range = match (&f.first_event, &f.last_event) {
        (Some(a), Some(b)) => format!("{a} to {b} (UTC)"),
        _ => "no record the rules read".to_owned(),
    };
    let rows: [(&str, String); 11] = [
        ("Inputs", format!("{} ({} bytes)", f.files, f.bytes)),
        ("Records", f.records.to_string()),
        ("Sign-in records", f.signin_records.to_string()),
        ("Event times", range),
        ("Bad records", f.bad_records.to_string()),
        (
            "Duplicates (an eventID counted once)",
            f.duplicates.to_string(),
        ),
        (
            "Let pass by an allowlist or filter",
            f.allowlisted.to_string(),
        ),
        ("Too late for a correlation", f.too_late.to_string()),
        (
            "Dated in the future (counted at the archive's own time)",
            f.future_dated.to_string(),
        ),
        (
            "Detections that failed (a rule's error, on stderr)",
            f.failed_detections.to_string(),
        ),
        (
            "Detections, notifications",
            format!(
                "{} detections; {} notifications; {} folded into {} digests",
                f.detections, f.notifications, f.folded, f.digests
            ),
        ),
    ];
    for (k, v) in rows {
        let _ = write!(s, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(&v));
    }
    s.push_str("</dl><details><summary>The inputs</summary><ul>");
    for input in &r.inputs {
        let _ = write!(s, "<li><code>{}</code></li>", esc(input));
    }
    if r.more_inputs > 0 {
        let _ = write!(s, "<li>and {} more</li>", r.more_inputs);
    }
    s.push_str("</ul></details></section>\n");
}

fn summary_table(s: &mut String, r: &Report) {
    s.push_str(
        r#"<section id="summary"><h2>Per rule</h2><div class="scroll"><table><thead><tr><th>Rule</th><th>Kind</th><th>Severity</th><th class="n">Detections</th><th class="n">Notifications</th><th class="n">Folded into digests</th><th class="n">Digests</th></tr></thead><tbody>"#,
    );
    for (i, rule) in r.rules.iter().enumerate() {
        // A rule that detected nothing has a row and no section.
        let name = if rule.detections > 0 {
            format!(
                r##"<a href="#{}">{}</a>"##,
                anchor(i, &rule.name),
                esc(&rule.name)
            )
        } else {
            esc(&rule.name)
        };
        let _ = write!(
            s,
            r#"<tr data-rule="{}"><td>{name}</td><td>{}</td><td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
            esc(&rule.name),
            esc(&rule.kind),
            esc(&rule.severity),
            rule.detections,
            rule.notifications,
            rule.folded,
            rule.digests
        );
    }
    if r.rules.is_empty() {
        s.push_str(r#"<tr><td colspan="7">No rule is enabled.</td></tr>"#);
    }
    s.push_str("</tbody></table></div></section>\n");
}

fn rule_section(s: &mut String, r: &Report, i: usize, rule: &RuleSection) {
    let id = anchor(i, &rule.name);
    let _ = write!(
        s,
        r#"<section class="rule" id="{id}"><h2>{}</h2><p>{} <code>{}</code>, id <code>{}</code>, {}: <strong>{} detections</strong>, <strong>{} notifications</strong>{}.</p>"#,
        esc(&rule.title),
        esc(&rule.kind),
        esc(&rule.name),
        esc(&rule.id),
        esc(&rule.severity),
        rule.detections,
        rule.notifications,
        if rule.folded > 0 {
            format!(
                ", {} folded into {} digests past the hourly budget",
                rule.folded, rule.digests
            )
        } else {
            String::new()
        }
    );
    s.push_str(&svg(&r.axis, &rule.series, &rule.name, &id));
    s.push_str(r#"<p class="legend"><span><span class="swatch det"></span>wide grey bars: detections</span><span><span class="swatch note"></span>narrow black bars: notifications</span></p>"#);
    let _ = write!(
        s,
        r#"<details><summary>Detections per {}, as a table</summary><div class="scroll"><table><thead><tr><th>From</th><th class="n">Detections</th><th class="n">Notifications</th></tr></thead><tbody>"#,
        r.axis.unit.as_str()
    );
    for (&bar, &(d, n)) in &rule.series.bars {
        let _ = write!(
            s,
            r#"<tr><td>{}</td><td class="n">{d}</td><td class="n">{n}</td></tr>"#,
            r.axis.label(bar)
        );
    }
    s.push_str("</tbody></table></div></details>");

    let _ = write!(
        s,
        r#"<h3>Top groups</h3><p>{} groups (account, user, source); the {} with most detections:</p><div class="scroll"><table><thead><tr><th>Account</th><th>User</th><th>Source</th><th>Where</th><th class="n">Detections</th><th class="n">Share</th><th class="n">Notifications</th></tr></thead><tbody>"#,
        rule.groups,
        rule.top_groups.len()
    );
    for g in &rule.top_groups {
        let _ = write!(
            s,
            r#"<tr><td><code>{}</code></td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
            esc(&g.account),
            esc(&g.user),
            esc(&g.src),
            esc(&g.place),
            g.detections,
            share(g.detections, rule.detections),
            g.notifications
        );
    }
    s.push_str("</tbody></table></div>");
    if rule.more_groups > 0 {
        let _ = write!(
            s,
            "<p>And {} detections of further groups, counted together past the bound on groups.</p>",
            rule.more_groups
        );
    }

    if !rule.hints.is_empty() {
        s.push_str("<h3>Tuning hints</h3>");
        for h in &rule.hints {
            hint(s, h);
        }
    }

    let _ = write!(
        s,
        "<h3>Findings</h3><p>The first {} in the order read",
        rule.listed.len()
    );
    if rule.unlisted > 0 {
        let _ = write!(s, "; {} more are not listed", rule.unlisted);
    }
    s.push_str(".</p>");
    for f in &rule.listed {
        finding(s, f);
    }
    s.push_str("</section>\n");
}

fn hint(s: &mut String, h: &Hint) {
    let _ = write!(
        s,
        r#"<div class="hint"><p><strong>Hint:</strong> {}</p><p>{}</p><pre>{}</pre></div>"#,
        esc(&h.text),
        esc(&h.how),
        esc(&h.setting)
    );
}

fn finding(s: &mut String, f: &ListedFinding) {
    let _ = write!(
        s,
        r#"<details class="finding"><summary><time>{}</time> [{}] {} ({})</summary><h4>Story</h4><p>{}</p><h4>Evidence</h4><pre>{}</pre><h4>E-mail text</h4><pre>{}</pre></details>"#,
        esc(&f.time),
        esc(&f.severity.to_uppercase()),
        esc(&f.title),
        esc(&f.status),
        esc(&f.story),
        esc(&f.evidence),
        esc(&f.email)
    );
}

fn settings_section(s: &mut String, r: &Report) {
    s.push_str(r#"<section id="settings"><h2>Settings and rule pack</h2><dl class="facts">"#);
    for (k, v) in &r.settings {
        let _ = write!(s, "<dt><code>{}</code></dt><dd>{}</dd>", esc(k), esc(v));
    }
    let on = r.pack.iter().filter(|p| p.enabled == "yes").count();
    let off: Vec<String> = r
        .pack
        .iter()
        .filter(|p| p.enabled != "yes")
        .map(|p| format!("<code>{}</code>", esc(&p.name)))
        .collect();
    let _ = write!(
        s,
        "</dl><p>{} rules and correlations, {on} on{}.</p><details><summary>The rule pack</summary>",
        r.pack.len(),
        if off.is_empty() {
            String::new()
        } else {
            format!("; off: {}", off.join(", "))
        }
    );
    s.push_str(r#"<div class="scroll"><table><thead><tr><th>Name</th><th>Id</th><th>Level</th><th>Kind</th><th>Source</th><th>Enabled</th></tr></thead><tbody>"#);
    for p in &r.pack {
        let _ = write!(
            s,
            "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&p.name),
            esc(&p.id),
            esc(&p.level),
            esc(&p.kind),
            esc(&p.source),
            esc(&p.enabled)
        );
    }
    s.push_str("</tbody></table></div></details><h3>Filters</h3>");
    if r.filters.is_empty() {
        s.push_str("<p>None.</p>");
    } else {
        s.push_str("<ul>");
        for (name, rules) in &r.filters {
            let _ = write!(s, "<li><code>{}</code>: {}</li>", esc(name), esc(rules));
        }
        s.push_str("</ul>");
    }
    s.push_str("</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_signer_chose_is_text_not_markup() {
        assert_eq!(
            esc("<script>\"x\" & 'y'\u{7}"),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;\u{FFFD}"
        );
        let mut r = Report::default();
        r.rules.push(RuleSection {
            name: "r".into(),
            title: "<img src=x onerror=alert(1)>".into(),
            ..RuleSection::default()
        });
        let page = report_html(&r);
        assert!(!page.contains("<img"), "escaped");
        assert!(!page.contains("<script"), "no script at all");
        assert!(page.contains("default-src 'none'"));
    }
}
