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
//! the needles are searched for only in those. On x86-64 the masks come from
//! AVX2 when the CPU has it (with PCLMULQDQ for the string mask), else from
//! SSE2; elsewhere from a portable loop.

use std::io::{self, Read};

use super::decode::ItemKind;
use super::prefilter::{FINGERPRINT_GAP, FINGERPRINTS};

/// Largest single item kept in memory; a larger one is reported and skipped.
pub const MAX_ITEM_BYTES: usize = 16 << 20;
/// Bytes asked of the reader at a time. Large, because each read of a gzip
/// stream is an inflate call, and each call ends by copying up to 32 KiB of
/// its output into inflate's window: at 512 KiB that copy is 6% of the
/// output, at 128 KiB it was 25%. The scan then reads the chunk from L2/L3,
/// which costs it less than the calls saved (see the README's benchmarks).
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Between top-level values.
    Top,
    /// Inside a top-level object that is the item itself (until proven a container).
    Object,
    /// Inside a top-level array: depth-1 elements are items.
    Array,
    /// Inside `{"Records":[`: depth-2 elements are items.
    Records,
}

#[derive(Debug)]
enum Event {
    Item {
        start: usize,
        end: usize,
        line: u64,
        may_be_candidate: bool,
        kind: ItemKind,
    },
    Garbage {
        at: usize,
        line: u64,
        what: &'static str,
    },
    TooLarge {
        line: u64,
    },
}

/// Where a bracket sits; its line is worked out only when reported.
#[derive(Clone, Copy)]
struct Line {
    before_block: u64,
    newlines: u64,
    bit: u32,
}

impl Line {
    #[inline(always)]
    fn get(self) -> u64 {
        self.before_block + 1 + u64::from((self.newlines & ((1u64 << self.bit) - 1)).count_ones())
    }
}

/// The state carried from one 64-byte block to the next.
#[derive(Debug)]
struct State {
    escape_carry: bool,
    in_string: u64,
    depth: u32,
    /// One bit per open bracket, set for an object, clear for an array.
    kinds: u128,
    mode: Mode,
    /// Start of the item being read (buffer index), and its line.
    item: Option<(usize, u64)>,
    /// The current item outgrew `MAX_ITEM_BYTES`; its end is not emitted.
    oversized: bool,
    /// Start of the current top-level value.
    top_start: usize,
    /// Where the gap before the next item starts (buffer index).
    gap_from: usize,
    /// Newlines seen before the current block.
    lines: u64,
    /// Fingerprint first bytes in the previous block's last `FINGERPRINT_GAP` bytes.
    fingerprint_carry: u64,
    /// A fingerprint lies before this buffer index; 0 for none.
    fingerprint_end: usize,
    /// `kinds` holds the kind of every open bracket below this depth; above
    /// it, brackets handled in bulk left their kinds unrecorded.
    known_below: u32,
    /// Where the kinds were last read again, and the depth there: the next
    /// reading in the same item starts from here, so an item is read again
    /// at most once in all, however many brackets need their kinds.
    relearned_at: Option<(usize, u32)>,
    /// The next block goes the general way: it may start with an escaped
    /// byte, or with blanks after a line break (so a bracket in it may start
    /// a line). Kept by the AVX2 loop only.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    general_next: bool,
    /// In `Mode::Object`: no nested value seen yet, so a `[` at depth 2 may
    /// still open `Records`. (Read by the AVX2 loop only.)
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    records_possible: bool,
}

struct Masks {
    /// Bytes that could start a prefilter fingerprint, and bytes that could end one.
    first: u64,
    last: u64,
    quote: u64,
    backslash: u64,
    open: u64,
    close: u64,
    newline: u64,
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn classify(block: &[u8; 64]) -> Masks {
    use std::arch::x86_64::*;
    // SAFETY: SSE2 is part of the x86-64 baseline; loads are unaligned and
    // stay within the 64-byte array.
    unsafe {
        let p = block.as_ptr() as *const __m128i;
        let v = [
            _mm_loadu_si128(p),
            _mm_loadu_si128(p.add(1)),
            _mm_loadu_si128(p.add(2)),
            _mm_loadu_si128(p.add(3)),
        ];
        let quote = _mm_set1_epi8(b'"' as i8);
        let backslash = _mm_set1_epi8(b'\\' as i8);
        let newline = _mm_set1_epi8(b'\n' as i8);
        let case = _mm_set1_epi8(0x20);
        // `{` | 0x20 == `{` and `[` | 0x20 == `{`; likewise `}` and `]`.
        let open = _mm_set1_epi8(b'{' as i8);
        let close = _mm_set1_epi8(b'}' as i8);
        let mask = |c: __m128i| -> u64 {
            let mut m = 0u64;
            for (i, x) in v.iter().enumerate() {
                m |= (_mm_movemask_epi8(_mm_cmpeq_epi8(*x, c)) as u32 as u64) << (16 * i);
            }
            m
        };
        let folded = |c: __m128i| -> u64 {
            let mut m = 0u64;
            for (i, x) in v.iter().enumerate() {
                let f = _mm_or_si128(*x, case);
                m |= (_mm_movemask_epi8(_mm_cmpeq_epi8(f, c)) as u32 as u64) << (16 * i);
            }
            m
        };
        let [(f0, l0), (f1, l1)] = FINGERPRINTS;
        let byte = |c: u8| mask(_mm_set1_epi8(c as i8));
        Masks {
            first: byte(f0) | byte(f1),
            last: byte(l0) | byte(l1),
            quote: mask(quote),
            backslash: mask(backslash),
            open: folded(open),
            close: folded(close),
            newline: mask(newline),
        }
    }
}

/// All the masks of a block, for the general way: the hot ones plus
/// backslashes and newlines.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt,bmi1")]
fn classify_avx2(block: &[u8; 64]) -> Masks {
    let hot = classify_hot_avx2(block);
    Masks {
        // Fingerprints are found by `fingerprints_avx2`.
        first: 0,
        last: 0,
        quote: hot.quote,
        backslash: bytes_in_avx2(block, b"\\"),
        open: hot.open,
        close: hot.close,
        newline: bytes_in_avx2(block, b"\n"),
    }
}

/// Where the bytes of `block` are any of `set`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn bytes_in_avx2(block: &[u8; 64], set: &[u8]) -> u64 {
    use std::arch::x86_64::*;
    // SAFETY: the caller checked for AVX2; unaligned loads within the array.
    unsafe {
        let p = block.as_ptr() as *const __m256i;
        let half = |x: __m256i| {
            let any = set.iter().fold(_mm256_setzero_si256(), |acc, &c| {
                _mm256_or_si256(acc, _mm256_cmpeq_epi8(x, _mm256_set1_epi8(c as i8)))
            });
            _mm256_movemask_epi8(any) as u32 as u64
        };
        half(_mm256_loadu_si256(p)) | (half(_mm256_loadu_si256(p.add(1))) << 32)
    }
}

