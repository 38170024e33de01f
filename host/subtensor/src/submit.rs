//! Signing, submitting and watching an extrinsic until it is in a block (in-block is enough:
//! a retry first asks the chain whether an earlier attempt landed), under the inclusion
//! timeout. A refusal names the pallet error (`SubtensorModule.SettingWeightsTooFast`) or the
//! transaction pool's reason.

use assay_chain::{Error, Result};
use subxt::error::{DispatchError, TransactionEventsError};
use subxt::tx::{Payload, TransactionStatus};
use tracing::info;

use crate::client::{AtBlock, SubtensorChain};
use crate::signer::HotkeySigner;

impl SubtensorChain {
    /// The signer for `hotkey` (SS58), or why this client cannot sign as it.
    pub(crate) fn signer_for(&self, hotkey: &str) -> Result<&HotkeySigner> {
        let cannot = |reason: &str| Error::CannotSign { hotkey: hotkey.to_string(), reason: reason.to_string() };
        match &self.signer {
            None => Err(cannot("this chain client is read-only (no hotkey was loaded)")),
            Some(s) if s.ss58() != hotkey => Err(cannot(&format!("the loaded hotkey is {}", s.ss58()))),
            Some(s) => Ok(s),
        }
    }

    /// Signs `call` as `signer` at `at`, submits it and waits until it is in a block; returns
    /// the block's number.
    pub(crate) async fn submit(&self, at: AtBlock, signer: &HotkeySigner, call: impl Payload) -> Result<u64> {
        let name = format!("{}.{}", call.pallet_name(), call.call_name());
        let what = format!("submitting {name}");
        let limit = self.timeouts.inclusion;
        let block = self.bounded_by(limit, &what, self.submit_and_watch(at, signer, &call, &name)).await?;
        info!(call = %name, block, signer = %signer.ss58(), "extrinsic in a block");
        Ok(block)
    }

    async fn submit_and_watch(
        &self,
        at: AtBlock,
        signer: &HotkeySigner,
        call: &impl Payload,
        name: &str,
    ) -> Result<u64> {
        let before = self.failures.count();
        let refused =
            |error: String| Error::Dispatch { call: name.to_string(), pallet: "transaction pool".into(), error };
        let mut progress = match at.transactions().sign_and_submit_then_watch_default(call, signer).await {
            Ok(progress) => progress,
            Err(e) if self.failures.count() > before => {
                return Err(self.failed(&format!("submitting {name}"), before, e));
            }
            Err(e) => return Err(refused(e.to_string())),
        };
        while let Some(status) = progress.next().await {
            let status = status.map_err(|e| self.failed(&format!("watching {name}"), before, e))?;
            let in_block = match status {
                TransactionStatus::InBestBlock(b) | TransactionStatus::InFinalizedBlock(b) => b,
                TransactionStatus::Invalid { message }
                | TransactionStatus::Dropped { message }
                | TransactionStatus::Error { message } => return Err(refused(message)),
                _ => continue,
            };
            match in_block.wait_for_success().await {
                Ok(_) => {}
                Err(TransactionEventsError::ExtrinsicFailed(e)) => return Err(dispatch_error(name, &e)),
                Err(e) => return Err(self.failed(&format!("reading {name}'s events"), before, e)),
            }
            let block = in_block.at().await.map_err(|e| self.failed("reading the inclusion block", before, e))?;
            return Ok(block.block_number());
        }
        Err(Error::Protocol(format!("the node ended {name}'s status stream before a block")))
    }
}

/// The chain error for a failed extrinsic, naming the pallet and its error where it is one.
fn dispatch_error(call: &str, error: &DispatchError) -> Error {
    let (pallet, error) = match error {
        DispatchError::Module(m) => match m.details() {
            Ok(d) => (d.pallet.name().to_string(), d.variant.name.clone()),
            Err(_) => ("unknown pallet".to_string(), m.to_string()),
        },
        other => ("runtime".to_string(), other.to_string()),
    };
    Error::Dispatch { call: call.to_string(), pallet, error }
}
