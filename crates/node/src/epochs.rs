//! Epochs: which heights belong to which epoch, which validators sign for an
//! epoch, and where an epoch's consensus journal lives.
//!
//! Consensus runs one simplex engine per epoch (see [`crate::orchestrator`]).
//! The last block of epoch `e` is finalized by `e`'s validators; epoch `e+1`
//! starts from it. Marshal verifies backfilled certificates with the set of
//! the epoch the certificate's height belongs to, so a set must be registered
//! here before marshal needs it (a missing one makes marshal ignore the
//! certificate and stall, never accept it).

use crate::CONSENSUS_NAMESPACE;
use commonware_consensus::{
    simplex::scheme::ed25519,
    types::{Epoch, Epocher, FixedEpocher, Height},
};
use commonware_cryptography::{
    certificate::{Provider, Scheme as _, Scoped},
    ed25519::{PrivateKey, PublicKey},
};
use commonware_utils::ordered::Set;
use ingot_types::Genesis;
use std::{
    collections::BTreeMap,
    num::NonZeroU64,
    sync::{Arc, Mutex},
};

/// Most finalized blocks marshal hands out before their acknowledgements
/// are persisted. A restart resumes at most this many blocks before the
/// last acknowledged one, so with epochs longer than this it resumes in the
/// epoch just left at the earliest — which is why the journal of the epoch
/// before that may be removed.
pub const MAX_PENDING_ACKS: usize = 16;
const _: () = assert!(ingot_types::genesis::MIN_EPOCH_LENGTH > MAX_PENDING_ACKS as u64);

/// The mapping of heights to epochs that genesis fixes (one epoch for the
/// whole chain when genesis sets no length).
pub fn epocher(genesis: &Genesis) -> FixedEpocher {
    FixedEpocher::new(
        NonZeroU64::new(genesis.epoch_length()).expect("genesis validation keeps epoch_length > 0"),
    )
}

/// The epoch `height` belongs to.
pub fn epoch_of(epocher: &FixedEpocher, height: u64) -> Epoch {
    epocher
        .containing(Height::new(height))
        .expect("every u64 height below u64::MAX belongs to an epoch")
        .epoch()
}

/// The last height of `epoch` (its boundary block).
pub fn last_height(epocher: &FixedEpocher, epoch: Epoch) -> u64 {
    epocher
        .last(epoch)
        .expect("epochs of reachable heights exist")
        .get()
}

/// The storage partition of `epoch`'s consensus journal. Epoch 0 keeps the
/// name it had before epochs existed, so existing data directories resume.
pub fn journal_partition(prefix: &str, epoch: Epoch) -> String {
    if epoch.is_zero() {
        format!("{prefix}-consensus")
    } else {
        format!("{prefix}-consensus-{}", epoch.get())
    }
}

/// The validator set of each epoch this node has entered or learned, as the
/// certificate provider marshal and the engines use.
#[derive(Clone)]
pub struct EpochSchemes {
    signer: PrivateKey,
    schemes: Arc<Mutex<BTreeMap<Epoch, Arc<ed25519::Scheme>>>>,
}

impl EpochSchemes {
    pub fn new(signer: PrivateKey) -> Self {
        Self {
            signer,
            schemes: Arc::default(),
        }
    }

    /// Record `participants` as `epoch`'s validators. Returns the scheme this
    /// node uses in that epoch: a signer if its key is among them, otherwise
    /// verify-only (it follows the epoch as an observer). Registering an
    /// epoch again with the same set is a no-op; with another set it is a
    /// bug (an epoch's set never changes once decided).
    pub fn register(&self, epoch: Epoch, participants: Set<PublicKey>) -> Arc<ed25519::Scheme> {
        let mut schemes = self.schemes.lock().expect("epoch schemes lock");
        if let Some(known) = schemes.get(&epoch) {
            assert!(
                known.participants() == &participants,
                "epoch {epoch} registered with two validator sets"
            );
            return known.clone();
        }
        // Consecutive epochs usually share a set: share its scheme too.
        let same = schemes
            .values()
            .next_back()
            .filter(|latest| latest.participants() == &participants)
            .cloned();
        let scheme = same.unwrap_or_else(|| {
            Arc::new(
                ed25519::Scheme::signer(
                    CONSENSUS_NAMESPACE,
                    participants.clone(),
                    self.signer.clone(),
                )
                .unwrap_or_else(|| ed25519::Scheme::verifier(CONSENSUS_NAMESPACE, participants)),
            )
        });
        schemes.insert(epoch, scheme.clone());
        scheme
    }

    /// Drop the sets of epochs below `epoch`: marshal verifies certificates
    /// only above its processed height, and the orchestrator keeps the
    /// current and the previous epoch (what marshal's unpersisted
    /// acknowledgements may span). Offline verifiers use `ingot-light`.
    pub fn forget_below(&self, epoch: Epoch) {
        let mut schemes = self.schemes.lock().expect("epoch schemes lock");
        *schemes = schemes.split_off(&epoch);
    }

