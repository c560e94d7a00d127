//! Streaming structural splitter: finds where each record starts and ends in a
//! stream of JSON text without parsing it.
//!
//! Input is any mix of top-level JSON values (JSON Lines, pretty-printed
//! documents, concatenated values). Items are:
//! - each element of a top-level array (`[{...},{...}]`),
//! - each element of the `Records` array of a CloudTrail S3 log file
//!   (`{"Records":[{...},{...}]}`), however large the file, without holding it,
//! - every other top-level object, whole (a record, an EventBridge envelope).
//!
//! The scan works 64 bytes at a time on bit masks (the simdjson "stage 1"
//! idea): find quotes and backslashes, work out which bytes are inside
//! strings, and keep only the brackets outside them. The same pass marks
//! items holding a prefilter fingerprint ([`ItemSpan::may_be_candidate`]), so
//! the needles are searched for only in those.
//!
//! The rooms:
//! - this module: the public types and [`Splitter`], which reads, feeds
//!   whole blocks to the state machine and hands out what it found;
//! - `state`: the state machine, one 64-byte block of masks at a time;
//! - `portable`: the masks computed one byte at a time, for any CPU;
//! - `x86`: every x86-64 kernel (SSE2, and AVX2 with PCLMULQDQ when the CPU
//!   has them), the only code in the crate that uses `unsafe`.

mod portable;
mod state;
#[allow(unsafe_code)]
mod x86;

#[cfg(any(test, feature = "fuzzing"))]
pub(crate) mod reference;
#[cfg(test)]
mod tests;

use std::io::{self, Read};

use super::decode::ItemKind;
use super::prefilter::FINGERPRINT_GAP;
use state::{Found, State};

/// Largest single item kept in memory; a larger one is reported and skipped.
pub const MAX_ITEM_BYTES: usize = 16 << 20;
/// Bytes asked of the reader at a time. Large, because each read of a gzip
/// stream is an inflate call, and each call ends by copying up to 32 KiB of
/// its output into inflate's window: at 512 KiB that copy is 6% of the
/// output, at 128 KiB it is 25%. The scan then reads the chunk from L2/L3,
/// which costs it less than the calls saved (`docs/performance.md`).
pub const READ_CHUNK: usize = 512 << 10;

/// A span of one record (or envelope) in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemSpan {
    pub start: u64,
    pub end: u64,
    /// 1-based line of the item's first byte.
    pub line: u64,
    /// 0-based index of the item in the stream.
    pub index: u64,
    /// False when the item certainly holds neither prefilter needle (it
    /// lacks both fingerprints); true means: ask the [`Prefilter`](super::Prefilter).
    pub may_be_candidate: bool,
    /// What the item's place in the stream says it is.
    pub kind: ItemKind,
}

/// Text in the stream that is not part of any item, or an item that cannot be kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    pub line: u64,
    /// Index the item would have had.
    pub index: u64,
    pub message: String,
}

#[derive(Debug)]
pub enum Scanned<'a> {
    Item(ItemSpan, &'a [u8]),
    Malformed(Malformed),
}

/// The vector kernels this CPU runs, found once per splitter.
#[derive(Clone, Copy)]
struct Kernels {
    avx2: Option<x86::Avx2>,
}

impl Kernels {
    fn detect() -> Self {
        Kernels {
            avx2: x86::Avx2::detect(),
        }
    }

    /// Scans the whole blocks of `buf[from..to]` (`to - from` a multiple of 64).
    fn scan(self, state: &mut State, buf: &[u8], from: usize, to: usize, found: &mut Vec<Found>) {
        match self.avx2 {
            Some(avx2) => avx2.scan(state, buf, from, to, found),
            None => {
                for (at, block) in whole_blocks(buf, from, to) {
                    let m = classify(block);
                    state.note_fingerprints(at, &m);
                    state.block(buf, at, m, found);
                }
            }
        }
    }
}

/// The whole 64-byte blocks of `buf[from..to]`, each with its buffer index.
#[inline(always)]
fn whole_blocks(buf: &[u8], from: usize, to: usize) -> impl Iterator<Item = (usize, &[u8; 64])> {
    let (whole, _) = buf.get(from..to).unwrap_or_default().as_chunks::<64>();
    whole
        .iter()
        .enumerate()
        .map(move |(i, b)| (from + 64 * i, b))
}

/// Every mask of one block, without AVX2: SSE2 on x86-64 (part of its
/// baseline), one byte at a time elsewhere.
#[inline(always)]
fn classify(block: &[u8; 64]) -> state::BlockMasks {
    #[cfg(target_arch = "x86_64")]
    {
        x86::classify_sse2(block)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        portable::classify(block)
    }
}

/// Reads a stream and calls `f` with every item and every piece of
/// malformed text, in order, holding at most one item (plus one read chunk)
/// in memory.
pub struct Splitter<R> {
    reader: R,
    /// `buf[..filled]` holds data; the rest is spare room, initialised once.
    buf: Vec<u8>,
    filled: usize,
    kernels: Kernels,
    /// Stream offset of `buf[0]`.
    base: u64,
    state: State,
    found: Vec<Found>,
    index: u64,
    /// Bytes asked of the reader at a time ([`READ_CHUNK`], smaller in tests).
    chunk: usize,
}

