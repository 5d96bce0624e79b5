//! The embedded MQTT endpoint devices publish to (MQTT 3.1.1 and 5).
//!
//! An ingest-only server: it accepts CONNECT, PUBLISH (QoS 0 and 1), PINGREQ
//! and DISCONNECT; SUBSCRIBE is answered with a failure code (devices have
//! nothing to receive here). A QoS 1 PUBACK is sent only after the batch is
//! durably queued — or refused: under MQTT 5 a refusal carries a reason code
//! and a reason string; MQTT 3.1.1 has no negative acknowledgement, so the
//! refusal is acknowledged (the device must not resend it forever) and counted
//! in the gateway's status. A packet larger than the maximum is answered per
//! the protocol (MQTT 5: DISCONNECT 0x95 "packet too large"; 3.1.1: the
//! connection is closed). Packet encoding and decoding use `rumqttc`'s codecs.
//!
//! Each connection is its own task; a misbehaving device only loses its own
//! connection. Connections are capped (all, and per client address): one
//! over a cap is closed at once and counted; an accept error (out of
//! descriptors) waits and goes on instead of stopping the gateway.

use crate::device_auth::{AuthRefusal, DeviceAuth};
use crate::ingest::{Incoming, RefusalKind, Stats, Verdict, TOPIC_PREFIX};
use bytes::{Bytes, BytesMut};
use rumqttc::mqttbytes::{v4, QoS};
use rumqttc::v5::mqttbytes::{v5, Error as V5Error, QoS as V5QoS};
use std::sync::Arc;
use std::time::Duration;
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::TcpListener,
    sync::{mpsc, oneshot},
};
use tracing::{debug, info, warn};

/// The MQTT 5 user property of a refusing PUBACK that names the refusal's
/// stable code (`RefusalKind::label`).
pub const REFUSAL_PROPERTY: &str = "ingot-refusal";

/// QoS 1 publications a client may have unacknowledged (MQTT 5 Receive
/// Maximum, in CONNACK). A connection's publications are judged one at a
/// time, so a deeper window would only fill socket buffers.
pub const RECEIVE_MAXIMUM: u16 = 64;

/// How long a client may take to send CONNECT.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Most bytes of an oversized packet read and discarded so the MQTT 5 client
/// gets its DISCONNECT reason instead of a reset connection.
const MAX_DISCARD: usize = 16 << 20;

/// The endpoint's connection caps.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connections open at once.
    pub max_connections: usize,
    /// Connections open at once from one address (a plant's devices may
    /// share one address behind NAT, so this is generous).
    pub max_connections_per_ip: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            max_connections_per_ip: 1_000,
        }
    }
}

/// Who may connect: TLS (when the gateway has a certificate) and signed
/// CONNECTs (when required; see [`crate::device_auth`]).
#[derive(Clone, Default)]
pub struct Access {
    pub tls: Option<ingot_tls::tokio_rustls::TlsAcceptor>,
    pub auth: Option<Arc<DeviceAuth>>,
}

/// Open connections, in all and per address.
#[derive(Default)]
struct Open {
    total: usize,
    per_ip: std::collections::HashMap<std::net::IpAddr, usize>,
}

/// One connection's claim; released on drop.
struct Claim(Arc<std::sync::Mutex<Open>>, std::net::IpAddr);

impl Drop for Claim {
    fn drop(&mut self) {
        let mut open = self.0.lock().unwrap();
        open.total -= 1;
        if let Some(n) = open.per_ip.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                open.per_ip.remove(&self.1);
            }
        }
    }
}

fn claim(
    open: &Arc<std::sync::Mutex<Open>>,
    ip: std::net::IpAddr,
    limits: Limits,
) -> Option<Claim> {
    let mut o = open.lock().unwrap();
    let mine = o.per_ip.get(&ip).copied().unwrap_or(0);
    if o.total >= limits.max_connections || mine >= limits.max_connections_per_ip {
        return None;
    }
    o.total += 1;
    o.per_ip.insert(ip, mine + 1);
    Some(Claim(open.clone(), ip))
}

