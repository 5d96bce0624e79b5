use ingot_types::genesis::GenesisError;

/// Why a descriptor or a genesis is refused. [`ConsortiumError::code`] is a
/// stable identifier for scripts; the message names what to fix.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConsortiumError {
    #[error("genesis structure: {0}")]
    Structure(#[from] GenesisError),
    #[error("the CA certificate of organisation {org} is not usable: {reason}")]
    BadCa { org: String, reason: String },
    #[error("validator {validator}: its certificate does not chain to the CA of {org}: {reason}")]
    ValidatorNotCertified {
        validator: String,
        org: String,
        reason: String,
    },
    #[error("validator {validator}: the certificate's role is `{role}`, it must be `validator` (OU=validator)")]
    ValidatorRole { validator: String, role: String },
    #[error("validator {validator}: the certificate certifies a different key than the listed public key (consensus keys are Ed25519)")]
    ValidatorKeyMismatch { validator: String },
    #[error("duplicate validator name {0}")]
    DuplicateValidatorName(String),
    #[error("descriptor: {0}")]
    Descriptor(String),
    #[error("organisation {0} is in more than one descriptor")]
    DuplicateDescriptor(String),
    #[error("too many descriptors (at most {0})")]
    TooManyDescriptors(usize),
    #[error("organisation {org} in the genesis differs from its descriptor: {what}")]
    DescriptorMismatch { org: String, what: String },
}

impl ConsortiumError {
    /// A stable code for each kind of refusal.
    pub fn code(&self) -> &'static str {
        match self {
            ConsortiumError::Structure(_) => "genesis_structure",
            ConsortiumError::BadCa { .. } => "bad_ca",
            ConsortiumError::ValidatorNotCertified { .. } => "validator_not_certified",
            ConsortiumError::ValidatorRole { .. } => "validator_role",
            ConsortiumError::ValidatorKeyMismatch { .. } => "validator_key_mismatch",
            ConsortiumError::DuplicateValidatorName(_) => "duplicate_validator_name",
            ConsortiumError::Descriptor(_) => "bad_descriptor",
            ConsortiumError::DuplicateDescriptor(_) => "duplicate_descriptor",
            ConsortiumError::TooManyDescriptors(_) => "too_many_descriptors",
            ConsortiumError::DescriptorMismatch { .. } => "descriptor_mismatch",
        }
    }
}
