//! The canonical epoch-input decoder and the bounded zstd reader (an auditor reads both from a
//! bucket anyone may have written): never a panic; an accepted input is exactly its own
//! encoding; decompression never exceeds its limit.

use assay_epoch::canonical::{decode, decompress, encode};
use proptest::prelude::*;

proptest! {
    #![proptest_config(assay_fuzz::config())]

    #[test]
    fn decode_accepts_only_canonical_bytes((_, bytes) in assay_fuzz::inputs(assay_fuzz::seeds("canonical"))) {
        // Both contract versions' inputs: an audit decodes either.
        if let Ok(input) = decode::<assay_policy_sdk::EpochInput>(&bytes) {
            prop_assert_eq!(encode(&input).expect("an accepted input encodes"), bytes.clone());
        }
        if let Ok(input) = decode::<assay_policy_sdk::v0_1::EpochInput>(&bytes) {
            prop_assert_eq!(encode(&input).expect("an accepted input encodes"), bytes);
        }
    }

    #[test]
    fn decompression_is_bounded((_, bytes) in assay_fuzz::inputs(assay_fuzz::seeds("zstd"))) {
        let limit = 64 << 10;
        if let Ok(out) = decompress(&bytes, limit) {
            prop_assert!(out.len() <= limit);
        }
    }
}
