//! What each key of `assay.toml` means, in the operator's words: the comments `assay init`
//! writes above every key. One table, checked against the config type by the tests below: a key
//! the config serializes without a line here (a new section, a new field) fails them, and so
//! does a line for a key that no longer exists.
//!
//! Must not touch: values or defaults (those come from serializing the config type).

/// `(dotted key, what it does)`, in the order `assay init` writes the keys. A key inside an
/// array of tables (`[[gateway.keys]]`) is named without an index (`gateway.keys.name`).
pub const NOTES: &[(&str, &str)] = &[
    ("netuid", "The subnet this validator serves."),
    (
        "data_dir",
        "Ledger, policy store and compiled-policy cache live here (relative paths are relative to this file).",
    ),
    ("epoch_blocks", "Blocks per epoch, where the chain has no schedule of its own (a subtensor subnet's tempo wins)."),
    ("version_key", "Sent with every set_weights; the subnet's owner says which."),
    (
        "tokenizer",
        "A model folder whose tokenizer.json turns miners' signed tokens into the text users must receive. \
         Absent: verify.model's; neither: relayed text is not checked.",
    ),
    ("wallet", "The validator's hotkey, in the Bittensor wallet layout (<root>/<name>/hotkeys/<hotkey>)."),
    ("wallet.root", "Folder of wallets. Absent: ~/.bittensor/wallets (or $BT_WALLET_PATH)."),
    ("wallet.name", "The wallet: its folder under wallet.root."),
    ("wallet.hotkey", "The hotkey: its file under <wallet>/hotkeys/. Create it with `assay wallet create`."),
    (
        "wallet.password_env",
        "An environment variable holding the password of an encrypted ($NACL) hotkey. Absent: asked on the \
         terminal, and only if the hotkey is encrypted.",
    ),
    ("chain", "The chain the validator reads the metagraph from and sets weights on."),
    (
        "chain.kind",
        "\"subtensor\": a Bittensor chain (network, timeouts); \"local\": a chain in a folder (dir), for trials \
         and the devnet (`assay chain init`).",
    ),
    ("chain.dir", "kind = \"local\": the chain's folder (genesis.json, metagraph.json)."),
    ("chain.metagraph_refresh_ms", "kind = \"local\": how often the metagraph is reread, in milliseconds."),
    (
        "chain.network",
        "kind = \"subtensor\": finney, test, local (ws://127.0.0.1:9944), or a node's ws:// or wss:// address.",
    ),
    ("chain.metagraph_refresh_blocks", "kind = \"subtensor\": how often the metagraph is reread, in blocks of 12 s."),
    ("chain.connect_timeout_ms", "kind = \"subtensor\": how long the first connection to the node may take."),
    (
        "chain.request_timeout_ms",
        "kind = \"subtensor\": how long a read (the head, the metagraph, a storage entry) may take.",
    ),
    (
        "chain.inclusion_timeout_ms",
        "kind = \"subtensor\": how long a submitted extrinsic (weights, an axon, a commitment) may take to be in a block.",
    ),
    ("publish", "Where every closed epoch's signed summary and input are published, for anyone to audit."),
    (
        "publish.kind",
        "\"local\": a folder laid out as the bucket would be; \"s3\": an S3-compatible bucket (R2, AWS S3).",
    ),
    ("publish.dir", "kind = \"local\": the folder."),
    ("publish.bucket", "kind = \"s3\": the bucket's name."),
    ("publish.prefix", "kind = \"s3\": prepended to every key; may be empty."),
    ("publish.endpoint", "kind = \"s3\": R2: https://<account>.r2.cloudflarestorage.com. Absent: AWS's endpoint."),
    ("publish.region", "kind = \"s3\": the bucket's region (\"auto\" for R2)."),
    (
        "publish.access_key_env",
        "kind = \"s3\": the environment variable holding the access key (name both this and secret_key_env, or \
         neither: the usual AWS environment/profile chain).",
    ),
    ("publish.secret_key_env", "kind = \"s3\": the environment variable holding the secret key."),
    ("policy", "The WebAssembly policies that score miners and plan challenges, and their limits."),
    (
        "policy.scorer",
        "The scorer's sha256, until `assay policy activate` names another. It must be in the policy store \
         (`assay policy add FILE`).",
    ),
    ("policy.challenger", "The challenger's sha256, until `assay policy activate` names another."),
    ("policy.fuel", "Fuel (WebAssembly instructions, roughly) one policy call may burn; written into every summary."),
    ("policy.memory_bytes", "Memory one policy call may use; written into every summary."),
    ("policy.state_bytes", "The most state a scorer may hand on to its next epoch; written into every summary."),
    ("policy.params", "Parameters handed to the policies, by name (name = number)."),
    (
        "policy.follow_owner",
        "Follow the subnet owner's announcements (`assay policy announce`): the policies the owner's commitment \
         names are fetched, checked and swapped in. Does nothing while no owner is known.",
    ),
    ("policy.owner_hotkey", "The subnet owner's hotkey (SS58). Absent: the metagraph's owner."),
    (
        "policy.owner_publication",
        "Where the owner publishes announced policies (a folder laid out as the bucket). Absent: an announced \
         policy must already be in the policy store.",
    ),
    ("ledger", "How long what users and miners sent is kept, and the disk kept free."),
    (
        "ledger.keep_bodies_days",
        "Days the bodies of a closed, published epoch are kept (users' prompts among them); records, seeds and \
         summaries are kept for good. 0 drops them once published.",
    ),
    (
        "ledger.reserve_bytes",
        "Free disk bytes traffic records never take, so epochs still close and publish on a full disk.",
    ),
    ("miners", "How the validator talks to miners: which axon addresses, how much an answer may take."),
    (
        "miners.allow_private_axons",
        "Accept axons on loopback, private or link-local addresses (a devnet on one machine).",
    ),
    ("miners.max_tokens_when_unset", "The completion length a response is sized for when the request names none."),
    (
        "miners.response_base_bytes",
        "Bytes any completion may take beyond its tokens (envelopes, usage, the signature).",
    ),
    ("miners.response_bytes_per_token", "Bytes per completion token (a streamed chunk and its id in the evidence)."),
    ("miners.response_bytes_per_logprob", "Bytes per log-prob per token."),
    (
        "miners.response_bytes_per_request_byte",
        "Bytes per byte of the request (the evidence lists the prompt's token ids).",
    ),
    ("miners.max_response_bytes", "No completion, opening or info answer is read past this, whatever was asked."),
    ("miners.info_max_bytes", "GET /assay/v1/info answers are read up to this."),
    ("gateway", "The OpenAI-compatible gateway the node serves users with. Absent: no gateway."),
    ("gateway.listen", "Address to serve users on."),
    ("gateway.model", "The model id users ask for; miners must serve it (their info names it)."),
    ("gateway.keys", "Users' API keys, one [[gateway.keys]] table each."),
    ("gateway.keys.name", "Who the key belongs to (for logs and metrics; the key itself is never shown)."),
    ("gateway.keys.key", "The secret the user sends as `Authorization: Bearer …`."),
    ("gateway.keys.requests_per_minute", "The key's rate limit."),
    ("gateway.keys.burst", "Requests that may come at once. Absent: a sixth of a minute's worth."),
    (
        "gateway.keys.publish_text",
        "The key's user agreed to publish prompts and completions in the public dataset. Absent (false): only \
         hashes, token counts and timings.",
    ),
    ("gateway.max_body_bytes", "The largest request body a user may send."),
    ("gateway.max_tokens", "The largest max_tokens a user may ask for."),
    ("gateway.context_tokens", "The served model's context in tokens; a request that may not fit it is refused."),
    ("gateway.miner_timeout_s", "A miner has this long to finish a completion."),
    (
        "gateway.max_attempts",
        "Miners tried for one request before giving up (only before any content reached the user).",
    ),
    ("gateway.health_interval_ms", "How often every miner is probed."),
    ("gateway.synthetic_per_minute", "The validator's own requests per minute (0: none)."),
    (
        "gateway.synthetic_mode",
        "How the validator's own traffic is paced: \"rate\" (synthetic_per_minute) or \"capacity\" (each \
         synthetic_period_s, a drawn fraction, 0.04, 0.08, 0.12 or 0.8, of each miner's declared capacity per task).",
    ),
    ("gateway.synthetic_period_s", "synthetic_mode = \"capacity\": the scoring period one plan covers, in seconds."),
    (
        "gateway.synthetic_per_capacity",
        "synthetic_mode = \"capacity\": requests per unit of declared capacity (times the drawn fraction) per period.",
    ),
    ("gateway.max_miner_capacity", "The most requests one miner is given at once, whatever capacity it declares."),
    (
        "gateway.stream_idle_timeout_ms",
        "A streamed answer the user takes nothing of for this long is cut (recorded as the user's, never the miner's).",
    ),
    ("gateway.user_send_buffer_bytes", "The kernel's send buffer for each user's connection."),
    ("gateway.max_connections", "Users' connections open at once; past it a connection gets a 503."),
    (
        "gateway.header_read_timeout_ms",
        "A request's headers must arrive within this; an idle connection is closed after it.",
    ),
    ("gateway.body_read_timeout_ms", "A request's body must arrive within this (408 otherwise)."),
    ("gateway.queue_timeout_ms", "How long a request waits for a busy miner's slot before a 503."),
    ("gateway.queue_max", "Users' requests waiting at once, in all."),
    ("gateway.queue_per_key", "Users' requests waiting at once, per API key."),
    ("gateway.recorder_queue_max", "Records waiting for the ledger, at most; past it new requests are shed (503)."),
    (
        "gateway.recorder_queue_bytes",
        "Bytes of records waiting for the ledger, at most; past it new requests are shed (503).",
    ),
    (
        "tasks",
        "The subnet's tasks, each a model users ask for and a share of the weights. Absent: gateway.model, tasks \
         chat and completion by route, weighted equally.",
    ),
    ("tasks.name", "The task's name, as miners declare it (`assay miner --task NAME=CAPACITY`); unique."),
    ("tasks.model", "The model id a request names to belong to this task."),
    ("tasks.weight", "The task's share of the weights: above 0, all tasks' summing to 1."),
    (
        "tasks.route",
        "\"chat\" or \"completion\": the one route the task is served on. Absent: both. Two tasks of one model \
         must not share a route.",
    ),
    ("verify", "The verification loop: challenges checked against the reference engine. Absent: no verification."),
    (
        "verify.model",
        "The reference model's folder (a Hugging Face snapshot: config.json, *.safetensors, tokenizer.json).",
    ),
    ("verify.device", "Where reference passes run: auto (the GPU when there is one), cpu, cuda, cuda:N."),
    ("verify.interval_ms", "How often new requests are offered to the challenger."),
    ("verify.workers", "Reference passes run at once."),
    ("verify.open_timeout_s", "A miner has this long to answer an opening."),
    (
        "rounds",
        "Commit-reveal rounds (decision 0009), one per epoch, for a consensus scorer: every miner whose info \
         lists the routes commits to the same prompt, then reveals. Absent: no rounds.",
    ),
    ("rounds.commit_window_ms", "Miners' commitments must have arrived whole this long after the round starts."),
    (
        "rounds.reveal_window_ms",
        "After the commit window closes, reveals must have arrived whole within this long (later: late, scored 0).",
    ),
    ("rounds.prompt_tokens", "Token ids in the round's prompt, drawn from the epoch's seed (1 to 8192)."),
    ("rounds.concurrency", "Miners asked at once, at most."),
    (
        "competition",
        "The server competition (cacheon's traffic), once per epoch: the same prompts, drawn from the epoch's seed, \
         go to the baseline server and then to each miner serving the task, one request at a time, greedy and \
         streamed, warm-ups first and not recorded. Needs [gateway] without other synthetic traffic and [verify] \
         with token_check_share 1. Absent: no competition.",
    ),
    (
        "competition.baseline_url",
        "The baseline server's root URL, any OpenAI-compatible server: requests go to /v1/chat/completions under it \
         (/v1/completions for a completion task), within gateway.miner_timeout_s as miners' do. A baseline that \
         fails is the validator's fault: that task gets no rows that epoch.",
    ),
    ("competition.baseline_api_key_env", "The environment variable holding the baseline's API key (a bearer token)."),
    (
        "competition.baseline_model",
        "The model id the baseline serves the task's model as. Absent: the task's model id.",
    ),
    ("competition.prompts_per_task", "Counted prompts per task and epoch."),
    ("competition.warmup", "Warm-up prompts sent first to the baseline and to each miner, not recorded."),
    ("competition.prompt_chars", "Characters in each prompt (long prompts; within gateway.context_tokens)."),
    ("competition.max_tokens", "max_tokens of every competition request, at most gateway.max_tokens."),
    ("competition.tasks", "The tasks the competition runs on. Absent: the first [[tasks]], else chat."),
    (
        "dashboard",
        "The read-only web dashboard (docs/dashboard.md): miners, weights, verdicts and latencies, live. Absent: \
         none served.",
    ),
    (
        "dashboard.listen",
        "host:port it is served on. It shows no secret and changes nothing, but it shows what the validator \
         scores: keep it on loopback or behind a proxy.",
    ),
    ("metrics", "Prometheus metrics (GET /metrics, read-only; every family in docs/metrics.md). Absent: none served."),
    (
        "metrics.listen",
        "Address /metrics is served on (port 0: any free port). Anyone who reaches it reads the validator's \
         counters: keep it on loopback or a private network.",
    ),
    (
        "verify.model_id",
        "The model id (as requests name it) verify.model is the reference of: only its requests are verified. \
         Required when [[tasks]] name more than one model. Absent: every request.",
    ),
    (
        "verify.token_check_share",
        "The share (0 to 1) of requests not challenged that get a token-only check (a reference pass over the \
         miner's tokens, no opening, no verdict), recorded for scorers that read token ranks and probabilities.",
    ),
    ("verify.max_pending", "Challenges planned and not yet recorded, at most (past it a round drops what it planned)."),
    (
        "verify.replay_sampled",
        "Replay the sampled tokens of miners that sign the protocol's sampler (docs/sampling.md) on the \
         reference's logits; more than 2 % that do not replay fail the challenge. Off by default: the tolerance \
         is calibrated only on the tiny CPU model; turn it on once replay_tolerance is calibrated for your model \
         on its GPU (docs/verification.md).",
    ),
    (
        "verify.replay_tolerance",
        "The largest logit difference between an honest miner and the reference that the replay forgives \
         (above 0, at most 10; default 0.1, measured on the tiny CPU model only).",
    ),
];

/// Tables whose keys are the operator's own names (`[policy.params]`): their entries need no line.
pub const FREE_MAPS: &[&str] = &["policy.params"];

/// What `key` does, if the table says.
pub fn note(key: &str) -> Option<&'static str> {
    NOTES.iter().find(|(k, _)| *k == key).map(|(_, text)| *text)
}

/// Where `key` comes in the written file: the table's order, unknown keys last.
pub fn rank(key: &str) -> usize {
    NOTES.iter().position(|(k, _)| *k == key).unwrap_or(NOTES.len())
}