pub async fn serve(
    listener: TcpListener,
    ingest: mpsc::Sender<Incoming>,
    max_packet: usize,
    limits: Limits,
    stats: Arc<Stats>,
    access: Access,
) -> std::io::Result<()> {
    info!(
        addr = %listener.local_addr()?,
        ?limits,
        tls = access.tls.is_some(),
        device_auth = access.auth.is_some(),
        "embedded MQTT endpoint listening"
    );
    let open = Arc::new(std::sync::Mutex::new(Open::default()));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                warn!(error = %e, "MQTT accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(held) = claim(&open, peer.ip(), limits) else {
            stats
                .connections_refused
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let ingest = ingest.clone();
        let stats = stats.clone();
        let access = access.clone();
        tokio::spawn(async move {
            let _held = held;
            let auth = access.auth.clone();
            let result = match &access.tls {
                None => connection(stream, ingest, max_packet, &stats, auth).await,
                // The handshake shares the CONNECT deadline: a client that
                // opens a connection and stalls holds it for 10 s at most.
                Some(tls) => {
                    match tokio::time::timeout(CONNECT_TIMEOUT, tls.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            connection(stream, ingest, max_packet, &stats, auth).await
                        }
                        Ok(Err(e)) => Err(anyhow::anyhow!("TLS handshake: {e}")),
                        Err(_) => Err(anyhow::anyhow!("TLS handshake timed out")),
                    }
                }
            };
            if let Err(e) = result {
                debug!(%peer, error = %e, "MQTT connection closed");
            }
        });
    }
}

/// The protocol level in a CONNECT packet (4 = 3.1.1, 5 = 5.0), if `buf`
/// holds enough of it.
fn protocol_level(buf: &[u8]) -> Option<u8> {
    // Fixed header: type byte + 1..4 bytes of remaining length.
    let mut i = 1;
    while i < buf.len() && i <= 4 && buf[i] & 0x80 != 0 {
        i += 1;
    }
    // Then: protocol name length (2) + "MQTT" (4) + level.
    buf.get(i + 1 + 2 + 4).copied()
}

async fn read_more<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut BytesMut) -> anyhow::Result<()> {
    let n = stream.read_buf(buf).await?;
    anyhow::ensure!(n > 0, "peer closed");
    Ok(())
}

async fn connection<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    ingest: mpsc::Sender<Incoming>,
    max_packet: usize,
    stats: &Stats,
    auth: Option<Arc<DeviceAuth>>,
) -> anyhow::Result<()> {
    let mut buf = BytesMut::with_capacity(8 * 1024);
    let level = tokio::time::timeout(CONNECT_TIMEOUT, async {
        loop {
            if buf.len() > 7 {
                if let Some(level) = protocol_level(&buf) {
                    return Ok::<u8, anyhow::Error>(level);
                }
            }
            read_more(&mut stream, &mut buf).await?;
        }
    })
    .await??;
    match level {
        5 => v5_session(stream, buf, ingest, max_packet, stats, auth).await,
        3 | 4 => v4_session(stream, buf, ingest, max_packet, stats, auth).await,
        other => anyhow::bail!("unsupported MQTT protocol level {other}"),
    }
}

