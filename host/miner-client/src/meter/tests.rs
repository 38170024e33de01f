use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::Settings;
use crate::sse::parse_sse;

/// 1 is " hello", 2 is " world", 3 ends the sequence (no text).
fn detokenizer() -> SharedDetokenizer {
    Arc::new(|ids: &[u32]| -> Result<String, String> {
        Ok(ids.iter().map(|id| [" hello", " world", ""][(*id as usize).clamp(1, 3) - 1]).collect())
    })
}

fn meter(request: Value) -> Meter {
    let request = request.as_object().cloned().unwrap_or_default();
    Meter::new(Expect::of(&request, 100, &Settings::default()), Some(detokenizer()))
}

fn streaming(extra: Value) -> Meter {
    let mut request = json!({"max_tokens": 4, "stream": true, "assay": {"request_id": "r"}});
    if let (Some(r), Some(e)) = (request.as_object_mut(), extra.as_object()) {
        r.extend(e.clone());
    }
    meter(request)
}

fn text_event(text: &str) -> Vec<u8> {
    let chunk = json!({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]});
    format!("data: {chunk}\n\n").into_bytes()
}

fn evidence_event(ids: &[u32]) -> Vec<u8> {
    let ext = json!({"request_id": "r", "prompt_token_ids": [7], "completion_token_ids": ids, "commitment": null,
                     "leaf_count": 0, "dtype": "f32"});
    let chunk = json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "assay": ext});
    format!("data: {chunk}\n\n").into_bytes()
}

const DONE: &[u8] = b"data: [DONE]\n\n";

/// The events in relayed bytes.
fn events(bytes: &[u8]) -> Vec<String> {
    parse_sse(bytes, 1 << 20).expect("relayed bytes are a stream")
}

#[test]
fn text_goes_out_at_once_and_the_end_once_the_text_is_checked() {
    let mut m = streaming(json!({}));
    assert_eq!(events(&m.feed(&text_event(" hello"))).len(), 1);
    assert_eq!(events(&m.feed(&text_event(" world"))).len(), 1);
    assert!(m.feed(&evidence_event(&[1, 2, 3])).is_empty(), "the evidence waits for the check");
    let end = events(&m.feed(DONE));
    assert_eq!(end.len(), 2);
    assert!(end[0].contains("\"assay\""));
    assert_eq!(end[1], "[DONE]");
    assert!(m.is_finished());
    let completion = m.end();
    assert_eq!(completion.outcome, Outcome::Ok);
    assert_eq!(completion.text, " hello world");
    assert_eq!(completion.finish_reason.as_deref(), Some("stop"));
    assert_eq!(completion.last["assay"]["completion_token_ids"], json!([1, 2, 3]));
}

#[test]
fn other_text_gets_an_error_event_in_place_of_the_end() {
    let mut m = streaming(json!({}));
    m.feed(&text_event(" hello moon"));
    m.feed(&evidence_event(&[1, 2]));
    let end = events(&m.feed(DONE));
    assert_eq!(end.len(), 1, "{end:?}");
    let error: Value = serde_json::from_str(&end[0]).expect("JSON");
    assert_eq!(error["error"]["code"], "bad_response");
    assert!(m.feed(&text_event("more")).is_empty(), "nothing is relayed after the refusal");
    let completion = m.end();
    assert_eq!(completion.outcome, Outcome::BadResponse);
    assert!(completion.evidence_error.expect("a reason").contains("differ from byte 7"));
}

#[test]
fn a_stop_string_cuts_the_expected_text() {
    let mut m = streaming(json!({"stop": [" wor"]}));
    m.feed(&text_event(" hello"));
    m.feed(&evidence_event(&[1, 2]));
    assert_eq!(events(&m.feed(DONE)).last().map(String::as_str), Some("[DONE]"));
    assert_eq!(m.end().outcome, Outcome::Ok);
}

#[test]
fn the_evidence_must_come_and_must_fit_the_request() {
    let mut missing = streaming(json!({}));
    missing.feed(&text_event(" hello"));
    missing.feed(DONE);
    let completion = missing.end();
    assert_eq!(completion.outcome, Outcome::BadResponse);
    assert!(completion.evidence_error.expect("a reason").contains("no evidence"));

    let mut too_long = streaming(json!({"max_tokens": 2}));
    too_long.feed(&text_event(" hello world"));
    too_long.feed(&evidence_event(&[1, 2, 3]));
    too_long.feed(DONE);
    let completion = too_long.end();
    assert_eq!(completion.outcome, Outcome::BadResponse);
    assert!(completion.evidence_error.expect("a reason").contains("3 completion tokens signed for max_tokens 2"));
}

#[test]
fn the_validators_own_tokenizer_failing_charges_nobody() {
    let request = json!({"max_tokens": 4, "stream": true, "assay": {}});
    let broken: SharedDetokenizer = Arc::new(|_: &[u32]| -> Result<String, String> { Err("no vocabulary".into()) });
    let mut m = Meter::new(Expect::of(request.as_object().expect("object"), 10, &Settings::default()), Some(broken));
    m.feed(&text_event("anything"));
    m.feed(&evidence_event(&[1]));
    m.feed(DONE);
    assert_eq!(m.end().outcome, Outcome::Ok);
}

#[test]
fn a_stream_cut_short_is_a_server_error_and_malformed_ones_bad_responses() {
    let mut cut = streaming(json!({}));
    cut.feed(&text_event(" hello"));
    assert!(!cut.is_finished());
    assert_eq!(cut.end().outcome, Outcome::ServerError);

    let mut not_json = streaming(json!({}));
    let out = events(&not_json.feed(b"data: {oops\n\n"));
    assert!(out[0].contains("not JSON"), "{out:?}");
    assert_eq!(not_json.end().outcome, Outcome::BadResponse);

    let mut flood = streaming(json!({}));
    let limit = flood.max_bytes();
    flood.feed(&vec![b'a'; limit / 2]);
    assert!(!flood.is_finished());
    flood.feed(&vec![b'a'; limit / 2 + 1]);
    assert!(flood.is_finished());
    assert_eq!(flood.end().outcome, Outcome::BadResponse);
}

#[test]
fn whole_bodies_are_checked_the_same_way() {
    let body = |content: &str| {
        json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
               "assay": {"request_id": "r", "prompt_token_ids": [7], "completion_token_ids": [1, 2], "commitment": null,
                         "leaf_count": 0, "dtype": "f32"}})
        .to_string()
    };
    let request = json!({"max_tokens": 4, "assay": {}});
    let mut right = meter(request.clone());
    assert!(right.feed(body(" hello world").as_bytes()).is_empty());
    assert_eq!(right.end().outcome, Outcome::Ok);
    let mut wrong = meter(request);
    wrong.feed(body("hello world").as_bytes());
    assert_eq!(wrong.end().outcome, Outcome::BadResponse);
}
