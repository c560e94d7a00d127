//! The masks of a block computed one byte at a time: what CPUs without the
//! x86 kernels use, and the reference the kernels are tested against.

use super::state::BlockMasks;
use crate::intake::prefilter::FINGERPRINTS;

/// Every mask of one block.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
#[inline(always)]
pub(super) fn classify(block: &[u8; 64]) -> BlockMasks {
    let mut m = BlockMasks {
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