/// The device a CONNECT authenticates (`None` when no authentication is
/// required), or why it is refused.
async fn authenticate(
    auth: &Option<Arc<DeviceAuth>>,
    login: Option<(String, String)>,
    stats: &Stats,
) -> Result<Option<String>, AuthRefusal> {
    let Some(auth) = auth.clone() else {
        return Ok(None);
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    // The device's key may have to come from the chain (blocking HTTP).
    let checked = tokio::task::spawn_blocking(move || {
        let (user, password) = login.unzip();
        auth.check(user.as_deref(), password.as_deref(), now)
    })
    .await
    .unwrap_or(Err(AuthRefusal::Unavailable));
    if checked.is_err() {
        stats.refuse(RefusalKind::NotAuthenticated);
    }
    checked.map(Some)
}

/// Judge a publication, unless an authenticated device publishes on another
/// device's topic.
async fn judge_for(
    bound: &Option<String>,
    ingest: &mpsc::Sender<Incoming>,
    topic: String,
    payload: Bytes,
    stats: &Stats,
) -> Verdict {
    if let Some(device) = bound {
        if topic.strip_prefix(TOPIC_PREFIX) != Some(device.as_str()) {
            stats.refuse(RefusalKind::NotYourTopic);
            return Verdict::Refused(
                RefusalKind::NotYourTopic,
                format!("this connection is device {device}; it may publish only on {TOPIC_PREFIX}{device}"),
            );
        }
    }
    judge(ingest, topic, payload).await
}

async fn judge(ingest: &mpsc::Sender<Incoming>, topic: String, payload: Bytes) -> Verdict {
    let (reply, rx) = oneshot::channel();
    if ingest
        .send(Incoming {
            topic,
            payload,
            reply,
        })
        .await
        .is_err()
    {
        return Verdict::Unavailable("gateway shutting down".into());
    }
    rx.await
        .unwrap_or_else(|_| Verdict::Unavailable("gateway shutting down".into()))
}

async fn v4_session<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    mut buf: BytesMut,
    ingest: mpsc::Sender<Incoming>,
    max_packet: usize,
    stats: &Stats,
    auth: Option<Arc<DeviceAuth>>,
) -> anyhow::Result<()> {
    let mut out = BytesMut::new();
    let mut connected = false;
    let mut bound = None;
    loop {
        let packet = match v4::Packet::read(&mut buf, max_packet) {
            Ok(p) => p,
            Err(rumqttc::mqttbytes::Error::InsufficientBytes(_)) => {
                read_more(&mut stream, &mut buf).await?;
                continue;
            }
            // Too large or malformed: 3.1.1 can only close the connection.
            Err(e) => {
                stats.refuse(match e {
                    rumqttc::mqttbytes::Error::PayloadSizeLimitExceeded(_) => RefusalKind::TooLarge,
                    _ => RefusalKind::Malformed,
                });
                anyhow::bail!("closing: {e}")
            }
        };
        match packet {
            v4::Packet::Connect(connect) if !connected => {
                let login = connect.login.map(|l| (l.username, l.password));
                match authenticate(&auth, login, stats).await {
                    Ok(device) => {
                        connected = true;
                        bound = device;
                        v4::ConnAck::new(v4::ConnectReturnCode::Success, false).write(&mut out)?;
                    }
                    Err(refusal) => {
                        let code = match refusal {
                            AuthRefusal::Unavailable => v4::ConnectReturnCode::ServiceUnavailable,
                            AuthRefusal::UnknownDevice | AuthRefusal::Inactive => {
                                v4::ConnectReturnCode::NotAuthorized
                            }
                            _ => v4::ConnectReturnCode::BadUserNamePassword,
                        };
                        v4::ConnAck::new(code, false).write(&mut out)?;
                        stream.write_all(&out).await?;
                        stream.shutdown().await?;
                        anyhow::bail!("CONNECT refused: {}", refusal.label());
                    }
                }
            }
            v4::Packet::Publish(p) if connected => {
                let verdict =
                    judge_for(&bound, &ingest, p.topic.clone(), p.payload.clone(), stats).await;
                match (&verdict, p.qos) {
                    // Not stored: no PUBACK, so the device sends it again.
                    (Verdict::Unavailable(_), _) => {}
                    (_, QoS::AtLeastOnce) => {
                        v4::PubAck::new(p.pkid).write(&mut out)?;
                    }
                    (_, QoS::AtMostOnce) => {}
                    (_, QoS::ExactlyOnce) => anyhow::bail!("QoS 2 is not supported"),
                }
            }
            v4::Packet::PingReq if connected => {
                v4::PingResp.write(&mut out)?;
            }
            v4::Packet::Subscribe(s) if connected => {
                let codes = s
                    .filters
                    .iter()
                    .map(|_| v4::SubscribeReasonCode::Failure)
                    .collect();
                v4::SubAck::new(s.pkid, codes).write(&mut out)?;
            }
            v4::Packet::Disconnect => return Ok(()),
            other => anyhow::bail!("unexpected packet {other:?}"),
        }
        if !out.is_empty() {
            stream.write_all(&out).await?;
            out.clear();
        }
    }
}

