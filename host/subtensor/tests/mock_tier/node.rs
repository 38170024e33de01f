//! A subtensor node made of subxt-rpcs' `MockRpcClient`: it serves the committed finney
//! metadata and answers storage reads and runtime calls with the SCALE fixtures of
//! `scripts/make-subtensor-fixtures.sh`; submitted extrinsics are recorded, put in the next
//! block, and given the fixture's events.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use assay_keys::{Hotkey, Scheme};
use assay_subtensor::{SubtensorChain, Timeouts};
use serde_json::{Value, json};
use subxt::ext::codec::{Compact, Encode};
use subxt_rpcs::client::MockRpcClient;
use subxt_rpcs::client::mock_rpc_client::Json;

pub const METADATA: &[u8] = include_bytes!("../../metadata/finney-spec365.scale");
const FIXTURES: &str = include_str!("../fixtures/finney.json");
/// `twox128("System") ++ twox128("Events")`.
const EVENTS_KEY: &str = "0x26aa394eea5630e07c48ae0c9558cef780d41e5e16056765bc8461851072c9d7";

pub fn fixtures() -> Value {
    serde_json::from_str(FIXTURES).expect("the fixtures parse")
}

pub fn hex_bytes(v: &Value) -> Vec<u8> {
    let s = v.as_str().unwrap_or_else(|| panic!("{v} is a hex string"));
    hex::decode(s.trim_start_matches("0x")).expect("hex")
}

/// A key of the fixtures, as assay loads it; checked against the SDK's public key.
pub fn hotkey(f: &Value, name: &str) -> Hotkey {
    let seed: [u8; 32] = hex_bytes(&f["keys"][name]["seed"]).try_into().expect("32 bytes");
    let hotkey = Hotkey::from_seed(Scheme::Sr25519, seed).expect("a key");
    assert_eq!(hotkey.public().bytes.to_vec(), hex_bytes(&f["keys"][name]["public"]), "{name}: same key as the SDK");
    assert_eq!(hotkey.ss58(), f["keys"][name]["ss58"].as_str().expect("ss58"));
    hotkey
}

pub fn ss58(f: &Value, name: &str) -> String {
    f["keys"][name]["ss58"].as_str().expect("ss58").to_string()
}

const GENESIS: &str = "0x1111111111111111111111111111111111111111111111111111111111111111";
const HEAD: &str = "0x2222222222222222222222222222222222222222222222222222222222222222";
const NEXT: &str = "0x3333333333333333333333333333333333333333333333333333333333333333";

/// What the mock node holds and saw.
#[derive(Clone)]
pub struct MockNode {
    fixtures: Value,
    storage: Arc<Mutex<HashMap<String, String>>>,
    /// Runtime API results by method name (the fixture's, unless a test replaces them).
    apis: Arc<Mutex<HashMap<String, String>>>,
    /// Submitted extrinsics, in order.
    pub submitted: Arc<Mutex<Vec<Vec<u8>>>>,
    metadata: Arc<Vec<u8>>,
    head: u64,
}

impl MockNode {
    /// A node holding the fixture storage items named in `items`.
    pub fn new(items: &[&str]) -> Self {
        let f = fixtures();
        let head = f["head"].as_u64().expect("head");
        let node = Self {
            fixtures: f,
            storage: Default::default(),
            apis: Default::default(),
            submitted: Default::default(),
            metadata: Arc::new(METADATA.to_vec()),
            head,
        };
        for item in items {
            node.hold(item);
        }
        node.set_events("success");
        for (name, api) in node.fixtures["runtime_api"].as_object().expect("apis") {
            node.apis.lock().expect("lock").insert(name.clone(), api["result"].as_str().expect("hex").to_string());
        }
        node
    }

    /// Holds the fixture storage item `name` (or removes its key when its value is null).
    pub fn hold(&self, name: &str) {
        let item = &self.fixtures["storage"][name];
        let key = item["key"].as_str().unwrap_or_else(|| panic!("no storage fixture {name}")).to_lowercase();
        let mut storage = self.storage.lock().expect("lock");
        match item["value"].as_str() {
            Some(value) => storage.insert(key, value.to_string()),
            None => storage.remove(&key),
        };
    }

