//! The ledger's tables, and their migrations by `user_version`.

use rusqlite::Connection;

use crate::{Error, Result, WeightsState};

const VERSION: i64 = 8;

pub(crate) const V1: &str = "
CREATE TABLE requests (
    epoch INTEGER NOT NULL,
    id INTEGER NOT NULL,
    uid INTEGER NOT NULL,
    task TEXT NOT NULL,
    record TEXT NOT NULL,
    request_values TEXT,
    PRIMARY KEY (epoch, id)
);
CREATE TABLE challenges (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    epoch INTEGER NOT NULL,
    request_id INTEGER NOT NULL,
    uid INTEGER NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX challenges_by_epoch ON challenges (epoch, request_id);
CREATE TABLE epochs (
    epoch INTEGER PRIMARY KEY,
    seed BLOB NOT NULL,
    summary_sha256 TEXT
);
CREATE TABLE policy_state (
    epoch INTEGER NOT NULL,
    scorer TEXT NOT NULL,
    state BLOB NOT NULL,
    PRIMARY KEY (epoch, scorer)
);
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
";

/// v2: what the verification loop needs of each exchange with a miner (the body sent and the
/// miner's signed evidence), and a `frozen` mark set when an epoch's closing begins, after which
/// no request is recorded into it.
const V2: &str = "
ALTER TABLE epochs ADD COLUMN frozen INTEGER NOT NULL DEFAULT 0;
CREATE TABLE exchanges (
    epoch INTEGER NOT NULL,
    id INTEGER NOT NULL,
    uid INTEGER NOT NULL,
    miner_hotkey TEXT NOT NULL,
    path TEXT NOT NULL,
    request TEXT NOT NULL,
    evidence TEXT,
    PRIMARY KEY (epoch, id)
);
";

/// v3: the outgoing queue of closed epochs. Closing an epoch writes its summary's objects and
/// its weights call here in the same transaction that marks it closed; publication and the
/// chain are then retried from here until done, so a host that dies in between neither re-signs
/// the epoch nor sends its weights twice.
const V3: &str = "
CREATE TABLE outgoing (
    epoch INTEGER PRIMARY KEY,
    summary_sha256 TEXT NOT NULL,
    published INTEGER NOT NULL DEFAULT 0,
    weights TEXT,
    weights_state TEXT,
    head INTEGER NOT NULL
);
CREATE TABLE outgoing_objects (
    epoch INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    key TEXT NOT NULL,
    bytes BLOB NOT NULL,
    PRIMARY KEY (epoch, seq)
);
";

/// v4: when each epoch was closed (milliseconds since the Unix epoch; NULL for epochs closed
/// before v4), so that retention can drop old exchanges' bodies.
const V4: &str = "
ALTER TABLE epochs ADD COLUMN closed_ms INTEGER;
";

/// v5: each request's content for the public dataset (`RequestContent` as JSON: hashes, and
/// text only where it may be published), written with the request and dropped with the bodies.
const V5: &str = "
CREATE TABLE contents (
    epoch INTEGER NOT NULL,
    id INTEGER NOT NULL,
    content TEXT NOT NULL,
    PRIMARY KEY (epoch, id)
);
";

/// v6: how long the miner took to answer each challenge's opening (milliseconds by the
/// validator's clock; NULL when it never answered, and for challenges recorded before v6).
pub(crate) const V6: &str = "
ALTER TABLE challenges ADD COLUMN response_ms REAL;
";

/// v7: the per-token measurements of verified requests (`TokenCheckRow::tokens` as JSON, at most
/// `MAX_TOKEN_CHECKS` a request), recorded into the epoch their verification was, as challenges.
pub(crate) const V7: &str = "
CREATE TABLE token_checks (
    epoch INTEGER NOT NULL,
    request_id INTEGER NOT NULL,
    uid INTEGER NOT NULL,
    tokens TEXT NOT NULL,
    PRIMARY KEY (epoch, request_id)
);
";

/// v8: commit-reveal rounds (consensus), one row per (round, miner asked), recorded into the
/// epoch the round ran in. `output` is the revealed vector as little-endian f64 bytes (8 per
/// element; empty unless `reveal` is `valid`): the contract's elements are f64 and the host
/// widens the miner's f32 exactly, so storing f64 keeps bit for bit what the policy is given,
/// whatever width a later wire format has. At most `MAX_REVEAL_ELEMENTS` elements.
/// `committed_ms` is NULL for a miner that never committed, `revealed_ms` for a reveal that
/// never came (-1 in the contract).
pub(crate) const V8: &str = "
CREATE TABLE commit_reveals (
    epoch INTEGER NOT NULL,
    round INTEGER NOT NULL,
    uid INTEGER NOT NULL,
    task TEXT NOT NULL,
    reveal TEXT NOT NULL,
    committed_ms REAL,
    revealed_ms REAL,
    output BLOB NOT NULL,
    PRIMARY KEY (epoch, round, uid)
);
";

/// A ledger opened read-only: its schema is one this host reads (nothing is migrated).
pub(crate) fn check_read_only(conn: &Connection) -> Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > VERSION {
        return Err(Error::NewerSchema { found: version, supported: VERSION });
    }
    // A read-only reader cannot migrate, and its queries name the current schema's columns.
    if version < VERSION {
        return Err(Error::OlderSchema { found: version, current: VERSION });
    }
    Ok(())
}

