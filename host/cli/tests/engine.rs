//! `assay engine hidden-states` on a fixture model reproduces what transformers computed.

mod common;

use common::{assay, run, workspace_root};

fn f32s(t: &safetensors::tensor::TensorView<'_>) -> Vec<f32> {
    t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

#[test]
fn hidden_states_command_reproduces_the_transformers_fixture() {
    let fixture = workspace_root().join("reference-engine/tests/fixtures/gqa7-untied-bf16-theta1e6-sharded");
    let expected_bytes = std::fs::read(fixture.join("expected.safetensors")).expect("fixture");
    let expected = safetensors::SafeTensors::deserialize(&expected_bytes).expect("parses");
    let tokens: Vec<String> = expected
        .tensor("tokens")
        .expect("tokens")
        .data()
        .chunks_exact(4)
        .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]).to_string())
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("hidden.safetensors");
    let (code, text) = run(assay()
        .args(["engine", "hidden-states", "--model"])
        .arg(&fixture)
        .arg("--token-ids")
        .arg(tokens.join(","))
        .arg("--out")
        .arg(&out));
    assert_eq!(code, 0, "{text}");
    let ours_bytes = std::fs::read(&out).expect("written");
    let ours = safetensors::SafeTensors::deserialize(&ours_bytes).expect("parses");
    let (a, b) = (f32s(&ours.tensor("hidden").expect("hidden")), f32s(&expected.tensor("hidden").expect("hidden")));
    assert_eq!(a.len(), b.len());
    let h = 112;
    for (i, (x, y)) in a.chunks_exact(h).zip(b.chunks_exact(h)).enumerate() {
        let d: f64 = x.iter().zip(y).map(|(p, q)| (f64::from(*p) - f64::from(*q)).powi(2)).sum();
        let n: f64 = y.iter().map(|q| f64::from(*q).powi(2)).sum();
        assert!((d / n).sqrt() <= 1e-4, "vector {i}: {}", (d / n).sqrt());
    }

    let (code, text) = run(assay()
        .args(["engine", "hidden-states", "--model"])
        .arg(&fixture)
        .args(["--token-ids", "1,4000", "--out"])
        .arg(&out));
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("token id 4000 at position 1 is outside the vocabulary of 128"), "{text}");
    let (code, text) = run(assay()
        .args(["engine", "hidden-states", "--model", "/nonexistent", "--token-ids", "1", "--out"])
        .arg(&out));
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("/nonexistent/config.json"), "{text}");
}
