//! Commit-reveal v4 without a node: weights normalized as the Python SDK does, the SCALE payload
//! timelock-encrypted to a drand quicknet round, and the round at which the chain reveals.
//!
//! Owns: [`convert_weights_and_uids_for_emit`], [`WeightsPayload`], [`encrypt_for_round`] /
//! [`decrypt_with_signature`], [`RevealSchedule`] / [`reveal_round`]. Pure functions: the
//! caller reads the chain (the schedule, the block, the block time) and the clock.
//! Must not touch: the network, a clock, or the chain client; tests compare it against the
//! Python SDK's own outputs (`scripts/make-drand-fixtures.sh`).

mod normalize;
mod reveal;
mod timelock;

pub use normalize::{WeightsError, convert_weights_and_uids_for_emit};
pub use reveal::{
    DRAND_QUICKNET_GENESIS_UNIX_S, DRAND_QUICKNET_PERIOD_S, MAX_REVEAL_PERIOD_EPOCHS, RevealError, RevealSchedule,
    SECURITY_BLOCK_OFFSET, first_reveal_block, reveal_round,
};
pub use timelock::{
    DRAND_QUICKNET_PUBLIC_KEY_HEX, MAX_COMMIT_BYTES, TimelockError, WeightsPayload, decrypt_payload,
    decrypt_with_signature, encrypt_for_round,
};