impl<R: Read> Splitter<R> {
    pub fn new(reader: R) -> Self {
        Self::with_buffer(reader, Vec::new())
    }

    /// A splitter that reads into `buf` (whatever it holds), such as the one
    /// an earlier [`Splitter::run`] returned: a thread reading many files
    /// then allocates and clears its buffer once, not once per file.
    pub fn with_buffer(reader: R, buf: Vec<u8>) -> Self {
        Splitter {
            reader,
            buf,
            filled: 0,
            kernels: Kernels::detect(),
            base: 0,
            state: State::new(),
            found: Vec::new(),
            index: 0,
            chunk: READ_CHUNK,
        }
    }

    /// Reads `chunk` bytes at a time, to put chunk boundaries anywhere.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn with_chunk(mut self, chunk: usize) -> Self {
        self.chunk = chunk.max(1);
        self
    }

    /// Leaves the AVX2 kernels unused, so tests can run the other path.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn without_avx2(mut self) -> Self {
        self.kernels.avx2 = None;
        self
    }

    /// Splits the whole stream; returns the buffer, for [`Splitter::with_buffer`].
    pub fn run(mut self, mut f: impl FnMut(Scanned<'_>)) -> io::Result<Vec<u8>> {
        let mut scanned = 0usize;
        let mut eof = false;
        loop {
            if !eof {
                eof = self.fill()?;
            }
            // Until the end, leave two bytes unscanned: a fingerprint may
            // start in a block's last two bytes.
            let ahead = if eof { 0 } else { FINGERPRINT_GAP as usize };
            let full_end = scanned + (self.filled.saturating_sub(scanned + ahead)) / 64 * 64;
            let data = &self.buf[..self.filled];
            self.kernels
                .scan(&mut self.state, data, scanned, full_end, &mut self.found);
            scanned = full_end;
            if eof {
                let mut tail = [b' '; 64];
                let rest = &data[scanned..];
                tail[..rest.len()].copy_from_slice(rest);
                let m = classify(&tail);
                self.state.note_fingerprints(scanned, &m);
                self.state.block(data, scanned, m, &mut self.found);
                let end = self.filled;
                self.state.finish(data, end, &mut self.found);
                self.emit(&mut f);
                return Ok(self.buf);
            }
            self.emit(&mut f);
            scanned = self.compact(scanned, &mut f);
        }
    }

    /// Reads up to one chunk more; returns true at end of stream.
    fn fill(&mut self) -> io::Result<bool> {
        let goal = self.filled + self.chunk;
        if self.buf.len() < goal {
            self.buf.resize(goal, 0);
        }
        while self.filled < goal {
            match self.reader.read(&mut self.buf[self.filled..goal]) {
                Ok(0) => return Ok(true),
                Ok(n) => self.filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(false)
    }

    fn emit(&mut self, f: &mut impl FnMut(Scanned<'_>)) {
        for found in self.found.drain(..) {
            let malformed = |line, message| {
                Scanned::Malformed(Malformed {
                    line,
                    index: self.index,
                    message,
                })
            };
            match found {
                Found::Item {
                    start,
                    end,
                    line,
                    may_be_candidate,
                    kind,
                } => {
                    let span = ItemSpan {
                        start: self.base + start as u64,
                        end: self.base + end as u64,
                        line,
                        index: self.index,
                        may_be_candidate,
                        kind,
                    };
                    f(Scanned::Item(span, &self.buf[start..end]));
                }
                Found::Garbage {
                    at,
                    end,
                    line,
                    what,
                } => {
                    let end = end.min(at + 40).min(self.filled).max(at);
                    let snippet: String = String::from_utf8_lossy(&self.buf[at..end])
                        .chars()
                        .take_while(|c| *c != '\n')
                        .collect();
                    f(malformed(line, format!("{what}: {snippet:?}")));
                }
                Found::TooLarge { line } => f(malformed(
                    line,
                    format!("a record larger than {} MiB, skipped", MAX_ITEM_BYTES >> 20),
                )),
            }
            self.index += 1;
        }
    }

    /// Drops bytes no longer needed; returns the new scan position.
    fn compact(&mut self, scanned: usize, f: &mut impl FnMut(Scanned<'_>)) -> usize {
        let mut keep = self.state.keep_from(scanned);
        if scanned - keep > MAX_ITEM_BYTES {
            // The item in progress (or a run of garbage) is too large to keep.
            self.state.give_up_item(scanned, &mut self.found);
            self.emit(f);
            keep = scanned;
        }
        if keep == 0 {
            return scanned;
        }
        self.buf.copy_within(keep..self.filled, 0);
        self.filled -= keep;
        self.base += keep as u64;
        self.state.shift(keep);
        scanned - keep
    }
}