/// A client identifier for a client that sent none: unique enough for a
/// gateway's connections (no session state hangs on it).
fn rand_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

fn v5_reason(kind: RefusalKind) -> v5::PubAckReason {
    match kind {
        RefusalKind::Malformed => v5::PubAckReason::PayloadFormatInvalid,
        RefusalKind::TooLarge => v5::PubAckReason::QuotaExceeded,
        RefusalKind::TopicMismatch => v5::PubAckReason::TopicNameInvalid,
        RefusalKind::UnknownDevice | RefusalKind::Inactive | RefusalKind::BadSignature => {
            v5::PubAckReason::NotAuthorized
        }
        RefusalKind::Replay | RefusalKind::TimeBeforeLast => {
            v5::PubAckReason::ImplementationSpecificError
        }
        RefusalKind::TooLargeForChain => v5::PubAckReason::QuotaExceeded,
        RefusalKind::InvalidBatch | RefusalKind::FutureTimestamp => {
            v5::PubAckReason::PayloadFormatInvalid
        }
        RefusalKind::NotAuthenticated | RefusalKind::NotYourTopic => {
            v5::PubAckReason::NotAuthorized
        }
        RefusalKind::RateLimited | RefusalKind::QueueQuota => v5::PubAckReason::QuotaExceeded,
    }
}

/// What the endpoint tells an MQTT 5 client in CONNACK: the limits it
/// works within and what it does not offer.
fn connack_properties(
    max_packet: usize,
    assigned_client_identifier: Option<String>,
    asked_expiry: u32,
) -> v5::ConnAckProperties {
    v5::ConnAckProperties {
        session_expiry_interval: (asked_expiry > 0).then_some(0),
        receive_max: Some(RECEIVE_MAXIMUM),
        max_qos: Some(1),
        retain_available: Some(0),
        max_packet_size: Some(max_packet as u32),
        assigned_client_identifier,
        topic_alias_max: None,
        reason_string: None,
        user_properties: vec![],
        wildcard_subscription_available: Some(0),
        subscription_identifiers_available: Some(0),
        shared_subscription_available: Some(0),
        server_keep_alive: None,
        response_information: None,
        server_reference: None,
        authentication_method: None,
        authentication_data: None,
    }
}

