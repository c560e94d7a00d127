//! A rule's detections over time as an inline SVG bar chart: wide light
//! bars for detections, narrow dark bars inside them for notifications, so
//! that the two read apart without colour. Every bar carries its numbers as
//! a tooltip, and the page repeats them in a table.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::esc;
use crate::domain::time::Timestamp;

pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 24 * HOUR_MS;
/// Spans up to this many hours are drawn per hour, longer ones per day.
const HOURLY_UP_TO: i64 = 72;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 150.0;
const LEFT: f64 = 44.0;
const BOTTOM: f64 = 22.0;
const TOP: f64 = 8.0;

/// How long one bar is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Unit {
    #[default]
    Hour,
    Day,
}

impl Unit {
    fn millis(self) -> i64 {
        match self {
            Unit::Hour => HOUR_MS,
            Unit::Day => DAY_MS,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Hour => "hour",
            Unit::Day => "day",
        }
    }
}

/// The time axis every chart of a page shares: bars of one unit from the
/// first event's to the last event's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Axis {
    pub unit: Unit,
    /// The first bar's start, in milliseconds since the epoch.
    pub start: i64,
    pub bars: usize,
}

impl Axis {
    /// The axis that covers `first..=last`: hourly bars for up to three
    /// days, daily ones beyond.
    pub fn covering(first: Timestamp, last: Timestamp) -> Self {
        let (first, last) = (first.as_millis(), last.as_millis().max(first.as_millis()));
        let unit = if (last - first) / HOUR_MS < HOURLY_UP_TO {
            Unit::Hour
        } else {
            Unit::Day
        };
        let start = first.div_euclid(unit.millis()) * unit.millis();
        let bars = (last - start).div_euclid(unit.millis()) + 1;
        Axis {
            unit,
            start,
            bars: usize::try_from(bars).unwrap_or(usize::MAX),
        }
    }

    /// The bar a time falls in.
    pub fn bar(&self, t: Timestamp) -> usize {
        let i = (t.as_millis() - self.start).div_euclid(self.unit.millis());
        usize::try_from(i)
            .unwrap_or(0)
            .min(self.bars.saturating_sub(1))
    }

    /// A bar's start as people read it: `2026-11-25 12:00` or `2026-11-25`.
    pub fn label(&self, bar: usize) -> String {
        let at = Timestamp::from_millis(self.start + bar as i64 * self.unit.millis()).to_string();
        match self.unit {
            Unit::Hour => format!("{} {}", &at[..10], &at[11..16]),
            Unit::Day => at[..10].to_owned(),
        }
    }
}

/// Detections and notifications per bar; bars without any are absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Series {
    pub bars: BTreeMap<usize, (u64, u64)>,
}

impl Series {
    pub fn add(&mut self, bar: usize, notified: bool) {
        let e = self.bars.entry(bar).or_default();
        e.0 += 1;
        e.1 += u64::from(notified);
    }
}

/// The chart, with `id` naming its title for screen readers.
pub fn svg(axis: &Axis, series: &Series, rule: &str, id: &str) -> String {
    let peak = series.bars.values().map(|b| b.0).max().unwrap_or(0).max(1);
    let plot_w = WIDTH - LEFT - 4.0;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let step = plot_w / axis.bars.max(1) as f64;
    let mut s = String::with_capacity(256 + series.bars.len() * 160);
    let total: u64 = series.bars.values().map(|b| b.0).sum();
    let _ = write!(
        s,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{id}-t" xmlns="http://www.w3.org/2000/svg"><title id="{id}-t">{} detections of {} per {}, from {} to {}; the table below lists them</title>"#,
        total,
        esc(rule),
        axis.unit.as_str(),
        axis.label(0),
        axis.label(axis.bars.saturating_sub(1)),
    );
    // The frame: a baseline and the peak's gridline, both labelled.
    let base = TOP + plot_h;
    let _ = write!(
        s,
        r#"<line class="axis" x1="{LEFT}" y1="{base}" x2="{}" y2="{base}"/><line class="grid" x1="{LEFT}" y1="{TOP}" x2="{}" y2="{TOP}"/><text x="{}" y="{}" text-anchor="end">{peak}</text><text x="{}" y="{base}" text-anchor="end">0</text>"#,
        LEFT + plot_w,
        LEFT + plot_w,
        LEFT - 4.0,
        TOP + 4.0,
        LEFT - 4.0,
    );
    for (&bar, &(detections, notifications)) in &series.bars {
        let x = LEFT + bar as f64 * step;
        let h = plot_h * detections as f64 / peak as f64;
        let n = plot_h * notifications as f64 / peak as f64;
        let w = (step - 1.0).max(1.0);
        let _ = write!(
            s,
            r#"<g><title>{}: {detections} detections, {notifications} notifications</title><rect class="det" x="{x:.2}" y="{:.2}" width="{w:.2}" height="{h:.2}"/>"#,
            axis.label(bar),
            base - h,
        );
        if notifications > 0 {
            let nw = (w / 3.0).max(1.0);
            let _ = write!(
                s,
                r#"<rect class="note" x="{:.2}" y="{:.2}" width="{nw:.2}" height="{n:.2}"/>"#,
                x + (w - nw) / 2.0,
                base - n,
            );
        }
        s.push_str("</g>");
    }
    let last = axis.bars.saturating_sub(1);
    let _ = write!(
        s,
        r#"<text x="{LEFT}" y="{}">{}</text><text x="{}" y="{}" text-anchor="end">{}</text></svg>"#,
        HEIGHT - 6.0,
        axis.label(0),
        LEFT + plot_w,
        HEIGHT - 6.0,
        axis.label(last),
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse(text).expect("a time")
    }

    #[test]
    fn three_days_are_hourly_and_more_are_daily() {
        let a = Axis::covering(at("2026-11-25T12:30:00Z"), at("2026-11-25T14:00:00Z"));
        assert_eq!((a.unit, a.bars), (Unit::Hour, 3));
        assert_eq!(a.label(0), "2026-11-25 12:00");
        assert_eq!(a.bar(at("2026-11-25T13:59:59Z")), 1);
        let a = Axis::covering(at("2026-11-01T00:00:00Z"), at("2026-11-30T23:00:00Z"));
        assert_eq!((a.unit, a.bars), (Unit::Day, 30));
        assert_eq!(a.label(29), "2026-11-30");
    }

    #[test]
    fn bars_carry_their_numbers_and_names_are_escaped() {
        let axis = Axis::covering(at("2026-11-25T12:00:00Z"), at("2026-11-25T13:00:00Z"));
        let mut series = Series::default();
        series.add(0, true);
        series.add(0, false);
        series.add(1, false);
        let svg = svg(&axis, &series, "<b>", "r1");
        assert!(
            svg.contains("2026-11-25 12:00: 2 detections, 1 notifications"),
            "{svg}"
        );
        assert!(svg.contains("3 detections of &lt;b&gt; per hour"), "{svg}");
        assert_eq!(svg.matches(r#"class="note""#).count(), 1);
    }
}
