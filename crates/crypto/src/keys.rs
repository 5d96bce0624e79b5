//! Key pairs for the three schemes, PKCS#8 / SPKI PEM I/O, sign / verify.
//!
//! Signature byte format returned by [`PrivateKey::sign`] and accepted by
//! [`PublicKey::verify`] is the X.509 / OpenSSL one:
//! * Ed25519: 64 raw bytes (R || S)
//! * ECDSA P-256 and SM2: ASN.1 DER `SEQUENCE { r INTEGER, s INTEGER }`

use ed25519_dalek::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _};
use p256::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _, LineEnding};
use sm2::elliptic_curve::Generate as _;
use x509_cert::der::Decode as _;

use crate::{PkiError, Result, SM2_DEFAULT_DISTID};

/// Supported signature schemes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    Ed25519,
    /// ECDSA on NIST P-256 with SHA-256.
    P256,
    /// SM2 signature with SM3 and the default distinguishing ID.
    Sm2,
}

impl Scheme {
    pub const ALL: [Scheme; 3] = [Scheme::Ed25519, Scheme::P256, Scheme::Sm2];

    /// X.509 signatureAlgorithm OID produced by this scheme.
    pub fn signature_oid(self) -> &'static str {
        match self {
            Scheme::Ed25519 => crate::oid::ED25519,
            Scheme::P256 => crate::oid::ECDSA_WITH_SHA256,
            Scheme::Sm2 => crate::oid::SM2_WITH_SM3,
        }
    }
}

fn key_err(e: impl std::fmt::Display) -> PkiError {
    PkiError::Key(e.to_string())
}

/// A private key of one of the supported schemes.
#[derive(Clone)]
pub enum PrivateKey {
    Ed25519(ed25519_dalek::SigningKey),
    P256(p256::ecdsa::SigningKey),
    /// The SM2 `SecretKey` is kept for PKCS#8 export (`sm2::dsa::SigningKey` has no PKCS#8 impl).
    Sm2 {
        secret: sm2::SecretKey,
        signer: sm2::dsa::SigningKey,
    },
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrivateKey({:?})", self.scheme())
    }
}

