//! `assay.toml` with a comment above every key: the file `assay init` writes. The values are the
//! config type's own serialization; the comments come from [`super::notes`]; the keys that the
//! config leaves out (optional sections, the other kind of chain or publication) are written
//! commented out with an example value, so the file lists every key there is.
//!
//! Must not touch: what a key means or defaults to (the config type and the notes own those).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::str::FromStr as _;

use toml::{Table, Value};

use super::notes::{FREE_MAPS, note, rank};
use super::{ChainConfig, Config, ConfigError, LedgerConfig, PolicyConfig, PublishConfig, WalletConfig};

/// Comment lines are wrapped to this width.
const WIDTH: usize = 100;

impl Config {
    /// The config as TOML with every key explained, `header` (plain text) on top, and the keys
    /// of [`Config::with_every_key`] it leaves out written commented out.
    pub fn to_commented_toml(&self, header: &str) -> Result<String, ConfigError> {
        let live = as_table(self)?;
        let example = as_table(&self.with_every_key())?;
        let mut out = String::new();
        comment(&mut out, "", header);
        out.push('\n');
        entries(&mut out, "", Some(&live), Some(&example));
        Ok(out)
    }

    /// This config with every optional key set to an example and the other kind of chain and of
    /// publication: what the commented file shows beside the live keys. Every struct is taken
    /// apart and built again field by field (no `..`), so that a new field fails to compile here
    /// until it is given an example (and `config/notes.rs` a note, which a test asks for).
    pub fn with_every_key(&self) -> Config {
        let Config {
            netuid,
            data_dir,
            epoch_blocks,
            version_key,
            tokenizer: _,
            wallet,
            chain,
            publish,
            policy,
            ledger,
            miners,
            gateway,
            verify,
            rounds,
            competition,
            tasks,
            dashboard,
            metrics,
        } = self.clone();
        let chain = match chain {
            ChainConfig::Local { .. } => ChainConfig::subtensor("finney"),
            ChainConfig::Subtensor { .. } => ChainConfig::Local { dir: "chain".into(), metagraph_refresh_ms: 2000 },
        };
        let publish = match publish {
            PublishConfig::Local { .. } => PublishConfig::S3 {
                bucket: "my-validator-summaries".into(),
                prefix: String::new(),
                endpoint: Some("https://ACCOUNT.r2.cloudflarestorage.com".into()),
                region: "auto".into(),
                access_key_env: Some("R2_ACCESS_KEY_ID".into()),
                secret_key_env: Some("R2_SECRET_ACCESS_KEY".into()),
            },
            PublishConfig::S3 { .. } => PublishConfig::Local { dir: "published".into() },
        };
        let WalletConfig { root: _, name, hotkey, password_env: _ } = wallet;
        let wallet = WalletConfig {
            root: Some("~/.bittensor/wallets".into()),
            name,
            hotkey,
            password_env: Some("ASSAY_HOTKEY_PASSWORD".into()),
        };
        let PolicyConfig {
            scorer: _,
            challenger: _,
            fuel,
            memory_bytes,
            state_bytes,
            params: _,
            follow_owner,
            owner_hotkey: _,
            owner_publication: _,
        } = policy;
        let policy = PolicyConfig {
            scorer: Some("SHA256-OF-THE-SCORER".into()),
            challenger: Some("SHA256-OF-THE-CHALLENGER".into()),
            fuel,
            memory_bytes,
            state_bytes,
            params: [("example".to_string(), 1.0)].into(),
            follow_owner,
            owner_hotkey: Some("5C4hrfjw9DjXZTzV3MwzrrAr9P1MJhSrvWGWqi1eSuyUpnhM".into()),
            owner_publication: Some("owner-publication".into()),
        };
        let LedgerConfig { keep_bodies_days, reserve_bytes } = ledger;
        let ledger = LedgerConfig { keep_bodies_days, reserve_bytes };
        let assay_miner_client::Settings {
            allow_private_axons,
            max_tokens_when_unset,
            response_base_bytes,
            response_bytes_per_token,
            response_bytes_per_logprob,
            response_bytes_per_request_byte,
            max_response_bytes,
            info_max_bytes,
        } = miners;
        let miners = assay_miner_client::Settings {
            allow_private_axons,
            max_tokens_when_unset,
            response_base_bytes,
            response_bytes_per_token,
            response_bytes_per_logprob,
            response_bytes_per_request_byte,
            max_response_bytes,
            info_max_bytes,
        };
        Config {
            netuid,
            data_dir,
            epoch_blocks,
            version_key,
            tokenizer: Some(PathBuf::from("models/reference")),
            wallet,
            chain,
            publish,
            policy,
            ledger,
            miners,
            gateway: Some(gateway_with_every_key(gateway)),
            verify: Some(verify_with_every_key(verify)),
            rounds: Some(rounds.unwrap_or_default()),
            competition: Some(competition_with_every_key(competition)),
            tasks: tasks_with_every_key(tasks),
            dashboard: Some(dashboard.unwrap_or_else(|| super::DashboardConfig { listen: "127.0.0.1:8090".into() })),
            metrics: Some(metrics.unwrap_or(super::MetricsConfig { listen: ([127, 0, 0, 1], 9464).into() })),
        }
    }
}

