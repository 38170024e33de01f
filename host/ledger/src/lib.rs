//! The ledger: the durable record of what happened in each epoch, in SQLite.
//!
//! Owns: request and challenge records, each epoch's challenge seed and its commitment, the
//! policies' state blobs, and the host's settings (which policy is active). Must not touch:
//! scoring, HTTP or the chain; it stores and returns records, nothing more.
//!
//! Durability: WAL journal with `synchronous = FULL`, so a call that returned `Ok` survives a
//! crash of the process or of the machine. Several processes may open the same file (the host,
//! and `assay policy activate` beside it).

mod error;
mod schema;

use std::path::Path;
use std::sync::Mutex;

use assay_policy_sdk::{ChallengeRecord, RequestRecord};
use rusqlite::{Connection, OptionalExtension, params};

pub use error::{Error, Result};

/// A request as the ledger keeps it: the record plus its task by name (the epoch input refers
/// to tasks by index, which is only fixed when the epoch is frozen).
#[derive(Debug, Clone, PartialEq)]
pub struct RequestEntry {
    pub task: String,
    pub record: RequestRecord,
    /// Policy-specific numbers measured for this request; usually none.
    pub values: Vec<f64>,
}

/// One exchange with a miner, kept for verification: what was sent and what the miner signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// The request's id (the record's `id`).
    pub id: u64,
    pub uid: u16,
    /// SS58 address the evidence must be signed by.
    pub miner_hotkey: String,
    /// `/v1/chat/completions` or `/v1/completions`.
    pub path: String,
    /// The JSON body sent to the miner, `assay` extension included.
    pub request: String,
    /// The miner's `{"assay": …, "assay_signature": …}` as received, when it sent evidence.
    pub evidence: Option<String>,
}

/// An epoch's secret challenge seed and its public commitment (sha256 of the seed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochSeed {
    pub seed: [u8; 32],
    pub commitment: [u8; 32],
}

/// A closed epoch as the ledger remembers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedEpoch {
    pub epoch: u64,
    pub summary_sha256: String,
}

pub struct Ledger {
    conn: Mutex<Connection>,
}