impl PrivateKey {
    /// Generate a fresh key from the OS RNG.
    pub fn generate(scheme: Scheme) -> Result<Self> {
        Ok(match scheme {
            Scheme::Ed25519 => {
                let mut seed = [0u8; 32];
                getrandom::fill(&mut seed).map_err(key_err)?;
                PrivateKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&seed))
            }
            // `Generate::generate()` uses the system RNG (elliptic-curve `getrandom` feature,
            // on by default in p256 (via `std`) and sm2).
            Scheme::P256 => PrivateKey::P256(p256::ecdsa::SigningKey::generate()),
            Scheme::Sm2 => Self::sm2_from_secret(sm2::SecretKey::generate())?,
        })
    }

    /// A key from its raw secret: the 32-byte Ed25519 seed, or the 32-byte
    /// big-endian P-256 / SM2 scalar (test vectors, firmware provisioning).
    pub fn from_raw(scheme: Scheme, secret: &[u8]) -> Result<Self> {
        let bytes: [u8; 32] = secret
            .try_into()
            .map_err(|_| PkiError::Key(format!("a raw secret of {} bytes", secret.len())))?;
        Ok(match scheme {
            Scheme::Ed25519 => PrivateKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&bytes)),
            Scheme::P256 => {
                PrivateKey::P256(p256::ecdsa::SigningKey::from_slice(&bytes).map_err(key_err)?)
            }
            Scheme::Sm2 => {
                Self::sm2_from_secret(sm2::SecretKey::from_slice(&bytes).map_err(key_err)?)?
            }
        })
    }

    fn sm2_from_secret(secret: sm2::SecretKey) -> Result<Self> {
        let signer = sm2::dsa::SigningKey::new(SM2_DEFAULT_DISTID, &secret).map_err(key_err)?;
        Ok(PrivateKey::Sm2 { secret, signer })
    }

    pub fn scheme(&self) -> Scheme {
        match self {
            PrivateKey::Ed25519(_) => Scheme::Ed25519,
            PrivateKey::P256(_) => Scheme::P256,
            PrivateKey::Sm2 { .. } => Scheme::Sm2,
        }
    }

    /// The 32-byte seed of an Ed25519 key (what consensus key types are built from).
    pub fn ed25519_seed(&self) -> Option<[u8; 32]> {
        match self {
            PrivateKey::Ed25519(k) => Some(k.to_bytes()),
            _ => None,
        }
    }

    /// PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----"), readable by `openssl pkey`.
    pub fn to_pkcs8_pem(&self) -> Result<String> {
        let pem = match self {
            // `SigningKey::to_pkcs8_pem` writes PKCS#8 v2 (OneAsymmetricKey, with the [1] public
            // key) which OpenSSL 3.0 refuses ("unsupported"). Write v1 (RFC 8410 form) instead.
            PrivateKey::Ed25519(k) => ed25519_dalek::pkcs8::KeypairBytes {
                secret_key: k.to_bytes(),
                public_key: None,
            }
            .to_pkcs8_pem(LineEnding::LF),
            PrivateKey::P256(k) => k.to_pkcs8_pem(LineEnding::LF),
            PrivateKey::Sm2 { secret, .. } => secret.to_pkcs8_pem(LineEnding::LF),
        }
        .map_err(key_err)?;
        Ok(pem.to_string())
    }

    /// Parse a PKCS#8 PEM private key; the scheme is taken from the AlgorithmIdentifier
    /// (id-Ed25519, or id-ecPublicKey with the prime256v1 / SM2 curve parameter).
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self> {
        let (label, der) = x509_cert::der::pem::decode_vec(pem.as_bytes()).map_err(key_err)?;
        if label != "PRIVATE KEY" {
            return Err(PkiError::Key(format!(
                "expected PRIVATE KEY PEM, got {label}"
            )));
        }
        let info = p256::pkcs8::PrivateKeyInfoRef::from_der(&der).map_err(key_err)?;
        let alg = info.algorithm.oid.to_string();
        let curve = info.algorithm.parameters_oid().ok().map(|o| o.to_string());
        match (alg.as_str(), curve.as_deref()) {
            (crate::oid::ED25519, _) => Ok(PrivateKey::Ed25519(
                ed25519_dalek::SigningKey::from_pkcs8_der(&der).map_err(key_err)?,
            )),
            (crate::oid::EC_PUBLIC_KEY, Some(crate::oid::CURVE_P256)) => Ok(PrivateKey::P256(
                p256::ecdsa::SigningKey::from_pkcs8_der(&der).map_err(key_err)?,
            )),
            (crate::oid::EC_PUBLIC_KEY, Some(crate::oid::CURVE_SM2))
            // OpenSSL 1.1.1 could label SM2 keys with the SM2 OID itself.
            | (crate::oid::CURVE_SM2, _) => {
                Self::sm2_from_secret(sm2::SecretKey::from_pkcs8_der(&der).map_err(key_err)?)
            }
            _ => Err(PkiError::UnsupportedAlgorithm(format!(
                "private key algorithm {alg} / {curve:?}"
            ))),
        }
    }

    pub fn public_key(&self) -> PublicKey {
        match self {
            PrivateKey::Ed25519(k) => PublicKey::Ed25519(k.verifying_key()),
            PrivateKey::P256(k) => PublicKey::P256(*k.verifying_key()),
            PrivateKey::Sm2 { signer, .. } => PublicKey::Sm2(signer.verifying_key().clone()),
        }
    }

    /// Sign `msg` (the scheme hashes internally: SHA-512 inside Ed25519, SHA-256, SM3 with Z_A).
    /// Returns the X.509 encoding (Ed25519 raw 64 bytes, ECDSA/SM2 DER).
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>> {
        use sm2::dsa::signature::Signer as _;
        Ok(match self {
            PrivateKey::Ed25519(k) => {
                let sig: ed25519_dalek::Signature = k.try_sign(msg).map_err(key_err)?;
                sig.to_bytes().to_vec()
            }
            PrivateKey::P256(k) => {
                let sig: p256::ecdsa::DerSignature = k.try_sign(msg).map_err(key_err)?;
                sig.as_bytes().to_vec()
            }
            PrivateKey::Sm2 { signer, .. } => {
                // sm2 0.14's SigningKey only implements Signer<sm2::dsa::Signature> (r||s);
                // convert to DER explicitly.
                let sig: sm2::dsa::Signature = signer.try_sign(msg).map_err(key_err)?;
                sig.to_der().as_bytes().to_vec()
            }
        })
    }
}

