use std::time::Duration;

use assay_protocol::commitment::{self, leaf_index};
use assay_protocol::wire::{VectorDtype, decode_vector};
use assay_reference_engine::tiny::{self, TinySpec};
use assay_reference_engine::{Engine, HiddenSelection, SamplingParams};

use super::*;

fn engine() -> (tempfile::TempDir, Engine) {
    let dir = tempfile::tempdir().expect("tempdir");
    tiny::write(dir.path(), &TinySpec::default(), None).expect("writes");
    let engine = Engine::load(dir.path()).expect("loads");
    (dir, engine)
}

fn hash(hex_text: &str) -> commitment::Hash {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_text, &mut out).expect("hex");
    out
}

/// What a validator does with an opening: check each path against the committed root.
fn verifies(ext: &assay_protocol::wire::ResponseExtension, opened: &assay_protocol::wire::OpenResponse) -> bool {
    let root = hash(ext.commitment.as_deref().expect("committed"));
    let positions = (ext.prompt_token_ids.len() + ext.completion_token_ids.len()) as u32;
    opened.points.iter().all(|p| {
        let bytes = decode_vector(&p.vector).expect("base64");
        let path: Vec<commitment::Hash> = p.path.iter().map(|s| hash(s)).collect();
        let leaf = commitment::leaf(&ext.request_id, p.layer, p.position, &bytes);
        commitment::verify(&root, leaf, leaf_index(p.layer, p.position, positions), ext.leaf_count, &path)
    })
}

#[test]
fn openings_verify_against_the_commitment_and_carry_the_engines_vectors() {
    let (_dir, engine) = engine();
    let store = Store::new(64 << 20);
    let prompt = [257, 104, 105, 258, 10];
    let completion = engine.generate(&prompt, &SamplingParams::default(), 6, &[]).expect("generates").tokens;
    let ext = commit(&engine, &store, "v", "req-1", &prompt, &completion, Duration::from_secs(60)).expect("commits");
    assert_eq!(ext.leaf_count, 5 * 11);
    let points = [[4, 10], [0, 0], [2, 7]];
    let opened = open(&store, "v", "req-1", &points).expect("opens");
    assert!(verifies(&ext, &opened));

    // The opened vector is the engine's hidden state.
    let tokens: Vec<u32> = prompt.iter().chain(&completion).copied().collect();
    let reference = engine.teacher_forced(&tokens, &HiddenSelection::Points(vec![(4, 10)]), &[]).expect("runs").hidden;
    let opened_values =
        VectorDtype::F32.decode(&decode_vector(&opened.points[0].vector).expect("base64")).expect("f32");
    assert_eq!(opened_values, reference);

    // A tampered vector no longer verifies.
    let mut tampered = opened.clone();
    let mut bytes = decode_vector(&tampered.points[1].vector).expect("base64");
    bytes[0] ^= 1;
    tampered.points[1].vector = assay_protocol::wire::encode_vector(&bytes);
    assert!(!verifies(&ext, &tampered));
}

#[test]
fn bad_openings_and_duplicates_are_refused() {
    let (_dir, engine) = engine();
    let store = Store::new(64 << 20);
    commit(&engine, &store, "v", "r", &[1, 2, 3], &[4], Duration::from_secs(60)).expect("commits");
    assert!(matches!(open(&store, "v", "r", &[[5, 0]]), Err(Error::PointOutOfRange { layer: 5, .. })));
    assert!(matches!(open(&store, "v", "r", &[[0, 4]]), Err(Error::PointOutOfRange { position: 4, .. })));
    assert!(matches!(open(&store, "v", "other", &[[0, 0]]), Err(Error::UnknownRequest(_))));
    assert!(matches!(commit(&engine, &store, "v", "r", &[1], &[], Duration::from_secs(60)), Err(Error::Duplicate(_))));
    assert!(matches!(commit(&engine, &store, "v", "e", &[], &[], Duration::from_secs(60)), Err(Error::Empty)));
}

#[test]
fn the_window_and_the_memory_bound_forget_old_requests() {
    let (_dir, engine) = engine();
    let store = Store::new(64 << 20);
    commit(&engine, &store, "v", "short", &[1, 2], &[3], Duration::from_millis(30)).expect("commits");
    assert!(open(&store, "v", "short", &[[0, 0]]).is_ok());
    std::thread::sleep(Duration::from_millis(60));
    assert!(matches!(open(&store, "v", "short", &[[0, 0]]), Err(Error::UnknownRequest(_))));

    // Room for about two requests of 20 tokens: the oldest goes first.
    let one = (5 * 20 * 64) * 4 + 5 * 20 * 64;
    let small = Store::new(2 * one + one / 2);
    let tokens: Vec<u32> = (0..20).collect();
    for id in ["a", "b", "c"] {
        commit(&engine, &small, "v", id, &tokens, &[], Duration::from_secs(60)).expect("commits");
    }
    assert_eq!(small.len(), 2);
    assert!(small.bytes() <= 2 * one + one / 2);
    assert!(matches!(open(&small, "v", "a", &[[0, 0]]), Err(Error::UnknownRequest(_))));
    assert!(open(&small, "v", "c", &[[0, 0]]).is_ok());
}
