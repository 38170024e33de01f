//! The SQLite backend of the ledger.
//!
//! Durability: WAL journal with `synchronous = FULL`, so a call that returned `Ok` survives a
//! crash of the process or of the machine. Several processes may open the same file (the host,
//! and `assay policy activate` beside it).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};

use assay_policy_sdk::{LOGPROB_FLOOR, TokenMeasurement};

use crate::rows::{
    ChallengeRow, ClosedEpoch, Closing, CommitRevealRow, EpochSeed, Exchange, MAX_TOKEN_CHECKS, Outgoing,
    RequestContent, RequestEntry, TokenCheckRow, WeightsState,
};
use crate::{Error, Ledger, Result, reveals, schema};

pub struct SqliteLedger {
    conn: Mutex<Connection>,
    /// The ledger file's folder, whose filesystem's free space is checked.
    folder: std::path::PathBuf,
    /// Bytes of free space traffic records never take: closing, publishing and pruning
    /// epochs must still fit on a disk that traffic has filled.
    reserve: u64,
}

/// Free space kept by default for closing, publishing and pruning; more than SQLite's WAL holds
/// before it checkpoints (1000 pages, 4 MiB), which a checkpoint may need in the file.
pub const DEFAULT_RESERVE_BYTES: u64 = 64 << 20;

impl SqliteLedger {
    /// Opens (creating if needed) the ledger at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::Io(format!("creating {}", parent.display()), e))?;
        }
        let conn = Connection::open(path).map_err(|e| Error::Open(path.display().to_string(), e))?;
        schema::prepare(&conn)?;
        let folder = path.parent().map_or_else(|| Path::new(".").to_path_buf(), Path::to_path_buf);
        Ok(Self { conn: Mutex::new(conn), folder, reserve: DEFAULT_RESERVE_BYTES })
    }

    /// Opens the ledger at `path` for reading only (`assay run --check`): no file is created, no
    /// schema migrated, no journal mode set. A ledger newer than this host, or one that is not a
    /// ledger, is an error.
    pub fn open_read_only(path: &Path) -> Result<Self> {
        use rusqlite::OpenFlags;
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        // A read-only connection to a WAL ledger creates its `-wal` and `-shm` files when they are
        // not there (a node that stopped cleanly removed them): then nothing but the file holds
        // the ledger, which is opened immutable (no journal, no locks, no file created).
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let mode = if Path::new(&wal).exists() { "mode=ro" } else { "immutable=1" };
        let escaped = path.to_string_lossy().replace('%', "%25").replace('?', "%3f").replace('#', "%23");
        let conn = Connection::open_with_flags(format!("file:{escaped}?{mode}"), flags)
            .map_err(|e| Error::Open(path.display().to_string(), e))?;
        schema::check_read_only(&conn)?;
        let folder = path.parent().map_or_else(|| Path::new(".").to_path_buf(), Path::to_path_buf);
        Ok(Self { conn: Mutex::new(conn), folder, reserve: 0 })
    }

    /// Keeps `bytes` of the disk free of traffic records (0: none).
    pub fn with_reserve(mut self, bytes: u64) -> Self {
        self.reserve = bytes;
        self
    }

    /// Refuses a traffic write that would eat into the reserve.
    fn check_reserve(&self) -> Result<()> {
        if self.reserve == 0 {
            return Ok(());
        }
        let stat = rustix::fs::statvfs(&self.folder)
            .map_err(|e| Error::Io(format!("reading free space of {}", self.folder.display()), e.into()))?;
        // Pages that retention freed inside the file are reused before the file grows.
        let reusable: i64 = self.with(|conn| {
            let pages: i64 = conn.pragma_query_value(None, "freelist_count", |r| r.get(0))?;
            let size: i64 = conn.pragma_query_value(None, "page_size", |r| r.get(0))?;
            Ok(pages.saturating_mul(size))
        })?;
        let free = stat.f_bavail.saturating_mul(stat.f_frsize).saturating_add(reusable.max(0) as u64);
        if free < self.reserve {
            return Err(Error::Full(format!(
                "{free} bytes free on {}, under the {} kept for closing epochs",
                self.folder.display(),
                self.reserve
            )));
        }
        Ok(())
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut conn = self.conn.lock().map_err(|_| Error::Poisoned)?;
        f(&mut conn).map_err(Error::classify)
    }
}