/// The gateway's settings (the live ones, or an example), one API key of the operator's kept
/// and an example one added.
fn gateway_with_every_key(live: Option<assay_gateway::Settings>) -> assay_gateway::Settings {
    let assay_gateway::Settings {
        listen,
        model,
        mut keys,
        max_body_bytes,
        max_tokens,
        context_tokens,
        miner_timeout_s,
        max_attempts,
        health_interval_ms,
        synthetic_per_minute,
        synthetic_mode,
        synthetic_period_s,
        synthetic_per_capacity,
        max_miner_capacity,
        stream_idle_timeout_ms,
        user_send_buffer_bytes,
        max_connections,
        header_read_timeout_ms,
        body_read_timeout_ms,
        queue_timeout_ms,
        queue_max,
        queue_per_key,
        recorder_queue_max,
        recorder_queue_bytes,
        tasks: _,
    } = live.unwrap_or_else(|| assay_gateway::Settings::new("127.0.0.1:8000", "Qwen/Qwen2.5-7B-Instruct"));
    keys.truncate(1);
    keys.push(assay_gateway::ApiKey {
        name: "alice".into(),
        key: "sk-CHANGE-ME".into(),
        requests_per_minute: 600,
        burst: Some(100),
        publish_text: true,
    });
    assay_gateway::Settings {
        listen,
        model,
        keys,
        max_body_bytes,
        max_tokens,
        context_tokens,
        miner_timeout_s,
        max_attempts,
        health_interval_ms,
        synthetic_per_minute,
        synthetic_mode,
        synthetic_period_s,
        synthetic_per_capacity,
        max_miner_capacity,
        stream_idle_timeout_ms,
        user_send_buffer_bytes,
        max_connections,
        header_read_timeout_ms,
        body_read_timeout_ms,
        queue_timeout_ms,
        queue_max,
        queue_per_key,
        recorder_queue_max,
        recorder_queue_bytes,
        tasks: Vec::new(),
    }
}

/// The live tasks, or an example of two (one model, one task per route).
fn tasks_with_every_key(live: Vec<assay_gateway::Task>) -> Vec<assay_gateway::Task> {
    if !live.is_empty() {
        return live;
    }
    let task = |name: &str, weight, route| assay_gateway::Task {
        name: name.into(),
        model: "Qwen/Qwen2.5-7B-Instruct".into(),
        weight,
        route: Some(route),
    };
    vec![
        task("chat", 0.8, assay_gateway::TaskRoute::Chat),
        task("completion", 0.2, assay_gateway::TaskRoute::Completion),
    ]
}

/// The verifier's settings (the live ones, or the defaults for `models/reference`).
fn verify_with_every_key(live: Option<assay_verify::Settings>) -> assay_verify::Settings {
    let assay_verify::Settings {
        model,
        device,
        interval_ms,
        workers,
        open_timeout_s,
        max_pending,
        token_check_share,
        model_id,
        replay_sampled,
        replay_tolerance,
    } = live.unwrap_or_else(|| assay_verify::Settings::new("models/reference".into()));
    assay_verify::Settings {
        model,
        device,
        interval_ms,
        workers,
        open_timeout_s,
        max_pending,
        token_check_share,
        model_id: model_id.or_else(|| Some("Qwen/Qwen2.5-7B-Instruct".into())),
        replay_sampled,
        replay_tolerance,
    }
}

