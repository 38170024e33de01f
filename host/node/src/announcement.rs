//! The subnet owner's policy announcement as a commitment field: the one definition of its text,
//! `assay-policy:<world>:sha256:<64 lowercase hex>[:from-epoch:<N>]`, parsed and written here for
//! both the owner's command (`assay policy announce`) and the validators that follow it.
//!
//! A field is one Raw text field of the Commitments pallet (at most 128 bytes), readable by the
//! Python tools' `get_commitment`. The owner's commitment holds at most one field per world;
//! [`rewrite`] replaces one world's field and keeps the other world's and anyone else's.

use std::fmt;

use assay_chain::{MAX_COMMITMENT_FIELDS, MAX_RAW_FIELD_BYTES};
use assay_policy_runtime::{Digest, World};

/// Every announcement field starts with this.
pub const PREFIX: &str = "assay-policy:";

/// Why a field, or a commitment, cannot carry an announcement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnnouncementError {
    #[error("an announcement field of {0} bytes (at most {MAX_RAW_FIELD_BYTES})")]
    TooLong(usize),
    #[error("{0:?} is not an assay policy announcement (it must start with {PREFIX:?})")]
    NotAnnouncement(String),
    #[error("announcement names the world {0:?} (scorer or challenger)")]
    BadWorld(String),
    #[error("announcement names the digest {0:?} (sha256:<64 lowercase hex>)")]
    BadDigest(String),
    #[error("announcement names the epoch {0:?} (from-epoch:<decimal number>)")]
    BadEpoch(String),
    #[error("announcement {0:?} is malformed (assay-policy:<world>:sha256:<hex>[:from-epoch:<N>])")]
    Malformed(String),
    #[error(
        "the commitment already holds {0} other fields: no room for the announcement (at most {MAX_COMMITMENT_FIELDS})"
    )]
    NoRoom(usize),
}

/// One announced policy: the world it fills, its digest, and the epoch it takes effect at when
/// the owner names one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Announcement {
    pub world: World,
    pub digest: Digest,
    pub from_epoch: Option<u64>,
}

/// A world by its name in the field.
pub fn parse_world(name: &str) -> Result<World, AnnouncementError> {
    match name {
        "scorer" => Ok(World::Scorer),
        "challenger" => Ok(World::Challenger),
        other => Err(AnnouncementError::BadWorld(other.chars().take(32).collect())),
    }
}

/// An epoch in decimal digits only: no sign, no spaces, no leading zero (one spelling each).
fn parse_epoch(text: &str) -> Result<u64, AnnouncementError> {
    let bad = || AnnouncementError::BadEpoch(text.chars().take(32).collect());
    let canonical =
        !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) && (text == "0" || !text.starts_with('0'));
    if !canonical {
        return Err(bad());
    }
    text.parse().map_err(|_| bad())
}

/// Whether `field` is meant as an announcement (it may still be malformed).
pub fn is_announcement(field: &str) -> bool {
    field.starts_with(PREFIX)
}

impl Announcement {
    /// Parses one field; anything but the one spelling is refused.
    pub fn parse(field: &str) -> Result<Self, AnnouncementError> {
        if field.len() > MAX_RAW_FIELD_BYTES {
            return Err(AnnouncementError::TooLong(field.len()));
        }
        let shown = || field.chars().take(MAX_RAW_FIELD_BYTES).collect::<String>();
        let rest = field.strip_prefix(PREFIX).ok_or_else(|| AnnouncementError::NotAnnouncement(shown()))?;
        let parts: Vec<&str> = rest.split(':').collect();
        let (world, digest, from_epoch) = match parts.as_slice() {
            [world, "sha256", hex] => (world, hex, None),
            [world, "sha256", hex, "from-epoch", epoch] => (world, hex, Some(*epoch)),
            _ => return Err(AnnouncementError::Malformed(shown())),
        };
        let world = parse_world(world)?;
        let digest = digest.parse().map_err(|_| AnnouncementError::BadDigest(digest.chars().take(80).collect()))?;
        let from_epoch = from_epoch.map(parse_epoch).transpose()?;
        Ok(Self { world, digest, from_epoch })
    }