/// A public key of one of the supported schemes.
#[derive(Clone, Debug)]
pub enum PublicKey {
    Ed25519(ed25519_dalek::VerifyingKey),
    P256(p256::ecdsa::VerifyingKey),
    /// Bound to the default distinguishing ID (needed to compute Z_A).
    Sm2(sm2::dsa::VerifyingKey),
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.to_spki_der().ok() == other.to_spki_der().ok()
    }
}

impl PublicKey {
    pub fn scheme(&self) -> Scheme {
        match self {
            PublicKey::Ed25519(_) => Scheme::Ed25519,
            PublicKey::P256(_) => Scheme::P256,
            PublicKey::Sm2(_) => Scheme::Sm2,
        }
    }

    /// DER SubjectPublicKeyInfo.
    pub fn to_spki_der(&self) -> Result<Vec<u8>> {
        let doc = match self {
            PublicKey::Ed25519(k) => k.to_public_key_der(),
            PublicKey::P256(k) => k.to_public_key_der(),
            PublicKey::Sm2(k) => k.to_public_key_der(),
        }
        .map_err(key_err)?;
        Ok(doc.as_bytes().to_vec())
    }

    /// PEM SubjectPublicKeyInfo ("-----BEGIN PUBLIC KEY-----").
    pub fn to_spki_pem(&self) -> Result<String> {
        match self {
            PublicKey::Ed25519(k) => k.to_public_key_pem(LineEnding::LF),
            PublicKey::P256(k) => k.to_public_key_pem(LineEnding::LF),
            PublicKey::Sm2(k) => k.to_public_key_pem(LineEnding::LF),
        }
        .map_err(key_err)
    }

    /// The raw key bytes inside the SPKI BIT STRING
    /// (Ed25519: 32 bytes; P-256 / SM2: uncompressed SEC1 point, 65 bytes).
    pub fn raw_bytes(&self) -> Result<Vec<u8>> {
        Ok(match self {
            PublicKey::Ed25519(k) => k.to_bytes().to_vec(),
            PublicKey::P256(k) => k.to_sec1_point(false).as_bytes().to_vec(),
            PublicKey::Sm2(k) => {
                use sm2::elliptic_curve::sec1::ToSec1Point as _;
                k.to_sec1_point(false).as_bytes().to_vec()
            }
        })
    }

    /// An Ed25519 key from its 32 raw bytes (a consensus key as genesis lists it).
    pub fn ed25519_from_raw(raw: &[u8]) -> Result<Self> {
        let bytes: [u8; 32] = raw
            .try_into()
            .map_err(|_| PkiError::Key(format!("Ed25519 key of {} bytes", raw.len())))?;
        Ok(PublicKey::Ed25519(
            ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(key_err)?,
        ))
    }

    /// An Ed25519 key a node may be admitted under: as [`Self::ed25519_from_raw`],
    /// and also canonically encoded and not of small order (the identity
    /// and the other torsion points decompress, but no one holds a private
    /// key that proves possession of them in the usual sense, and a
    /// non-canonical encoding names a key some other bytes also name).
    pub fn ed25519_strict_from_raw(raw: &[u8]) -> Result<Self> {
        let key = Self::ed25519_from_raw(raw)?;
        let PublicKey::Ed25519(vk) = &key else {
            unreachable!("ed25519_from_raw makes Ed25519 keys");
        };
        if vk.is_weak() {
            return Err(PkiError::Key("an Ed25519 key of small order".into()));
        }
        // `to_bytes` gives back the bytes it was made from; re-encode the point.
        if vk.to_edwards().compress().to_bytes().as_slice() != raw {
            return Err(PkiError::Key("a non-canonical Ed25519 encoding".into()));
        }
        Ok(key)
    }

