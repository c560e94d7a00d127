//! The x86-64 kernels: SSE2 masks for any x86-64 CPU, and the AVX2 loop
//! (with PCLMULQDQ, POPCNT and BMI1) for CPUs that have them. Every `unsafe`
//! block of the crate is here.
//!
//! A function that executes AVX2 instructions carries
//! `#[target_feature(enable = "avx2", ...)]`; only [`Avx2::scan`] calls into
//! them from code without the feature, and an [`Avx2`] exists only where
//! [`Avx2::detect`] found the features at run time. So the type system
//! carries the CPU check.

pub(super) use imp::*;

#[cfg(not(target_arch = "x86_64"))]
mod imp {
    use super::super::state::{Found, State};

    /// Proof that the CPU runs the AVX2 kernels; never built off x86-64.
    #[derive(Clone, Copy)]
    pub(in super::super) enum Avx2 {}

    impl Avx2 {
        pub(in super::super) fn detect() -> Option<Avx2> {
            None
        }

        pub(in super::super) fn scan(
            self,
            _: &mut State,
            _: &[u8],
            _: usize,
            _: usize,
            _: &mut Vec<Found>,
        ) {
            match self {}
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod imp {
    use std::arch::x86_64::*;

    use super::super::state::{BLANKS, BlockMasks, Found, State};
    use crate::intake::prefilter::{FINGERPRINT_GAP, FINGERPRINTS};

    /// Proof that this CPU has AVX2, PCLMULQDQ, POPCNT and BMI1: only
    /// [`Avx2::detect`] builds one.
    #[derive(Clone, Copy)]
    pub(in super::super) struct Avx2(());

    impl Avx2 {
        pub(in super::super) fn detect() -> Option<Avx2> {
            let all = std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("pclmulqdq")
                && std::arch::is_x86_feature_detected!("popcnt")
                && std::arch::is_x86_feature_detected!("bmi1");
            all.then_some(Avx2(()))
        }

        /// Scans the whole blocks of `buf[from..to]` (`to - from` a multiple of 64).
        pub(in super::super) fn scan(
            self,
            state: &mut State,
            buf: &[u8],
            from: usize,
            to: usize,
            found: &mut Vec<Found>,
        ) {
            // SAFETY: `self` exists only where `detect` found AVX2,
            // PCLMULQDQ, POPCNT and BMI1 on this CPU.
            unsafe { scan_avx2(state, buf, from, to, found) }
        }
    }

    /// Every mask of one block, with SSE2.
    #[inline(always)]
    pub(in super::super) fn classify_sse2(block: &[u8; 64]) -> BlockMasks {
        // SAFETY: SSE2 is part of the x86-64 baseline: every x86-64 CPU has it.
        unsafe { sse2_masks(block) }
    }

    #[target_feature(enable = "sse2")]
    #[inline]
    fn sse2_masks(block: &[u8; 64]) -> BlockMasks {
        let p = block.as_ptr() as *const __m128i;
        // SAFETY: the unaligned loads read the 64 bytes of the array and
        // nothing else; SSE2 is enabled for this function.
        let v = unsafe {
            [
                _mm_loadu_si128(p),
                _mm_loadu_si128(p.add(1)),
                _mm_loadu_si128(p.add(2)),
                _mm_loadu_si128(p.add(3)),
            ]
        };
        let mask = |c: u8| -> u64 {
            let c = _mm_set1_epi8(c as i8);
            let mut m = 0u64;
            for (i, x) in v.iter().enumerate() {
                m |= (_mm_movemask_epi8(_mm_cmpeq_epi8(*x, c)) as u32 as u64) << (16 * i);
            }
            m
        };
        // `{` | 0x20 == `[` | 0x20 == `{`; likewise `}` and `]`.
        let folded = |c: u8| -> u64 {
            let (c, case) = (_mm_set1_epi8(c as i8), _mm_set1_epi8(0x20));
            let mut m = 0u64;
            for (i, x) in v.iter().enumerate() {
                let f = _mm_or_si128(*x, case);
                m |= (_mm_movemask_epi8(_mm_cmpeq_epi8(f, c)) as u32 as u64) << (16 * i);
            }
            m
        };
        let [(f0, l0), (f1, l1)] = FINGERPRINTS;
        BlockMasks {
            first: mask(f0) | mask(f1),
            last: mask(l0) | mask(l1),
            quote: mask(b'"'),
            backslash: mask(b'\\'),
            open: folded(b'{'),
            close: folded(b'}'),
            newline: mask(b'\n'),
        }
    }

    /// Loads the two 32-byte halves of a block.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn halves(block: &[u8; 64]) -> (__m256i, __m256i) {
        let p = block.as_ptr() as *const __m256i;
        // SAFETY: the unaligned loads read the 64 bytes of the array and
        // nothing else; AVX2 is enabled for this function.
        unsafe { (_mm256_loadu_si256(p), _mm256_loadu_si256(p.add(1))) }
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    fn bits(lo: __m256i, hi: __m256i) -> u64 {
        (_mm256_movemask_epi8(lo) as u32 as u64) | ((_mm256_movemask_epi8(hi) as u32 as u64) << 32)
    }

    /// All the masks of a block, for the general way: the bulk ones plus
    /// backslashes and newlines.
    #[target_feature(enable = "avx2,popcnt,bmi1")]
    fn classify_avx2(block: &[u8; 64]) -> BlockMasks {
        let bulk = classify_bulk(block);
        BlockMasks {
            // Fingerprints are found by `fingerprints`.
            first: 0,
            last: 0,
            quote: bulk.quote,
            backslash: bytes_in(block, b"\\"),
            open: bulk.open,
            close: bulk.close,
            newline: bytes_in(block, b"\n"),
        }
    }

    /// Where the bytes of `block` are any of `set`.
    #[target_feature(enable = "avx2")]
    fn bytes_in(block: &[u8; 64], set: &[u8]) -> u64 {
        let (lo, hi) = halves(block);
        let any = |x: __m256i| {
            set.iter().fold(_mm256_setzero_si256(), |acc, &c| {
                _mm256_or_si256(acc, _mm256_cmpeq_epi8(x, _mm256_set1_epi8(c as i8)))
            })
        };
        bits(any(lo), any(hi))
    }

    /// What the AVX2 loop needs of most blocks.
    struct BulkMasks {
        /// The block holds a backslash or a raw newline.
        rare: bool,
        quote: u64,
        open: u64,
        close: u64,
    }

    #[target_feature(enable = "avx2,popcnt,bmi1")]
    fn classify_bulk(block: &[u8; 64]) -> BulkMasks {
        let (lo, hi) = halves(block);
        let eq = |a: __m256i, c: u8| _mm256_cmpeq_epi8(a, _mm256_set1_epi8(c as i8));
        let rare = _mm256_or_si256(
            _mm256_or_si256(eq(lo, b'\\'), eq(lo, b'\n')),
            _mm256_or_si256(eq(hi, b'\\'), eq(hi, b'\n')),
        );
        // `{` | 0x20 == `[` | 0x20 == `{`; likewise `}` and `]`.
        let case = _mm256_set1_epi8(0x20);
        let (flo, fhi) = (_mm256_or_si256(lo, case), _mm256_or_si256(hi, case));
        BulkMasks {
            rare: _mm256_testz_si256(rare, rare) == 0,
            quote: bits(eq(lo, b'"'), eq(hi, b'"')),
            open: bits(eq(flo, b'{'), eq(fhi, b'{')),
            close: bits(eq(flo, b'}'), eq(fhi, b'}')),
        }
    }

    /// Lookup tables for `fingerprints`: a byte is one of the fingerprints'
    /// first (or last) bytes when it equals the entry its low nibble picks
    /// (the table repeats for both 128-bit lanes). The other entries have
    /// the high bit set, which no ASCII byte matches; a byte above ASCII
    /// looks up 0.
    const FIRST_BYTES: [u8; 32] = nibble_table(FINGERPRINTS[0].0, FINGERPRINTS[1].0);
    const LAST_BYTES: [u8; 32] = nibble_table(FINGERPRINTS[0].1, FINGERPRINTS[1].1);

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

    /// Where either fingerprint starts in the 64 bytes at `block`, given the
    /// 64 bytes `FINGERPRINT_GAP` further on (`ahead`), as one vector per
    /// half. Testing the first and last bytes as sets also marks the crossed
    /// pairs (`M?i`, `g?A`): a few more false alarms for two lookups fewer.
    #[target_feature(enable = "avx2")]
    fn fingerprints(block: &[u8; 64], ahead: &[u8; 64]) -> [__m256i; 2] {
        let table = |t: &[u8; 32]| {
            // SAFETY: an unaligned load of the 32-byte table and nothing else.
            unsafe { _mm256_loadu_si256(t.as_ptr() as *const __m256i) }
        };
        let (firsts, lasts) = (table(&FIRST_BYTES), table(&LAST_BYTES));
        let member = |t: __m256i, x: __m256i| _mm256_cmpeq_epi8(_mm256_shuffle_epi8(t, x), x);
        let half = |x: __m256i, y: __m256i| _mm256_and_si256(member(firsts, x), member(lasts, y));
        let ((b0, b1), (a0, a1)) = (halves(block), halves(ahead));
        [half(b0, a0), half(b1, a1)]
    }

    /// The bytes of a block inside strings, from its unescaped quotes and the
    /// string state before it (all ones inside a string): a prefix XOR, as
    /// one carry-less multiplication by all ones.
    #[target_feature(enable = "sse2,pclmulqdq")]
    #[inline]
    fn inside_strings(quote: u64, in_string: u64) -> u64 {
        let prefix = _mm_clmulepi64_si128(_mm_set_epi64x(0, quote as i64), _mm_set1_epi8(-1), 0);
        _mm_cvtsi128_si64(prefix) as u64 ^ in_string
    }

    /// What the bulk loop carries from block to block, kept in registers.
    #[derive(Clone, Copy)]
    struct Bulk {
        in_string: u64,
        depth: u32,
        known_below: u32,
        /// Fingerprints gathered in blocks counted in bulk.
        found: __m256i,
    }

    impl Bulk {
        /// Counts one block in bulk, given its brackets, its bytes inside
        /// strings (`inside`), the lowest depth it may reach and its fingerprints.
        #[target_feature(enable = "avx2,popcnt")]
        #[inline]
        fn count(&mut self, m: &BulkMasks, inside: u64, lowest: i32, here: [__m256i; 2]) {
            self.in_string = ((inside as i64) >> 63) as u64;
            self.depth =
                self.depth + (m.open & !inside).count_ones() - (m.close & !inside).count_ones();
            self.known_below = self.known_below.min(lowest as u32);
            self.found = _mm256_or_si256(self.found, _mm256_or_si256(here[0], here[1]));
        }
    }

    /// Counts the brackets of `blocks[i..]` in bulk while it may: up to the
    /// first block that holds a backslash or a raw newline, or whose
    /// brackets may start or end an item (the depth may reach `floor`).
    /// Returns that block's index, else where `aheads` (`aheads[i]` holds
    /// the bytes `FINGERPRINT_GAP` after `blocks[i]`) or `blocks` runs out.
    ///
    /// A function of its own, so that what it carries stays in registers:
    /// inlined into the loop with the slow ways, it goes through the stack.
    #[target_feature(enable = "avx2,popcnt,bmi1,pclmulqdq")]
    #[inline(never)]
    fn bulk(
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
            let m = classify_bulk(block);
            let inside = inside_strings(m.quote, b.in_string);
            let lowest = b.depth as i32 - (m.close & !inside).count_ones() as i32;
            if m.rare || lowest <= floor {
                break;
            }
            b.count(&m, inside, lowest, fingerprints(block, ahead));
            i += 1;
        }
        *c = b;
        i
    }

    /// Scans the whole blocks of `buf[from..to]` (`to - from` a multiple of 64).
    ///
    /// Most blocks of CloudTrail text hold no backslash and no raw newline,
    /// and their brackets neither start nor end an item: they only move the
    /// depth. [`bulk`] takes runs of such blocks at a few bit operations
    /// each, with no branch that is hard to predict. The rest go one at a
    /// time through the bracket-by-bracket [`State::brackets`] or the
    /// general [`State::block`].
    ///
    /// Fingerprints in blocks counted in bulk are gathered in a vector.
    /// Before a block that takes a slow way (where items start and end) they
    /// are noted as lying before that block, and the block's own where they
    /// are; so an item is marked as [`State::note_fingerprints`] would mark it.
    #[target_feature(enable = "avx2,popcnt,bmi1,pclmulqdq")]
    fn scan_avx2(state: &mut State, buf: &[u8], from: usize, to: usize, found: &mut Vec<Found>) {
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
                i = bulk(blocks, aheads, i, state.floor(), &mut c);
            }
            let Some(block) = blocks.get(i) else { break };
            let ahead = aheads.get(i).unwrap_or(&last_ahead);
            one_block(state, buf, from + 64 * i, block, ahead, &mut c, found);
            i += 1;
        }
        (state.depth, state.known_below) = (c.depth, c.known_below);
        note_found(state, &mut c.found, to, [_mm256_setzero_si256(); 2]);
        state.in_string = c.in_string;
    }