/// What the AVX2 loop needs of most blocks.
#[cfg(target_arch = "x86_64")]
struct Hot {
    /// The block holds a backslash or a raw newline.
    rare: bool,
    quote: u64,
    open: u64,
    close: u64,
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt,bmi1")]
fn classify_hot_avx2(block: &[u8; 64]) -> Hot {
    use std::arch::x86_64::*;
    // SAFETY: the caller checked for AVX2; unaligned loads within the array.
    unsafe {
        let p = block.as_ptr() as *const __m256i;
        let (lo, hi) = (_mm256_loadu_si256(p), _mm256_loadu_si256(p.add(1)));
        let bits = |l: __m256i, h: __m256i| -> u64 {
            (_mm256_movemask_epi8(l) as u32 as u64)
                | ((_mm256_movemask_epi8(h) as u32 as u64) << 32)
        };
        let eq = |a: __m256i, c: u8| _mm256_cmpeq_epi8(a, _mm256_set1_epi8(c as i8));
        let rare = _mm256_or_si256(
            _mm256_or_si256(eq(lo, b'\\'), eq(lo, b'\n')),
            _mm256_or_si256(eq(hi, b'\\'), eq(hi, b'\n')),
        );
        // `{` | 0x20 == `[` | 0x20 == `{`; likewise `}` and `]`.
        let case = _mm256_set1_epi8(0x20);
        let (flo, fhi) = (_mm256_or_si256(lo, case), _mm256_or_si256(hi, case));
        Hot {
            rare: _mm256_testz_si256(rare, rare) == 0,
            quote: bits(eq(lo, b'"'), eq(hi, b'"')),
            open: bits(eq(flo, b'{'), eq(fhi, b'{')),
            close: bits(eq(flo, b'}'), eq(fhi, b'}')),
        }
    }
}

/// Lookup tables for `fingerprints_avx2`: a byte is one of the fingerprints'
/// first (or last) bytes when it equals the entry its low nibble picks (the
/// table repeats for both 128-bit lanes). The other entries have the high bit
/// set, which no ASCII byte matches; a byte above ASCII looks up 0.
#[cfg(target_arch = "x86_64")]
const FIRST_BYTES: [u8; 32] = nibble_table(FINGERPRINTS[0].0, FINGERPRINTS[1].0);
#[cfg(target_arch = "x86_64")]
const LAST_BYTES: [u8; 32] = nibble_table(FINGERPRINTS[0].1, FINGERPRINTS[1].1);

#[cfg(target_arch = "x86_64")]
const fn nibble_table(a: u8, b: u8) -> [u8; 32] {
    assert!(a & 0x0F != b & 0x0F && a < 0x80 && b < 0x80);
    let mut t = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        t[i] = 0x80 | (i as u8 & 0x0F);
        i += 1;
    }
    t[(a & 0x0F) as usize] = a;
    t[16 + (a & 0x0F) as usize] = a;
    t[(b & 0x0F) as usize] = b;
    t[16 + (b & 0x0F) as usize] = b;
    t
}

/// Where either fingerprint starts in the 64 bytes at `block`, given the 64
/// bytes `FINGERPRINT_GAP` further on (`ahead`), as one vector per half.
/// Testing the first and last bytes as sets also marks the crossed pairs
/// (`M?i`, `g?A`): a few more false alarms for two lookups fewer.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn fingerprints_avx2(block: &[u8; 64], ahead: &[u8; 64]) -> [std::arch::x86_64::__m256i; 2] {
    use std::arch::x86_64::*;
    // SAFETY: the caller checked for AVX2; unaligned loads within the arrays.
    unsafe {
        let p = block.as_ptr() as *const __m256i;
        let q = ahead.as_ptr() as *const __m256i;
        let table = |t: &[u8; 32]| _mm256_loadu_si256(t.as_ptr() as *const __m256i);
        let (firsts, lasts) = (table(&FIRST_BYTES), table(&LAST_BYTES));
        let member = |t: __m256i, x: __m256i| _mm256_cmpeq_epi8(_mm256_shuffle_epi8(t, x), x);
        let half = |x: __m256i, y: __m256i| _mm256_and_si256(member(firsts, x), member(lasts, y));
        [
            half(_mm256_loadu_si256(p), _mm256_loadu_si256(q)),
            half(_mm256_loadu_si256(p.add(1)), _mm256_loadu_si256(q.add(1))),
        ]
    }
}

/// The bytes of a block inside strings, from its unescaped quotes and the
/// string state before it (all ones inside a string): a prefix XOR, as one
/// carry-less multiplication by all ones.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2,pclmulqdq")]
#[inline]
fn inside_strings_clmul(quote: u64, in_string: u64) -> u64 {
    use std::arch::x86_64::*;
    let prefix = _mm_clmulepi64_si128(_mm_set_epi64x(0, quote as i64), _mm_set1_epi8(-1), 0);
    _mm_cvtsi128_si64(prefix) as u64 ^ in_string
}

/// What the bulk loop carries from block to block, kept in registers.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct Bulk {
    in_string: u64,
    depth: u32,
    known_below: u32,
    /// Fingerprints gathered in blocks counted in bulk.
    found: std::arch::x86_64::__m256i,
}

#[cfg(target_arch = "x86_64")]
impl Bulk {
    /// Counts one block in bulk, given its brackets, its bytes inside
    /// strings (`inside`), the lowest depth it may reach and its fingerprints.
    #[target_feature(enable = "avx2,popcnt")]
    #[inline]
    fn count(&mut self, m: &Hot, inside: u64, lowest: i32, here: [std::arch::x86_64::__m256i; 2]) {
        use std::arch::x86_64::*;
        self.in_string = ((inside as i64) >> 63) as u64;
        self.depth =
            self.depth + (m.open & !inside).count_ones() - (m.close & !inside).count_ones();
        self.known_below = self.known_below.min(lowest as u32);
        self.found = _mm256_or_si256(self.found, _mm256_or_si256(here[0], here[1]));
    }
}

/// Counts the brackets of `blocks[i..]` in bulk while it may: up to the first
/// block that holds a backslash or a raw newline, or whose brackets may start
/// or end an item (the depth may reach `floor`). Returns that block's index,
/// else where `aheads` (`aheads[i]` holds the bytes `FINGERPRINT_GAP` after
/// `blocks[i]`) or `blocks` runs out.
///
/// A function of its own, so that what it carries stays in registers: inlined
/// into the loop with the slow ways, it went through the stack.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt,bmi1,pclmulqdq")]
#[inline(never)]
fn bulk_avx2(
    blocks: &[[u8; 64]],
    aheads: &[[u8; 64]],
    mut i: usize,
    floor: i32,
    c: &mut Bulk,
) -> usize {
    // A local copy, written back once: kept in registers.
    let mut b = *c;
    let n = blocks.len().min(aheads.len());
    while i < n {
        let (block, ahead) = (&blocks[i], &aheads[i]);
        let m = classify_hot_avx2(block);
        let inside = inside_strings_clmul(m.quote, b.in_string);
        let lowest = b.depth as i32 - (m.close & !inside).count_ones() as i32;
        if m.rare || lowest <= floor {
            break;
        }
        b.count(&m, inside, lowest, fingerprints_avx2(block, ahead));
        i += 1;
    }
    *c = b;
    i
}