/// The competition's settings (the live ones, or an example), every optional key set.
fn competition_with_every_key(
    live: Option<crate::competition::CompetitionConfig>,
) -> crate::competition::CompetitionConfig {
    let crate::competition::CompetitionConfig {
        baseline_url,
        baseline_api_key_env,
        baseline_model,
        prompts_per_task,
        warmup,
        prompt_chars,
        max_tokens,
        tasks,
    } = live.unwrap_or_else(|| crate::competition::CompetitionConfig::new("http://127.0.0.1:8100"));
    crate::competition::CompetitionConfig {
        baseline_url,
        baseline_api_key_env: baseline_api_key_env.or_else(|| Some("ASSAY_BASELINE_API_KEY".into())),
        baseline_model: baseline_model.or_else(|| Some("Qwen/Qwen2.5-7B-Instruct".into())),
        prompts_per_task,
        warmup,
        prompt_chars,
        max_tokens,
        tasks: if tasks.is_empty() { vec!["chat".into()] } else { tasks },
    }
}

impl Config {
    /// Verification against the reference model in `model`, every other `[verify]` key at its
    /// default (for tools that name no verifier type, as `assay init`).
    pub fn verify_with(&mut self, model: PathBuf) {
        self.verify = Some(assay_verify::Settings::new(model));
    }
}

fn as_table(config: &Config) -> Result<Table, ConfigError> {
    Table::from_str(&config.to_toml()?).map_err(|e| ConfigError::Write(e.to_string()))
}

/// `text` as `# ` lines of at most [`WIDTH`] characters.
fn comment(out: &mut String, indent: &str, text: &str) {
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + word.len() + 3 > WIDTH {
            let _ = writeln!(out, "{indent}# {line}");
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        let _ = writeln!(out, "{indent}# {line}");
    }
}

