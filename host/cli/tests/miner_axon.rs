//! `assay miner --serve-axon` on a local chain: a registered miner announces where it really
//! listens (the port it was given, 0 here, resolved), and answers there; one the subnet does
//! not list is refused before its model loads; `--metrics-addr` serves its requests' counts.
//! (On subtensor: host/cli/tests/chopsticks_e2e.rs.)

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use assay_chain::LocalChain;
use assay_keys::{Hotkey, Scheme};
use common::{Killed, assay, run};

const VALIDATOR: &str = "5EHgWw2Af1pnoc7f1A8bfmM97W3DAYW8xr82RfhLL9oAabAe";

/// A folder with the miner's wallet (`wallets/m/hotkeys/h`), a tiny model and a local chain of
/// netuid 1 listing `neurons` (uid = index).
fn miner_dir(neurons: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let listed: Vec<String> =
        neurons.iter().enumerate().map(|(uid, hk)| format!(r#"{{"uid": {uid}, "hotkey": "{hk}"}}"#)).collect();
    let metagraph = format!(r#"{{"netuid": 1, "neurons": [{}]}}"#, listed.join(","));
    std::fs::write(dir.path().join("metagraph.json"), metagraph).expect("writes");
    let seed = "42".repeat(32);
    for args in [
        &["wallet", "create", "--root", "wallets", "--wallet", "m", "--hotkey", "h", "--seed", &seed][..],
        &["chain", "init", "--dir", "chain", "--metagraph", "metagraph.json"],
    ] {
        let (code, text) = run(assay().args(args).current_dir(dir.path()));
        assert_eq!(code, 0, "assay {args:?}: {text}");
    }
    dir
}

fn miner_hotkey() -> String {
    Hotkey::from_seed(Scheme::Sr25519, [0x42; 32]).expect("key").ss58()
}

const MINER_FLAGS: [&str; 10] = [
    "miner",
    "--wallet.path",
    "wallets",
    "--wallet.name",
    "m",
    "--wallet.hotkey",
    "h",
    "--chain-dir",
    "chain",
    "--serve-axon",
];

/// The axon the local chain lists for uid 1, once it lists one (within `limit`).
fn wait_for_axon(chain_dir: &Path, limit: Duration, miner: &mut Killed) -> String {
    let chain = LocalChain::open(chain_dir).expect("opens the chain");
    let deadline = Instant::now() + limit;
    loop {
        let metagraph = chain.read_metagraph(1).expect("reads the metagraph");
        if let Some(axon) = &metagraph.neurons[1].axon {
            return axon.clone();
        }
        if let Ok(Some(status)) = miner.0.try_wait() {
            panic!("the miner exited ({status}) before announcing its axon");
        }
        assert!(Instant::now() < deadline, "no axon announced within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `GET /assay/v1/info` at `axon` (`http://host:port`): the status line and the body.
fn info(axon: &str) -> String {
    get(axon, "/assay/v1/info")
}

/// `GET path` at `base` (`http://host:port`): the whole answer.
fn get(base: &str, path: &str) -> String {
    let address = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).expect("the announced address answers");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").expect("writes");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("reads");
    answer
}

#[test]
fn a_registered_miner_announces_where_it_listens() {
    let miner = miner_hotkey();
    let dir = miner_dir(&[VALIDATOR, &miner]);
    let (code, text) = run(assay().args(["engine", "tiny", "--out", "model"]).current_dir(dir.path()));
    assert_eq!(code, 0, "{text}");
    let child = assay()
        .args(MINER_FLAGS)
        .args(["--model", "model", "--device", "cpu", "--port", "0", "--metrics-addr", "127.0.0.1:0"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts the miner");
    let mut running = Killed(child);
    let stdout = running.0.stdout.take().expect("stdout");
    let (printed, metrics_url) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("metrics: ") {
                let _ = printed.send(url.to_string());
            }
        }
    });
    let axon = wait_for_axon(&dir.path().join("chain"), Duration::from_secs(60), &mut running);
    assert!(axon.starts_with("http://127.0.0.1:") && !axon.ends_with(":0"), "the bound port: {axon}");
    let answer = info(&axon);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"model\":\"model\""), "the miner itself answers there: {answer}");
    // Its metrics count that request, and the next.
    let url = metrics_url.recv_timeout(Duration::from_secs(10)).expect("the metrics address is printed");
    let base = url.trim_end_matches("/metrics");
    let info_200 = "assay_miner_requests_total{route=\"info\",status=\"200\"}";
    let first = get(base, "/metrics");
    assert!(first.contains(&format!("{info_200} 1\n")), "{first}");
    info(&axon);
    let second = get(base, "/metrics");
    assert!(second.contains(&format!("{info_200} 2\n")), "{second}");
    assert!(second.contains("assay_miner_store_bytes"), "{second}");
    // Only the miner's own neuron changed.
    let metagraph = LocalChain::open(&dir.path().join("chain")).expect("opens").read_metagraph(1).expect("reads");
    assert_eq!(metagraph.neurons[0].axon, None);
}

#[test]
fn a_miner_the_subnet_does_not_list_is_refused_before_its_model_loads() {
    let dir = miner_dir(&[VALIDATOR]);
    // No model at all: the refusal must come first.
    let (code, text) = run(assay().args(MINER_FLAGS).args(["--model", "no-such-model"]).current_dir(dir.path()));
    assert_eq!(code, 2, "{text}");
    let expected = format!("hotkey {} is not registered on subnet 1 of the local chain", miner_hotkey());
    assert!(text.contains(&expected), "{text}");
    assert!(text.contains("register it first"), "{text}");

    let (code, text) = run(assay().args(["miner", "--model", "m", "--allow-any-signer", "--serve-axon"]));
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("--serve-axon needs a chain"), "{text}");
}
