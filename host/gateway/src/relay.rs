//! A streamed answer on its way from a miner to a user.
//!
//! A task of its own reads the miner's body into a small buffer that the user's connection
//! drains, so the gateway's clock runs whether or not the user reads. A user who takes nothing
//! for `stream_idle_timeout_ms` loses the stream: the miner's request is cancelled (its
//! connection dropped), its slot freed, and the exchange recorded as `cancelled`, the user's
//! doing. Time a user held the stream back is never counted as the miner's: a miner timeout
//! that only the user's slowness brought about is `cancelled` too.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use assay_policy_sdk::Outcome;
use axum::body::{Body, Bytes};
use tokio::sync::mpsc;
use tokio_stream::{Stream, StreamExt};
use tracing::{info, warn};

use crate::counters::Tally;
use crate::proxy::Attempt;
use crate::server::Connection;

/// Pieces of the miner's body held for a user who is slower than the miner.
const BUFFER: usize = 16;

type Upstream = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// The time limits a relay runs under.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// How long the user may take nothing while the miner has something for them.
    pub user_idle: Duration,
    /// The miner's whole time for the request (the miner client's timeout).
    pub miner: Duration,
}

/// Starts relaying `upstream` (a miner's 200 answer) for `attempt`; returns the user's body.
/// `connection` is the user's, closed if they stop reading.
pub(crate) fn start(
    attempt: Attempt,
    upstream: reqwest::Response,
    limits: Limits,
    connection: Option<Connection>,
) -> Body {
    let (tx, rx) = mpsc::channel(BUFFER);
    let cut = Arc::new(AtomicBool::new(false));
    let sides = Sides { tx, cut: cut.clone(), connection };
    tokio::spawn(pump(attempt, Box::pin(upstream.bytes_stream()), sides, limits));
    Body::from_stream(ToUser { rx, cut, ended: false })
}

/// The pump's end of the user's side.
struct Sides {
    tx: mpsc::Sender<Bytes>,
    /// Set when the stream is cut: the user sees an error, not an end.
    cut: Arc<AtomicBool>,
    connection: Option<Connection>,
}

/// Moves the miner's pieces into the user's buffer, measuring them on the way, until the body
/// ends, the miner fails, the user goes away or stops reading.
async fn pump(mut attempt: Attempt, mut upstream: Upstream, user: Sides, limits: Limits) {
    // How long the user kept the miner's pieces waiting.
    let mut held = Duration::ZERO;
    loop {
        let piece = tokio::select! {
            piece = upstream.next() => piece,
            () = user.tx.closed() => return attempt.end_with(Outcome::Cancelled),
        };
        let piece = match piece {
            None => {
                // A body that ended before the meter was satisfied (no `[DONE]`, say) is not a
                // whole answer: what it held back stays held, and the user sees an error, not
                // an end.
                if attempt.end() != Outcome::Ok {
                    user.cut.store(true, Ordering::SeqCst);
                }
                return;
            }
            Some(Ok(piece)) => piece,
            Some(Err(e)) => {
                user.cut.store(true, Ordering::SeqCst);
                return attempt.end_with(miner_failure(&e, attempt.elapsed(), held, limits.miner));
            }
        };
        // What the meter lets through: the end only once the text is checked against the
        // signed tokens (an error event in its place if it is not).
        let relayed = Bytes::from(attempt.feed(&piece));
        let finished = attempt.finished();
        if finished {
            // The meter's verdict (ok, or the miner's bad response) stands whatever the user
            // does next; the miner's connection is dropped here. Ending an ended attempt again
            // below (the user gone or stalled) records nothing more.
            attempt.end();
        }
        if !relayed.is_empty() {
            let waiting = Instant::now();
            match tokio::time::timeout(limits.user_idle, user.tx.reserve()).await {
                Ok(Ok(room)) => {
                    held += waiting.elapsed();
                    room.send(relayed);
                }
                // The user went away.
                Ok(Err(_)) => return attempt.end_with(Outcome::Cancelled),
                Err(_) => return cut_stalled(attempt, &user, limits.user_idle),
            }
        }
        if finished {
            return;
        }
    }
}

/// The user took nothing for `idle`: the miner's request is cancelled (its slot freed, charged
/// to no one but the user) and the user's connection closed.
fn cut_stalled(mut attempt: Attempt, user: &Sides, idle: Duration) {
    info!(
        uid = attempt.uid(),
        idle_ms = idle.as_millis() as u64,
        "a user stopped reading a stream; the miner's request is cancelled and charged to no miner"
    );
    Tally::bump(&attempt.tally().streams_cut);
    user.cut.store(true, Ordering::SeqCst);
    attempt.end_with(Outcome::Cancelled);
    if let Some(connection) = &user.connection {
        connection.close_now();
    }
}

/// How a miner's body that broke off counts: a timeout is the miner's only when its own time,
/// without what the user held back, ran past its limit.
fn miner_failure(error: &reqwest::Error, elapsed: Duration, held: Duration, limit: Duration) -> Outcome {
    if !error.is_timeout() {
        return Outcome::ServerError;
    }
    attribute_timeout(elapsed, held, limit)
}

fn attribute_timeout(elapsed: Duration, held: Duration, limit: Duration) -> Outcome {
    if elapsed.saturating_sub(held) < limit {
        warn!(
            elapsed_ms = elapsed.as_millis() as u64,
            held_by_user_ms = held.as_millis() as u64,
            "a stream timed out because its user read slowly; recorded as the user's"
        );
        Outcome::Cancelled
    } else {
        Outcome::Timeout
    }
}

/// The user's side of the buffer: the pieces in order, then an error if the stream was cut
/// (so that a client never takes a cut stream for a whole one).
struct ToUser {
    rx: mpsc::Receiver<Bytes>,
    cut: Arc<AtomicBool>,
    ended: bool,
}

impl Stream for ToUser {
    type Item = Result<Bytes, io::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        match this.rx.poll_recv(cx) {
            Poll::Ready(Some(piece)) => Poll::Ready(Some(Ok(piece))),
            Poll::Ready(None) => {
                this.ended = true;
                if this.cut.load(Ordering::SeqCst) {
                    Poll::Ready(Some(Err(io::Error::other("the stream was cut off"))))
                } else {
                    Poll::Ready(None)
                }
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_is_the_miners_only_when_its_own_time_ran_out() {
        let limit = Duration::from_secs(10);
        let s = Duration::from_secs;
        // (elapsed, held by the user, outcome)
        let cases = [
            (s(10), s(0), Outcome::Timeout),
            (s(10), s(1), Outcome::Cancelled),
            (s(12), s(1), Outcome::Timeout),
            (s(10), s(10), Outcome::Cancelled),
        ];
        for (elapsed, held, outcome) in cases {
            assert_eq!(attribute_timeout(elapsed, held, limit), outcome, "{elapsed:?} {held:?}");
        }
    }
}