fn key_text(key: &str) -> String {
    let bare = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare { key.to_string() } else { Value::String(key.to_string()).to_string() }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

fn array_of_tables(value: &Value) -> Option<&Vec<Value>> {
    value.as_array().filter(|items| !items.is_empty() && items.iter().all(Value::is_table))
}

/// The keys of one table: its values first, then its tables (TOML's order), each explained;
/// a key only `example` has is commented out.
fn entries(out: &mut String, path: &str, live: Option<&Table>, example: Option<&Table>) {
    let kind = |t: Option<&Table>| t.and_then(|t| t.get("kind")).and_then(Value::as_str).map(str::to_string);
    if let (Some(a), Some(b)) = (kind(live), kind(example))
        && a != b
    {
        entries(out, path, live, None);
        let _ = writeln!(out, "\n# Or, for kind = {:?}:", b);
        return entries(out, path, None, example);
    }
    // An empty array of tables (`keys = []`) is left out, so the example's show instead.
    let live_table = live.map(|t| {
        let mut t = t.clone();
        t.retain(|k, v| !(v.as_array().is_some_and(Vec::is_empty) && example.and_then(|e| e.get(k)).is_some()));
        t
    });
    let live = live_table.as_ref();
    let mut keys: Vec<&String> = live.into_iter().chain(example).flat_map(Table::keys).collect();
    keys.sort_by_key(|k| (rank(&join(path, k)), k.to_string()));
    keys.dedup();
    let value_of = |k: &str| live.and_then(|t| t.get(k)).or_else(|| example.and_then(|t| t.get(k)));
    let is_section = |v: &Value| v.is_table() || array_of_tables(v).is_some();
    for key in keys.iter().filter(|k| value_of(k).is_some_and(|v| !is_section(v))) {
        let full = join(path, key);
        comment(out, "", note(&full).unwrap_or("(not explained)"));
        let (mark, value) = match live.and_then(|t| t.get(key.as_str())) {
            Some(v) => ("", v),
            None => ("# ", value_of(key).unwrap_or(&Value::Boolean(false))),
        };
        let _ = writeln!(out, "{mark}{} = {value}", key_text(key));
    }
    for key in keys.iter().filter(|k| value_of(k).is_some_and(is_section)) {
        let full = join(path, key);
        let sub = |t: Option<&Table>| t.and_then(|t| t.get(key.as_str())).cloned();
        section(out, &full, sub(live), sub(example));
    }
}

/// One `[table]` or `[[array]]` with its note and entries.
fn section(out: &mut String, full: &str, live: Option<Value>, example: Option<Value>) {
    out.push('\n');
    comment(out, "", note(full).unwrap_or("(not explained)"));
    let mark = if live.is_some() { "" } else { "# " };
    let items = |v: &Option<Value>| v.as_ref().and_then(array_of_tables).cloned().unwrap_or_default();
    if live.as_ref().or(example.as_ref()).is_some_and(|v| array_of_tables(v).is_some()) {
        let (shown, commented) = if live.is_some() { (items(&live), false) } else { (items(&example), true) };
        for item in shown {
            let _ = writeln!(out, "{}[[{full}]]", if commented { "# " } else { "" });
            let table = item.as_table();
            entries(out, full, table.filter(|_| !commented), table.filter(|_| commented));
        }
        return;
    }
    let _ = writeln!(out, "{mark}[{full}]");
    let live = live.as_ref().and_then(Value::as_table);
    let example = example.as_ref().and_then(Value::as_table);
    if FREE_MAPS.contains(&full) {
        free_map(out, live, example);
    } else {
        entries(out, full, live, example);
    }
}

/// A table of the operator's own names: the live entries, or the example's commented out.
fn free_map(out: &mut String, live: Option<&Table>, example: Option<&Table>) {
    let (table, mark) = match live.filter(|t| !t.is_empty()) {
        Some(t) => (t, ""),
        None => match example {
            Some(t) => (t, "# "),
            None => return,
        },
    };
    for (key, value) in table {
        let _ = writeln!(out, "{mark}{} = {value}", key_text(key));
    }
}

#[cfg(test)]
mod tests {
    use super::super::notes::NOTES;
    use super::*;

    /// Every dotted key a table holds (arrays of tables by their name, free maps not entered).
    fn keys_of(path: &str, table: &Table, into: &mut Vec<String>) {
        for (key, value) in table {
            let full = join(path, key);
            into.push(full.clone());
            if FREE_MAPS.contains(&full.as_str()) {
                continue;
            }
            if let Some(t) = value.as_table() {
                keys_of(&full, t, into);
            }
            for item in array_of_tables(value).into_iter().flatten() {
                keys_of(&full, item.as_table().expect("a table"), into);
            }
        }
    }

    /// Both kinds of chain and publication, every optional key set.
    fn every_key() -> Vec<String> {
        let local = Config::local(1, None, "validator", "default");
        let mut keys = Vec::new();
        for config in [local.with_every_key(), local.with_every_key().with_every_key()] {
            keys_of("", &as_table(&config).expect("serializes"), &mut keys);
        }
        keys.sort();
        keys.dedup();
        keys
    }

    #[test]
    fn every_key_the_config_serializes_is_explained_and_every_note_is_a_key() {
        let keys = every_key();
        let unexplained: Vec<&String> = keys.iter().filter(|k| note(k).is_none()).collect();
        assert!(unexplained.is_empty(), "keys with no line in config/notes.rs: {unexplained:?}");
        let stale: Vec<&str> = NOTES.iter().map(|(k, _)| *k).filter(|k| !keys.iter().any(|x| x == k)).collect();
        assert!(stale.is_empty(), "lines in config/notes.rs for keys the config no longer has: {stale:?}");
    }

    #[test]
    fn the_commented_file_parses_back_to_the_config_and_names_every_key() {
        let mut with_gateway = Config::local(3, Some("wallets".into()), "v", "h");
        with_gateway.chain = ChainConfig::subtensor("test");
        with_gateway.gateway = Some(assay_gateway::Settings::new("0.0.0.0:8000", "m"));
        with_gateway.policy.params.insert("rate".into(), 0.5);
        for config in [Config::local(1, None, "validator", "default"), with_gateway] {
            let text = config.to_commented_toml("A test.").expect("renders");
            assert_eq!(Config::parse(&text).expect("parses"), config, "{text}");
            let uncommented: String = text.lines().map(|l| l.trim_start_matches("# ")).collect::<Vec<_>>().join("\n");
            // Each key as a `key = ` line (set or commented out) or a `[section]` header of its own.
            for key in every_key() {
                let last = key.rsplit('.').next().expect("a key");
                let shown = uncommented.lines().any(|l| {
                    l.strip_prefix(last).is_some_and(|rest| rest.starts_with(" = "))
                        || l == format!("[{key}]")
                        || l == format!("[[{key}]]")
                });
                assert!(shown, "{key} has no `{last} = ` line nor a [{key}] header in the file:\n{text}");
            }
            assert!(!text.contains("(not explained)"), "{text}");
            assert!(uncommented.contains("[[gateway.keys]]"), "{text}");
        }
    }
}
