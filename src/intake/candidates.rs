//! From a stream of CloudTrail JSON (a file, an S3 object) to the items the
//! detector must see: split, prefiltered, parsed once to ask whether a rule
//! wants them, with every record that cannot be read reported in place.
//! Replay's workers and the function's bucket path both read this way.

use std::io::{self, Read};

use super::{ItemKind, Prefilter, Scanned, Splitter, decode_item};
use crate::domain::record::CloudTrailRecord;

/// An item some rule wants: the detector counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub bytes: Vec<u8>,
    pub kind: ItemKind,
    /// Where it starts in the stream, for a problem found later.
    pub line: u64,
    pub index: u64,
}

/// A record that could not be read, with its place in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRecord {
    pub line: u64,
    pub index: u64,
    pub message: String,
}

/// What the stream holds, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Candidate(Candidate),
    Bad(BadRecord),
}

/// How many records a stream held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub records: u64,
    pub signin_records: u64,
}

/// Reads `reader` to its end (through `buffer`, handed back for the next
/// stream), calling `emit` with each candidate `wanted` accepts and each bad
/// record, in order. The totals, and the buffer, or why reading stopped.
pub fn scan(
    reader: impl Read,
    buffer: Vec<u8>,
    wanted: impl Fn(&CloudTrailRecord<'_>) -> bool,
    mut emit: impl FnMut(Piece),
) -> (Totals, io::Result<Vec<u8>>) {
    let prefilter = Prefilter::default();
    let mut totals = Totals::default();
    let result = Splitter::with_buffer(reader, buffer).run(|scanned| match scanned {
        Scanned::Item(span, bytes) => {
            if !(span.may_be_candidate && prefilter.is_candidate(bytes)) {
                totals.records += 1;
                return;
            }
            let mut want = false;
            let mut signin = 0;
            let decoded = decode_item(bytes, span.kind, &mut |observed| {
                signin += u64::from(observed.record.is_from_signin());
                want |= wanted(&observed.record);
            });
            match decoded {
                Ok(n) => {
                    totals.records += n as u64;
                    totals.signin_records += signin;
                    if want {
                        emit(Piece::Candidate(Candidate {
                            bytes: bytes.to_vec(),
                            kind: span.kind,
                            line: span.line,
                            index: span.index,
                        }));
                    }
                }
                Err(e) => {
                    totals.records += 1;
                    emit(Piece::Bad(BadRecord {
                        line: span.line,
                        index: span.index,
                        message: e.to_string(),
                    }));
                }
            }
        }
        Scanned::Malformed(m) => emit(Piece::Bad(BadRecord {
            line: m.line,
            index: m.index,
            message: m.message,
        })),
    });
    (totals, result)
}