    /// Notes the fingerprints the AVX2 loop gathered before the block at
    /// `at` as lying before it, and those starting in that block (`here`)
    /// where they are. Called before the block's brackets: an item closing
    /// in the block may be marked for a later fingerprint, never missed.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn note_found(state: &mut State, gathered: &mut __m256i, at: usize, here: [__m256i; 2]) {
        if _mm256_testz_si256(*gathered, *gathered) == 0 {
            state.fingerprint_end = at;
            *gathered = _mm256_setzero_si256();
        }
        let bits = bits(here[0], here[1]);
        if bits != 0 {
            state.fingerprint_end = at + 64 - bits.leading_zeros() as usize;
        }
    }

    /// One block of the AVX2 loop that [`bulk`] left: it goes the general
    /// way, bracket by bracket, or (at the end of the stream, where it lacks
    /// the bytes after it) in bulk.
    #[target_feature(enable = "avx2,popcnt,bmi1,pclmulqdq")]
    #[inline(never)]
    fn one_block(
        state: &mut State,
        buf: &[u8],
        at: usize,
        block: &[u8; 64],
        ahead: &[u8; 64],
        c: &mut Bulk,
        found: &mut Vec<Found>,
    ) {
        let m = classify_bulk(block);
        let here = fingerprints(block, ahead);
        let inside = inside_strings(m.quote, c.in_string);
        let open = m.open & !inside;
        let close = m.close & !inside;
        let lowest = c.depth as i32 - close.count_ones() as i32;
        if !m.rare && !state.general_next && lowest > state.floor() {
            c.count(&m, inside, lowest, here);
            return;
        }
        (state.depth, state.known_below) = (c.depth, c.known_below);
        if m.rare || state.general_next {
            note_found(state, &mut c.found, at, here);
            state.in_string = c.in_string;
            block_general(state, buf, at, block, found);
            c.in_string = state.in_string;
        } else {
            c.in_string = ((inside as i64) >> 63) as u64;
            note_found(state, &mut c.found, at, here);
            state.brackets(buf, at, open | close, m.open, 0, found);
        }
        (c.depth, c.known_below) = (state.depth, state.known_below);
    }

    /// [`State::block`] for the AVX2 loop, kept out of line so the loop stays
    /// small; it also works out whether the next block must go the general way.
    #[target_feature(enable = "avx2,popcnt,bmi1")]
    #[inline(never)]
    fn block_general(
        state: &mut State,
        buf: &[u8],
        at: usize,
        block: &[u8; 64],
        found: &mut Vec<Found>,
    ) {
        let m = classify_avx2(block);
        let newline = m.newline;
        state.block(buf, at, m, found);
        let blank = bytes_in(block, BLANKS);
        // Blanks from the last line break (or, without one, from the start
        // when the line break came before) to the end of the block.
        let after_break = match newline.leading_zeros() {
            64 => state.general_next && blank == !0,
            0 => true,
            lz => blank >> (64 - lz) == (1u64 << lz) - 1,
        };
        state.general_next = state.escape_carry || after_break;
    }
}
