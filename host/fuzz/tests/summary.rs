//! The summary reader (what an auditor or a watchtower reads first, from anyone's bucket):
//! never a panic, and a document it accepts is the one that was signed.

use assay_epoch::Summary;
use proptest::prelude::*;

proptest! {
    #![proptest_config(assay_fuzz::config())]

    #[test]
    fn only_the_signed_document_verifies((seed, bytes) in assay_fuzz::inputs(assay_fuzz::seeds("summary"))) {
        let seeds = assay_fuzz::seeds("summary");
        if Summary::parse_and_verify(&bytes).is_ok() {
            let seed = seed.map(|i| &seeds[i]);
            let accepted: serde_json::Value = serde_json::from_slice(&bytes).expect("accepted JSON");
            let signed = seeds
                .iter()
                .map(|s| serde_json::from_slice::<serde_json::Value>(s).expect("a seed is JSON"))
                .find(|s| *s == accepted);
            prop_assert!(signed.is_some(), "accepted a document no one signed (from seed {:?})", seed.is_some());
        }
    }
}
