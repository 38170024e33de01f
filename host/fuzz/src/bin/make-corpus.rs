//! Writes the fuzz targets' seeds into `host/fuzz/corpus/` (run by
//! `scripts/make-fuzz-corpus.sh`): small, valid instances of each format, from fixed keys and a
//! fixed synthetic epoch (the Epistula seeds' uuids and sr25519 signatures are fresh each run).

use std::path::Path;

use assay_epoch::canonical::{compress, encode};
use assay_epoch::synth::{Shape, generate};
use assay_keys::{Hotkey, Scheme};
use assay_protocol::epistula::sign;

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = assay_fuzz::corpus_dir(target);
    std::fs::create_dir_all(&dir).expect("creates the corpus folder");
    std::fs::write(dir.join(name), bytes).expect("writes a seed");
    println!("{}", Path::new(target).join(name).display());
}

fn main() {
    let shape = Shape { netuid: 1, miners: 3, requests: 6, challenges: 2, seed: 1 };
    let input = generate(shape, 0).input(0, Vec::new(), Vec::new()).expect("a synthetic input");
    let json = encode(&input).expect("encodes");
    write("canonical", "synthetic-epoch.json", &json);
    write("zstd", "synthetic-epoch.json.zst", &compress(&json).expect("compresses"));
    write("zstd", "empty.zst", &compress(b"").expect("compresses"));

    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cli/tests/fixtures/golden/epochs/1/0/summary.json");
    let summary = std::fs::read(&golden).unwrap_or_else(|e| panic!("{}: {e}", golden.display()));
    write("summary", "golden-epoch-0.json", &summary);

    let requests = [
        ("chat-plain", r#"{"model":"Qwen/Qwen2.5-7B-Instruct","messages":[{"role":"user","content":"hi"}]}"#),
        (
            "chat-sampled",
            r#"{"model":"Qwen/Qwen2.5-7B-Instruct","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],"max_tokens":64,"temperature":0.7,"top_p":0.9,"top_k":40,"seed":7,"stop":["

","END"],"stream":true,"stream_options":{"include_usage":true},"logprobs":true,"top_logprobs":3,"user":"u-1"}"#,
        ),
        (
            "completions",
            r#"{"model":"Qwen/Qwen2.5-7B-Instruct","prompt":"Once upon a time","max_tokens":16,"temperature":0,"stop":"
","logprobs":2}"#,
        ),
    ];
    for (name, body) in requests {
        write("request", &format!("{name}.json"), body.as_bytes());
    }

    let stream = concat!(
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]}\n\n",
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"}}]}\r\n\r\n",
        ": keep-alive\n\n",
        "event: message\nid: 3\ndata: {\"id\":\"c\",\n",
        "data: \"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\r\r",
        "data: [DONE]\n\n",
    );
    write("sse", "openai-stream.txt", stream.as_bytes());

    let signer = Hotkey::from_seed(Scheme::Sr25519, [1; 32]).expect("key");
    let receiver = Hotkey::from_seed(Scheme::Sr25519, [2; 32]).expect("key").ss58();
    for (name, body, now) in [("chat", r#"{"messages":[]}"#, 1_700_000_000_000u64), ("empty", "", 5_000)] {
        let signed = sign(&signer, body.as_bytes(), Some(&receiver), now);
        let headers: serde_json::Map<String, serde_json::Value> =
            signed.headers().into_iter().map(|(k, v)| (k.to_string(), v.into())).collect();
        let seed = serde_json::json!({"headers": headers, "body": body, "now_ms": now + 10});
        write("epistula", &format!("{name}.json"), &serde_json::to_vec(&seed).expect("serializes"));
    }
}
