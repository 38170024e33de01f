//! What text a miner may relay: the text of the token ids it signed, as a user receives it.
//!
//! The validator detokenizes the signed completion ids (special tokens skipped, as vLLM and the
//! reference miner do) and cuts the result at the first stop string the request named (the
//! OpenAI API leaves the stop string out). The relayed text must equal that; a trailing run of
//! U+FFFD may be missing (a generation cut inside a multi-byte character, which an incremental
//! detokenizer holds back). Must not touch: which tokenizer; the caller hands one in.

use std::sync::Arc;

/// Turns token ids into the text a user receives. `Err` is the validator's own failure (its
/// tokenizer), never the miner's: the check is then skipped with an error log.
pub trait Detokenize: Send + Sync {
    fn detokenize(&self, ids: &[u32]) -> Result<String, String>;
}

impl<F: Fn(&[u32]) -> Result<String, String> + Send + Sync> Detokenize for F {
    fn detokenize(&self, ids: &[u32]) -> Result<String, String> {
        self(ids)
    }
}

pub type SharedDetokenizer = Arc<dyn Detokenize>;

/// The first few tokens are decoded one prefix at a time to find the first whole character.
const FIRST_TEXT_TOKENS: usize = 16;

/// `decoded` up to the first occurrence of any of `stops`.
pub fn cut_at_stop<'a>(decoded: &'a str, stops: &[String]) -> &'a str {
    let at = stops.iter().filter(|s| !s.is_empty()).filter_map(|s| decoded.find(s.as_str())).min();
    &decoded[..at.unwrap_or(decoded.len())]
}

/// Whether `relayed` is what the signed completion says it must be.
pub fn relayed_matches(relayed: &str, expected: &str) -> bool {
    relayed == expected || relayed == expected.trim_end_matches('\u{fffd}')
}

/// Where two texts first differ, in bytes: for the log and the recorded reason.
pub fn first_difference(a: &str, b: &str) -> usize {
    a.bytes().zip(b.bytes()).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()))
}

/// Bytes of text the first real token carries: the shortest prefix of `ids` that decodes to
/// whole characters, at most `FIRST_TEXT_TOKENS` tokens (byte tokens of one character). `None`
/// when no such prefix is short enough, or the tokenizer failed.
pub fn first_text_bytes(detokenizer: &dyn Detokenize, ids: &[u32]) -> Option<usize> {
    (1..=ids.len().min(FIRST_TEXT_TOKENS)).find_map(|n| {
        let text = detokenizer.detokenize(&ids[..n]).ok()?;
        (!text.is_empty() && !text.ends_with('\u{fffd}')).then_some(text.len())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_strings_cut_at_their_first_occurrence() {
        let stops = vec!["END".to_string(), "\n\n".to_string(), String::new()];
        assert_eq!(cut_at_stop("a\n\nbEND", &stops), "a");
        assert_eq!(cut_at_stop("abEND\n\n", &stops), "ab");
        assert_eq!(cut_at_stop("plain", &stops), "plain");
        assert_eq!(cut_at_stop("plain", &[]), "plain");
    }

    #[test]
    fn only_a_held_back_partial_character_may_be_missing() {
        assert!(relayed_matches("héllo", "héllo"));
        assert!(relayed_matches("hé", "hé\u{fffd}"));
        assert!(!relayed_matches(" ", "hello"));
        assert!(!relayed_matches("hello!", "hello"));
        assert_eq!(first_difference("hello", "help"), 3);
        assert_eq!(first_difference("he", "hello"), 2);
    }

    #[test]
    fn the_first_real_text_spans_whole_characters() {
        // Token 1 is half of "é", token 2 the other half, token 3 "x"; token 0 is special.
        let detokenize = |ids: &[u32]| -> Result<String, String> {
            let bytes: Vec<u8> = ids
                .iter()
                .flat_map(|id| match id {
                    1 => vec![0xc3],
                    2 => vec![0xa9],
                    3 => b"x".to_vec(),
                    _ => vec![],
                })
                .collect();
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        };
        assert_eq!(first_text_bytes(&detokenize, &[1, 2, 3]), Some(2));
        assert_eq!(first_text_bytes(&detokenize, &[0, 3]), Some(1));
        assert_eq!(first_text_bytes(&detokenize, &[0, 0]), None);
        let failing = |_: &[u32]| -> Result<String, String> { Err("no tokenizer".into()) };
        assert_eq!(first_text_bytes(&failing, &[3]), None);
    }
}
