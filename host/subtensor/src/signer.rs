//! The validator's (or miner's) hotkey as subxt's transaction [`Signer`].

use assay_keys::{Hotkey, Scheme};
use subxt::SubstrateConfig;
use subxt::config::substrate::{AccountId32, MultiSignature};
use subxt::tx::Signer;

/// Signs extrinsics with an `assay_keys::Hotkey` (sr25519 under the "substrate" context, as
/// every Substrate signer does; ed25519 keys sign plainly).
#[derive(Clone)]
pub struct HotkeySigner {
    hotkey: Hotkey,
}

impl std::fmt::Debug for HotkeySigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HotkeySigner({})", self.hotkey.ss58())
    }
}

impl HotkeySigner {
    pub fn new(hotkey: Hotkey) -> Self {
        Self { hotkey }
    }

    pub fn ss58(&self) -> String {
        self.hotkey.ss58()
    }

    /// The 32-byte public key (the account id on chain).
    pub fn public(&self) -> [u8; 32] {
        self.hotkey.public().bytes
    }
}

impl Signer<SubstrateConfig> for HotkeySigner {
    fn account_id(&self) -> AccountId32 {
        AccountId32(self.public())
    }

    fn sign(&self, signer_payload: &[u8]) -> MultiSignature {
        let signature = self.hotkey.sign(signer_payload);
        match self.hotkey.scheme() {
            Scheme::Sr25519 => MultiSignature::Sr25519(signature),
            Scheme::Ed25519 => MultiSignature::Ed25519(signature),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_as_the_hotkey() {
        for scheme in [Scheme::Sr25519, Scheme::Ed25519] {
            let hotkey = Hotkey::from_seed(scheme, [7; 32]).expect("key");
            let signer = HotkeySigner::new(hotkey.clone());
            assert_eq!(signer.account_id().0, hotkey.public().bytes);
            let (MultiSignature::Sr25519(sig) | MultiSignature::Ed25519(sig)) = signer.sign(b"payload") else {
                panic!("an sr25519 or ed25519 signature");
            };
            hotkey.public().verify(b"payload", &sig).expect("verifies");
        }
    }
}
