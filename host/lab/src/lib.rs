//! The lab: everything that runs the validator's parts for people and measurements rather than
//! for a subnet: `assay devnet` (the whole system on one machine, with hostile miners and users
//! for the soak, and a subnet owner who announces a scorer), the detection experiment and the calibration, the gateway benchmark's mock
//! worker and load generator, synthetic workloads.
//!
//! Must not touch: the node's logic. The devnet builds its config with the config type and runs
//! the same [`assay_node::Node`] a validator runs.
//!
//! Errors are `anyhow` (this is an edge of the program); those the caller must show as the
//! operator's input (exit 2) are wrapped in [`BadInput`].

pub mod benchtable;
pub mod charges;
pub mod detect;
mod detect_epoch;
pub mod devnet;
pub mod devnet_competition;
pub mod devnet_scorer;
pub mod devnet_view;
mod devnet_watch;
pub mod hostile;
mod interval;
pub mod loadgen;
pub mod owner;
pub mod publication;
pub mod synth;
pub mod trained;
pub mod users;

use anyhow::Context;
use tokio::sync::watch;

/// An error caused by the operator's input (a missing plugin, a folder that is not ours).
#[derive(Debug, thiserror::Error)]
#[error("{0:#}")]
pub struct BadInput(pub anyhow::Error);

/// Marks an error as the operator's input.
pub fn bad_input(error: impl Into<anyhow::Error>) -> anyhow::Error {
    anyhow::Error::new(BadInput(error.into()))
}

/// Whether `error` (or anything it wraps) is the operator's input.
pub fn is_bad_input(error: &anyhow::Error) -> bool {
    error.chain().any(|e| e.is::<BadInput>())
}

/// Ctrl-C sends `true` on `stop`.
pub fn stop_on_ctrl_c(runtime: &tokio::runtime::Runtime, stop: watch::Sender<bool>) {
    runtime.spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::info!("interrupted: closing down");
            let _ = stop.send(true);
        }
    });
}

/// Serves `app` on `host:port` until Ctrl-C, with `TCP_NODELAY` (streamed tokens go out at once,
/// without Nagle's delay). `what` names the server in logs.
pub fn serve_until_ctrl_c(host: &str, port: u16, app: axum::Router, what: &str) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let address = format!("{host}:{port}");
        let listener = tokio::net::TcpListener::bind(&address)
            .await
            .with_context(|| format!("binding {address}"))
            .map_err(bad_input)?;
        tracing::info!(address = %address, "{what} listening");
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("serving")
    })
}
