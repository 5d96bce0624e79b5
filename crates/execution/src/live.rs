//! The consortium as the chain currently stands, shared by the executor,
//! mempool admission and the API.
//!
//! Every transaction of a block sees the same [`Consortium`]. After a block
//! whose governance changes altered it, or before the first block at which
//! an old CA's grace period has ended, the executor builds a new one from
//! state and swaps it in here, so it holds from the next block on — on
//! every node alike, since it is a function of genesis and state.

use ingot_module::Consortium;
use ingot_state::StateError;
use std::sync::{Arc, RwLock};

/// Why the consortium could not be loaded from state.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("{0} does not decode")]
    Damaged(&'static str),
    #[error("a stored CA: {0}")]
    Ca(String),
}

/// The current [`Consortium`], swapped whole when it changes.
pub struct LiveConsortium {
    current: RwLock<Arc<Consortium>>,
}

impl LiveConsortium {
    pub fn new(initial: Consortium) -> Self {
        Self {
            current: RwLock::new(Arc::new(initial)),
        }
    }

    /// Genesis's consortium with what governance has stored over it, as
    /// of `next_height` (a node opening at its executed height + 1).
    pub async fn load(
        genesis: Consortium,
        state: &dyn ingot_module::StateRead,
        next_height: u64,
    ) -> Result<Self, LoadError> {
        let stored = crate::modules::governance::stored_committed(state)
            .await?
            .map_err(|d| LoadError::Damaged(d.0))?;
        let c = crate::modules::governance::consortium_at(&genesis, stored, next_height)
            .map_err(|e| LoadError::Ca(e.to_string()))?;
        Ok(Self::new(c))
    }

    /// Member organisations of weight 1 from `(name, CA PEM)` pairs (tests
    /// and benchmarks).
    pub fn of_members<'a>(
        orgs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ingot_crypto::PkiError> {
        Ok(Self::new(Consortium::of_members(orgs)?))
    }

    /// The consortium for the next block.
    pub fn current(&self) -> Arc<Consortium> {
        self.current.read().expect("poisoned").clone()
    }

    pub(crate) fn replace_arc(&self, next: Arc<Consortium>) {
        *self.current.write().expect("poisoned") = next;
    }
}
