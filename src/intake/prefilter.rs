//! Decides, without parsing, whether an item could be a sign-in record.
//!
//! Both rules read `additionalEventData.MFAUsed`, so a record either rule
//! matches holds the bytes `MFAUsed`; every sign-in record holds
//! `signin.amazonaws.com`. An item with neither is counted and skipped. (A
//! key written with `\u` escapes would slip past; AWS never writes one.)

use memchr::memmem::Finder;

pub struct Prefilter {
    mfa: Finder<'static>,
    signin: Finder<'static>,
}

impl Default for Prefilter {
    fn default() -> Self {
        Prefilter {
            mfa: Finder::new(b"MFAUsed"),
            signin: Finder::new(b"signin.amazonaws.com"),
        }
    }
}

impl Prefilter {
    pub fn is_candidate(&self, item: &[u8]) -> bool {
        self.mfa.find(item).is_some() || self.signin.find(item).is_some()
    }
}