impl Ledger for SqliteLedger {
    /// Records requests of `epoch` with their exchanges, in one transaction; durable when this
    /// returns. Refused as a whole with [`Error::Frozen`] once the epoch's closing has begun, so
    /// that a late record goes to a later epoch instead of being silently left out of scoring.
    fn record_traffic(&self, epoch: u64, entries: &[(RequestEntry, Option<Exchange>)]) -> Result<usize> {
        self.check_reserve()?;
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
                let mut insert_content =
                    tx.prepare_cached("INSERT INTO contents (epoch, id, content) VALUES (?1, ?2, ?3)")?;
                for (e, exchange) in entries {
                    let json = serde_json::to_string(&e.record)?;
                    let values = if e.values.is_empty() { None } else { Some(serde_json::to_string(&e.values)?) };
                    insert
                        .execute(params![epoch as i64, e.record.id as i64, e.record.uid, e.task, json, values])
                        .map_err(|err| Error::duplicate_or(err, format!("request {} of epoch {epoch}", e.record.id)))?;
                    if let Some(content) = &e.content {
                        // The privacy rule, for every writer: no text that may not be published.
                        let content = serde_json::to_string(&content.kept(e.record.kind))?;
                        insert_content.execute(params![epoch as i64, e.record.id as i64, content])?;
                    }
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

    /// The epoch's exchanges recorded after position `after` (0: from the first), in recording
    /// order, each with its position: a reader that polls passes the last position it saw and
    /// reads only what is new.
    fn exchanges_after(&self, epoch: u64, after: i64) -> Result<Vec<(i64, Exchange)>> {
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
    fn freeze_epoch(&self, epoch: u64) -> Result<()> {
        self.with(|conn| {
            conn.execute("UPDATE epochs SET frozen = 1 WHERE epoch = ?1", [epoch as i64])?;
            Ok(())
        })
    }

    /// Records judged challenges of `epoch`; durable when this returns. Refused with
    /// [`Error::Frozen`] once the epoch's closing has begun.
    fn record_challenges(&self, epoch: u64, records: &[ChallengeRow]) -> Result<usize> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            refuse_frozen(&tx, epoch)?;
            let mut n = 0;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO challenges (epoch, request_id, uid, record, response_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                for c in records {
                    let record = serde_json::to_string(c)?;
                    insert.execute(params![epoch as i64, c.request_id as i64, c.uid, record, c.response_ms])?;
                    n += 1;
                }
            }
            tx.commit()?;
            Ok(n)
        })
    }