pub(crate) fn prepare(conn: &Connection) -> Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // WAL lets readers and a writer in another process work side by side; FULL syncs the WAL
    // at every commit, so an acknowledged write survives a power cut.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > VERSION {
        return Err(Error::NewerSchema { found: version, supported: VERSION });
    }
    if version < 1 {
        conn.execute_batch(&format!("BEGIN; {V1} PRAGMA user_version = 1; COMMIT;"))?;
    }
    if version < 2 {
        conn.execute_batch(&format!("BEGIN; {V2} PRAGMA user_version = 2; COMMIT;"))?;
    }
    if version < 3 {
        conn.execute_batch(&format!("BEGIN; {V3} PRAGMA user_version = 3; COMMIT;"))?;
    }
    if version < 4 {
        conn.execute_batch(&format!("BEGIN; {V4} PRAGMA user_version = 4; COMMIT;"))?;
    }
    if version < 5 {
        conn.execute_batch(&format!("BEGIN; {V5} PRAGMA user_version = 5; COMMIT;"))?;
    }
    if version < 6 {
        conn.execute_batch(&format!("BEGIN; {V6} PRAGMA user_version = 6; COMMIT;"))?;
    }
    if version < 7 {
        conn.execute_batch(&format!("BEGIN; {V7} PRAGMA user_version = 7; COMMIT;"))?;
    }
    if version < 8 {
        conn.execute_batch(&format!("BEGIN; {V8} PRAGMA user_version = 8; COMMIT;"))?;
    }
    Ok(())
}

pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes).into()
}

/// `pending <attempts> <error>`, `accepted <block>` or `superseded`.
pub(crate) fn weights_state_text(state: &WeightsState) -> String {
    match state {
        WeightsState::Pending { attempts, last_error } => {
            format!("pending {attempts} {}", last_error.as_deref().unwrap_or(""))
        }
        WeightsState::Accepted { block } => format!("accepted {block}"),
        WeightsState::Superseded => "superseded".into(),
    }
}

pub(crate) fn weights_state_parse(text: &str) -> Result<WeightsState> {
    let corrupt = || Error::Corrupt(format!("weights state {text:?}"));
    let mut parts = text.splitn(3, ' ');
    match parts.next() {
        Some("pending") => {
            let attempts = parts.next().and_then(|a| a.parse().ok()).ok_or_else(corrupt)?;
            let last_error = parts.next().filter(|e| !e.is_empty()).map(str::to_string);
            Ok(WeightsState::Pending { attempts, last_error })
        }
        Some("accepted") => {
            Ok(WeightsState::Accepted { block: parts.next().and_then(|b| b.parse().ok()).ok_or_else(corrupt)? })
        }
        Some("superseded") => Ok(WeightsState::Superseded),
        _ => Err(corrupt()),
    }
}
