//! The time an archive's records are read at.
//!
//! The function reads a record minutes after it happened, so it judges a
//! record dated in the future against its own clock and counts it at the
//! time of receipt. An archive is read long after: the wall clock lies past
//! every genuine record, and a record counted there would move its group's
//! last-seen, notification times and correlation horizon to today, silencing
//! the archive's genuine sign-ins after it. An archive is read by its own
//! clock instead:
//! - a CloudTrail log file's name says when it was delivered: its records
//!   are judged against that, and counted there when dated past it;
//! - other files (JSON Lines, samples) have no such time: a record dated
//!   past the wall clock, or with no readable time, is counted at the
//!   latest genuine time the archive stated before it; before any, it
//!   waits for the archive's end and is counted at the latest genuine time
//!   of the whole archive (the detector's answer depends on event times,
//!   not on the order it reads them in). Past what may wait (records and
//!   bytes), it is counted at the epoch: that moves no group's times
//!   forward and blinds no correlation.
//!
//! A file without a delivery time can still hold a forged time before the
//! wall clock: nothing tells it from a genuine one (decision 0008).

use crate::domain::observed::Observed;
use crate::domain::time::Timestamp;

/// The most records, and bytes of the items holding them, that wait for
/// the archive's clock: an archive of nothing but forged times cannot hold
/// replay's memory.
pub(super) const MAX_WAITING: usize = 10_000;
pub(super) const MAX_WAITING_BYTES: usize = 64 << 20;

/// Where a record that cannot wait is counted: the epoch, before every
/// genuine time, so that it moves nothing forward.
pub(super) const OVERFLOW: Timestamp = Timestamp::from_millis(0);

/// When to count a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Receipt {
    /// Count it now, as received at this time.
    At(Timestamp),
    /// Count it at the archive's end, at [`ArchiveClock::end`].
    Wait,
}

/// The archive's own clock, advanced by the genuine times it states.
#[derive(Debug)]
pub(super) struct ArchiveClock {
    /// The wall clock when the replay started.
    wall: Timestamp,
    /// The latest time a record stated that was not itself in the future.
    latest: Option<Timestamp>,
    waiting: usize,
    waiting_bytes: usize,
}

impl ArchiveClock {
    pub(super) fn new(wall: Timestamp) -> Self {
        ArchiveClock {
            wall,
            latest: None,
            waiting: 0,
            waiting_bytes: 0,
        }
    }

    /// When to count `o`, read from a file delivered by `delivered` (when
    /// its name says so; never later than the wall clock). Should it wait,
    /// `item_bytes` more bytes would be kept for it.
    pub(super) fn receipt(
        &mut self,
        o: &Observed<'_>,
        delivered: Option<Timestamp>,
        item_bytes: usize,
    ) -> Receipt {
        let delivered = delivered.map(|d| d.min(self.wall));
        let received = delivered.unwrap_or(self.wall);
        match o.stated_time() {
            Some(t) if !o.is_future_dated(received) => {
                self.latest = Some(self.latest.map_or(t, |l| l.max(t)));
                return Receipt::At(received);
            }
            _ if delivered.is_some() => return Receipt::At(received),
            _ => {}
        }
        if let Some(latest) = self.latest {
            return Receipt::At(latest);
        }
        if self.waiting < MAX_WAITING && self.waiting_bytes + item_bytes <= MAX_WAITING_BYTES {
            self.waiting += 1;
            self.waiting_bytes += item_bytes;
            Receipt::Wait
        } else {
            Receipt::At(OVERFLOW)
        }
    }

    /// The time the waiting records are counted at: the latest genuine
    /// time of the archive, or the wall clock for an archive with none.
    pub(super) fn end(&self) -> Timestamp {
        self.latest.unwrap_or(self.wall)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::decode::decode_record;

    fn at(time: &str) -> String {
        format!(r#"{{"eventID":"e","eventSource":"signin.amazonaws.com","eventTime":"{time}"}}"#)
    }

    fn t(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[test]
    fn a_forged_time_waits_for_the_archives_clock() {
        let wall = t("2026-12-07T00:00:00Z");
        let mut clock = ArchiveClock::new(wall);
        let forged = at("9999-12-31T23:59:59Z");
        let genuine = at("2026-11-02T10:00:00Z");
        let forged = decode_record(forged.as_bytes()).unwrap();
        let genuine = decode_record(genuine.as_bytes()).unwrap();
        assert_eq!(clock.receipt(&forged, None, 10), Receipt::Wait);
        assert_eq!(clock.receipt(&genuine, None, 10), Receipt::At(wall));
        // Once the archive has a time, a forged one is counted there.
        assert_eq!(
            clock.receipt(&forged, None, 10),
            Receipt::At(t("2026-11-02T10:00:00Z"))
        );
        assert_eq!(clock.end(), t("2026-11-02T10:00:00Z"));
        // A log file's delivery time is its clock.
        let delivered = t("2026-11-01T00:05:00Z");
        assert_eq!(
            clock.receipt(&forged, Some(delivered), 10),
            Receipt::At(delivered)
        );
        let unreadable = at("2026-10-06T12:01:90Z");
        let unreadable = decode_record(unreadable.as_bytes()).unwrap();
        assert_eq!(
            clock.receipt(&unreadable, None, 10),
            Receipt::At(t("2026-11-02T10:00:00Z"))
        );
    }

    #[test]
    fn an_archive_of_nothing_but_forged_times_waits_for_a_bounded_number() {
        let wall = t("2026-12-07T00:00:00Z");
        let mut clock = ArchiveClock::new(wall);
        let forged = at("9999-12-31T23:59:59Z");
        let forged = decode_record(forged.as_bytes()).unwrap();
        for _ in 0..MAX_WAITING {
            assert_eq!(clock.receipt(&forged, None, 10), Receipt::Wait);
        }
        // Past the bound: the epoch, never the wall clock (which would
        // silence the archive's genuine sign-ins after it).
        assert_eq!(clock.receipt(&forged, None, 10), Receipt::At(OVERFLOW));
        assert_eq!(clock.end(), wall);
        let mut clock = ArchiveClock::new(wall);
        assert_eq!(
            clock.receipt(&forged, None, MAX_WAITING_BYTES),
            Receipt::Wait
        );
        assert_eq!(
            clock.receipt(&forged, None, 1),
            Receipt::At(OVERFLOW),
            "bytes bound"
        );
        assert_eq!(
            clock.receipt(&forged, None, 0),
            Receipt::Wait,
            "its item waits already"
        );
    }

    #[test]
    fn a_delivery_time_past_the_wall_clock_is_the_wall_clock() {
        let wall = t("2026-12-07T00:00:00Z");
        let mut clock = ArchiveClock::new(wall);
        let forged = at("9999-12-31T23:59:59Z");
        let forged = decode_record(forged.as_bytes()).unwrap();
        assert_eq!(
            clock.receipt(&forged, Some(t("9999-12-31T23:59:00Z")), 10),
            Receipt::At(wall)
        );
    }
}