impl Ledger {
    /// Opens (creating if needed) the ledger at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::Io(format!("creating {}", parent.display()), e))?;
        }
        let conn = Connection::open(path).map_err(|e| Error::Open(path.display().to_string(), e))?;
        schema::prepare(&conn)?;
        Ok(Self { conn: Mutex::new(conn) })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut conn = self.conn.lock().map_err(|_| Error::Poisoned)?;
        f(&mut conn)
    }

    /// Records requests of `epoch` in one transaction; durable when this returns.
    /// A request id already recorded for the epoch is an error (nothing of the batch is kept).
    pub fn record_requests<'a>(
        &self,
        epoch: u64,
        entries: impl IntoIterator<Item = &'a RequestEntry>,
    ) -> Result<usize> {
        self.record_traffic(epoch, entries.into_iter().map(|e| (e, None)))
    }

    /// Records requests of `epoch` with their exchanges, in one transaction; durable when this
    /// returns. Refused as a whole with [`Error::Frozen`] once the epoch's closing has begun, so
    /// that a late record goes to a later epoch instead of being silently left out of scoring.
    pub fn record_traffic<'a>(
        &self,
        epoch: u64,
        entries: impl IntoIterator<Item = (&'a RequestEntry, Option<&'a Exchange>)>,
    ) -> Result<usize> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            refuse_frozen(&tx, epoch)?;
            let mut n = 0;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO requests (epoch, id, uid, task, record, request_values) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?;
                let mut insert_exchange = tx.prepare_cached(
                    "INSERT INTO exchanges (epoch, id, uid, miner_hotkey, path, request, evidence) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?;
                for (e, exchange) in entries {
                    let json = serde_json::to_string(&e.record)?;
                    let values = if e.values.is_empty() { None } else { Some(serde_json::to_string(&e.values)?) };
                    insert
                        .execute(params![epoch as i64, e.record.id as i64, e.record.uid, e.task, json, values])
                        .map_err(|err| Error::duplicate_or(err, format!("request {} of epoch {epoch}", e.record.id)))?;
                    if let Some(x) = exchange {
                        insert_exchange.execute(params![
                            epoch as i64,
                            x.id as i64,
                            x.uid,
                            x.miner_hotkey,
                            x.path,
                            x.request,
                            x.evidence
                        ])?;
                    }
                    n += 1;
                }
            }
            tx.commit()?;
            Ok(n)
        })
    }

    /// The epoch's exchanges, by request id.
    pub fn exchanges(&self, epoch: u64) -> Result<Vec<Exchange>> {
        self.with(|conn| {
            let mut q = conn.prepare_cached(
                "SELECT id, uid, miner_hotkey, path, request, evidence FROM exchanges WHERE epoch = ?1 ORDER BY id",
            )?;
            let rows = q.query_map([epoch as i64], |r| exchange_from_row(r, 0))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// The epoch's exchanges recorded after position `after` (0: from the first), in recording
    /// order, each with its position: a reader that polls passes the last position it saw and
    /// reads only what is new.
    pub fn exchanges_after(&self, epoch: u64, after: i64) -> Result<Vec<(i64, Exchange)>> {
        self.with(|conn| {
            let mut q = conn.prepare_cached(
                "SELECT rowid, id, uid, miner_hotkey, path, request, evidence FROM exchanges \
                 WHERE epoch = ?1 AND rowid > ?2 ORDER BY rowid",
            )?;
            let rows = q.query_map(params![epoch as i64, after], |r| Ok((r.get(0)?, exchange_from_row(r, 1)?)))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Marks `epoch` as closing: from now on no request is recorded into it. Idempotent.
    pub fn freeze_epoch(&self, epoch: u64) -> Result<()> {
        self.with(|conn| {
            conn.execute("UPDATE epochs SET frozen = 1 WHERE epoch = ?1", [epoch as i64])?;
            Ok(())
        })
    }

    pub fn record_request(&self, epoch: u64, entry: &RequestEntry) -> Result<()> {
        self.record_requests(epoch, [entry]).map(|_| ())
    }

    /// Records judged challenges of `epoch`; durable when this returns. Refused with
    /// [`Error::Frozen`] once the epoch's closing has begun.
    pub fn record_challenges<'a>(
        &self,
        epoch: u64,
        records: impl IntoIterator<Item = &'a ChallengeRecord>,
    ) -> Result<usize> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            refuse_frozen(&tx, epoch)?;
            let mut n = 0;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO challenges (epoch, request_id, uid, record) VALUES (?1, ?2, ?3, ?4)",
                )?;
                for c in records {
                    insert.execute(params![epoch as i64, c.request_id as i64, c.uid, serde_json::to_string(c)?])?;
                    n += 1;
                }
            }
            tx.commit()?;
            Ok(n)
        })
    }

    /// The epoch's requests, by id.
    pub fn requests(&self, epoch: u64) -> Result<Vec<RequestEntry>> {
        self.with(|conn| {
            let mut q =
                conn.prepare_cached("SELECT task, record, request_values FROM requests WHERE epoch = ?1 ORDER BY id")?;
            let rows = q.query_map([epoch as i64], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<String>>(2)?))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (task, json, values) = row?;
                let values = match values {
                    Some(v) => serde_json::from_str(&v)?,
                    None => Vec::new(),
                };
                out.push(RequestEntry { task, record: serde_json::from_str(&json)?, values });
            }
            Ok(out)
        })
    }

    /// The epoch's challenges, by request id then in recording order.
    pub fn challenges(&self, epoch: u64) -> Result<Vec<ChallengeRecord>> {
        self.with(|conn| {
            let mut q =
                conn.prepare_cached("SELECT record FROM challenges WHERE epoch = ?1 ORDER BY request_id, seq")?;
            let rows = q.query_map([epoch as i64], |r| r.get::<_, String>(0))?;
            let mut out = Vec::new();
            for row in rows {
                out.push(serde_json::from_str(&row?)?);
            }
            Ok(out)
        })
    }

    /// The seed of `epoch`, drawing and committing a fresh one on first call. The seed stays
    /// secret until the epoch's summary reveals it.
    pub fn epoch_seed(&self, epoch: u64, draw: impl FnOnce() -> [u8; 32]) -> Result<EpochSeed> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            let existing: Option<Vec<u8>> =
                tx.query_row("SELECT seed FROM epochs WHERE epoch = ?1", [epoch as i64], |r| r.get(0)).optional()?;
            let seed: [u8; 32] = match existing {
                Some(bytes) => bytes.try_into().map_err(|_| Error::Corrupt(format!("seed of epoch {epoch}")))?,
                None => {
                    let seed = draw();
                    tx.execute(
                        "INSERT INTO epochs (epoch, seed) VALUES (?1, ?2)",
                        params![epoch as i64, seed.to_vec()],
                    )?;
                    seed
                }
            };
            tx.commit()?;
            Ok(EpochSeed { seed, commitment: schema::sha256(&seed) })
        })
    }

    /// Marks `epoch` closed with the sha256 of its published summary, and keeps the scorer's
    /// new state for the next epoch, in one transaction.
    pub fn close_epoch(&self, epoch: u64, summary_sha256: &str, scorer: &str, state: &[u8]) -> Result<()> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            let updated = tx.execute(
                "UPDATE epochs SET summary_sha256 = ?2 WHERE epoch = ?1 AND summary_sha256 IS NULL",
                params![epoch as i64, summary_sha256],
            )?;
            if updated != 1 {
                return Err(Error::Conflict(format!("epoch {epoch} has no seed or is already closed")));
            }
            tx.execute(
                "INSERT INTO policy_state (epoch, scorer, state) VALUES (?1, ?2, ?3)",
                params![epoch as i64, scorer, state],
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    /// Epochs before `before` whose seed was drawn (they were started) but which are not closed.
    pub fn open_epochs(&self, before: u64) -> Result<Vec<u64>> {
        self.with(|conn| {
            let mut q = conn.prepare_cached(
                "SELECT epoch FROM epochs WHERE summary_sha256 IS NULL AND epoch < ?1 ORDER BY epoch",
            )?;
            let rows = q.query_map([before as i64], |r| r.get::<_, i64>(0))?;
            rows.map(|r| Ok(r? as u64)).collect()
        })
    }

    /// The latest closed epoch, if any.
    pub fn last_closed(&self) -> Result<Option<ClosedEpoch>> {
        self.with(|conn| {
            Ok(conn
                .query_row(
                    "SELECT epoch, summary_sha256 FROM epochs WHERE summary_sha256 IS NOT NULL ORDER BY epoch DESC LIMIT 1",
                    [],
                    |r| Ok(ClosedEpoch { epoch: r.get::<_, i64>(0)? as u64, summary_sha256: r.get(1)? }),
                )
                .optional()?)
        })
    }

    /// The state `scorer` returned at its latest closed epoch before `epoch`; empty when it has
    /// none (a newly activated policy starts from an empty state).
    pub fn state_before(&self, epoch: u64, scorer: &str) -> Result<Vec<u8>> {
        self.with(|conn| {
            Ok(conn
                .query_row(
                    "SELECT state FROM policy_state WHERE scorer = ?1 AND epoch < ?2 ORDER BY epoch DESC LIMIT 1",
                    params![scorer, epoch as i64],
                    |r| r.get::<_, Vec<u8>>(0),
                )
                .optional()?
                .unwrap_or_default())
        })
    }

    /// The scorer that closed the latest epoch, if any.
    pub fn last_scorer(&self) -> Result<Option<String>> {
        self.with(|conn| {
            Ok(conn
                .query_row("SELECT scorer FROM policy_state ORDER BY epoch DESC LIMIT 1", [], |r| r.get(0))
                .optional()?)
        })
    }

    pub fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        self.with(|conn| {
            conn.execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )?;
            Ok(())
        })
    }

    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        self.with(|conn| {
            Ok(conn.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| r.get(0)).optional()?)
        })
    }
}

/// An exchange from the columns `id, uid, miner_hotkey, path, request, evidence`, from `first` on.
fn exchange_from_row(r: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<Exchange> {
    Ok(Exchange {
        id: r.get::<_, i64>(first)? as u64,
        uid: r.get(first + 1)?,
        miner_hotkey: r.get(first + 2)?,
        path: r.get(first + 3)?,
        request: r.get(first + 4)?,
        evidence: r.get(first + 5)?,
    })
}

/// [`Error::Frozen`] when `epoch`'s closing has begun.
fn refuse_frozen(tx: &rusqlite::Transaction<'_>, epoch: u64) -> Result<()> {
    let frozen: Option<bool> =
        tx.query_row("SELECT frozen FROM epochs WHERE epoch = ?1", [epoch as i64], |r| r.get(0)).optional()?;
    if frozen == Some(true) {
        return Err(Error::Frozen(epoch));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
