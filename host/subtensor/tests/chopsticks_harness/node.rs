//! One chopsticks process running subtensor spec 218 for one test (scripts/chopsticks.sh installs
//! it): started on a free loopback port, answering before it is handed out, killed when dropped,
//! and by its watchdog shell if the test process dies without dropping it.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use subxt::{OnlineClient, PolkadotConfig};
use subxt_rpcs::RpcClient;
use subxt_rpcs::client::rpc_params;

/// How long a chain may take to answer after it starts (measured ~4.5 s on 2 busy cores).
const START_TIMEOUT: Duration = Duration::from_secs(90);
/// Lines of the chain's output kept for a failing test's message.
const LOG_LINES: usize = 60;

/// Where the tier's pieces are, relative to the repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn installed_binary() -> PathBuf {
    std::env::var_os("ASSAY_CHOPSTICKS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/chopsticks/node_modules/.bin/chopsticks"))
}

fn chain_spec() -> PathBuf {
    std::env::var_os("ASSAY_CHOPSTICKS_SPEC")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/chain/subtensor-raonet-spec218.json"))
}

/// The binary and the spec, or why this tier cannot run here.
fn locate() -> Result<(PathBuf, PathBuf), String> {
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        return Err("node is not installed".into());
    }
    let binary = installed_binary();
    if !binary.exists() {
        return Err(format!("{} is missing: run scripts/chopsticks.sh install", binary.display()));
    }
    let spec = chain_spec();
    if !spec.exists() {
        return Err(format!("the chain spec {} is missing", spec.display()));
    }
    Ok((binary, spec))
}

/// The chopsticks process under its watchdog shell; dropping it kills both.
struct Process {
    shell: Child,
    /// Closing it tells the watchdog shell to kill chopsticks.
    watchdog: Option<ChildStdin>,
    log: Arc<Mutex<VecDeque<String>>>,
}

impl Process {
    fn log_tail(&self) -> String {
        self.log.lock().map(|l| l.iter().cloned().collect::<Vec<_>>().join("\n")).unwrap_or_default()
    }
}

/// A running chain; dropping it kills the process.
pub struct Chopsticks {
    process: Process,
    port: u16,
    rpc: RpcClient,
    /// From spawning to the first block built over RPC.
    pub started_in: Duration,
}

impl Chopsticks {
    /// Starts a chain, or returns `None` after printing why this tier is skipped (node, the
    /// install or the spec missing). With `ASSAY_REQUIRE_CHOPSTICKS=1` (the test command sets it
    /// after installing) a missing piece fails the test instead.
    pub async fn start() -> Option<Self> {
        let (binary, spec) = match locate() {
            Ok(found) => found,
            Err(reason) if std::env::var_os("ASSAY_REQUIRE_CHOPSTICKS").is_some_and(|v| v == "1") => {
                panic!("the chopsticks tier is required (ASSAY_REQUIRE_CHOPSTICKS=1) but {reason}")
            }
            Err(reason) => {
                eprintln!("skipped: {reason} (the real-runtime tier needs scripts/chopsticks.sh install)");
                return None;
            }
        };
        Some(Self::spawn(&binary, &spec).await)
    }

