//! The subnet owner's side of announcements (`assay policy announce`).
//!
//! Owns: putting an announced policy into the owner's publication after the checks validators
//! will make (so that none finds an announcement it cannot fetch), and rewriting the owner's
//! commitment so that its world's field names the policy, the other fields kept.
//! Signer: the owner's hotkey, which must be the subnet owner's (the config's
//! `[policy] owner_hotkey`, else the metagraph's): validators follow no one else.
//! Must not touch: the field's text (`announcement`) or following it (`follow`).

use assay_chain::{Chain, Commitment, Epochs};
use assay_keys::Hotkey;
use assay_policy_runtime::{PolicyStore, Runtime, World};
use assay_publish::{ObjectStore, keys};
use tracing::info;

use crate::announcement::{Announcement, rewrite};
use crate::follow::check_policy;
use crate::{Config, Error, Result};

/// Checks `bytes` as validators will (the announced hash and world, compiles, instantiates)
/// and puts them into the owner's publication under their hash.
pub fn publish(
    publication: &dyn ObjectStore,
    runtime: &Runtime,
    announcement: &Announcement,
    bytes: &[u8],
) -> Result<()> {
    check_policy(runtime, &announcement.digest, bytes, announcement.world).map_err(|e| {
        Error::Policy(format!("{} cannot be announced as a {}: {e}", announcement.digest, announcement.world))
    })?;
    publication.put(&keys::policy(&announcement.digest.to_string()), bytes)?;
    Ok(())
}

/// Rewrites `signer`'s commitment on `netuid` so that `announcement`'s world names it,
/// keeping the other world's field and any other field. Refused unless `signer` is the subnet
/// owner (`owner_override`, else the metagraph's), and when the named epoch is earlier than
/// validators could honour (a scorer needs a shadow epoch first).
pub async fn commit(
    chain: &dyn Chain,
    netuid: u16,
    signer: &str,
    owner_override: Option<&str>,
    announcement: &Announcement,
    epochs: Epochs,
) -> Result<Commitment> {
    let metagraph = chain.metagraph(netuid).await?;
    let owner = owner_override.map(str::to_string).or(metagraph.owner_hotkey);
    if owner.as_deref() != Some(signer) {
        return Err(Error::NotOwner { signer: signer.to_string(), netuid, owner });
    }
    if let Some(named) = announcement.from_epoch {
        let current = epochs.of_block(chain.current_block().await?);
        let earliest = current.saturating_add(match announcement.world {
            World::Scorer => 2,
            World::Challenger => 1,
        });
        if named < earliest {
            return Err(Error::TooEarly { world: announcement.world.to_string(), named, earliest });
        }
    }
    let held = chain.commitment(netuid, signer).await?.map(|c| c.fields).unwrap_or_default();
    let fields = rewrite(&held, announcement)?;
    let block = chain.set_commitment(signer, netuid, &fields).await?;
    info!(netuid, owner = signer, block, field = %announcement, "policy announced in the owner's commitment");
    Ok(Commitment { block, fields })
}

/// `assay policy announce`: the stored policy `announcement` names, checked and put into the
/// config's publication (the owner's), then announced in `owner`'s commitment on the config's
/// chain.
pub async fn announce(config: &Config, owner: &Hotkey, announcement: &Announcement) -> Result<Commitment> {
    let bytes = PolicyStore::open(config.policy_dir())?
        .get(&announcement.digest)
        .map_err(|e| Error::Policy(format!("{e} (add it with `assay policy add`)")))?;
    let runtime = Runtime::new(Some(&config.cache_dir()))?;
    let chain = crate::open_chain(&config.chain, owner).await?;
    let epochs = crate::epoch_schedule(config, chain.as_ref()).await?;
    // Published before the commitment: a validator never reads an announcement whose policy
    // is not there yet.
    publish(crate::open_store(&config.publish)?.as_ref(), &runtime, announcement, &bytes)?;
    let owner_override = config.policy.owner_hotkey.as_deref();
    commit(chain.as_ref(), config.netuid, &owner.ss58(), owner_override, announcement, epochs).await
}
