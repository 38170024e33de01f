//! The gateway's request schema, on what users send: never a panic, and what it lets through
//! (what a miner receives) validates again to the same request, so a miner is never sent a
//! body the gateway itself would refuse.

use assay_gateway::request::{Limits, Route, validate};
use proptest::prelude::*;

const LIMITS: Limits<'static> =
    Limits { model: "Qwen/Qwen2.5-7B-Instruct", tasks: &[], max_tokens: 4096, context_tokens: 32768 };

proptest! {
    #![proptest_config(assay_fuzz::config())]

    #[test]
    fn what_reaches_a_miner_is_valid((_, bytes) in assay_fuzz::inputs(assay_fuzz::seeds("request"))) {
        for route in [Route::Chat, Route::Completions] {
            if let Ok(validated) = validate(route, &bytes, &LIMITS) {
                let forwarded = serde_json::to_vec(&validated.clone().into_body()).expect("serializes");
                let again = validate(route, &forwarded, &LIMITS);
                prop_assert_eq!(again.as_ref().ok(), Some(&validated), "{:?}", again.as_ref().err());
            }
        }
    }
}