    /// The field's text (at most 123 bytes, within a Raw field's 128).
    pub fn field(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Announcement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}:sha256:{}", self.world, self.digest)?;
        if let Some(epoch) = self.from_epoch {
            write!(f, ":from-epoch:{epoch}")?;
        }
        Ok(())
    }
}

/// What one commitment announces, per world: the first field naming a world counts; a field
/// that starts with [`PREFIX`] but does not parse is returned as a refusal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Announced {
    pub scorer: Option<Announcement>,
    pub challenger: Option<Announcement>,
    pub malformed: Vec<AnnouncementError>,
}

impl Announced {
    /// Reads the fields of a commitment (no more than one holds: a chain node's answer is
    /// bounded here too).
    pub fn read(fields: &[String]) -> Self {
        let mut announced = Self::default();
        for field in fields.iter().take(MAX_COMMITMENT_FIELDS).filter(|f| is_announcement(f)) {
            match Announcement::parse(field) {
                Ok(a) => {
                    let slot = match a.world {
                        World::Scorer => &mut announced.scorer,
                        World::Challenger => &mut announced.challenger,
                    };
                    slot.get_or_insert(a);
                }
                Err(e) => announced.malformed.push(e),
            }
        }
        announced
    }

    pub fn get(&self, world: World) -> Option<&Announcement> {
        match world {
            World::Scorer => self.scorer.as_ref(),
            World::Challenger => self.challenger.as_ref(),
        }
    }
}

