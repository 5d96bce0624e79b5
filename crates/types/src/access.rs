//! The one-time device access token (white paper 三.2). It lives here, with
//! no execution or node code around it, so the offline verifier that devices
//! and gateways embed (`ingot-access-token`) can decode exactly what the
//! chain encoded.

crate::record! {
    /// A grant of one operation on one device to one accessor, issued by the
    /// `access` module when a policy allows a request.
    pub struct Token {
        /// The hash of the request transaction: unique (replay protection),
        /// so it doubles as the token's nonce.
        pub token_id: [u8; 32] = (),
        pub device_id: String = 200,
        pub operation: String = 64,
        /// `member:<member id>`, or `device:<id>` when a device asked.
        pub accessor: String = 300,
        /// Certificate hash of the requester: the one certificate that asked
        /// (what it must prove possession of).
        pub accessor_cert: [u8; 32] = (),
        pub issued_height: u64 = (),
        pub issued_ms: u64 = (),
        /// Block-time milliseconds after which the token is void.
        pub expires_ms: u64 = (),
        /// The device's network address from its registered metadata.
        pub device_address: String = 256,
    }
}