/// Scans the whole blocks of `buf[from..to]` (`to - from` a multiple of 64).
///
/// Most blocks of CloudTrail text hold no backslash and no raw newline, and
/// their brackets neither start nor end an item: they only move the depth.
/// [`bulk_avx2`] takes runs of such blocks at a few bit operations each, with
/// no branch that is hard to predict. The rest go one at a time through the
/// bracket-by-bracket [`State::brackets`] or the general [`State::block`].
///
/// Fingerprints in blocks counted in bulk are gathered in a vector. Before a
/// block that takes a slow way (where items start and end) they are noted as
/// lying before that block, and the block's own where they are; so an item
/// is marked as [`State::note_fingerprints`] would mark it.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt,bmi1,pclmulqdq")]
fn scan_avx2(state: &mut State, buf: &[u8], from: usize, to: usize, events: &mut Vec<Event>) {
    use std::arch::x86_64::*;
    let (blocks, _) = buf.get(from..to).unwrap_or_default().as_chunks::<64>();
    let gap = FINGERPRINT_GAP as usize;
    let (aheads, _) = buf.get(from + gap..).unwrap_or_default().as_chunks::<64>();
    // Only at the end of the stream may the last block lack the two bytes
    // after it (`Splitter::run` keeps them otherwise); nothing follows there.
    let mut last_ahead = [b' '; 64];
    if aheads.len() < blocks.len() {
        let rest = buf
            .get(from + 64 * aheads.len() + gap..)
            .unwrap_or_default();
        let n = rest.len().min(64);
        last_ahead[..n].copy_from_slice(&rest[..n]);
    }
    let mut c = Bulk {
        in_string: state.in_string,
        depth: state.depth,
        known_below: state.known_below,
        found: _mm256_setzero_si256(),
    };
    let mut i = 0;
    while i < blocks.len() {
        if !state.general_next {
            i = bulk_avx2(blocks, aheads, i, state.floor(), &mut c);
        }
        let Some(block) = blocks.get(i) else { break };
        let ahead = aheads.get(i).unwrap_or(&last_ahead);
        state.one_block_avx2(buf, from + 64 * i, block, ahead, &mut c, events);
        i += 1;
    }
    (state.depth, state.known_below) = (c.depth, c.known_below);
    state.note_found(&mut c.found, to, [_mm256_setzero_si256(); 2]);
    state.in_string = c.in_string;
}

/// Spaces, tabs and carriage returns: what may stand between a line break
/// and the start of a line's text.
const BLANKS: &[u8] = b" \t\r";

#[inline(always)]
fn is_blank(b: u8) -> bool {
    BLANKS.contains(&b)
}

fn scan_portable(state: &mut State, buf: &[u8], from: usize, to: usize, events: &mut Vec<Event>) {
    for (at, block) in blocks(buf, from, to) {
        let m = classify(block);
        state.note_fingerprints(at, &m);
        state.block(buf, at, m, events);
    }
}

/// The whole 64-byte blocks of `buf[from..to]`, each with its buffer index.
#[inline(always)]
fn blocks(buf: &[u8], from: usize, to: usize) -> impl Iterator<Item = (usize, &[u8; 64])> {
    let (whole, _) = buf.get(from..to).unwrap_or_default().as_chunks::<64>();
    whole
        .iter()
        .enumerate()
        .map(move |(i, b)| (from + 64 * i, b))
}

fn scan_blocks(
    avx2: bool,
    state: &mut State,
    buf: &[u8],
    from: usize,
    to: usize,
    events: &mut Vec<Event>,
) {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: `avx2` is true only when the CPU reported AVX2, PCLMULQDQ, POPCNT and BMI1.
        unsafe { scan_avx2(state, buf, from, to, events) };
        return;
    }
    let _ = avx2;
    scan_portable(state, buf, from, to, events);
}

fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("pclmulqdq")
            && std::arch::is_x86_feature_detected!("popcnt")
            && std::arch::is_x86_feature_detected!("bmi1")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn classify(block: &[u8; 64]) -> Masks {
    let mut m = Masks {
        first: 0,
        last: 0,
        quote: 0,
        backslash: 0,
        open: 0,
        close: 0,
        newline: 0,
    };
    let [(f0, l0), (f1, l1)] = FINGERPRINTS;
    for (i, &b) in block.iter().enumerate() {
        let bit = 1u64 << i;
        if b == f0 || b == f1 {
            m.first |= bit;
        }
        if b == l0 || b == l1 {
            m.last |= bit;
        }
        match b {
            b'"' => m.quote |= bit,
            b'\\' => m.backslash |= bit,
            b'{' | b'[' => m.open |= bit,
            b'}' | b']' => m.close |= bit,
            b'\n' => m.newline |= bit,
            _ => {}
        }
    }
    m
}

/// Bits of characters escaped by a backslash. Backslashes are rare in
/// CloudTrail text, so a short loop over them beats branch-free tricks.
#[inline(always)]
fn escaped_bits(backslash: u64, carry: &mut bool) -> u64 {
    let mut escaped = u64::from(*carry);
    *carry = false;
    let mut bs = backslash;
    while bs != 0 {
        let i = bs.trailing_zeros();
        bs &= bs - 1;
        if escaped & (1u64 << i) != 0 {
            continue; // an escaped backslash escapes nothing
        }
        if i == 63 {
            *carry = true;
        } else {
            escaped |= 1u64 << (i + 1);
        }
    }
    escaped
}

#[inline(always)]
fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

fn is_gap_byte(b: u8, in_container: bool) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r') || (in_container && b == b',')
}

impl State {
    fn new() -> Self {
        State {
            escape_carry: false,
            in_string: 0,
            depth: 0,
            kinds: 0,
            mode: Mode::Top,
            item: None,
            oversized: false,
            top_start: 0,
            gap_from: 0,
            lines: 0,
            fingerprint_carry: 0,
            fingerprint_end: 0,
            known_below: 0,
            relearned_at: None,
            general_next: false,
            records_possible: false,
        }
    }

    /// While the depth stays above this, no bracket starts or ends an item or
    /// changes the mode (`i32::MAX`: any bracket may).
    #[cfg(target_arch = "x86_64")]
    fn floor(&self) -> i32 {
        match self.mode {
            Mode::Top => i32::MAX,
            Mode::Object => i32::from(self.records_possible),
            Mode::Array => 1,
            Mode::Records => 2,
        }
    }

