//! Decides, without parsing, whether an item could be a sign-in record.
//!
//! Every rule either requires `eventSource` `signin.amazonaws.com` or reads
//! `additionalEventData.MFAUsed`: a rule that could match a record with
//! neither is refused at load (`domain::rules::sigma::requires_a_prefilter_needle`).
//! So a record any rule matches holds the bytes `signin.amazonaws.com` or
//! `MFAUsed`, and an item with neither is counted and skipped. Two records
//! slip past, and AWS writes neither: a key spelled with `\u` escapes, and an
//! `eventSource` in capitals (rules compare values in any case, the needle
//! is the lowercase text AWS writes).
//!
//! The check has two stages. While it looks for brackets, the splitter also
//! marks items holding a two-byte fingerprint of either needle
//! (`FINGERPRINTS`): this costs a few vector operations per 64 bytes, far
//! less than searching every item twice. (The AVX2 scan tests the first and
//! the last bytes as sets, so it also marks the crossed pairs `M?i` and
//! `g?A`.) Only marked items, about one in nine in the benchmark's
//! archives, are searched for the needles themselves.

use memchr::memmem::Finder;

const NEEDLES: [&[u8]; 2] = [b"MFAUsed", b"signin.amazonaws.com"];

/// For each needle, two of its bytes [`FINGERPRINT_GAP`] apart (`M?A` in
/// `MFAUsed`, `g?i` in `signin`), chosen because the pairs are rare in other
/// CloudTrail text.
pub(crate) const FINGERPRINTS: [(u8, u8); 2] = [(b'M', b'A'), (b'g', b'i')];
pub(crate) const FINGERPRINT_GAP: u32 = 2;

pub struct Prefilter {
    mfa: Finder<'static>,
    signin: Finder<'static>,
}

impl Default for Prefilter {
    fn default() -> Self {
        Prefilter {
            mfa: Finder::new(NEEDLES[0]),
            signin: Finder::new(NEEDLES[1]),
        }
    }
}

impl Prefilter {
    pub fn is_candidate(&self, item: &[u8]) -> bool {
        self.mfa.find(item).is_some() || self.signin.find(item).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_needle_holds_its_fingerprint() {
        for (needle, (a, b)) in NEEDLES.iter().zip(FINGERPRINTS) {
            let gap = FINGERPRINT_GAP as usize;
            assert!(
                needle.windows(gap + 1).any(|w| w[0] == a && w[gap] == b),
                "{:?} lacks {:?}",
                String::from_utf8_lossy(needle),
                (a as char, b as char)
            );
        }
    }

    /// Every record any pack rule's inline tests say it matches passes the
    /// prefilter, as written compactly and pretty-printed.
    #[test]
    fn every_record_a_pack_rule_matches_is_a_candidate() {
        let p = Prefilter::default();
        let rules = crate::domain::rules::pack::rules().unwrap();
        let mut positives = 0;
        for rule in &rules {
            for test in &rule.tests {
                let record: crate::domain::record::CloudTrailRecord =
                    serde_json::from_str(&test.record).unwrap();
                if !rule.matches(&record) {
                    continue;
                }
                positives += 1;
                let value: serde_json::Value = serde_json::from_str(&test.record).unwrap();
                for text in [
                    value.to_string(),
                    serde_json::to_string_pretty(&value).unwrap(),
                ] {
                    assert!(
                        p.is_candidate(text.as_bytes()),
                        "{}: {}: {text}",
                        rule.name,
                        test.label
                    );
                }
            }
        }
        assert!(positives >= rules.len(), "every rule has a positive");
    }

    #[test]
    fn candidates_hold_a_needle() {
        let p = Prefilter::default();
        assert!(p.is_candidate(br#"{"additionalEventData":{"MFAUsed":"No"}}"#));
        assert!(p.is_candidate(br#"{"eventSource":"signin.amazonaws.com"}"#));
        assert!(!p.is_candidate(br#"{"eventSource":"s3.amazonaws.com","MFA":1}"#));
    }
}
