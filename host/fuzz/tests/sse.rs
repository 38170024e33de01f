//! The miner client's SSE parser, on what a miner streams: never a panic, the same events (or
//! the same refusal) however the bytes are split into pieces, and no event past its bound.

use assay_miner_client::sse::{SseParser, parse_sse};
use proptest::prelude::*;

const LIMIT: usize = 256;

proptest! {
    #![proptest_config(assay_fuzz::config())]

    #[test]
    fn pieces_do_not_change_the_events(
        (_, bytes) in assay_fuzz::inputs(assay_fuzz::seeds("sse")),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let whole = parse_sse(&bytes, LIMIT);
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.sort_unstable();
        let mut parser = SseParser::new(LIMIT);
        let mut events = Vec::new();
        let mut refused = None;
        let mut from = 0;
        for to in cuts.into_iter().chain([bytes.len()]) {
            match parser.push(&bytes[from..to]) {
                Ok(more) => events.extend(more),
                Err(e) => {
                    refused = Some(e);
                    break;
                }
            }
            from = to;
        }
        match (&whole, refused) {
            (Ok(all), None) => {
                prop_assert_eq!(all, &events);
                prop_assert!(events.iter().all(|e| e.len() <= LIMIT), "an event past the bound");
            }
            (Err(e), Some(r)) => prop_assert_eq!(e, &r),
            (whole, pieces) => prop_assert!(false, "whole: {:?}, in pieces: {:?} after {:?}", whole, pieces, events),
        }
    }
}