    /// Remembers where the last fingerprint in the block at `at` is. Called
    /// before the block's brackets: an item closing in the block may be
    /// marked for a later fingerprint, never missed.
    #[inline(always)]
    fn note_fingerprints(&mut self, at: usize, m: &Masks) {
        let inside = m.first & (m.last >> FINGERPRINT_GAP);
        let across = self.fingerprint_carry & m.last;
        self.fingerprint_carry = m.first >> (64 - FINGERPRINT_GAP);
        if inside != 0 {
            self.fingerprint_end = at + 64 - inside.leading_zeros() as usize;
        } else if across != 0 {
            self.fingerprint_end = at;
        }
    }

    /// Notes the fingerprints the AVX2 loop gathered before the block at
    /// `at` as lying before it, and those starting in that block (`here`)
    /// where they are. Called before the block's brackets: an item closing in
    /// the block may be marked for a later fingerprint, never missed.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn note_found(
        &mut self,
        found: &mut std::arch::x86_64::__m256i,
        at: usize,
        here: [std::arch::x86_64::__m256i; 2],
    ) {
        use std::arch::x86_64::*;
        // SAFETY: only called from the AVX2 loop, after the CPU check.
        unsafe {
            if _mm256_testz_si256(*found, *found) == 0 {
                self.fingerprint_end = at;
                *found = _mm256_setzero_si256();
            }
            let bits = _mm256_movemask_epi8(here[0]) as u32 as u64
                | (_mm256_movemask_epi8(here[1]) as u32 as u64) << 32;
            if bits != 0 {
                self.fingerprint_end = at + 64 - bits.leading_zeros() as usize;
            }
        }
    }

    /// Scans one block at `buf[at..at + 64]`.
    #[inline(always)]
    fn block(&mut self, buf: &[u8], at: usize, m: Masks, events: &mut Vec<Event>) {
        let escaped = if m.backslash == 0 && !self.escape_carry {
            0
        } else {
            escaped_bits(m.backslash, &mut self.escape_carry)
        };
        let quotes = m.quote & !escaped;
        // A raw newline cannot sit inside a JSON string: where one does, the
        // value before it was cut short (a truncated line). The block is then
        // handled in segments, each starting outside any string.
        let mut from_bit = 0u32;
        let mut carry = self.in_string;
        loop {
            let segment = !0u64 << from_bit;
            let in_string = (prefix_xor(quotes & segment) ^ carry) & segment;
            let cut = m.newline & in_string;
            let until = if cut == 0 {
                !0u64
            } else {
                (1u64 << cut.trailing_zeros()) - 1
            };
            let structural = (m.open | m.close) & !in_string & segment & until;
            if structural != 0 {
                self.brackets(buf, at, structural, m.open, m.newline, events);
            }
            if cut == 0 {
                self.in_string = ((in_string as i64) >> 63) as u64;
                break;
            }
            let nl = cut.trailing_zeros();
            self.cut_short(at + nl as usize + 1, events);
            from_bit = nl + 1;
            carry = 0;
            if from_bit == 64 {
                self.in_string = 0;
                break;
            }
        }
        self.lines += u64::from(m.newline.count_ones());
    }

    /// One block of the AVX2 loop that [`bulk_avx2`] left: it goes the
    /// general way, bracket by bracket, or (at the end of the stream, where
    /// it lacks the bytes after it) in bulk.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,popcnt,bmi1,pclmulqdq")]
    #[inline(never)]
    fn one_block_avx2(
        &mut self,
        buf: &[u8],
        at: usize,
        block: &[u8; 64],
        ahead: &[u8; 64],
        c: &mut Bulk,
        events: &mut Vec<Event>,
    ) {
        let m = classify_hot_avx2(block);
        let here = fingerprints_avx2(block, ahead);
        let inside = inside_strings_clmul(m.quote, c.in_string);
        let open = m.open & !inside;
        let close = m.close & !inside;
        let lowest = c.depth as i32 - close.count_ones() as i32;
        if !m.rare && !self.general_next && lowest > self.floor() {
            c.count(&m, inside, lowest, here);
            return;
        }
        (self.depth, self.known_below) = (c.depth, c.known_below);
        if m.rare || self.general_next {
            self.note_found(&mut c.found, at, here);
            self.in_string = c.in_string;
            self.block_general(buf, at, block, events);
            c.in_string = self.in_string;
        } else {
            c.in_string = ((inside as i64) >> 63) as u64;
            self.note_found(&mut c.found, at, here);
            self.brackets(buf, at, open | close, m.open, 0, events);
        }
        (c.depth, c.known_below) = (self.depth, self.known_below);
    }

    /// [`State::block`] for the AVX2 loop, kept out of line so the loop stays small.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,popcnt,bmi1")]
    #[inline(never)]
    fn block_general(&mut self, buf: &[u8], at: usize, block: &[u8; 64], events: &mut Vec<Event>) {
        let m = classify_avx2(block);
        let newline = m.newline;
        self.block(buf, at, m, events);
        let blank = bytes_in_avx2(block, BLANKS);
        // Blanks from the last line break (or, without one, from the start
        // when the line break came before) to the end of the block.
        let after_break = match newline.leading_zeros() {
            64 => self.general_next && blank == !0,
            0 => true,
            lz => blank >> (64 - lz) == (1u64 << lz) - 1,
        };
        self.general_next = self.escape_carry || after_break;
    }

    /// Handles the brackets `structural` marks in the block at `at`.
    #[inline(always)]
    fn brackets(
        &mut self,
        buf: &[u8],
        at: usize,
        mut structural: u64,
        open: u64,
        newlines: u64,
        events: &mut Vec<Event>,
    ) {
        while structural != 0 {
            let bit = structural.trailing_zeros();
            structural &= structural - 1;
            let pos = at + bit as usize;
            let line = Line {
                before_block: self.lines,
                newlines,
                bit,
            };
            if open & (1u64 << bit) != 0 {
                self.open(buf, pos, line, events);
            } else {
                self.close(buf, pos, line, events);
            }
        }
    }

    /// The value being read was cut short; what follows `resume` starts afresh.
    fn cut_short(&mut self, resume: usize, events: &mut Vec<Event>) {
        let (at, line) = self.item.take().unwrap_or((self.top_start, self.lines + 1));
        if !self.oversized {
            events.push(Event::Garbage {
                at,
                line,
                what: "a JSON value cut short (the next line starts a new value)",
            });
        }
        self.oversized = false;
        self.depth = 0;
        self.kinds = 0;
        self.known_below = 0;
        self.relearned_at = None;
        self.mode = Mode::Top;
        self.gap_from = resume;
        self.escape_carry = false;
    }

    fn check_gap(&mut self, buf: &[u8], until: usize, line: u64, events: &mut Vec<Event>) {
        let in_container = matches!(self.mode, Mode::Array | Mode::Records);
        let from = self.gap_from.min(until);
        if let Some(off) = buf[from..until]
            .iter()
            .position(|&b| !is_gap_byte(b, in_container))
        {
            let at = from + off;
            // `line` is the line of `until`; step back to the garbage's own line.
            let between = memchr::memchr_iter(b'\n', &buf[at..until]).count() as u64;
            events.push(Event::Garbage {
                at,
                line: line - between,
                what: "text outside any JSON object",
            });
        }
        self.gap_from = until;
    }

    #[inline(always)]
    fn open(&mut self, buf: &[u8], pos: usize, line: Line, events: &mut Vec<Event>) {
        // Inside an object a nested value follows a `:`. A bracket that starts
        // a line, with no `:` before it, means the line before was cut short
        // and this bracket starts a new value. (Elsewhere on a line it is a
        // syntax error in the value around it, which the parser reports.)
        if self.depth >= 1
            && self.depth <= 128
            && buf[..pos].iter().rev().find(|&&b| !is_blank(b)) == Some(&b'\n')
            && buf[..pos].iter().rev().find(|b| !b.is_ascii_whitespace()) != Some(&b':')
            && self.in_object(buf, pos)
        {
            let line_start = buf[..pos]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(pos, |i| i + 1);
            self.cut_short(line_start, events);
        }
        if self.depth < 128 {
            let bit = 1u128 << self.depth;
            if buf[pos] == b'{' {
                self.kinds |= bit
            } else {
                self.kinds &= !bit
            }
            if self.known_below == self.depth {
                self.known_below += 1;
            }
        }
        self.depth += 1;
        match (self.mode, self.depth) {
            (Mode::Top, 1) => {
                self.check_gap(buf, pos, line.get(), events);
                self.top_start = pos;
                if buf[pos] == b'[' {
                    self.mode = Mode::Array;
                    self.gap_from = pos + 1;
                } else {
                    self.mode = Mode::Object;
                    self.records_possible = true;
                    self.item = Some((pos, line.get()));
                    self.oversized = false;
                }
            }
            (Mode::Object, 2) if buf[pos] == b'[' && is_records_key(&buf[self.top_start..pos]) => {
                self.mode = Mode::Records;
                self.item = None;
                self.gap_from = pos + 1;
            }
            (Mode::Object, 2) => self.records_possible = false,
            (Mode::Array, 2) | (Mode::Records, 3) => {
                self.check_gap(buf, pos, line.get(), events);
                if buf[pos] == b'[' {
                    events.push(Event::Garbage {
                        at: pos,
                        line: line.get(),
                        what: "an array where a record was expected",
                    });
                }
                self.item = Some((pos, line.get()));
                self.oversized = false;
            }
            _ => {}
        }
    }

    /// Whether the innermost open bracket (before `pos`) is `{`.
    fn in_object(&mut self, buf: &[u8], pos: usize) -> bool {
        let index = self.depth - 1;
        if index >= self.known_below {
            self.relearn_kinds(buf, pos);
        }
        index < self.known_below && (self.kinds >> index) & 1 == 1
    }

    /// Reads the kinds of the open brackets again up to `pos`, when blocks
    /// counted in bulk left them unrecorded: from where they were last read
    /// in this item, else from its start. (Brackets still open from before
    /// that point kept their bits: only opening a bracket writes one.) Where
    /// the start is gone (an item too large to keep), they stay unknown and
    /// no cut is seen.
    #[cold]
    fn relearn_kinds(&mut self, buf: &[u8], pos: usize) {
        let (mut from, mut depth) = match (self.mode, self.item) {
            (_, None) => return,
            (Mode::Object, Some((start, _))) => (start, 0u32),
            (Mode::Array, Some((start, _))) => (start, 1),
            (Mode::Records, Some((start, _))) => (start, 2),
            (Mode::Top, Some(_)) => return,
        };
        if let Some((at, depth_there)) = self.relearned_at
            && at > from
        {
            (from, depth) = (at, depth_there);
        }
        let mut kinds = self.kinds;
        let (mut in_string, mut escaped) = (false, false);
        for &b in &buf[from..pos] {
            if in_string {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_string = false;
                }
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'{' | b'[' => {
                    if depth < 128 {
                        let bit = 1u128 << depth;
                        kinds = if b == b'{' { kinds | bit } else { kinds & !bit };
                    }
                    depth += 1;
                }
                b'}' | b']' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        if depth == self.depth {
            self.kinds = kinds;
            self.known_below = depth.min(128);
            self.relearned_at = Some((pos, depth));
        }
    }

    #[inline(always)]
    fn close(&mut self, buf: &[u8], pos: usize, line: Line, events: &mut Vec<Event>) {
        if self.depth == 0 {
            events.push(Event::Garbage {
                at: pos,
                line: line.get(),
                what: "a closing bracket with nothing open",
            });
            self.gap_from = pos + 1;
            return;
        }
        self.depth -= 1;
        match (self.mode, self.depth) {
            (Mode::Object, 0) | (Mode::Array, 1) | (Mode::Records, 2) => {
                if let Some((start, start_line)) = self.item.take()
                    && !self.oversized
                {
                    events.push(Event::Item {
                        start,
                        end: pos + 1,
                        line: start_line,
                        may_be_candidate: self.fingerprint_end > start,
                        kind: if self.mode == Mode::Records {
                            ItemKind::Record
                        } else {
                            ItemKind::Any
                        },
                    });
                }
                self.oversized = false;
                self.gap_from = pos + 1;
                if self.mode == Mode::Object {
                    self.mode = Mode::Top;
                }
            }
            (Mode::Array, 0) => {
                self.check_gap(buf, pos, line.get(), events);
                self.mode = Mode::Top;
                self.gap_from = pos + 1;
            }
            (Mode::Records, 0) => {
                // Keys after the Records array are not records; skip them.
                self.mode = Mode::Top;
                self.gap_from = pos + 1;
            }
            _ => {}
        }
    }

    /// Buffer indices before this one are no longer needed.
    fn keep_from(&self, scanned: usize) -> usize {
        let mut keep = scanned.min(self.gap_from);
        if let Some((start, _)) = self.item {
            keep = keep.min(start);
        }
        keep
    }

    fn shift(&mut self, by: usize) {
        self.gap_from = self.gap_from.saturating_sub(by);
        self.fingerprint_end = self.fingerprint_end.saturating_sub(by);
        self.top_start = self.top_start.saturating_sub(by);
        self.relearned_at = self
            .relearned_at
            .and_then(|(at, depth)| Some((at.checked_sub(by)?, depth)));
        if let Some((start, line)) = self.item {
            self.item = Some((start - by, line));
        }
    }
}

