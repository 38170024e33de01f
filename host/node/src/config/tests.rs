//! The config round-trips through its TOML, and every kind of bad value is refused with the
//! key's dotted path.

use super::*;

fn full() -> Config {
    let mut config = Config::local(7, Some("wallets".into()), "v", "h");
    config.epoch_blocks = 10;
    config.policy.scorer = Some("ab".repeat(32));
    config.policy.params.insert("rate.floor".into(), 0.25);
    let mut gateway = assay_gateway::Settings::new("127.0.0.1:9", "m");
    gateway.keys.push(assay_gateway::ApiKey {
        name: "a".into(),
        key: "sk-a".into(),
        requests_per_minute: 60,
        burst: Some(2),
    });
    gateway.synthetic_per_minute = 3.5;
    config.gateway = Some(gateway);
    config.verify = Some(assay_verify::Settings::new("models/reference".into()));
    config
}

#[test]
fn a_serialized_config_reads_back_the_same() {
    let config = full();
    let text = config.to_toml().expect("serializes");
    assert_eq!(Config::parse(&text).expect("parses"), config, "{text}");
    let minimal = Config::local(1, None, "v", "h");
    assert_eq!(Config::parse(&minimal.to_toml().expect("serializes")).expect("parses"), minimal);
}

#[test]
fn relative_paths_are_relative_to_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("assay.toml");
    full().save(&path).expect("saves");
    let loaded = Config::load(&path).expect("loads");
    assert_eq!(loaded.data_dir, dir.path().join("data"));
    assert_eq!(loaded.verify.expect("verify").model, dir.path().join("models/reference"));
}

/// `(what to change in the TOML, the key the error must name, words it must contain)`.
fn check(edit: impl Fn(&mut toml::Table), key: &str, words: &str) {
    let mut table: toml::Table = toml::from_str(&full().to_toml().expect("serializes")).expect("toml");
    edit(&mut table);
    let text = toml::to_string(&table).expect("toml");
    let err = Config::parse(&text).expect_err("refused").to_string();
    assert!(err.contains(key), "the error names {key}: {err}");
    assert!(err.contains(words), "the error says {words:?}: {err}");
}

fn set(table: &mut toml::Table, path: &[&str], value: toml::Value) {
    let (last, parents) = path.split_last().expect("a path");
    let mut at = table;
    for p in parents {
        at = at.get_mut(*p).and_then(toml::Value::as_table_mut).expect("a table");
    }
    at.insert((*last).to_string(), value);
}

#[test]
fn bad_values_are_refused_naming_the_key() {
    use toml::Value::{Float, Integer, String as Text};
    check(|t| set(t, &["epoch_blok"], Integer(3)), "epoch_blok", "unknown field");
    check(|t| set(t, &["gateway", "listn"], Text("x".into())), "gateway", "listn");
    check(|t| set(t, &["gateway", "miner_timeout_s"], Float(-1.0)), "gateway.miner_timeout_s", "positive");
    check(|t| set(t, &["gateway", "miner_timeout_s"], Float(f64::INFINITY)), "gateway.miner_timeout_s", "finite");
    check(|t| set(t, &["verify", "open_timeout_s"], Float(f64::NAN)), "verify.open_timeout_s", "finite");
    check(|t| set(t, &["verify", "device"], Text("cdua".into())), "verify.device", "cdua");
    check(|t| set(t, &["verify", "interval_ms"], Integer(-5)), "verify.interval_ms", "-5");
    check(|t| set(t, &["epoch_blocks"], Integer(0)), "epoch_blocks", "at least 1");
    check(|t| set(t, &["policy", "params", "rate.floor"], Float(f64::NAN)), "policy.params.rate.floor", "finite");
    check(|t| set(t, &["chain", "kind"], Text("subtensr".into())), "chain", "subtensr");
}

#[test]
fn policy_limits_stay_within_what_auditors_run() {
    use toml::Value::Integer;
    check(|t| set(t, &["policy", "fuel"], Integer(200_000_000_000)), "policy.fuel", "above the host maximum");
    check(|t| set(t, &["policy", "state_bytes"], Integer(1 << 40)), "policy.state_bytes", "above the host maximum");
    check(|t| set(t, &["policy", "fuel"], Integer(0)), "policy", "at least 1");
    assert_eq!(full().limits(), Limits::DEFAULT, "defaults");
}

#[test]
fn devices_are_read_strictly() {
    for (text, device) in [("cpu", "cpu"), ("cuda", "cuda:0"), ("cuda:1", "cuda:1"), ("auto", "auto")] {
        let mut config = full();
        let mut table: toml::Table = toml::from_str(&config.to_toml().expect("toml")).expect("toml");
        set(&mut table, &["verify", "device"], toml::Value::String(text.into()));
        config = Config::parse(&toml::to_string(&table).expect("toml")).expect("parses");
        assert_eq!(config.verify.expect("verify").device.to_string(), device);
    }
}