    /// Whether `epoch`'s set is known.
    pub fn knows(&self, epoch: Epoch) -> bool {
        self.schemes
            .lock()
            .expect("epoch schemes lock")
            .contains_key(&epoch)
    }

    fn get(&self, epoch: Epoch) -> Option<Arc<ed25519::Scheme>> {
        self.schemes
            .lock()
            .expect("epoch schemes lock")
            .get(&epoch)
            .cloned()
    }
}

impl Provider for EpochSchemes {
    type Scope = Epoch;
    type Scheme = ed25519::Scheme;

    fn scoped(&self, epoch: Epoch) -> Option<Scoped<ed25519::Scheme>> {
        self.get(epoch).map(Scoped::scheme)
    }

    // Observers hold verify-only schemes; marshal still needs them to check
    // notarizations it fetches, so the scheme is returned whatever it can do.
    fn scheme(&self, epoch: Epoch) -> Option<Arc<ed25519::Scheme>> {
        self.get(epoch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_cryptography::Signer;

    fn key(n: u64) -> PrivateKey {
        PrivateKey::from_seed(n)
    }

    fn set(keys: &[u64]) -> Set<PublicKey> {
        Set::from_iter_dedup(keys.iter().map(|n| key(*n).public_key()))
    }

    #[test]
    fn heights_map_to_epochs_of_the_genesis_length() {
        let e = FixedEpocher::new(NonZeroU64::new(20).unwrap());
        assert_eq!(epoch_of(&e, 0), Epoch::zero());
        assert_eq!(epoch_of(&e, 19), Epoch::zero());
        assert_eq!(epoch_of(&e, 20), Epoch::new(1));
        assert_eq!(last_height(&e, Epoch::zero()), 19);
        assert_eq!(last_height(&e, Epoch::new(3)), 79);
        let one = FixedEpocher::new(NonZeroU64::new(u64::MAX).unwrap());
        assert_eq!(epoch_of(&one, u64::MAX - 1), Epoch::zero());
    }

    #[test]
    fn epoch_zero_keeps_the_journal_name_it_had_before_epochs() {
        assert_eq!(journal_partition("v0", Epoch::zero()), "v0-consensus");
        assert_eq!(journal_partition("v0", Epoch::new(7)), "v0-consensus-7");
    }

    #[test]
    fn a_node_signs_only_in_epochs_whose_set_holds_its_key() {
        let schemes = EpochSchemes::new(key(1));
        let member = schemes.register(Epoch::zero(), set(&[1, 2, 3, 4]));
        assert!(member.me().is_some());
        let outside = schemes.register(Epoch::new(1), set(&[2, 3, 4, 5]));
        assert!(outside.me().is_none());
        assert!(schemes.knows(Epoch::new(1)));
        assert!(!schemes.knows(Epoch::new(2)));
        assert!(schemes.scoped(Epoch::new(2)).is_none());
        assert!(schemes.scheme(Epoch::new(1)).is_some());
        // Registering the same set again is harmless, and consecutive
        // epochs with one set share one scheme.
        schemes.register(Epoch::new(1), set(&[2, 3, 4, 5]));
        let next = schemes.register(Epoch::new(2), set(&[2, 3, 4, 5]));
        assert!(Arc::ptr_eq(&outside, &next));
        // Older epochs are forgotten on request.
        schemes.forget_below(Epoch::new(2));
        assert!(!schemes.knows(Epoch::zero()) && !schemes.knows(Epoch::new(1)));
        assert!(schemes.knows(Epoch::new(2)));
    }

    #[test]
    fn consensus_resumes_in_the_epoch_of_the_first_unprocessed_height() {
        use crate::orchestrator::resume_epoch;
        let e = FixedEpocher::new(NonZeroU64::new(20).unwrap());
        assert_eq!(resume_epoch(&e, None), Epoch::zero());
        assert_eq!(resume_epoch(&e, Some(0)), Epoch::zero());
        assert_eq!(resume_epoch(&e, Some(18)), Epoch::zero());
        // Processed up to the boundary: the next epoch.
        assert_eq!(resume_epoch(&e, Some(19)), Epoch::new(1));
        assert_eq!(resume_epoch(&e, Some(20)), Epoch::new(1));
        assert_eq!(resume_epoch(&e, Some(39)), Epoch::new(2));
    }

    #[test]
    #[should_panic(expected = "two validator sets")]
    fn an_epoch_never_gets_a_second_set() {
        let schemes = EpochSchemes::new(key(1));
        schemes.register(Epoch::zero(), set(&[1, 2, 3, 4]));
        schemes.register(Epoch::zero(), set(&[1, 2, 3, 5]));
    }
}