/// The owner's commitment fields with `announcement` in place of its world's field: the
/// scorer's field first, then the challenger's, then every field that is not an announcement
/// (another tool's), in their order; a malformed announcement field is dropped. Refused when
/// that is more than a commitment holds.
pub fn rewrite(fields: &[String], announcement: &Announcement) -> Result<Vec<String>, AnnouncementError> {
    let held = Announced::read(fields);
    let kept = |world: World| match world == announcement.world {
        true => Some(announcement.field()),
        false => held.get(world).map(Announcement::field),
    };
    let foreign: Vec<String> = fields.iter().filter(|f| !is_announcement(f)).cloned().collect();
    let ours: Vec<String> = [World::Scorer, World::Challenger].into_iter().filter_map(kept).collect();
    if ours.len() + foreign.len() > MAX_COMMITMENT_FIELDS {
        return Err(AnnouncementError::NoRoom(foreign.len()));
    }
    Ok(ours.into_iter().chain(foreign).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(byte: u8) -> Digest {
        Digest::of(&[byte])
    }

    fn check(field: &str, expected: Result<Announcement, AnnouncementError>) {
        assert_eq!(Announcement::parse(field), expected, "{field}");
    }

    #[test]
    fn fields_round_trip_and_read_as_documented() {
        for a in [
            Announcement { world: World::Scorer, digest: digest(1), from_epoch: None },
            Announcement { world: World::Challenger, digest: digest(2), from_epoch: Some(0) },
            Announcement { world: World::Scorer, digest: digest(3), from_epoch: Some(u64::MAX) },
        ] {
            let field = a.field();
            assert!(field.len() <= MAX_RAW_FIELD_BYTES, "{field}");
            check(&field, Ok(a));
        }
        let sha = digest(1).to_string();
        assert_eq!(
            Announcement { world: World::Scorer, digest: digest(1), from_epoch: Some(42) }.field(),
            format!("assay-policy:scorer:sha256:{sha}:from-epoch:42")
        );
    }

    #[test]
    fn anything_but_the_one_spelling_is_refused() {
        let sha = digest(1).to_string();
        check(&format!("assay-policy:validator:sha256:{sha}"), Err(AnnouncementError::BadWorld("validator".into())));
        check(&format!("assay-policy:Scorer:sha256:{sha}"), Err(AnnouncementError::BadWorld("Scorer".into())));
        let upper = sha.to_uppercase();
        check(&format!("assay-policy:scorer:sha256:{upper}"), Err(AnnouncementError::BadDigest(upper.clone())));
        check("assay-policy:scorer:sha256:abc", Err(AnnouncementError::BadDigest("abc".into())));
        for epoch in ["-1", "+1", "01", "", "1e3", "18446744073709551616"] {
            let field = format!("assay-policy:scorer:sha256:{sha}:from-epoch:{epoch}");
            assert!(matches!(Announcement::parse(&field), Err(AnnouncementError::BadEpoch(_))), "{field}");
        }
        for malformed in [
            format!("assay-policy:scorer:blake2:{sha}"),
            format!("assay-policy:scorer:sha256:{sha}:"),
            format!("assay-policy:scorer:sha256:{sha}:until-epoch:3"),
            format!("assay-policy:scorer:{sha}"),
        ] {
            assert!(matches!(Announcement::parse(&malformed), Err(AnnouncementError::Malformed(_))), "{malformed}");
        }
        check(
            &format!("policy:scorer:sha256:{sha}"),
            Err(AnnouncementError::NotAnnouncement(format!("policy:scorer:sha256:{sha}"))),
        );
        let long = format!("assay-policy:scorer:sha256:{sha}:from-epoch:{}", "1".repeat(40));
        check(&long, Err(AnnouncementError::TooLong(long.len())));
    }

    #[test]
    fn rewriting_keeps_the_other_world_and_foreign_fields() {
        let scorer = Announcement { world: World::Scorer, digest: digest(1), from_epoch: None };
        let challenger = Announcement { world: World::Challenger, digest: digest(2), from_epoch: None };
        let new_scorer = Announcement { world: World::Scorer, digest: digest(3), from_epoch: Some(9) };

        let first = rewrite(&[], &challenger).expect("room");
        assert_eq!(first, vec![challenger.field()]);
        let both = rewrite(&first, &scorer).expect("room");
        assert_eq!(both, vec![scorer.field(), challenger.field()], "the scorer's field first");
        let foreign = "https://owner.example/subnet".to_string();
        let with_foreign: Vec<String> = [foreign.clone()].into_iter().chain(both).collect();
        let replaced = rewrite(&with_foreign, &new_scorer).expect("room");
        assert_eq!(replaced, vec![new_scorer.field(), challenger.field(), foreign.clone()]);
        assert_eq!(Announced::read(&replaced).scorer, Some(new_scorer));
        assert_eq!(Announced::read(&replaced).challenger, Some(challenger));

        let crowded = vec![foreign.clone(), "b".into(), "c".into()];
        assert_eq!(rewrite(&crowded, &scorer), Err(AnnouncementError::NoRoom(3)));
        let two_foreign = vec![foreign, "b".into()];
        assert_eq!(rewrite(&two_foreign, &scorer).expect("room").len(), 3);
        let full = rewrite(&rewrite(&two_foreign, &scorer).expect("room"), &scorer).expect("replaced in place");
        assert_eq!(full.len(), 3);
        assert_eq!(rewrite(&full, &challenger), Err(AnnouncementError::NoRoom(2)));
    }

    #[test]
    fn a_malformed_field_is_reported_and_the_first_per_world_counts() {
        let a = Announcement { world: World::Scorer, digest: digest(1), from_epoch: None };
        let b = Announcement { world: World::Scorer, digest: digest(2), from_epoch: None };
        let fields = vec!["assay-policy:scorer:sha256:xyz".to_string(), a.field(), b.field(), "other".into()];
        let read = Announced::read(&fields);
        assert_eq!(read.scorer, Some(a));
        assert_eq!(read.challenger, None);
        assert_eq!(read.malformed, vec![AnnouncementError::BadDigest("xyz".into())]);
        // Past the fields a commitment holds, nothing is read.
        let crowded = vec!["a".to_string(), "b".into(), "c".into(), a.field()];
        assert_eq!(Announced::read(&crowded), Announced::default());
    }
}