async fn v5_session<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    mut buf: BytesMut,
    ingest: mpsc::Sender<Incoming>,
    max_packet: usize,
    stats: &Stats,
    auth: Option<Arc<DeviceAuth>>,
) -> anyhow::Result<()> {
    let mut out = BytesMut::new();
    let mut connected = false;
    let mut bound = None;
    loop {
        // DISCONNECT with remaining length 0 (normal disconnection, what
        // paho and mosquitto send) or 1 (a reason code only) is legal MQTT 5
        // (3.14.2.1) but the codec wants properties: take it here.
        if buf.len() >= 2 && buf[0] == 0xE0 && buf[1] <= 1 {
            return Ok(());
        }
        let packet = match v5::Packet::read(&mut buf, Some(max_packet as u32)) {
            Ok(p) => p,
            Err(V5Error::InsufficientBytes(_)) => {
                read_more(&mut stream, &mut buf).await?;
                continue;
            }
            Err(e) => {
                let (code, why) = match e {
                    V5Error::PayloadSizeLimitExceeded { pkt_size, .. } => {
                        stats.refuse(RefusalKind::TooLarge);
                        // Read the packet off the wire first, so the client
                        // reads our reason rather than a reset.
                        let mut left = pkt_size.min(MAX_DISCARD);
                        while left > 0 {
                            if buf.is_empty() {
                                read_more(&mut stream, &mut buf).await?;
                            }
                            let n = left.min(buf.len());
                            let _ = buf.split_to(n);
                            left -= n;
                        }
                        (
                            v5::DisconnectReasonCode::PacketTooLarge,
                            format!("packet of {pkt_size} bytes exceeds the gateway's maximum of {max_packet}"),
                        )
                    }
                    other => {
                        stats.refuse(RefusalKind::Malformed);
                        (v5::DisconnectReasonCode::MalformedPacket, other.to_string())
                    }
                };
                let d = v5::Disconnect {
                    reason_code: code,
                    properties: Some(v5::DisconnectProperties {
                        session_expiry_interval: None,
                        reason_string: Some(why.clone()),
                        user_properties: vec![],
                        server_reference: None,
                    }),
                };
                d.write(&mut out)?;
                stream.write_all(&out).await?;
                stream.shutdown().await?;
                anyhow::bail!("closing: {why}");
            }
        };
        match packet {
            v5::Packet::Connect(connect, _, login) if !connected => {
                let login = login.map(|l| (l.username, l.password));
                match authenticate(&auth, login, stats).await {
                    Ok(device) => bound = device,
                    Err(refusal) => {
                        let code = match refusal {
                            AuthRefusal::Unavailable => v5::ConnectReturnCode::ServerUnavailable,
                            AuthRefusal::UnknownDevice | AuthRefusal::Inactive => {
                                v5::ConnectReturnCode::NotAuthorized
                            }
                            _ => v5::ConnectReturnCode::BadUserNamePassword,
                        };
                        let mut properties = connack_properties(max_packet, None, 0);
                        properties.reason_string = Some(refusal.label().into());
                        let ack = v5::ConnAck {
                            session_present: false,
                            code,
                            properties: Some(properties),
                        };
                        ack.write(&mut out)?;
                        stream.write_all(&out).await?;
                        stream.shutdown().await?;
                        anyhow::bail!("CONNECT refused: {}", refusal.label());
                    }
                }
                connected = true;
                // A client may leave its identifier to the server (3.1.3.1).
                let assigned = connect
                    .client_id
                    .is_empty()
                    .then(|| format!("ingot-{:016x}", rand_id()));
                // No session state is kept (a device receives nothing and
                // every acknowledged batch is already durable): a client
                // asking for a session that outlives the connection is told
                // its expiry is 0 (3.2.2.3.2).
                let asked_expiry = connect
                    .properties
                    .as_ref()
                    .and_then(|p| p.session_expiry_interval)
                    .unwrap_or(0);
                let ack = v5::ConnAck {
                    session_present: false,
                    code: v5::ConnectReturnCode::Success,
                    properties: Some(connack_properties(max_packet, assigned, asked_expiry)),
                };
                ack.write(&mut out)?;
            }
            v5::Packet::Publish(p) if connected => {
                let topic = String::from_utf8_lossy(&p.topic).into_owned();
                let verdict = judge_for(&bound, &ingest, topic, p.payload.clone(), stats).await;
                let (reason, text) = match verdict {
                    Verdict::Unavailable(_) => (None, None),
                    Verdict::Accepted | Verdict::Duplicate => {
                        (Some(v5::PubAckReason::Success), None)
                    }
                    Verdict::Refused(kind, why) => {
                        (Some(v5_reason(kind)), Some((kind.label(), why)))
                    }
                };
                match (reason, p.qos) {
                    (None, _) | (_, V5QoS::AtMostOnce) => {}
                    (Some(reason), V5QoS::AtLeastOnce) => {
                        let mut ack = v5::PubAck::new(p.pkid, None);
                        ack.reason = reason;
                        // The reason string is for people; the user property
                        // `ingot-refusal` carries the stable code firmware
                        // branches on (PUBACK reason codes are too few).
                        ack.properties = text.map(|(label, t)| v5::PubAckProperties {
                            reason_string: Some(t),
                            user_properties: vec![(REFUSAL_PROPERTY.into(), label.into())],
                        });
                        ack.write(&mut out)?;
                    }
                    (_, V5QoS::ExactlyOnce) => anyhow::bail!("QoS 2 is not supported"),
                }
            }
            v5::Packet::PingReq(_) if connected => {
                v5::PingResp::write(&mut out)?;
            }
            v5::Packet::Subscribe(s) if connected => {
                let codes = s
                    .filters
                    .iter()
                    .map(|_| v5::SubscribeReasonCode::Unspecified)
                    .collect();
                let ack = v5::SubAck {
                    pkid: s.pkid,
                    return_codes: codes,
                    properties: None,
                };
                ack.write(&mut out)?;
            }
            v5::Packet::Disconnect(_) => return Ok(()),
            other => anyhow::bail!("unexpected packet {other:?}"),
        }
        if !out.is_empty() {
            stream.write_all(&out).await?;
            out.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpStream;

    #[test]
    fn connection_caps_per_address_and_in_all_release_on_drop() {
        let open = Arc::new(std::sync::Mutex::new(Open::default()));
        let limits = Limits {
            max_connections: 3,
            max_connections_per_ip: 2,
        };
        let (a, b): (std::net::IpAddr, std::net::IpAddr) =
            ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let a1 = claim(&open, a, limits).unwrap();
        let _a2 = claim(&open, a, limits).unwrap();
        assert!(claim(&open, a, limits).is_none(), "per-address cap");
        let _b1 = claim(&open, b, limits).unwrap();
        assert!(claim(&open, b, limits).is_none(), "overall cap");
        drop(a1);
        assert!(claim(&open, b, limits).is_some());
    }

    /// An MQTT 5 PUBLISH larger than the maximum gets DISCONNECT 0x95 with a
    /// reason string, and the endpoint keeps accepting other connections.
    #[tokio::test]
    async fn oversized_v5_publish_is_told_packet_too_large() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, _rx) = mpsc::channel(8);
        let stats = Arc::new(Stats::default());
        tokio::spawn(serve(
            listener,
            tx,
            1024,
            Limits::default(),
            stats.clone(),
            Access::default(),
        ));
        for _ in 0..2 {
            let mut s = TcpStream::connect(addr).await.unwrap();
            let mut out = BytesMut::new();
            let connect = v5::Connect {
                keep_alive: 30,
                client_id: "big".into(),
                clean_start: true,
                properties: None,
            };
            v5::Packet::Connect(connect, None, None)
                .write(&mut out, None)
                .unwrap();
            let publish = v5::Publish::new(
                "ingot/telemetry/x",
                V5QoS::AtLeastOnce,
                vec![0u8; 4096],
                None,
            );
            let mut publish = publish;
            publish.pkid = 1;
            v5::Packet::Publish(publish).write(&mut out, None).unwrap();
            s.write_all(&out).await.unwrap();
            let mut got = BytesMut::new();
            let disconnect = loop {
                let n = s.read_buf(&mut got).await.unwrap();
                assert!(n > 0, "connection closed without a DISCONNECT");
                match v5::Packet::read(&mut got, None) {
                    Ok(v5::Packet::ConnAck(_)) => continue,
                    Ok(v5::Packet::Disconnect(d)) => break d,
                    Ok(other) => panic!("unexpected {other:?}"),
                    Err(_) => continue,
                }
            };
            assert_eq!(
                disconnect.reason_code,
                v5::DisconnectReasonCode::PacketTooLarge
            );
            let why = disconnect.properties.unwrap().reason_string.unwrap();
            assert!(why.contains("exceeds"), "{why}");
        }
        assert_eq!(stats.refused.lock().unwrap()["too_large"], 2);
    }

    /// The short DISCONNECT forms MQTT 5 allows (remaining length 0, what
    /// paho and mosquitto send; and 1, a reason code only) end the session
    /// cleanly: no DISCONNECT 0x81 back, nothing counted as malformed, no
    /// hang. A client without an identifier is assigned one.
    #[tokio::test]
    async fn short_disconnects_and_assigned_client_ids() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, _rx) = mpsc::channel(8);
        let stats = Arc::new(Stats::default());
        tokio::spawn(serve(
            listener,
            tx,
            1024,
            Limits::default(),
            stats.clone(),
            Access::default(),
        ));
        for disconnect in [&[0xE0, 0x00][..], &[0xE0, 0x01, 0x00][..]] {
            let mut s = TcpStream::connect(addr).await.unwrap();
            let connect = v5::Connect {
                keep_alive: 30,
                client_id: String::new(),
                clean_start: true,
                properties: None,
            };
            let ack = connect_v5(&mut s, connect).await;
            let assigned = ack.properties.unwrap().assigned_client_identifier;
            assert!(assigned.is_some_and(|id| id.starts_with("ingot-")));
            s.write_all(disconnect).await.unwrap();
            // The server closes without a word.
            let mut rest = Vec::new();
            let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest))
                .await
                .expect("the connection must close, not hang");
            assert!(read.is_ok());
            assert!(rest.is_empty(), "answered a clean DISCONNECT with {rest:?}");
        }
        assert!(stats.refused.lock().unwrap().is_empty());
    }

    /// Send an MQTT 5 CONNECT and read the CONNACK.
    async fn connect_v5(s: &mut TcpStream, connect: v5::Connect) -> v5::ConnAck {
        let mut out = BytesMut::new();
        v5::Packet::Connect(connect, None, None)
            .write(&mut out, None)
            .unwrap();
        s.write_all(&out).await.unwrap();
        let mut got = BytesMut::new();
        loop {
            let n = s.read_buf(&mut got).await.unwrap();
            assert!(n > 0, "closed before CONNACK");
            if let Ok(v5::Packet::ConnAck(ack)) = v5::Packet::read(&mut got, None) {
                return ack;
            }
        }
    }

    /// A client asking for a persistent session is told the server keeps
    /// none (session expiry 0, no session present); the receive maximum is
    /// advertised.
    #[tokio::test]
    async fn session_expiry_and_receive_maximum_are_stated_in_connack() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, _rx) = mpsc::channel(8);
        tokio::spawn(serve(
            listener,
            tx,
            1024,
            Limits::default(),
            Arc::new(Stats::default()),
            Access::default(),
        ));
        for (asked, told) in [(Some(3_600), Some(0)), (Some(0), None), (None, None)] {
            let mut s = TcpStream::connect(addr).await.unwrap();
            let connect = v5::Connect {
                keep_alive: 30,
                client_id: "probe".into(),
                clean_start: false,
                properties: Some(v5::ConnectProperties {
                    session_expiry_interval: asked,
                    ..Default::default()
                }),
            };
            let ack = connect_v5(&mut s, connect).await;
            assert!(!ack.session_present);
            let props = ack.properties.unwrap();
            assert_eq!(props.session_expiry_interval, told, "asked {asked:?}");
            assert_eq!(props.receive_max, Some(RECEIVE_MAXIMUM));
        }
    }

    #[test]
    fn finds_the_protocol_level_of_a_connect() {
        // CONNECT, remaining length 16, "MQTT", level 5.
        let v5 = [0x10, 16, 0, 4, b'M', b'Q', b'T', b'T', 5, 2, 0, 60];
        assert_eq!(super::protocol_level(&v5), Some(5));
        let v4_long = [0x10, 0x80, 0x01, 0, 4, b'M', b'Q', b'T', b'T', 4];
        assert_eq!(super::protocol_level(&v4_long), Some(4));
        assert_eq!(super::protocol_level(&[0x10, 16, 0, 4]), None);
    }
}