    /// Parse a DER SubjectPublicKeyInfo (as found in certificates or `openssl pkey -pubout`).
    pub fn from_spki_der(der: &[u8]) -> Result<Self> {
        let spki = x509_cert::spki::SubjectPublicKeyInfoRef::from_der(der).map_err(key_err)?;
        let alg = spki.algorithm.oid.to_string();
        let curve = spki.algorithm.parameters_oid().ok().map(|o| o.to_string());
        match (alg.as_str(), curve.as_deref()) {
            (crate::oid::ED25519, _) => Ok(PublicKey::Ed25519(
                ed25519_dalek::VerifyingKey::from_public_key_der(der).map_err(key_err)?,
            )),
            (crate::oid::EC_PUBLIC_KEY, Some(crate::oid::CURVE_P256)) => Ok(PublicKey::P256(
                p256::ecdsa::VerifyingKey::from_public_key_der(der).map_err(key_err)?,
            )),
            (crate::oid::EC_PUBLIC_KEY, Some(crate::oid::CURVE_SM2))
            | (crate::oid::CURVE_SM2, _) => {
                let point = spki.subject_public_key.as_bytes().ok_or_else(|| {
                    PkiError::Key("SM2 public key bit string not octet aligned".into())
                })?;
                Ok(PublicKey::Sm2(
                    sm2::dsa::VerifyingKey::from_sec1_bytes(SM2_DEFAULT_DISTID, point)
                        .map_err(key_err)?,
                ))
            }
            _ => Err(PkiError::UnsupportedAlgorithm(format!(
                "public key algorithm {alg} / {curve:?}"
            ))),
        }
    }

    pub fn from_spki_pem(pem: &str) -> Result<Self> {
        let (label, der) = x509_cert::der::pem::decode_vec(pem.as_bytes()).map_err(key_err)?;
        if label != "PUBLIC KEY" {
            return Err(PkiError::Key(format!(
                "expected PUBLIC KEY PEM, got {label}"
            )));
        }
        Self::from_spki_der(&der)
    }

    /// Verify a signature in the format produced by [`PrivateKey::sign`].
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<()> {
        use sm2::dsa::signature::Verifier as _;
        match self {
            PublicKey::Ed25519(k) => {
                let sig = ed25519_dalek::Signature::from_slice(sig)
                    .map_err(|_| PkiError::BadSignature)?;
                // verify_strict rejects small-order keys / non-canonical R (consensus friendly).
                k.verify_strict(msg, &sig)
                    .map_err(|_| PkiError::BadSignature)
            }
            PublicKey::P256(k) => {
                let sig = p256::ecdsa::DerSignature::from_bytes(sig)
                    .map_err(|_| PkiError::BadSignature)?;
                k.verify(msg, &sig).map_err(|_| PkiError::BadSignature)
            }
            PublicKey::Sm2(k) => {
                let sig = sm2::dsa::Signature::from_der(sig).map_err(|_| PkiError::BadSignature)?;
                k.verify(msg, &sig).map_err(|_| PkiError::BadSignature)
            }
        }
    }
}

#[cfg(test)]
mod strict_key_tests {
    use super::*;

    #[test]
    fn only_usable_ed25519_keys_pass_the_strict_check() {
        let good = PrivateKey::generate(Scheme::Ed25519)
            .unwrap()
            .public_key()
            .raw_bytes()
            .unwrap();
        assert!(PublicKey::ed25519_strict_from_raw(&good).is_ok());
        let mut identity = [0u8; 32];
        identity[0] = 1;
        // y = 0: a point of order 4.
        let order_four = [0u8; 32];
        // y = p + 1: a non-canonical encoding of y = 1, the identity.
        let mut non_canonical = [0xffu8; 32];
        non_canonical[0] = 0xee;
        non_canonical[31] = 0x7f;
        // y = 2^255 - 1 = p + 18: a point of large order, encoded off by p.
        let mut y_plus_p = [0xffu8; 32];
        y_plus_p[31] = 0x7f;
        for (what, raw) in [
            ("identity", identity),
            ("order four", order_four),
            ("non-canonical identity", non_canonical),
            ("non-canonical", y_plus_p),
        ] {
            assert!(
                PublicKey::ed25519_strict_from_raw(&raw).is_err(),
                "{what} passed"
            );
        }
    }
}
