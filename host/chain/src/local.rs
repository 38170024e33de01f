//! A chain in a folder, for development and `assay devnet`:
//! - `metagraph.json`: the subnet's neurons (edited by hand or by `assay devnet`);
//! - `genesis.json`: the wall-clock start; blocks advance every `block_seconds` from it;
//! - `weights.jsonl`: one line per accepted `set_weights`, appended and synced;
//! - `commitments.jsonl`: one line per `set_commitment` (the last one per hotkey holds).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tracing::info;

use crate::{Axon, Chain, Commitment, Epochs, Error, Metagraph, Result, WeightsCall, check_commitment_fields};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Genesis {
    unix_ms: u64,
    block_seconds: f64,
}

/// One line of `weights.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeightsEntry {
    pub block: u64,
    pub validator: String,
    #[serde(flatten)]
    pub call: WeightsCall,
}

/// One line of `commitments.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommitmentEntry {
    pub netuid: u16,
    pub hotkey: String,
    #[serde(flatten)]
    pub commitment: Commitment,
}

#[derive(Debug, Clone)]
pub struct LocalChain {
    dir: PathBuf,
    genesis: Genesis,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io { context, source }
}

impl LocalChain {
    /// Creates a chain in `dir` with `metagraph`, starting now, or fails if one is there.
    pub fn create(dir: &Path, metagraph: &Metagraph, block_seconds: f64) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
        let genesis = Genesis { unix_ms: now_ms(), block_seconds };
        let chain = Self { dir: dir.to_path_buf(), genesis };
        let write = |name: &str, bytes: Vec<u8>| {
            let path = chain.dir.join(name);
            std::fs::write(&path, bytes).map_err(io(format!("writing {}", path.display())))
        };
        write("genesis.json", serde_json::to_vec_pretty(&chain.genesis).unwrap_or_default())?;
        chain.write_metagraph(metagraph)?;
        write("weights.jsonl", Vec::new())?;
        Ok(chain)
    }

    /// Opens the chain in `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        let path = dir.join("genesis.json");
        let bytes = std::fs::read(&path).map_err(io(format!("reading {} (create the chain first)", path.display())))?;
        let genesis: Genesis = serde_json::from_slice(&bytes)
            .map_err(|e| Error::BadMetagraph { path: path.display().to_string(), reason: e.to_string() })?;
        if !genesis.block_seconds.is_finite() || genesis.block_seconds <= 0.0 {
            return Err(Error::BadMetagraph {
                path: path.display().to_string(),
                reason: "block_seconds must be positive".into(),
            });
        }
        Ok(Self { dir: dir.to_path_buf(), genesis })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Replaces the metagraph (atomically), as a registration would.
    pub fn write_metagraph(&self, metagraph: &Metagraph) -> Result<()> {
        let path = self.dir.join("metagraph.json");
        let tmp = self.dir.join("metagraph.json.tmp");
        let bytes = serde_json::to_vec_pretty(metagraph).unwrap_or_default();
        std::fs::write(&tmp, bytes)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(io(format!("writing {}", path.display())))
    }

    /// Every accepted weights call, oldest first.
    pub fn weights_log(&self) -> Result<Vec<WeightsEntry>> {
        self.read_lines("weights.jsonl", false)
    }

    /// The JSON lines of `name`, oldest first; none when the file is absent and `may_be_absent`.
    fn read_lines<T: serde::de::DeserializeOwned>(&self, name: &str, may_be_absent: bool) -> Result<Vec<T>> {
        let path = self.dir.join(name);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if may_be_absent && e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(format!("reading {}", path.display()))(e)),
        };
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l)
                    .map_err(|e| Error::BadMetagraph { path: path.display().to_string(), reason: e.to_string() })
            })
            .collect()
    }
}

impl LocalChain {
    /// The block wall-clock time has reached.
    pub fn block_now(&self) -> u64 {
        let elapsed_s = now_ms().saturating_sub(self.genesis.unix_ms) as f64 / 1000.0;
        (elapsed_s / self.genesis.block_seconds) as u64
    }

    /// The metagraph file, checked.
    pub fn read_metagraph(&self, netuid: u16) -> Result<Metagraph> {
        let path = self.dir.join("metagraph.json");
        let bytes = std::fs::read(&path).map_err(io(format!("reading {}", path.display())))?;
        let bad = |reason: String| Error::BadMetagraph { path: path.display().to_string(), reason };
        let metagraph: Metagraph = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        if metagraph.netuid != netuid {
            return Err(Error::UnknownSubnet { netuid, served: metagraph.netuid });
        }
        let mut uids: Vec<u16> = metagraph.neurons.iter().map(|n| n.uid).collect();
        uids.sort_unstable();
        if uids.windows(2).any(|w| w[0] == w[1]) {
            return Err(bad("a uid is listed twice".into()));
        }
        Ok(metagraph)
    }