    fn record_token_checks(&self, epoch: u64, rows: &[TokenCheckRow]) -> Result<usize> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            refuse_frozen(&tx, epoch)?;
            let mut n = 0;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT OR IGNORE INTO token_checks (epoch, request_id, uid, tokens) VALUES (?1, ?2, ?3, ?4)",
                )?;
                for row in rows {
                    let kept = &row.tokens[..row.tokens.len().min(MAX_TOKEN_CHECKS)];
                    // JSON has no -inf: stored at the floor. A check with NaN or +inf (a failed
                    // reference) is not stored at all; the measurer drops those first.
                    let Some(tokens) = kept
                        .iter()
                        .cloned()
                        .map(|t| t.floored().map(|t| [f64::from(t.rank), t.logprob, t.top_logprob]))
                        .collect::<Option<Vec<[f64; 3]>>>()
                    else {
                        continue;
                    };
                    let json = serde_json::to_string(&tokens)?;
                    n += insert.execute(params![epoch as i64, row.request_id as i64, row.uid, json])?;
                }
            }
            tx.commit()?;
            Ok(n)
        })
    }

    fn token_checks(&self, epoch: u64) -> Result<BTreeMap<u64, Vec<TokenMeasurement>>> {
        self.with(|conn| {
            let mut q = conn.prepare_cached("SELECT request_id, tokens FROM token_checks WHERE epoch = ?1")?;
            let rows = q.query_map([epoch as i64], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
            let mut out = BTreeMap::new();
            for row in rows {
                let (id, json) = row?;
                // A `null` is a -inf stored before the write floored it: the floor.
                let tokens: Vec<[Option<f64>; 3]> = serde_json::from_str(&json)?;
                let floor = |v: Option<f64>| v.unwrap_or(LOGPROB_FLOOR);
                let tokens = tokens
                    .into_iter()
                    .map(|[rank, logprob, top_logprob]| TokenMeasurement {
                        rank: rank.unwrap_or_default() as u32,
                        logprob: floor(logprob),
                        top_logprob: floor(top_logprob),
                    })
                    .collect();
                out.insert(id as u64, tokens);
            }
            Ok(out)
        })
    }

    fn record_commit_reveals(&self, epoch: u64, rows: &[CommitRevealRow]) -> Result<usize> {
        rows.iter().try_for_each(|row| reveals::check(epoch, row))?;
        self.check_reserve()?;
        self.with(|conn| {
            let tx = conn.transaction()?;
            refuse_frozen(&tx, epoch)?;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO commit_reveals (epoch, round, uid, task, reveal, committed_ms, revealed_ms, output) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?;
                for row in rows {
                    insert
                        .execute(params![
                            epoch as i64,
                            row.round,
                            row.uid,
                            row.task,
                            reveals::status_text(row.reveal),
                            row.committed_ms,
                            row.revealed_ms,
                            reveals::output_bytes(&row.output)
                        ])
                        .map_err(|err| {
                            Error::duplicate_or(err, format!("round {} uid {} of epoch {epoch}", row.round, row.uid))
                        })?;
                }
            }
            tx.commit()?;
            Ok(rows.len())
        })
    }

    fn commit_reveals(&self, epochs: std::ops::Range<u64>) -> Result<Vec<(u64, CommitRevealRow)>> {
        let (start, end) = (epochs.start.min(i64::MAX as u64) as i64, epochs.end.min(i64::MAX as u64) as i64);
        self.with(|conn| {
            let mut q = conn.prepare_cached(
                "SELECT epoch, round, uid, task, reveal, committed_ms, revealed_ms, output FROM commit_reveals \
                 WHERE epoch >= ?1 AND epoch < ?2 ORDER BY epoch, round, uid",
            )?;
            let rows = q.query_map(params![start, end], |r| {
                Ok((
                    r.get::<_, i64>(0)? as u64,
                    r.get::<_, u32>(1)?,
                    r.get::<_, u16>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, Option<f64>>(5)?,
                    r.get::<_, Option<f64>>(6)?,
                    r.get::<_, Vec<u8>>(7)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (epoch, round, uid, task, reveal, committed_ms, revealed_ms, output) = row?;
                let reveal = reveals::status_parse(&reveal)?;
                let output = reveals::output_of(&output)?;
                out.push((epoch, CommitRevealRow { round, uid, task, reveal, committed_ms, revealed_ms, output }));
            }
            Ok(out)
        })
    }

    /// The epoch's requests, by id.
    fn requests(&self, epoch: u64) -> Result<Vec<RequestEntry>> {
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
                out.push(RequestEntry { task, record: serde_json::from_str(&json)?, values, content: None });
            }
            Ok(out)
        })
    }

    fn request_contents(&self, epoch: u64) -> Result<BTreeMap<u64, RequestContent>> {
        self.with(|conn| {
            let mut q = conn.prepare_cached("SELECT id, content FROM contents WHERE epoch = ?1")?;
            let rows = q.query_map([epoch as i64], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
            let mut out = BTreeMap::new();
            for row in rows {
                let (id, content) = row?;
                out.insert(id as u64, serde_json::from_str(&content)?);
            }
            Ok(out)
        })
    }

    /// The epoch's challenges, by request id then in recording order.
    fn challenges(&self, epoch: u64) -> Result<Vec<ChallengeRow>> {
        self.with(|conn| {
            let mut q = conn.prepare_cached(
                "SELECT record, response_ms FROM challenges WHERE epoch = ?1 ORDER BY request_id, seq",
            )?;
            let rows = q.query_map([epoch as i64], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<f64>>(1)?)))?;
            let mut out = Vec::new();
            for row in rows {
                let (record, response_ms) = row?;
                out.push(ChallengeRow { response_ms, ..serde_json::from_str(&record)? });
            }
            Ok(out)
        })
    }

    /// The seed of `epoch`, drawing and committing a fresh one on first call. The seed stays
    /// secret until the epoch's summary reveals it.
    fn epoch_seed(&self, epoch: u64, draw: fn() -> [u8; 32]) -> Result<EpochSeed> {
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

    fn close_epoch(&self, c: &Closing) -> Result<()> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            let epoch = c.epoch as i64;
            let updated = tx.execute(
                "UPDATE epochs SET summary_sha256 = ?2, closed_ms = ?3 WHERE epoch = ?1 AND summary_sha256 IS NULL",
                params![epoch, c.summary_sha256, now_ms() as i64],
            )?;
            if updated != 1 {
                return Err(Error::Conflict(format!("epoch {} has no seed or is already closed", c.epoch)));
            }
            tx.execute(
                "INSERT INTO policy_state (epoch, scorer, state) VALUES (?1, ?2, ?3)",
                params![epoch, c.scorer, c.state],
            )?;
            let weights_state = c.weights.as_ref().map(|_| schema::weights_state_text(&WeightsState::Pending {
                attempts: 0,
                last_error: None,
            }));
            tx.execute(
                "INSERT INTO outgoing (epoch, summary_sha256, weights, weights_state, head) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![epoch, c.summary_sha256, c.weights, weights_state, c.head as i64],
            )?;
            {
                let mut insert =
                    tx.prepare_cached("INSERT INTO outgoing_objects (epoch, seq, key, bytes) VALUES (?1, ?2, ?3, ?4)")?;
                for (seq, (key, bytes)) in c.objects.iter().enumerate() {
                    insert.execute(params![epoch, seq as i64, key, bytes])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
    }

    /// Epochs before `before` whose seed was drawn (they were started) but which are not closed.
    fn open_epochs(&self, before: u64) -> Result<Vec<u64>> {
        self.with(|conn| {
            let mut q = conn.prepare_cached(
                "SELECT epoch FROM epochs WHERE summary_sha256 IS NULL AND epoch < ?1 ORDER BY epoch",
            )?;
            let rows = q.query_map([before as i64], |r| r.get::<_, i64>(0))?;
            rows.map(|r| Ok(r? as u64)).collect()
        })
    }

    /// The latest closed epoch, if any.
    fn last_closed(&self) -> Result<Option<ClosedEpoch>> {
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
    fn state_before(&self, epoch: u64, scorer: &str) -> Result<Vec<u8>> {
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
    fn last_scorer(&self) -> Result<Option<String>> {
        self.with(|conn| {
            Ok(conn
                .query_row("SELECT scorer FROM policy_state ORDER BY epoch DESC LIMIT 1", [], |r| r.get(0))
                .optional()?)
        })
    }

    fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        self.with(|conn| {
            conn.execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )?;
            Ok(())
        })
    }

    fn setting(&self, key: &str) -> Result<Option<String>> {
        self.with(|conn| {
            Ok(conn.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| r.get(0)).optional()?)
        })
    }

    fn outgoing(&self) -> Result<Vec<Outgoing>> {
        self.with(|conn| {
            let mut q = conn.prepare_cached(
                "SELECT epoch, summary_sha256, weights, weights_state, head, published FROM outgoing \
                 WHERE published = 0 OR weights_state LIKE 'pending%' ORDER BY epoch",
            )?;
            let rows = q.query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, bool>(5)?,
                ))
            })?;
            let heads = rows.collect::<rusqlite::Result<Vec<_>>>()?;
            let mut objects =
                conn.prepare_cached("SELECT key, bytes FROM outgoing_objects WHERE epoch = ?1 ORDER BY seq")?;
            let mut out = Vec::with_capacity(heads.len());
            for (epoch, summary_sha256, weights, state, head, published) in heads {
                let objects = if published {
                    Vec::new()
                } else {
                    objects.query_map([epoch], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<Vec<_>>>()?
                };
                let weights_state = state.as_deref().map(schema::weights_state_parse).transpose()?;
                out.push(Outgoing {
                    epoch: epoch as u64,
                    summary_sha256,
                    objects,
                    weights,
                    weights_state,
                    head: head as u64,
                });
            }
            Ok(out)
        })
    }

    fn last_epoch_with_weights(&self) -> Result<Option<u64>> {
        self.with(|conn| {
            let last: Option<i64> =
                conn.query_row("SELECT MAX(epoch) FROM outgoing WHERE weights IS NOT NULL", [], |r| r.get(0))?;
            Ok(last.map(|e| e as u64))
        })
    }

    fn last_published(&self) -> Result<Option<u64>> {
        self.with(|conn| {
            let last: Option<i64> =
                conn.query_row("SELECT MAX(epoch) FROM outgoing WHERE published = 1", [], |r| r.get(0))?;
            Ok(last.map(|e| e as u64))
        })
    }

    fn mark_published(&self, epoch: u64) -> Result<()> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            tx.execute("UPDATE outgoing SET published = 1 WHERE epoch = ?1", [epoch as i64])?;
            tx.execute("DELETE FROM outgoing_objects WHERE epoch = ?1", [epoch as i64])?;
            tx.commit()?;
            Ok(())
        })
    }

    fn prune_bodies(&self, closed_before_ms: u64) -> Result<usize> {
        self.with(|conn| {
            let done = "SELECT e.epoch FROM epochs e LEFT JOIN outgoing o ON o.epoch = e.epoch \
                 WHERE e.summary_sha256 IS NOT NULL AND COALESCE(e.closed_ms, 0) < ?1 \
                 AND COALESCE(o.published, 1) = 1";
            let before = [closed_before_ms.min(i64::MAX as u64) as i64];
            let tx = conn.transaction()?;
            let dropped = tx.execute(&format!("DELETE FROM exchanges WHERE epoch IN ({done})"), before)?;
            tx.execute(&format!("DELETE FROM contents WHERE epoch IN ({done})"), before)?;
            tx.commit()?;
            if dropped > 0 {
                // Moves the WAL into the file (whose freed pages are then reused) and gives the
                // WAL's disk space back. The deletion is committed already: a checkpoint that
                // cannot run now (a reader in another process, no room to move pages) runs later.
                let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
            }
            Ok(dropped)
        })
    }

    fn mark_weights(&self, epoch: u64, state: &WeightsState) -> Result<()> {
        self.with(|conn| {
            conn.execute(
                "UPDATE outgoing SET weights_state = ?2 WHERE epoch = ?1",
                params![epoch as i64, schema::weights_state_text(state)],
            )?;
            Ok(())
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

/// Milliseconds since the Unix epoch by the host's clock (0 before it).
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