    /// The System.Events the next block holds: the fixture's `name` events.
    pub fn set_events(&self, name: &str) {
        let events = self.fixtures["events"][name].as_str().expect("events fixture").to_string();
        self.storage.lock().expect("lock").insert(EVENTS_KEY.into(), events);
    }

    /// Serves `metadata` instead of finney's (a runtime without some API).
    pub fn with_metadata(mut self, metadata: Vec<u8>) -> Self {
        self.metadata = Arc::new(metadata);
        self
    }

    fn header(&self, hash: &str) -> Value {
        let number = match hash {
            GENESIS => 0,
            HEAD => self.head,
            _ => self.head + 1,
        };
        json!({"parentHash": GENESIS, "number": format!("0x{number:x}"), "stateRoot": GENESIS,
            "extrinsicsRoot": GENESIS, "digest": {"logs": []}})
    }

    fn state_call(&self, method: &str, data: &str) -> Option<String> {
        let f = &self.fixtures;
        Some(match method {
            "Core_version" => f["runtime_version"].as_str()?.to_string(),
            "Metadata_metadata_versions" => format!("0x{}", hex::encode(vec![14u32, 15, 16].encode())),
            "Metadata_metadata_at_version" => {
                let mut out = vec![1u8];
                Compact(self.metadata.len() as u32).encode_to(&mut out);
                out.extend_from_slice(&self.metadata);
                format!("0x{}", hex::encode(out))
            }
            "AccountNonceApi_account_nonce" => f["nonce"].as_str()?.to_string(),
            "SubnetInfoRuntimeApi_get_metagraph"
            | "NeuronInfoRuntimeApi_get_neurons_lite"
            | "AuraApi_slot_duration" => {
                let name = method.split_once('_')?.1;
                // Another subnet: None / no neurons.
                if name != "slot_duration" && data != f["runtime_api"][name]["args"].as_str()? {
                    return Some("0x00".into());
                }
                self.apis.lock().ok()?.get(name)?.clone()
            }
            _ => return None,
        })
    }

    fn answer(&self, method: &str, params: &[Value]) -> Option<Value> {
        let param = |i: usize| params.get(i).and_then(|p| p.as_str()).unwrap_or_default().to_lowercase();
        Some(match method {
            "chain_getBlockHash" => match params.first().and_then(Value::as_u64) {
                Some(0) => json!(GENESIS),
                _ => json!(HEAD),
            },
            "chain_getFinalizedHead" => json!(HEAD),
            "chain_getHeader" => self.header(&param(0)),
            "chain_getBlock" => {
                let extrinsics: Vec<String> =
                    self.submitted.lock().ok()?.last().map(|x| format!("0x{}", hex::encode(x))).into_iter().collect();
                json!({"block": {"header": self.header(&param(0)), "extrinsics": extrinsics}, "justifications": null})
            }
            "state_call" => json!(self.state_call(params.first()?.as_str()?, &param(1))?),
            "state_getStorage" => match self.storage.lock().ok()?.get(&param(0)) {
                Some(v) => json!(v),
                None => Value::Null,
            },
            _ => return None,
        })
    }

    /// The RPC client answering as this node.
    pub fn client(&self) -> MockRpcClient {
        let node = self.clone();
        let watcher = self.clone();
        MockRpcClient::builder()
            .method_fallback(move |method, params| {
                let params: Vec<Value> =
                    params.map(|p| serde_json::from_str(p.get()).expect("json")).unwrap_or_default();
                let answer = node.answer(&method, &params);
                async move { answer.map(Json) }
            })
            .subscription_handler("author_submitAndWatchExtrinsic", move |params, _unsub| {
                let params: Vec<Value> =
                    params.map(|p| serde_json::from_str(p.get()).expect("json")).unwrap_or_default();
                watcher.submitted.lock().expect("lock").push(hex_bytes(&params[0]));
                async move { vec![Json(json!("ready")), Json(json!({"inBlock": NEXT}))] }
            })
            .build()
    }

    /// A chain client over this node, signing as `hotkey`.
    pub async fn chain(&self, hotkey: Option<Hotkey>) -> SubtensorChain {
        SubtensorChain::over(self.client(), "mock node".into(), hotkey, quick()).await.expect("connects to the mock")
    }
}

/// Timeouts short enough for tests.
pub fn quick() -> Timeouts {
    let s = std::time::Duration::from_secs(5);
    Timeouts { connect: s, request: s, inclusion: s }
}