    /// Appends one JSON line to `name`, synced.
    fn append_line(&self, name: &str, value: &impl Serialize) -> Result<()> {
        let path = self.dir.join(name);
        let mut line = serde_json::to_vec(value).unwrap_or_default();
        line.push(b'\n');
        let append = || -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new().append(true).create(true).open(&path)?;
            f.write_all(&line)?;
            f.sync_all()
        };
        append().map_err(io(format!("appending to {}", path.display())))
    }

    /// Every commitment made, oldest first (none before the first).
    pub fn commitments_log(&self) -> Result<Vec<CommitmentEntry>> {
        self.read_lines("commitments.jsonl", true)
    }

    fn registered(&self, netuid: u16, hotkey: &str) -> Result<Metagraph> {
        let metagraph = self.read_metagraph(netuid)?;
        if !metagraph.neurons.iter().any(|n| n.hotkey == hotkey) {
            return Err(Error::NotRegistered { hotkey: hotkey.to_string(), netuid });
        }
        Ok(metagraph)
    }

    fn write_axon(&self, hotkey: &str, netuid: u16, axon: &Axon) -> Result<u64> {
        let mut metagraph = self.registered(netuid, hotkey)?;
        for n in metagraph.neurons.iter_mut().filter(|n| n.hotkey == hotkey) {
            n.axon = Some(axon.url());
        }
        self.write_metagraph(&metagraph)?;
        info!(netuid, hotkey, axon = %axon.url(), "axon served on the local chain");
        Ok(self.block_now())
    }

    fn append_commitment(&self, hotkey: &str, netuid: u16, fields: &[String]) -> Result<u64> {
        check_commitment_fields(fields)?;
        self.registered(netuid, hotkey)?;
        let block = self.block_now();
        let commitment = Commitment { block, fields: fields.to_vec() };
        self.append_line("commitments.jsonl", &CommitmentEntry { netuid, hotkey: hotkey.to_string(), commitment })?;
        info!(netuid, hotkey, block, "commitment set on the local chain");
        Ok(block)
    }

    fn append_weights(&self, validator_hotkey: &str, call: &WeightsCall) -> Result<u64> {
        if call.uids.len() != call.weights.len() {
            return Err(Error::Refused(format!("{} uids but {} weights", call.uids.len(), call.weights.len())));
        }
        let metagraph = self.read_metagraph(call.netuid)?;
        if let Some(uid) = call.uids.iter().find(|u| !metagraph.neurons.iter().any(|n| n.uid == **u)) {
            return Err(Error::Refused(format!("uid {uid} is not registered on subnet {}", call.netuid)));
        }
        let block = self.block_now();
        let entry = WeightsEntry { block, validator: validator_hotkey.to_string(), call: call.clone() };
        self.append_line("weights.jsonl", &entry)?;
        info!(netuid = call.netuid, block, uids = call.uids.len(), "weights set on the local chain");
        Ok(block)
    }
}

#[async_trait::async_trait]
impl Chain for LocalChain {
    async fn current_block(&self) -> Result<u64> {
        Ok(self.block_now())
    }

    async fn metagraph(&self, netuid: u16) -> Result<Metagraph> {
        self.read_metagraph(netuid)
    }

    async fn set_weights(&self, validator_hotkey: &str, call: &WeightsCall) -> Result<u64> {
        self.append_weights(validator_hotkey, call)
    }

    async fn weights_accepted_since(
        &self,
        validator_hotkey: &str,
        call: &WeightsCall,
        since: u64,
    ) -> Result<Option<u64>> {
        Ok(self
            .weights_log()?
            .into_iter()
            .filter(|e| e.validator == validator_hotkey && e.call == *call && e.block >= since)
            .map(|e| e.block)
            .max())
    }

    async fn epochs(&self, _netuid: u16) -> Result<Option<Epochs>> {
        Ok(None)
    }

    async fn serve_axon(&self, hotkey: &str, netuid: u16, axon: &Axon) -> Result<u64> {
        self.write_axon(hotkey, netuid, axon)
    }

    async fn set_commitment(&self, hotkey: &str, netuid: u16, fields: &[String]) -> Result<u64> {
        self.append_commitment(hotkey, netuid, fields)
    }

    async fn commitment(&self, netuid: u16, hotkey: &str) -> Result<Option<Commitment>> {
        Ok(self
            .commitments_log()?
            .into_iter()
            .filter(|e| e.netuid == netuid && e.hotkey == hotkey)
            .map(|e| e.commitment)
            .next_back())
    }