    async fn spawn(binary: &Path, spec: &Path) -> Self {
        let begun = Instant::now();
        // The shell runs chopsticks in the background and kills it when its stdin closes: on
        // drop, or when the test process dies, since the pipe's only writer is this process.
        let script =
            r#"exec 2>&1; "$0" "$@" </dev/null & chain=$!; read -r _; kill -KILL "$chain" 2>/dev/null; wait "$chain""#;
        let mut shell = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(binary)
            .arg("--genesis")
            .arg(spec)
            .args(["--build-block-mode", "Manual", "--mock-signature-host", "--host", "127.0.0.1", "--port", "0"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawns sh for chopsticks");
        let watchdog = shell.stdin.take();
        let stdout = shell.stdout.take().expect("piped stdout");
        let process = Process { shell, watchdog, log: Arc::new(Mutex::new(VecDeque::new())) };
        let (port_tx, port_rx) = tokio::sync::oneshot::channel();
        let reader_log = process.log.clone();
        std::thread::spawn(move || read_output(stdout, port_tx, reader_log));
        let port = match tokio::time::timeout(START_TIMEOUT, port_rx).await {
            Ok(Ok(port)) => port,
            Ok(Err(_)) => panic!("chopsticks exited before listening:\n{}", process.log_tail()),
            Err(_) => panic!("chopsticks did not listen within {START_TIMEOUT:?}:\n{}", process.log_tail()),
        };
        let url = format!("ws://127.0.0.1:{port}");
        let rpc = match RpcClient::from_insecure_url(&url).await {
            Ok(rpc) => rpc,
            Err(e) => panic!("connecting to chopsticks at {url}: {e}\n{}", process.log_tail()),
        };
        let mut chain = Self { process, port, rpc, started_in: Duration::ZERO };
        chain.first_block().await;
        chain.started_in = begun.elapsed();
        eprintln!("chopsticks answered on {url} after {:.1} s", chain.started_in.as_secs_f64());
        chain
    }

    /// Builds one block so that the chain is known to produce them. The block chopsticks builds
    /// by itself at start has once failed ("Timestamp slot must match CurrentSlot"), later ones
    /// built: one retry.
    async fn first_block(&self) {
        if let Err(first) = self.try_new_blocks(1).await {
            eprintln!("chopsticks' first block failed ({first}); retrying once");
            self.new_blocks(1).await;
        }
    }

    /// `ws://127.0.0.1:PORT`, for subxt and the node's config.
    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    pub fn rpc(&self) -> &RpcClient {
        &self.rpc
    }

    /// A subxt client on subxt's legacy backend (the `state_*`/`chain_*` methods). subxt's
    /// default backend follows the chain with `chainHead_v1_*`, which chopsticks 1.1 answers
    /// with no header for the very block it announced (`BlockHeaderNotFound`).
    pub async fn subxt(&self) -> OnlineClient<PolkadotConfig> {
        let backend = subxt::backend::LegacyBackend::builder().build(self.rpc.clone());
        OnlineClient::from_backend(Arc::new(backend)).await.expect("subxt reads the chain's metadata")
    }

    /// The last lines chopsticks printed.
    pub fn log_tail(&self) -> String {
        self.process.log_tail()
    }

    /// Calls `method`, failing the test with the chain's log on an error.
    pub async fn call<T: serde::de::DeserializeOwned>(&self, method: &str, params: Value) -> T {
        let mut rpc_params = subxt_rpcs::client::RpcParams::new();
        for p in params.as_array().cloned().unwrap_or_default() {
            rpc_params.push(p).expect("serializes");
        }
        match self.rpc.request(method, rpc_params).await {
            Ok(answer) => answer,
            Err(e) => panic!("{method} failed: {e}\nchopsticks said:\n{}", self.log_tail()),
        }
    }

    /// Writes storage the way chopsticks' `dev_setStorage` takes it:
    /// `{ "Pallet": { "Storage": value | [[keys, value], …] } }`, encoded by chopsticks from
    /// the runtime's metadata; applies to the head, so later blocks build on it.
    pub async fn set_storage(&self, storage: &Value) {
        let _: Value = self.call("dev_setStorage", json!([storage])).await;
    }

    pub async fn try_new_blocks(&self, count: u32) -> Result<String, subxt_rpcs::Error> {
        self.rpc.request("dev_newBlock", rpc_params![json!({ "count": count })]).await
    }

    /// Builds `count` blocks; returns the new head's number.
    pub async fn new_blocks(&self, count: u32) -> u64 {
        if let Err(e) = self.try_new_blocks(count).await {
            panic!("dev_newBlock failed: {e}\nchopsticks said:\n{}", self.log_tail());
        }
        self.head().await
    }

    /// Builds one block numbered `number` (past the head), skipping the ones between: how a
    /// test gets past a rate limit counted in blocks without building them all.
    pub async fn jump_to(&self, number: u64) -> u64 {
        let _: String = self.call("dev_newBlock", json!([{ "count": 1, "unsafeBlockHeight": number }])).await;
        self.head().await
    }

    /// The head's block number.
    pub async fn head(&self) -> u64 {
        let header: Value = self.call("chain_getHeader", json!([])).await;
        let number = header["number"].as_str().expect("a header's number");
        u64::from_str_radix(number.trim_start_matches("0x"), 16).expect("a hex block number")
    }

    /// Extrinsics waiting for a block.
    pub async fn pending_extrinsics(&self) -> usize {
        let pending: Vec<Value> = self.call("author_pendingExtrinsics", json!([])).await;
        pending.len()
    }

    /// A runtime API call's SCALE answer at the head (`state_call`).
    pub async fn state_call(&self, method: &str, args: &[u8]) -> Vec<u8> {
        let answer: String = self.call("state_call", json!([method, format!("0x{}", hex::encode(args))])).await;
        hex::decode(answer.trim_start_matches("0x")).expect("state_call answers hex")
    }
}

fn read_output(
    stdout: std::process::ChildStdout,
    port_tx: tokio::sync::oneshot::Sender<u16>,
    log: Arc<Mutex<VecDeque<String>>>,
) {
    let mut port_tx = Some(port_tx);
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if is_noise(&line) {
            continue;
        }
        if let Some(port) = listening_port(&line)
            && let Some(tx) = port_tx.take()
        {
            let _ = tx.send(port);
        }
        if let Ok(mut log) = log.lock() {
            if log.len() == LOG_LINES {
                log.pop_front();
            }
            log.push_back(line);
        }
    }
}

/// polkadot.js' warning about its duplicated packages, printed many times at start.
fn is_noise(line: &str) -> bool {
    line.starts_with("\tcjs ")
        || line.starts_with("@polkadot/")
        || line.starts_with("Either remove")
        || line.starts_with("The following conflicting")
}

/// The port in chopsticks' "RPC listening on http://127.0.0.1:PORT and ws://…" line.
fn listening_port(line: &str) -> Option<u16> {
    let rest = line.split("RPC listening on http://127.0.0.1:").nth(1)?;
    rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

impl Drop for Process {
    fn drop(&mut self) {
        // EOF on the watchdog's stdin: it kills chopsticks and waits for it.
        drop(self.watchdog.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.shell.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("chopsticks' watchdog did not exit within 10 s: killing it");
        let _ = self.shell.kill();
        let _ = self.shell.wait();
    }
}

/// Builds a block whenever extrinsics wait (checked every 100 ms), as a node would, until
/// dropped; chopsticks itself builds only on `dev_newBlock` (Manual mode), which keeps the
/// tests' other blocks where they put them.
pub struct BlockBuilder {
    task: tokio::task::JoinHandle<()>,
}

impl BlockBuilder {
    /// Also builds one block every `every`, when given, whether or not anything waits.
    pub fn start(chain: Arc<Chopsticks>, every: Option<Duration>) -> Self {
        let task = tokio::spawn(async move {
            let mut last = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let due = every.is_some_and(|every| last.elapsed() >= every);
                let pending: Result<Vec<Value>, _> = chain.rpc.request("author_pendingExtrinsics", rpc_params![]).await;
                if due || pending.is_ok_and(|p| !p.is_empty()) {
                    // A failed block is logged, not fatal: the test waiting on it times out
                    // with its own message, and the next tick tries again.
                    if let Err(e) = chain.try_new_blocks(1).await {
                        eprintln!("block builder: dev_newBlock failed: {e}");
                    }
                    last = Instant::now();
                }
            }
        });
        Self { task }
    }
}

impl Drop for BlockBuilder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[test]
fn the_listening_line_names_the_port() {
    let line = "[20:06:23.836] INFO: bittensor RPC listening on http://127.0.0.1:36511 and ws://127.0.0.1:36511";
    assert_eq!(listening_port(line), Some(36511));
    assert_eq!(listening_port("bittensor building #1"), None);
}
