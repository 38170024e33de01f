//! Response bodies made as they are read, so that an attack costs its sender next to nothing:
//! a flood of filler from one static buffer, and pieces paced by a timer (a trickle, an endless
//! stream) that stop when the reader goes away.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::{Body, Bytes};
use tokio_stream::wrappers::ReceiverStream;

use super::Counters;

const FILLER_LEN: usize = 64 * 1024;
/// Filler without a newline: no SSE separator, no end of a JSON string.
static FILLER: [u8; FILLER_LEN] = [b'x'; FILLER_LEN];

/// `prefix`, then `len` filler bytes, then `suffix`: only the piece being written is held.
pub(crate) fn flood(prefix: String, len: u64, suffix: &'static str, counters: Arc<Counters>) -> Body {
    let full = len / FILLER_LEN as u64;
    let rest = (len % FILLER_LEN as u64) as usize;
    let pieces = std::iter::once(Bytes::from(prefix))
        .chain((0..full).map(|_| Bytes::from_static(&FILLER)))
        .chain(std::iter::once(Bytes::from_static(&FILLER[..rest])))
        .chain(std::iter::once(Bytes::from_static(suffix.as_bytes())));
    let counted = pieces.map(move |piece| {
        counters.bytes_sent.fetch_add(piece.len() as u64, Ordering::Relaxed);
        Ok::<_, Infallible>(piece)
    });
    Body::from_stream(tokio_stream::iter(counted))
}

/// `pieces`, one every `every` (the first at once), until they run out or the reader goes away.
pub(crate) fn paced(
    pieces: impl Iterator<Item = Bytes> + Send + 'static,
    every: Duration,
    counters: Arc<Counters>,
) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, Infallible>>(1);
    tokio::spawn(async move {
        for piece in pieces {
            let len = piece.len() as u64;
            if tx.send(Ok(piece)).await.is_err() {
                return; // the reader went away
            }
            counters.bytes_sent.fetch_add(len, Ordering::Relaxed);
            tokio::time::sleep(every).await;
        }
    });
    Body::from_stream(ReceiverStream::new(rx))
}

/// Every byte of `text` as its own piece.
pub(crate) fn bytewise(text: String) -> impl Iterator<Item = Bytes> + Send + 'static {
    let bytes = Bytes::from(text);
    (0..bytes.len()).map(move |i| bytes.slice(i..i + 1))
}
