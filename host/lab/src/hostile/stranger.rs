//! A stranger attacking the reference miners (issue #10, item 12): requests signed by a hotkey
//! no validator holds, asking for `commit: true` (each commitment takes room in the miner's store,
//! where the validator's own wait to be opened), openings of 50,000 points of its own commitments
//! (built under the store's lock), and unsigned requests. It counts what the miners let through;
//! once miners serve only validators, every count but `refused` stays at zero.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use assay_keys::{Hotkey, Scheme};
use assay_protocol::epistula;
use assay_protocol::wire::{OpenRequest, ResponseExtension};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_stream::StreamExt;

/// How hard the stranger pushes.
#[derive(Debug, Clone)]
pub struct StrangerSettings {
    /// The model the miners serve.
    pub model: String,
    /// Between two rounds (one miner each, in turn).
    pub every: Duration,
    /// Characters of each committed prompt (the tiny model spends a token per byte).
    pub prompt_chars: usize,
    /// Points asked in one opening.
    pub open_points: usize,
    /// One opening every this many rounds.
    pub open_every: u64,
}

impl StrangerSettings {
    pub fn new(model: &str) -> Self {
        Self {
            model: model.into(),
            every: Duration::from_secs(2),
            prompt_chars: 1000,
            open_points: 50_000,
            open_every: 5,
        }
    }
}

/// What the miners let the stranger do.
#[derive(Debug, Default)]
pub struct StrangerTally {
    pub commits_served: AtomicU64,
    pub opens_served: AtomicU64,
    /// Bytes of the openings served (read and dropped as they came).
    pub open_bytes: AtomicU64,
    pub unsigned_served: AtomicU64,
    /// Requests the miners refused (any status but 200).
    pub refused: AtomicU64,
    /// Requests that failed in transport (a miner that did not answer in 30 s counts here).
    pub failed: AtomicU64,
}

impl StrangerTally {
    pub fn describe(&self) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "commits served={} opens served={} ({:.1} MB) unsigned served={} refused={} failed={}",
            get(&self.commits_served),
            get(&self.opens_served),
            get(&self.open_bytes) as f64 / 1e6,
            get(&self.unsigned_served),
            get(&self.refused),
            get(&self.failed)
        )
    }
}

/// A miner the stranger attacks: `http://host:port` and its hotkey (SS58).
#[derive(Debug, Clone)]
pub struct Target {
    pub base_url: String,
    pub hotkey: String,
}

/// Attacks `targets` in turn until `stop`, counting into `tally`.
pub async fn run(
    targets: Vec<Target>,
    settings: StrangerSettings,
    tally: Arc<StrangerTally>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let stranger = Hotkey::generate(Scheme::Sr25519)?;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
    let mut round = 0u64;
    while !targets.is_empty() {
        let target = &targets[(round % targets.len() as u64) as usize];
        let attacker = Attacker { http: &http, stranger: &stranger, settings: &settings, tally: &tally };
        attacker.unsigned(target).await;
        let committed = attacker.commit(target).await;
        if let Some(ext) = committed.filter(|_| round.is_multiple_of(settings.open_every.max(1))) {
            attacker.open(target, &ext).await;
        }
        round += 1;
        tokio::select! {
            _ = tokio::time::sleep(settings.every) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
    }
    Ok(())
}

struct Attacker<'a> {
    http: &'a reqwest::Client,
    stranger: &'a Hotkey,
    settings: &'a StrangerSettings,
    tally: &'a StrangerTally,
}

impl Attacker<'_> {
    fn signed(&self, target: &Target, path: &str, body: Vec<u8>) -> reqwest::RequestBuilder {
        let signed = epistula::sign(self.stranger, &body, Some(&target.hotkey), crate::hostile::now_ms());
        let mut request =
            self.http.post(format!("{}{path}", target.base_url)).header("content-type", "application/json").body(body);
        for (name, value) in signed.headers() {
            request = request.header(name, value);
        }
        request
    }

    fn completion_body(&self, commit: bool) -> Vec<u8> {
        let prompt: String = "a stranger's words ".chars().cycle().take(self.settings.prompt_chars).collect();
        let request_id = format!("{:016x}", rand::random::<u64>());
        let nonce = format!("{:032x}", rand::random::<u128>());
        json!({"model": self.settings.model, "prompt": prompt, "max_tokens": 1, "temperature": 0,
               "assay": {"request_id": request_id, "nonce": nonce, "commit": commit}})
        .to_string()
        .into_bytes()
    }

    /// A completion without any signature: every miner must refuse it.
    async fn unsigned(&self, target: &Target) {
        let request = self
            .http
            .post(format!("{}/v1/completions", target.base_url))
            .header("content-type", "application/json")
            .body(self.completion_body(false));
        match request.send().await {
            Ok(r) if r.status().is_success() => self.count(&self.tally.unsigned_served),
            Ok(_) => self.count(&self.tally.refused),
            Err(_) => self.count(&self.tally.failed),
        }
    }

    /// A committed completion signed by the stranger; returns its evidence when served.
    async fn commit(&self, target: &Target) -> Option<ResponseExtension> {
        let response = match self.signed(target, "/v1/completions", self.completion_body(true)).send().await {
            Ok(r) => r,
            Err(_) => {
                self.count(&self.tally.failed);
                return None;
            }
        };
        if !response.status().is_success() {
            self.count(&self.tally.refused);
            return None;
        }
        self.count(&self.tally.commits_served);
        let body: Value = response.json().await.ok()?;
        serde_json::from_value(body["assay"].clone()).ok()
    }

    /// An opening of many points of the stranger's own commitment, read and dropped as it comes.
    async fn open(&self, target: &Target, ext: &ResponseExtension) {
        let positions = (ext.prompt_token_ids.len() + ext.completion_token_ids.len()).max(1) as u64;
        let states = (ext.leaf_count / positions).max(1);
        let points: Vec<[u32; 2]> = (0..self.settings.open_points as u64)
            .map(|i| [(i % states) as u32, ((i / states) % positions) as u32])
            .collect();
        let asked = OpenRequest { request_id: ext.request_id.clone(), points };
        let Ok(body) = serde_json::to_vec(&asked) else { return };
        let response = match self.signed(target, "/assay/v1/open", body).send().await {
            Ok(r) => r,
            Err(_) => return self.count(&self.tally.failed),
        };
        if !response.status().is_success() {
            return self.count(&self.tally.refused);
        }
        let mut stream = response.bytes_stream();
        while let Some(piece) = stream.next().await {
            match piece {
                Ok(piece) => {
                    self.tally.open_bytes.fetch_add(piece.len() as u64, Ordering::Relaxed);
                }
                Err(_) => return self.count(&self.tally.failed),
            }
        }
        self.count(&self.tally.opens_served);
    }

    fn count(&self, counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
