use super::*;

fn hex32(s: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).expect("hex");
    out
}

#[test]
fn sr25519_matches_substrate_dev_account_alice() {
    // //Alice: its mini secret key and public key are published in Substrate's docs and tools.
    let alice =
        Hotkey::from_seed(Scheme::Sr25519, hex32("e5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a"))
            .expect("key");
    assert_eq!(hex::encode(alice.public().bytes), "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d");
    assert_eq!(alice.ss58(), "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY");
}

#[test]
fn ed25519_matches_rfc8032_test_1() {
    let key =
        Hotkey::from_seed(Scheme::Ed25519, hex32("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"))
            .expect("key");
    assert_eq!(hex::encode(key.public().bytes), "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    // Ed25519 signatures are deterministic: RFC 8032's signature of the empty message.
    assert_eq!(
        hex::encode(key.sign(b"")),
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    );
}

#[test]
fn signatures_verify_and_tampering_is_caught() {
    for scheme in [Scheme::Sr25519, Scheme::Ed25519] {
        let key = Hotkey::from_seed(scheme, [7; 32]).expect("key");
        let sig = key.sign(b"epoch 12 summary");
        let public = key.public();
        public.verify(b"epoch 12 summary", &sig).expect("verifies");
        assert!(public.verify(b"epoch 13 summary", &sig).is_err(), "{scheme}: other message");
        let mut flipped = sig;
        flipped[10] ^= 1;
        assert!(public.verify(b"epoch 12 summary", &flipped).is_err(), "{scheme}: flipped bit");
        assert!(public.verify(b"epoch 12 summary", &sig[..63]).is_err(), "{scheme}: short");
        let other = Hotkey::from_seed(scheme, [8; 32]).expect("key").public();
        assert!(other.verify(b"epoch 12 summary", &sig).is_err(), "{scheme}: other key");
    }
}

#[test]
fn ss58_round_trips_and_rejects_typos() {
    let key = [3u8; 32];
    let address = encode_ss58(&key);
    assert_eq!(decode_ss58(&address).expect("decodes"), key);
    let mut typo: Vec<char> = address.chars().collect();
    typo[5] = if typo[5] == 'a' { 'b' } else { 'a' };
    assert!(decode_ss58(&typo.into_iter().collect::<String>()).is_err());
    assert!(decode_ss58("not-an-address").is_err());
}

#[test]
fn wallet_files_round_trip_and_bad_files_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = wallet_hotkey_path(dir.path(), "validator", "default");
    for scheme in [Scheme::Sr25519, Scheme::Ed25519] {
        let key = Hotkey::from_seed(scheme, [5; 32]).expect("key");
        key.save(&path).expect("saves");
        let loaded = Hotkey::load(&path).expect("loads");
        assert_eq!(loaded.public(), key.public());
    }

    // A file written by bittensor-wallet carries more fields, and no cryptoType in older versions.
    let alice = "e5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a";
    let public = "0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d";
    let python = format!(
        r#"{{"accountId": "{public}", "publicKey": "{public}", "privateKey": "0x00", "secretPhrase": null,
            "secretSeed": "0x{alice}", "ss58Address": "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"}}"#
    );
    std::fs::write(&path, &python).expect("writes");
    assert_eq!(Hotkey::load(&path).expect("loads").ss58(), "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY");

    let cases = [
        (python.replace(public, &format!("0x{}", "11".repeat(32))), "does not give publicKey"),
        (python.replace(&format!("\"0x{alice}\""), "null"), "neither a usable secretSeed nor a usable privateKey"),
        ("{".to_string(), "malformed"),
        ("$NACL...".to_string(), "encrypted"),
    ];
    for (content, expected) in cases {
        std::fs::write(&path, content).expect("writes");
        let err = Hotkey::load(&path).unwrap_err().to_string();
        assert!(err.contains(expected), "{err:?} lacks {expected:?}");
    }
    let err = Hotkey::load(&dir.path().join("missing")).unwrap_err().to_string();
    assert!(err.contains("missing"), "{err}");
}

/// The secret never lands in a file another process could have opened while it was readable:
/// a reader holding the old file open (opened before the permissions were tightened) must not
/// see the new seed.
#[cfg(unix)]
#[test]
fn a_saved_hotkey_is_never_readable_through_an_earlier_open_file() {
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("hotkeys/validator");
    std::fs::create_dir_all(path.parent().expect("parent")).expect("folders");
    std::fs::write(&path, b"an older, world-readable file").expect("writes");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let mut earlier_reader = std::fs::File::open(&path).expect("opens while readable");

    let key = Hotkey::from_seed(Scheme::Sr25519, [7; 32]).expect("key");
    key.save(&path).expect("saves");

    let mut seen = String::new();
    earlier_reader.read_to_string(&mut seen).expect("reads");
    assert!(!seen.contains(&hex::encode([7u8; 32])), "the seed reached an earlier reader: {seen}");
    let mode = std::fs::metadata(&path).expect("metadata").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(Hotkey::load(&path).expect("loads").ss58(), key.ss58());
    let leftovers: Vec<_> = std::fs::read_dir(path.parent().expect("parent")).expect("lists").collect();
    assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
}

#[test]
fn a_new_hotkey_is_never_written_over_one_that_is_there() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("w/hotkeys/h");
    let first = Hotkey::from_seed(Scheme::Sr25519, [1; 32]).expect("key");
    first.save_new(&path).expect("a new file");
    let before = std::fs::read(&path).expect("reads");
    let second = Hotkey::from_seed(Scheme::Sr25519, [2; 32]).expect("key");
    match second.save_new(&path) {
        Err(Error::Exists(shown)) => assert_eq!(shown, path.display().to_string()),
        other => panic!("expected Exists, got {other:?}"),
    }
    assert_eq!(std::fs::read(&path).expect("reads"), before, "the hotkey there is intact");
    assert_eq!(Hotkey::load(&path).expect("loads").ss58(), first.ss58());
    let left: Vec<_> = std::fs::read_dir(path.parent().expect("folder")).expect("reads").flatten().collect();
    assert_eq!(left.len(), 1, "no temporary file is left: {left:?}");
    second.save(&path).expect("save replaces");
    assert_eq!(Hotkey::load(&path).expect("loads").ss58(), second.ss58());
}

/// A batch of valid signatures verifies; one forged signature, a message changed after signing,
/// or a key that is not a point makes the whole batch fail (the caller then checks one by one).
#[test]
fn sr25519_batches_verify_only_when_every_signature_does() {
    let claims: Vec<Sr25519Claim> = (0..8)
        .map(|i| {
            let key = Hotkey::generate(Scheme::Sr25519).expect("key");
            let message = format!("message {i}").into_bytes();
            Sr25519Claim { key: key.public().bytes, signature: key.sign(&message), message }
        })
        .collect();
    assert!(verify_sr25519_batch(&claims));
    assert!(verify_sr25519_batch(&[]));
    let mut changed = claims.clone();
    changed[5].message.push(b'!');
    assert!(!verify_sr25519_batch(&changed));
    let mut swapped = claims.clone();
    swapped[2].signature = claims[3].signature;
    assert!(!verify_sr25519_batch(&swapped));
    let ed = Hotkey::generate(Scheme::Ed25519).expect("key");
    let mut ed_signed = claims.clone();
    ed_signed[0] = Sr25519Claim { key: ed.public().bytes, signature: ed.sign(b"m"), message: b"m".to_vec() };
    assert!(!verify_sr25519_batch(&ed_signed), "an ed25519 signature is not an sr25519 one");
}
