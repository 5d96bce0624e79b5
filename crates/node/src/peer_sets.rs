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
/// How often admitted observers' names are resolved again (an address may
/// change, or a name may start resolving), besides at every change.
pub const RESOLVE_INTERVAL: Duration = Duration::from_secs(30);
/// Longest wait for resolving every admitted observer's name: resolution
/// runs on a blocking thread, never on the runtime's workers.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(10);
const _: () = assert!(RESOLVE_TIMEOUT.as_secs() < RESOLVE_INTERVAL.as_secs());

/// Most peers one tracked set may hold: every validator and every observer
/// the consortium may admit. Fixed, because the p2p network sizes its
/// buffers from it at start and panics on a larger set.
pub fn max_peers_per_set(validators: usize) -> usize {
    validators + ingot_execution::modules::governance::records::MAX_OBSERVERS
}

/// `host:port` resolved to its first address (a DNS name is resolved here,
/// on this node, never in consensus). Blocking.
pub fn resolve(address: &str) -> Option<SocketAddr> {
    std::net::ToSocketAddrs::to_socket_addrs(address)
        .ok()?
        .next()
}

/// The admitted `observers` whose address resolves, with it. Blocking.
pub fn resolve_observers(
    observers: &BTreeMap<[u8; 32], ObserverSeat>,
) -> Vec<(PublicKey, Address)> {
    let mut resolved = Vec::new();
    for (raw, seat) in observers {
        let Ok(key) = crate::engine::parse_public_key(&hex::encode(raw)) else {
            continue;
        };
        match resolve(&seat.p2p_address) {
            Some(addr) => resolved.push((key, Address::Symmetric(addr))),
            None => tracing::warn!(
                observer = %seat.name,
                address = %seat.p2p_address,
                "an admitted observer's address does not resolve; it cannot connect until it does"
            ),
        }
    }
    resolved
}

/// The peer set: `validators` (resolved at start) as primary, `observers`
/// (resolved) as secondary.
pub fn peer_set(
    validators: &[(PublicKey, Address)],
    observers: &[(PublicKey, Address)],
) -> AddressableTrackedPeers<PublicKey> {
    AddressableTrackedPeers::new(
        Map::from_iter_dedup(validators.iter().cloned()),
        Map::from_iter_dedup(observers.iter().cloned()),
    )
}

/// Track the peer set now and again whenever the admitted observers or
/// their resolved addresses change (runs until the node stops). A validator
/// tracks the observers; an observer tracks the validators only.
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
    let mut admitted_seen: Option<BTreeMap<[u8; 32], ObserverSeat>> = None;
    let mut resolved_at: Option<std::time::Instant> = None;
    let mut tracked: Option<Vec<(PublicKey, Address)>> = None;
    let mut id = 0u64;
    let mut admitted: Option<bool> = None;
    loop {
        let now = observers();
        if !i_am_validator {
            // Say whether the consortium admits this observer, and again
            // when that changes (as far as this node has followed).
            let is = now.contains_key(&me);
            if admitted != Some(is) {
                if is {
                    tracing::info!("the consortium admits this observer node");
                } else {
                    tracing::warn!(
                        public_key = %hex::encode(me),
                        "the consortium does not admit this observer node (as of the last block it executed): validators refuse its connection until governance add_observer admits this key from this host"
                    );
                }
                admitted = Some(is);
            }
        }
        let due = admitted_seen.as_ref() != Some(&now)
            || resolved_at.is_none_or(|at| at.elapsed() >= RESOLVE_INTERVAL);
        if due {
            let secondary = if i_am_validator && !now.is_empty() {
                let seats = now.clone();
                match tokio::time::timeout(
                    RESOLVE_TIMEOUT,
                    tokio::task::spawn_blocking(move || resolve_observers(&seats)),
                )
                .await
                {
                    Ok(Ok(resolved)) => Some(resolved),
                    _ => {
                        tracing::warn!(
                            "resolving the admitted observers' addresses timed out; trying again"
                        );
                        None
                    }
                }
            } else {
                Some(Vec::new())
            };
            if let Some(secondary) = secondary {
                admitted_seen = Some(now);
                resolved_at = Some(std::time::Instant::now());
                if tracked.as_ref() != Some(&secondary) {
                    let set = peer_set(&validators, &secondary);
                    tracing::info!(
                        set = id,
                        validators = set.primary.len(),
                        observers = set.secondary.len(),
                        "tracking peers"
                    );
                    let _ = manager.track(id, set);
                    id += 1;
                    tracked = Some(secondary);
                }
            }
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
    fn admitted_observers_resolve_and_unresolvable_ones_are_left_out() {
        let addr = |p: u16| Address::Symmetric(SocketAddr::from(([127, 0, 0, 1], p)));
        let validators = vec![(key(1), addr(9001)), (key(2), addr(9002))];
        let mut observers = BTreeMap::new();
        let observer: [u8; 32] = key(7).as_ref().try_into().unwrap();
        observers.insert(observer, seat("archive", "127.0.0.1:9100"));
        // Not resolvable: left out, the others still tracked.
        let unresolvable: [u8; 32] = key(8).as_ref().try_into().unwrap();
        observers.insert(unresolvable, seat("gone", "no-such-host.invalid:9100"));

        let resolved = resolve_observers(&observers);
        assert_eq!(resolved, vec![(key(7), addr(9100))]);
        let set = peer_set(&validators, &resolved);
        assert_eq!(set.primary.len(), 2);
        assert_eq!(set.secondary.len(), 1);
        assert!(set.secondary.keys().iter().any(|k| k == &key(7)));
    }

    #[test]
    fn the_set_bound_covers_every_admissible_observer() {
        assert_eq!(
            max_peers_per_set(4),
            4 + ingot_execution::modules::governance::records::MAX_OBSERVERS
        );
    }
}