/// Whether `prefix` (from a top-level `{` up to a `[`) is `{ "Records" :`.
fn is_records_key(prefix: &[u8]) -> bool {
    let trimmed = prefix.strip_prefix(b"{").unwrap_or(prefix);
    let rest = trim_ascii(trimmed);
    let Some(rest) = rest.strip_prefix(b"\"Records\"") else {
        return false;
    };
    trim_ascii(rest) == b":"
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

/// Reads a stream and calls `f` with every item and every piece of
/// malformed text, in order, holding at most one item (plus one read chunk)
/// in memory.
pub struct Splitter<R> {
    reader: R,
    /// `buf[..filled]` holds data; the rest is spare room, initialised once.
    buf: Vec<u8>,
    filled: usize,
    avx2: bool,
    /// Stream offset of `buf[0]`.
    base: u64,
    state: State,
    events: Vec<Event>,
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
            avx2: has_avx2(),
            base: 0,
            state: State::new(),
            events: Vec::new(),
            index: 0,
            chunk: READ_CHUNK,
        }
    }

    /// Reads `chunk` bytes at a time, to put chunk boundaries anywhere.
    #[cfg(test)]
    fn with_chunk(mut self, chunk: usize) -> Self {
        self.chunk = chunk.max(1);
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
            scan_blocks(
                self.avx2,
                &mut self.state,
                data,
                scanned,
                full_end,
                &mut self.events,
            );
            scanned = full_end;
            if eof {
                let mut tail = [b' '; 64];
                let rest = &data[scanned..];
                tail[..rest.len()].copy_from_slice(rest);
                let m = classify(&tail);
                self.state.note_fingerprints(scanned, &m);
                self.state.block(data, scanned, m, &mut self.events);
                let end = self.filled;
                let line = self.state.lines + 1;
                self.finish(end, line);
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

    fn finish(&mut self, end: usize, line: u64) {
        let st = &mut self.state;
        if st.depth > 0 || st.in_string != 0 {
            let at = st.item.map(|(s, _)| s).unwrap_or(st.top_start);
            let start_line = st.item.map(|(_, l)| l).unwrap_or(line);
            self.events.push(Event::Garbage {
                at,
                line: start_line,
                what: "a JSON value cut short (the input ends inside it)",
            });
            st.item = None;
            return;
        }
        let mut ev = Vec::new();
        st.check_gap(&self.buf[..self.filled], end, line, &mut ev);
        self.events.extend(ev);
    }

    fn emit(&mut self, f: &mut impl FnMut(Scanned<'_>)) {
        for ev in self.events.drain(..) {
            match ev {
                Event::Item {
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
                    self.index += 1;
                    f(Scanned::Item(span, &self.buf[start..end]));
                }
                Event::Garbage { at, line, what } => {
                    let snippet: String =
                        String::from_utf8_lossy(&self.buf[at..self.filled.min(at + 40)])
                            .chars()
                            .take_while(|c| *c != '\n')
                            .collect();
                    f(Scanned::Malformed(Malformed {
                        line,
                        index: self.index,
                        message: format!("{what}: {snippet:?}"),
                    }));
                    self.index += 1;
                }
                Event::TooLarge { line } => {
                    f(Scanned::Malformed(Malformed {
                        line,
                        index: self.index,
                        message: format!(
                            "a record larger than {} MiB, skipped",
                            MAX_ITEM_BYTES >> 20
                        ),
                    }));
                    self.index += 1;
                }
            }
        }
    }

    /// Drops bytes no longer needed; returns the new scan position.
    fn compact(&mut self, scanned: usize, f: &mut impl FnMut(Scanned<'_>)) -> usize {
        let keep = self.state.keep_from(scanned);
        if scanned - keep > MAX_ITEM_BYTES {
            // The item in progress (or a run of garbage) is too large to keep.
            if let Some((_, line)) = self.state.item.take() {
                self.state.oversized = true;
                self.events.push(Event::TooLarge { line });
            }
            self.state.gap_from = scanned;
            self.emit(f);
            let keep = scanned;
            return self.drop_front(keep, scanned);
        }
        self.drop_front(keep, scanned)
    }

    fn drop_front(&mut self, keep: usize, scanned: usize) -> usize {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::Prefilter;

    fn split(input: &[u8]) -> (Vec<String>, Vec<Malformed>, Vec<u64>) {
        split_with(input, has_avx2(), READ_CHUNK)
    }

    /// Splits with the AVX2 path (where the CPU has it) or without, reading
    /// `chunk` bytes at a time.
    fn split_with(
        input: &[u8],
        avx2: bool,
        chunk: usize,
    ) -> (Vec<String>, Vec<Malformed>, Vec<u64>) {
        let mut items = Vec::new();
        let mut bad = Vec::new();
        let mut lines = Vec::new();
        let mut splitter = Splitter::new(input).with_chunk(chunk);
        splitter.avx2 &= avx2;
        splitter
            .run(|s| match s {
                Scanned::Item(span, bytes) => {
                    assert_eq!((span.end - span.start) as usize, bytes.len());
                    // The fingerprint may mark too much, never too little.
                    assert!(
                        span.may_be_candidate || !Prefilter::default().is_candidate(bytes),
                        "a candidate left unmarked: {}",
                        String::from_utf8_lossy(bytes)
                    );
                    items.push(String::from_utf8(bytes.to_vec()).unwrap());
                    lines.push(span.line);
                }
                Scanned::Malformed(m) => bad.push(m),
            })
            .unwrap();
        (items, bad, lines)
    }

    #[test]
    fn json_lines() {
        let (items, bad, lines) = split(b"{\"a\":1}\n{\"b\":\"}{\"}\n\n{\"c\":[1,{\"d\":2}]}\n");
        assert_eq!(
            items,
            vec![r#"{"a":1}"#, r#"{"b":"}{"}"#, r#"{"c":[1,{"d":2}]}"#]
        );
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(lines, vec![1, 2, 4]);
    }

    #[test]
    fn records_container_is_split() {
        let input = br#"{"Records":[{"eventID":"1","x":{"y":[1]}},{"eventID":"2"}]}"#;
        let (items, bad, _) = split(input);
        assert_eq!(
            items,
            vec![r#"{"eventID":"1","x":{"y":[1]}}"#, r#"{"eventID":"2"}"#]
        );
        assert!(bad.is_empty());
        let pretty = b"{\n  \"Records\" : [\n    {\"a\":1},\n    {\"b\":2}\n  ]\n}\n";
        let (items, bad, lines) = split(pretty);
        assert_eq!(items, vec![r#"{"a":1}"#, r#"{"b":2}"#]);
        assert!(bad.is_empty());
        assert_eq!(lines, vec![3, 4]);
    }

    #[test]
    fn only_elements_of_records_are_known_records() {
        let input = br#"{"Records":[{"detail":{}}]} {"a":1} [{"b":2}]"#;
        let mut kinds = Vec::new();
        Splitter::new(&input[..])
            .run(|s| {
                if let Scanned::Item(span, _) = s {
                    kinds.push(span.kind)
                }
            })
            .unwrap();
        assert_eq!(kinds, [ItemKind::Record, ItemKind::Any, ItemKind::Any]);
    }

    #[test]
    fn other_objects_stay_whole() {
        let input = br#"{"detail":{"Records":[1]},"source":"aws.signin"} {"Events":[{"a":1}]}"#;
        let (items, bad, _) = split(input);
        assert_eq!(items.len(), 2);
        assert!(items[0].starts_with(r#"{"detail""#));
        assert!(bad.is_empty());
    }

    #[test]
    fn top_level_arrays_are_split() {
        let (items, bad, _) = split(b"[\n {\"a\":1},\n {\"b\":2}\n]\n");
        assert_eq!(items, vec![r#"{"a":1}"#, r#"{"b":2}"#]);
        assert!(bad.is_empty());
    }

    #[test]
    fn escapes_do_not_confuse_strings() {
        let input = br#"{"a":"\"{","b":"\\","c":"\\\"}"}"#;
        let (items, bad, _) = split(input);
        assert_eq!(items.len(), 1, "{items:?} {bad:?}");
        assert!(bad.is_empty());
    }

    #[test]
    fn garbage_and_truncation_are_reported_with_lines() {
        let input = b"{\"a\":1}\nnot json\n{\"b\":2}\n{\"c\":";
        for chunk in [READ_CHUNK, 1, 4, 9] {
            let (items, bad, _) = split_with(input, has_avx2(), chunk);
            assert_eq!(items, vec![r#"{"a":1}"#, r#"{"b":2}"#], "chunk: {chunk}");
            assert_eq!(bad.len(), 2, "chunk: {chunk}: {bad:#?}");
            assert_eq!(bad[0].line, 2);
            assert!(
                bad[0].message.contains("not json"),
                "chunk: {chunk}: {bad:#?}"
            );
            assert_eq!(bad[1].line, 4);
            assert!(bad[1].message.contains("cut short"));
        }
    }

    #[test]
    fn a_line_cut_short_does_not_swallow_the_next_ones() {
        // Cut inside a string, and cut between a comma and the next key.
        let input = b"{\"a\":\"tru\n{\"b\":2}\n{\"c\":{\"d\":1},\n{\"e\":{\"f\":[{}]}}\n";
        for chunk in [READ_CHUNK, 1, 4, 9] {
            let (items, bad, lines) = split_with(input, has_avx2(), chunk);
            assert_eq!(
                items,
                vec![r#"{"b":2}"#, r#"{"e":{"f":[{}]}}"#],
                "chunk: {chunk}"
            );
            assert_eq!(lines, vec![2, 4]);
            assert_eq!(
                bad.iter().map(|b| b.line).collect::<Vec<_>>(),
                vec![1, 3],
                "chunk: {chunk}: {bad:#?}"
            );
            assert!(bad.iter().all(|b| b.message.contains("cut short")));
        }
    }

    #[test]
    fn a_cut_is_found_where_the_brackets_around_it_were_counted_in_bulk() {
        // The AVX2 loop counts the brackets of most blocks without noting their
        // kinds; where a cut needs them, they are read again. The padding puts
        // `"a":{` and `"a":[` in such blocks, after a sibling of the other
        // kind, and the bracket after the line break in a block of its own.
        // The indent fills at least one block with blanks.
        let (pad, indent) = ("x".repeat(70), " ".repeat(140));
        let cut = format!(
            "{{\"p\":[1],\"r\":\"{pad}\",\"a\":{{\"b\":\"{pad}\",\"c\":1,\n{indent}{{\"e\":\"{pad}\"}}\n"
        );
        let array = format!(
            "{{\"p\":{{\"q\":1}},\"r\":\"{pad}\",\"a\":[{indent}\n{{\"b\":1}},\n{indent}{{\"c\":\"{pad}\"}}]}}\n"
        );
        for avx2 in [false, true] {
            let (items, bad, lines) = split_with(cut.as_bytes(), avx2, READ_CHUNK);
            assert_eq!(items, vec![format!("{{\"e\":\"{pad}\"}}")], "avx2: {avx2}");
            assert_eq!(lines, vec![2]);
            assert_eq!(bad.len(), 1, "{bad:#?}");
            assert!(bad[0].message.contains("cut short"), "{bad:#?}");
            let (items, bad, _) = split_with(array.as_bytes(), avx2, READ_CHUNK);
            assert_eq!(items, vec![array.trim_end()], "avx2: {avx2}");
            assert!(bad.is_empty(), "{bad:#?}");
        }
    }

    #[test]
    fn kinds_read_again_twice_in_one_item() {
        // `"a":[` and `"c":{` are both opened in blocks counted in bulk; the
        // second reading starts where the first stopped, and still finds
        // that `{` opened "c": the line after it starts a new value.
        let (pad, indent) = ("x".repeat(70), " ".repeat(140));
        let input = format!(
            "{{\"p\":{{\"q\":1}},\"r\":\"{pad}\",\"a\":[{indent}\n{{\"b\":1}}],\"s\":\"{pad}\",\"c\":{{\"t\":\"{pad}\",\"u\":1,\n{indent}{{\"e\":\"{pad}\"}}\n"
        );
        for avx2 in [false, true] {
            let (items, bad, lines) = split_with(input.as_bytes(), avx2, READ_CHUNK);
            assert_eq!(items, vec![format!("{{\"e\":\"{pad}\"}}")], "avx2: {avx2}");
            assert_eq!(lines, vec![3]);
            assert_eq!(bad.len(), 1, "{bad:#?}");
            assert_eq!(bad[0].line, 1);
            assert!(bad[0].message.contains("cut short"), "{bad:#?}");
        }
    }

    #[test]
    fn a_bracket_inside_a_line_is_a_syntax_error_not_a_cut() {
        // A line cut short ends in a line break: a misplaced bracket that does
        // not start a line is a syntax error in the record, which stays whole
        // and is reported when parsed.
        let pad = "x".repeat(70);
        let input = format!("{{\"r\":\"{pad}\",\"a\":1,{{\"b\":2}}}}\n{{\"c\":3}}\n");
        for avx2 in [false, true] {
            let (items, bad, _) = split_with(input.as_bytes(), avx2, READ_CHUNK);
            assert_eq!(items.len(), 2, "avx2: {avx2}: {items:?}");
            assert!(items[0].ends_with(r#""a":1,{"b":2}}"#));
            assert!(bad.is_empty(), "{bad:#?}");
        }
    }

    #[test]
    fn pretty_objects_with_nested_values_are_not_cut() {
        let pretty = b"{\n  \"a\": {\n    \"b\": [\n      {\"c\": 1},\n      [2]\n    ]\n  },\n  \"d\":\n    {\"e\": 3}\n}\n";
        let (items, bad, _) = split(pretty);
        assert_eq!(items.len(), 1, "{bad:#?}");
        assert!(bad.is_empty());
    }

    #[test]
    fn stray_close_is_reported() {
        let (items, bad, _) = split(b"}\n{\"a\":1}");
        assert_eq!(items.len(), 1);
        assert_eq!(bad.len(), 1);
    }

    /// A byte-at-a-time reference splitter for JSON Lines of objects.
    fn reference(input: &[u8]) -> Vec<(usize, usize)> {
        let (mut depth, mut in_str, mut esc) = (0i32, false, false);
        let mut start = 0;
        let mut out = Vec::new();
        for (i, &b) in input.iter().enumerate() {
            if in_str {
                if esc {
                    esc = false;
                } else if b == b'\\' {
                    esc = true;
                } else if b == b'"' {
                    in_str = false;
                }
                continue;
            }
            match b {
                b'"' => in_str = true,
                b'{' | b'[' => {
                    if depth == 0 {
                        start = i;
                    }
                    depth += 1;
                }
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        out.push((start, i + 1));
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// Which items the splitter marks as possible candidates.
    fn marked(input: &[u8], avx2: bool, chunk: usize) -> Vec<bool> {
        let mut out = Vec::new();
        let mut splitter = Splitter::new(input).with_chunk(chunk);
        splitter.avx2 &= avx2;
        splitter
            .run(|s| {
                if let Scanned::Item(span, _) = s {
                    out.push(span.may_be_candidate)
                }
            })
            .unwrap();
        out
    }

    #[test]
    fn only_items_with_a_fingerprint_are_marked() {
        // Needles at every offset, so across 64-byte blocks too. Each needle
        // sits over 64 bytes after the item before it ends: a block where one
        // item ends and a fingerprint follows marks that item too (harmless,
        // and CloudTrail records are far longer than a block).
        let (mut input, mut want) = (String::new(), Vec::new());
        for pad in 64..134 {
            let x = "x".repeat(pad);
            for (text, marked) in [
                ("MFAUsed", true),
                ("signin.amazonaws.com", true),
                ("kms.amazonaws.com", false),
            ] {
                input.push_str(&format!("{{\"a\":\"{x}{text}\"}}\n"));
                want.push(marked);
            }
        }
        // A false alarm, which the prefilter proper clears.
        input.push_str(&format!("{{\"d\":\"{}MxA\"}}\n", "x".repeat(64)));
        want.push(true);
        // Read whole, and a few bytes at a time: a fingerprint's two bytes
        // may come in different reads.
        for avx2 in [false, true] {
            for chunk in [READ_CHUNK, 1, 2, 3, 65, 66, 67, 190] {
                let got = marked(input.as_bytes(), avx2, chunk);
                assert_eq!(got, want, "avx2: {avx2}, chunk: {chunk}");
            }
        }
    }

    fn string_part() -> impl proptest::strategy::Strategy<Value = String> {
        proptest::prop_oneof![
            proptest::strategy::Just("\\\\".to_string()),
            proptest::strategy::Just("\\\"".to_string()),
            proptest::strategy::Just("\\n".to_string()),
            proptest::strategy::Just("MFAUsed".to_string()),
            proptest::strategy::Just("signin.amazonaws.com".to_string()),
            "[a-zA-Mg {}\\[\\],:]{0,70}",
        ]
    }

    /// Nested JSON values whose strings hold brackets, escapes and needles.
    fn nested_value() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        use serde_json::Value;
        let leaf = prop_oneof![
            proptest::collection::vec(string_part(), 0..4).prop_map(|p| Value::String(p.concat())),
            any::<u32>().prop_map(Value::from),
        ];
        leaf.prop_recursive(6, 64, 5, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                proptest::collection::vec(("[a-zA-Z]{1,12}", inner), 0..5)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    /// Writes `objects` as JSON Lines or as one CloudTrail S3 log file (its
    /// elements joined by `joiner`) and splits it on both paths: the items
    /// must be the objects, as the byte-at-a-time reference finds them.
    fn splits_like_the_reference(
        objects: &[String],
        records_file: bool,
        joiner: &str,
        chunk: usize,
    ) -> Result<(), proptest::test_runner::TestCaseError> {
        let input = if records_file {
            format!("{{\"Records\":[{}]}}", objects.join(joiner))
        } else {
            objects.iter().map(|o| format!("{o}\n")).collect()
        };
        let inner = if records_file {
            &input[12..input.len() - 2]
        } else {
            &input[..]
        };
        let want: Vec<String> = reference(inner.as_bytes())
            .into_iter()
            .map(|(s, e)| inner[s..e].to_string())
            .collect();
        proptest::prop_assert_eq!(&want, objects);
        // Whole, and read `chunk` bytes at a time: items and blocks cut
        // across reads anywhere.
        for avx2 in [false, true] {
            for chunk in [READ_CHUNK, chunk] {
                let (got, bad, _) = split_with(input.as_bytes(), avx2, chunk);
                proptest::prop_assert!(bad.is_empty(), "{:?}", bad);
                proptest::prop_assert_eq!(&got, &want);
            }
        }
        Ok(())
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_a_byte_at_a_time_reference(
            values in proptest::collection::vec(
                proptest::collection::vec(string_part(), 0..12),
                1..40,
            ),
            records_file in proptest::bool::ANY,
            chunk in 1usize..300,
        ) {
            // Each value is an object whose string field holds escapes (runs of
            // escaped backslashes, escaped quotes), brackets and needles,
            // across blocks; as JSON Lines or as one CloudTrail S3 log file.
            let objects: Vec<String> = values
                .iter()
                .map(|parts| format!("{{\"k\":\"{}\",\"n\":[{{}},[]]}}", parts.concat()))
                .collect();
            splits_like_the_reference(&objects, records_file, ",", chunk)?;
        }

        #[test]
        fn splits_nested_records_like_the_reference(
            values in proptest::collection::vec(nested_value(), 1..24),
            records_file in proptest::bool::ANY,
            pretty in proptest::bool::ANY,
            chunk in 1usize..300,
        ) {
            // Nested objects and arrays, compact (where most blocks are
            // counted in bulk) or pretty-printed (where a bracket that starts
            // a line needs its container's kind).
            let objects: Vec<String> = values
                .into_iter()
                .map(|v| {
                    let record = serde_json::json!({ "eventVersion": "1.09", "v": v });
                    if pretty {
                        serde_json::to_string_pretty(&record)
                    } else {
                        serde_json::to_string(&record)
                    }
                    .unwrap()
                })
                .collect();
            splits_like_the_reference(&objects, records_file, ",\n", chunk)?;
        }
    }
}