    fn describe(&self) -> String {
        format!("local chain in {}", self.dir.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Neuron;

    fn metagraph() -> Metagraph {
        Metagraph {
            netuid: 7,
            neurons: (0..3)
                .map(|uid| Neuron {
                    uid,
                    hotkey: format!("hk{uid}"),
                    stake: 0,
                    validator_permit: false,
                    axon: None,
                    registered_at_block: 0,
                    coldkey: None,
                    last_update: 0,
                    capacities: Default::default(),
                })
                .collect(),
            owner_hotkey: Some("hk0".into()),
        }
    }

    #[test]
    fn metagraph_blocks_and_weights() {
        let dir = tempfile::tempdir().expect("tempdir");
        let chain = LocalChain::create(dir.path(), &metagraph(), 0.01).expect("creates");
        let chain2 = LocalChain::open(dir.path()).expect("opens");
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        assert_eq!(rt.block_on(chain2.metagraph(7)).expect("reads"), metagraph());
        assert!(matches!(rt.block_on(chain.metagraph(8)), Err(Error::UnknownSubnet { .. })));

        let b0 = chain.block_now();
        std::thread::sleep(std::time::Duration::from_millis(30));
        assert!(rt.block_on(chain.current_block()).expect("block") > b0);

        let call = WeightsCall { netuid: 7, uids: vec![0, 2], weights: vec![65535, 100], version_key: 1 };
        let since = chain.block_now();
        assert_eq!(rt.block_on(chain.weights_accepted_since("validator", &call, since)).expect("reads"), None);
        let at = rt.block_on(chain.set_weights("validator", &call)).expect("accepted");
        assert_eq!(rt.block_on(chain.weights_accepted_since("validator", &call, since)).expect("reads"), Some(at));
        assert_eq!(rt.block_on(chain.weights_accepted_since("other", &call, since)).expect("reads"), None);
        assert_eq!(rt.block_on(chain.weights_accepted_since("validator", &call, at + 1)).expect("reads"), None);
        let other = WeightsCall { weights: vec![65535, 101], ..call.clone() };
        assert_eq!(rt.block_on(chain.weights_accepted_since("validator", &other, since)).expect("reads"), None);
        let refused = WeightsCall { uids: vec![9], weights: vec![1], ..call.clone() };
        assert!(matches!(rt.block_on(chain.set_weights("validator", &refused)), Err(Error::Refused(_))));
        let mismatched = WeightsCall { uids: vec![0], weights: vec![], ..call.clone() };
        assert!(matches!(rt.block_on(chain.set_weights("validator", &mismatched)), Err(Error::Refused(_))));
        let log = chain2.weights_log().expect("log");
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].call, call);
        assert_eq!(log[0].validator, "validator");
    }

    #[test]
    fn axons_and_commitments() {
        let dir = tempfile::tempdir().expect("tempdir");
        let chain = LocalChain::create(dir.path(), &metagraph(), 0.01).expect("creates");
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let axon = Axon { ip: "127.0.0.1".parse().expect("ip"), port: 8091, protocol: 4 };
        rt.block_on(chain.serve_axon("hk1", 7, &axon)).expect("served");
        let m = rt.block_on(chain.metagraph(7)).expect("reads");
        assert_eq!(m.neurons[1].axon.as_deref(), Some("http://127.0.0.1:8091"));
        assert_eq!(m.neurons[0].axon, None);
        assert!(matches!(rt.block_on(chain.serve_axon("stranger", 7, &axon)), Err(Error::NotRegistered { .. })));
        let v6 = Axon { ip: "::1".parse().expect("ip"), port: 1, protocol: 4 };
        assert_eq!(v6.url(), "http://[::1]:1");

        assert_eq!(rt.block_on(chain.commitment(7, "hk0")).expect("reads"), None);
        let first = vec!["assay-policy:scorer:sha256:00".to_string()];
        let second = vec!["a".to_string(), "b".to_string()];
        rt.block_on(chain.set_commitment("hk0", 7, &first)).expect("committed");
        let at = rt.block_on(chain.set_commitment("hk0", 7, &second)).expect("committed");
        let held = rt.block_on(chain.commitment(7, "hk0")).expect("reads").expect("one");
        assert_eq!((held.block, held.fields), (at, second));
        assert_eq!(rt.block_on(chain.commitment(7, "hk1")).expect("reads"), None);
        assert_eq!(rt.block_on(chain.commitment(8, "hk0")).expect("reads"), None);
        for refused in [vec![], vec!["x".repeat(129)], vec![String::new(); 4]] {
            let e = rt.block_on(chain.set_commitment("hk0", 7, &refused)).expect_err("refused");
            assert!(matches!(e, Error::BadCommitment(_)), "{e}");
        }
        let e = rt.block_on(chain.set_commitment("stranger", 7, &first)).expect_err("refused");
        assert!(matches!(e, Error::NotRegistered { .. }));
        assert_eq!(rt.block_on(chain.epochs(7)).expect("reads"), None);
        assert_eq!(chain.commitments_log().expect("log").len(), 2);
    }

    #[test]
    fn duplicate_uids_and_bad_files_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut m = metagraph();
        m.neurons[1].uid = 0;
        let chain = LocalChain::create(dir.path(), &m, 12.0).expect("creates");
        assert!(chain.read_metagraph(7).unwrap_err().to_string().contains("twice"));
        std::fs::write(dir.path().join("metagraph.json"), "{").expect("writes");
        assert!(matches!(chain.read_metagraph(7), Err(Error::BadMetagraph { .. })));
        assert!(LocalChain::open(&dir.path().join("nowhere")).is_err());
    }
}
