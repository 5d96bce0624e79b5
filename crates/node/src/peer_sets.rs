//! Who this node's p2p network accepts: the validators (dialed: primary)
//! and the observer nodes governance admitted (accepted when they connect
//! from their admitted host: secondary). An observer tracks the validators
//! only. The set is tracked again whenever governance changes the observers.

use commonware_cryptography::ed25519::PublicKey;
use commonware_p2p::{Address, AddressableManager, AddressableTrackedPeers};
use commonware_utils::ordered::Map;
use ingot_module::ObserverSeat;
use std::{collections::BTreeMap, net::SocketAddr, time::Duration};

/// How often the observers governance admitted are compared with those
/// tracked (a change holds from the next block; a second is well inside a
/// vote's timescale).
pub const RECHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Most peers one tracked set may hold: every validator and every observer
/// the consortium may admit. Fixed, because the p2p network sizes its
/// buffers from it at start and panics on a larger set.
pub fn max_peers_per_set(validators: usize) -> usize {
    validators + ingot_execution::modules::governance::records::MAX_OBSERVERS
}

/// `host:port` resolved to its first address (a DNS name is resolved here,
/// on this node, never in consensus).
pub fn resolve(address: &str) -> Option<SocketAddr> {
    std::net::ToSocketAddrs::to_socket_addrs(address)
        .ok()?
        .next()
}

/// The peer set: `validators` (resolved at start) as primary; as secondary,
/// the admitted `observers` whose address resolves, unless this node is an
/// observer itself (it needs only the validators).
pub fn peer_set(
    validators: &[(PublicKey, Address)],
    observers: &BTreeMap<[u8; 32], ObserverSeat>,
    i_am_validator: bool,
) -> AddressableTrackedPeers<PublicKey> {
    let primary = Map::from_iter_dedup(validators.iter().cloned());
    let mut secondary = Vec::new();
    if i_am_validator {
        for (raw, seat) in observers {
            let Ok(key) = crate::engine::parse_public_key(&hex::encode(raw)) else {
                continue;
            };
            match resolve(&seat.p2p_address) {
                Some(addr) => secondary.push((key, Address::Symmetric(addr))),
                None => tracing::warn!(
                    observer = %seat.name,
                    address = %seat.p2p_address,
                    "an admitted observer's address does not resolve; it cannot connect until it does"
                ),
            }
        }
    }
    AddressableTrackedPeers::new(primary, Map::from_iter_dedup(secondary))
}

/// Track the peer set now and again whenever the admitted observers change
/// (runs until the node stops).
pub async fn track_loop<M, F>(
    mut manager: M,
    validators: Vec<(PublicKey, Address)>,
    me: [u8; 32],
    i_am_validator: bool,
    observers: F,
) where
    M: AddressableManager<PublicKey = PublicKey>,
    F: Fn() -> BTreeMap<[u8; 32], ObserverSeat>,
{
    let mut tracked: Option<BTreeMap<[u8; 32], ObserverSeat>> = None;
    let mut id = 0u64;
    let mut admitted: Option<bool> = None;
    loop {
        if !i_am_validator {
            // Say whether the consortium admits this observer, and again
            // when that changes (as far as this node has followed).
            let now = observers().contains_key(&me);
            if admitted != Some(now) {
                if now {
                    tracing::info!("the consortium admits this observer node");
                } else {
                    tracing::warn!(
                        public_key = %hex::encode(me),
                        "the consortium does not admit this observer node (as of the last block it executed): validators refuse its connection until governance add_observer admits this key from this host"
                    );
                }
                admitted = Some(now);
            }
        }
        // An observer tracks the validators only: other observers' changes
        // do not concern it.
        let now = if i_am_validator {
            observers()
        } else {
            BTreeMap::new()
        };
        if tracked.as_ref() != Some(&now) {
            let set = peer_set(&validators, &now, i_am_validator);
            tracing::info!(
                set = id,
                validators = set.primary.len(),
                observers = set.secondary.len(),
                "tracking peers"
            );
            let _ = manager.track(id, set);
            id += 1;
            tracked = Some(now);
        }
        tokio::time::sleep(RECHECK_INTERVAL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_cryptography::Signer;

    fn key(seed: u64) -> PublicKey {
        commonware_cryptography::ed25519::PrivateKey::from_seed(seed).public_key()
    }

    fn seat(name: &str, address: &str) -> ObserverSeat {
        ObserverSeat {
            name: name.into(),
            org: "acme".into(),
            p2p_address: address.into(),
        }
    }

    #[test]
    fn validators_accept_admitted_observers_and_observers_track_validators_only() {
        let addr = |p: u16| Address::Symmetric(SocketAddr::from(([127, 0, 0, 1], p)));
        let validators = vec![(key(1), addr(9001)), (key(2), addr(9002))];
        let mut observers = BTreeMap::new();
        let observer: [u8; 32] = key(7).as_ref().try_into().unwrap();
        observers.insert(observer, seat("archive", "127.0.0.1:9100"));
        // Not resolvable: left out, the others still tracked.
        let unresolvable: [u8; 32] = key(8).as_ref().try_into().unwrap();
        observers.insert(unresolvable, seat("gone", "no-such-host.invalid:9100"));

        let set = peer_set(&validators, &observers, true);
        assert_eq!(set.primary.len(), 2);
        assert_eq!(set.secondary.len(), 1);
        assert!(set.secondary.keys().iter().any(|k| k == &key(7)));

        let set = peer_set(&validators, &observers, false);
        assert_eq!(set.primary.len(), 2);
        assert!(set.secondary.is_empty());
    }

    #[test]
    fn the_set_bound_covers_every_admissible_observer() {
        assert_eq!(
            max_peers_per_set(4),
            4 + ingot_execution::modules::governance::records::MAX_OBSERVERS
        );
    }
}
