#!/usr/bin/env python3
"""A reference Ingot device in pure Python (standard library only).

Written from docs/device-protocol.md alone, as a vendor would: it encodes
readings, builds the batch Merkle root, signs with Ed25519, ECDSA P-256 or
SM2/SM3 (all implemented here, no crypto package), and publishes the batch to
an Ingot edge gateway over MQTT 5 with QoS 1, reporting the PUBACK's reason
code and the gateway's stable refusal code. It is an example and a second
reading of the specification, not a production library: the curve arithmetic
is neither constant-time nor fast.

    python3 ingot_device.py publish --host 127.0.0.1 --port 1883 \\
        --key SN-77.key --device-id manufacturer:SN-77 --first-seq 1 --count 3

prints one JSON object: {"reason_code": 0, "refusal": null, ...}.
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import secrets
import socket
import ssl
import struct
import sys
import time

# ---------------------------------------------------------------- encoding


def varint(n):
    """LEB128 of an unsigned 32-bit value, shortest form (spec: varint)."""
    if not 0 <= n < 1 << 32:
        raise ValueError("varint out of range")
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def text(s, limit):
    raw = s.encode("utf-8")
    if len(raw) > limit:
        raise ValueError(f"{s!r} is longer than {limit} bytes")
    return varint(len(raw)) + raw


def u64(n):
    return struct.pack(">Q", n)


def i64(n):
    return struct.pack(">q", n)


MAX_DEVICE_ID = 200
MAX_NAME = 32
MAX_UNIT = 16
MAX_MEASUREMENTS = 16
MAX_SCALE = 18
TOPIC_PREFIX = "ingot/telemetry/"


def encode_measurement(m):
    if not 0 <= m["scale"] <= MAX_SCALE:
        raise ValueError("scale out of range")
    return (
        text(m["name"], MAX_NAME)
        + i64(m["value"])
        + bytes([m["scale"]])
        + text(m["unit"], MAX_UNIT)
    )


def encode_reading(r):
    ms = r["measurements"]
    if len(ms) > MAX_MEASUREMENTS:
        raise ValueError("too many measurements")
    return u64(r["timestamp_ms"]) + varint(len(ms)) + b"".join(encode_measurement(m) for m in ms)


def sha256(*parts):
    return hashlib.sha256(b"".join(parts)).digest()


def reading_leaves(device_id, first_seq, readings):
    dev = text(device_id, MAX_DEVICE_ID)
    return [
        sha256(b"ingot/reading/v1", dev, u64(first_seq + i), encode_reading(r))
        for i, r in enumerate(readings)
    ]


def merkle_root(leaves):
    """Spec: position-hash the leaves, pair up level by level (an odd last
    node is paired with itself), then bind the leaf count."""
    level = [sha256(struct.pack(">I", i), leaf) for i, leaf in enumerate(leaves)]
    if not level:
        level = [sha256()]
    while len(level) > 1:
        level = [
            sha256(level[i], level[i + 1] if i + 1 < len(level) else level[i])
            for i in range(0, len(level), 2)
        ]
    return sha256(struct.pack(">I", len(leaves)), level[0])


def signing_message(device_id, first_seq, count, root):
    return (
        b"ingot/telemetry/v1"
        + text(device_id, MAX_DEVICE_ID)
        + u64(first_seq)
        + struct.pack(">I", count)
        + root
    )


def batch_payload(device_id, first_seq, readings, signature):
    return (
        text(device_id, MAX_DEVICE_ID)
        + u64(first_seq)
        + varint(len(readings))
        + b"".join(encode_reading(r) for r in readings)
        + varint(len(signature))
        + signature
    )


# ---------------------------------------------------------------- Ed25519 (RFC 8032)

ED_P = 2**255 - 19
ED_D = -121665 * pow(121666, ED_P - 2, ED_P) % ED_P
ED_Q = 2**252 + 27742317777372353535851937790883648493


def _ed_add(P, Q):
    A = (P[1] - P[0]) * (Q[1] - Q[0]) % ED_P
    B = (P[1] + P[0]) * (Q[1] + Q[0]) % ED_P
    C = 2 * P[3] * Q[3] * ED_D % ED_P
    D = 2 * P[2] * Q[2] % ED_P
    E, F, G, H = B - A, D - C, D + C, B + A
    return (E * F % ED_P, G * H % ED_P, F * G % ED_P, E * H % ED_P)


def _ed_mul(s, P):
    Q = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            Q = _ed_add(Q, P)
        P = _ed_add(P, P)
        s >>= 1
    return Q


def _ed_recover_x(y, sign):
    if y >= ED_P:
        return None
    x2 = (y * y - 1) * pow(ED_D * y * y + 1, ED_P - 2, ED_P) % ED_P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (ED_P + 3) // 8, ED_P)
    if (x * x - x2) % ED_P:
        x = x * pow(2, (ED_P - 1) // 4, ED_P) % ED_P
    if (x * x - x2) % ED_P:
        return None
    if (x & 1) != sign:
        x = ED_P - x
    return x


_ED_GY = 4 * pow(5, ED_P - 2, ED_P) % ED_P
_ED_GX = _ed_recover_x(_ED_GY, 0)
ED_G = (_ED_GX, _ED_GY, 1, _ED_GX * _ED_GY % ED_P)


def _ed_compress(P):
    zinv = pow(P[2], ED_P - 2, ED_P)
    x, y = P[0] * zinv % ED_P, P[1] * zinv % ED_P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _ed_decompress(s):
    y = int.from_bytes(s, "little")
    sign, y = y >> 255, y & ((1 << 255) - 1)
    x = _ed_recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % ED_P)


def _ed_expand(seed):
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return a, h[32:]


def _h512(*parts):
    return int.from_bytes(hashlib.sha512(b"".join(parts)).digest(), "little") % ED_Q


def ed25519_public(seed):
    return _ed_compress(_ed_mul(_ed_expand(seed)[0], ED_G))


def ed25519_sign(seed, msg):
    a, prefix = _ed_expand(seed)
    A = _ed_compress(_ed_mul(a, ED_G))
    r = _h512(prefix, msg)
    R = _ed_compress(_ed_mul(r, ED_G))
    s = (r + _h512(R, A, msg) * a) % ED_Q
    return R + s.to_bytes(32, "little")


def ed25519_verify(public, msg, sig):
    A, R = _ed_decompress(public), _ed_decompress(sig[:32])
    s = int.from_bytes(sig[32:], "little")
    if A is None or R is None or s >= ED_Q or len(sig) != 64:
        return False
    left = _ed_mul(s, ED_G)
    right = _ed_add(R, _ed_mul(_h512(sig[:32], public, msg), A))
    # Compare projective points: X1*Z2 == X2*Z1 and Y1*Z2 == Y2*Z1.
    return (left[0] * right[2] - right[0] * left[2]) % ED_P == 0 and (
        left[1] * right[2] - right[1] * left[2]
    ) % ED_P == 0


# ---------------------------------------------------------------- short Weierstrass curves


class Curve:
    def __init__(self, p, a, b, gx, gy, n):
        self.p, self.a, self.b, self.g, self.n = p, a, b, (gx, gy), n

    def add(self, P, Q):
        if P is None:
            return Q
        if Q is None:
            return P
        p = self.p
        if P[0] == Q[0]:
            if (P[1] + Q[1]) % p == 0:
                return None
            lam = (3 * P[0] * P[0] + self.a) * pow(2 * P[1], -1, p) % p
        else:
            lam = (Q[1] - P[1]) * pow(Q[0] - P[0], -1, p) % p
        x = (lam * lam - P[0] - Q[0]) % p
        return (x, (lam * (P[0] - x) - P[1]) % p)

    def mul(self, k, P):
        R = None
        while k:
            if k & 1:
                R = self.add(R, P)
            P = self.add(P, P)
            k >>= 1
        return R

    def public(self, d):
        x, y = self.mul(d, self.g)
        return b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big")

    def point(self, raw):
        if len(raw) != 65 or raw[0] != 4:
            raise ValueError("expected an uncompressed point")
        return (int.from_bytes(raw[1:33], "big"), int.from_bytes(raw[33:], "big"))


P256 = Curve(
    0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF,
    0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFC,
    0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B,
    0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
    0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
    0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
)
SM2 = Curve(
    0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF,
    0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC,
    0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93,
    0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7,
    0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0,
    0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123,
)


def der_signature(r, s):
    def integer(v):
        raw = v.to_bytes((v.bit_length() + 8) // 8 or 1, "big")  # keeps a leading 0 for the sign bit
        raw = raw.lstrip(b"\x00")
        if not raw or raw[0] & 0x80:
            raw = b"\x00" + raw
        return b"\x02" + bytes([len(raw)]) + raw

    body = integer(r) + integer(s)
    return b"\x30" + bytes([len(body)]) + body


def parse_der_signature(sig):
    if len(sig) < 8 or sig[0] != 0x30 or sig[1] != len(sig) - 2:
        raise ValueError("not a DER signature")
    i, values = 2, []
    for _ in range(2):
        if sig[i] != 0x02:
            raise ValueError("not a DER INTEGER")
        n = sig[i + 1]
        values.append(int.from_bytes(sig[i + 2 : i + 2 + n], "big"))
        i += 2 + n
    if i != len(sig):
        raise ValueError("trailing bytes")
    return values


def _rfc6979_k(d, h, n):
    """RFC 6979 nonce for a 256-bit curve and SHA-256."""
    x = d.to_bytes(32, "big")
    h1 = (int.from_bytes(h, "big") % n).to_bytes(32, "big")
    V, K = b"\x01" * 32, b"\x00" * 32
    K = hmac.new(K, V + b"\x00" + x + h1, hashlib.sha256).digest()
    V = hmac.new(K, V, hashlib.sha256).digest()
    K = hmac.new(K, V + b"\x01" + x + h1, hashlib.sha256).digest()
    V = hmac.new(K, V, hashlib.sha256).digest()
    while True:
        V = hmac.new(K, V, hashlib.sha256).digest()
        k = int.from_bytes(V, "big")
        if 1 <= k < n:
            return k
        K = hmac.new(K, V + b"\x00", hashlib.sha256).digest()
        V = hmac.new(K, V, hashlib.sha256).digest()


def p256_sign(d, msg):
    """ECDSA P-256 / SHA-256 with RFC 6979 nonces, DER encoded."""
    n, h = P256.n, hashlib.sha256(msg).digest()
    e = int.from_bytes(h, "big")
    k = _rfc6979_k(d, h, n)
    r = P256.mul(k, P256.g)[0] % n
    s = pow(k, -1, n) * (e + r * d) % n
    return der_signature(r, s)


def p256_verify(public, msg, sig):
    n = P256.n
    r, s = parse_der_signature(sig)
    if not (1 <= r < n and 1 <= s < n):
        return False
    e = int.from_bytes(hashlib.sha256(msg).digest(), "big")
    w = pow(s, -1, n)
    X = P256.add(P256.mul(e * w % n, P256.g), P256.mul(r * w % n, P256.point(public)))
    return X is not None and X[0] % n == r


# ---------------------------------------------------------------- SM3 (GB/T 32905) and SM2 (GB/T 32918)

_SM3_IV = [0x7380166F, 0x4914B2B9, 0x172442D7, 0xDA8A0600, 0xA96F30BC, 0x163138AA, 0xE38DEE4D, 0xB0FB0E4E]
_M32 = 0xFFFFFFFF


def _rotl(x, n):
    n %= 32
    return ((x << n) | (x >> (32 - n))) & _M32


def sm3(data):
    bits = len(data) * 8
    data = data + b"\x80" + b"\x00" * ((55 - len(data)) % 64) + struct.pack(">Q", bits)
    V = list(_SM3_IV)
    for off in range(0, len(data), 64):
        W = list(struct.unpack(">16I", data[off : off + 64]))
        for j in range(16, 68):
            x = W[j - 16] ^ W[j - 9] ^ _rotl(W[j - 3], 15)
            W.append((x ^ _rotl(x, 15) ^ _rotl(x, 23)) ^ _rotl(W[j - 13], 7) ^ W[j - 6])
        W1 = [W[j] ^ W[j + 4] for j in range(64)]
        A, B, C, D, E, F, G, H = V
        for j in range(64):
            T = 0x79CC4519 if j < 16 else 0x7A879D8A
            SS1 = _rotl((_rotl(A, 12) + E + _rotl(T, j)) & _M32, 7)
            SS2 = SS1 ^ _rotl(A, 12)
            if j < 16:
                ff, gg = A ^ B ^ C, E ^ F ^ G
            else:
                ff, gg = (A & B) | (A & C) | (B & C), (E & F) | (~E & _M32 & G)
            TT1 = (ff + D + SS2 + W1[j]) & _M32
            TT2 = (gg + H + SS1 + W[j]) & _M32
            D, C, B, A = C, _rotl(B, 9), A, TT1
            H, G, F, E = G, _rotl(F, 19), E, TT2 ^ _rotl(TT2, 9) ^ _rotl(TT2, 17)
        V = [a ^ b for a, b in zip([A, B, C, D, E, F, G, H], V)]
    return struct.pack(">8I", *V)


SM2_ID = b"1234567812345678"


def _sm2_e(public, msg):
    c = SM2
    z = sm3(
        struct.pack(">H", len(SM2_ID) * 8)
        + SM2_ID
        + b"".join(v.to_bytes(32, "big") for v in (c.a, c.b, c.g[0], c.g[1]))
        + public[1:]
    )
    return int.from_bytes(sm3(z + msg), "big")


def sm2_sign(d, msg, k=None):
    """SM2 signature with SM3 and the distinguishing ID 1234567812345678, DER."""
    n = SM2.n
    e = _sm2_e(SM2.public(d), msg)
    while True:
        kk = k if k is not None else secrets.randbelow(n - 1) + 1
        r = (e + SM2.mul(kk, SM2.g)[0]) % n
        if r == 0 or r + kk == n:
            continue
        s = pow(1 + d, -1, n) * (kk - r * d) % n
        if s:
            return der_signature(r, s)


def sm2_verify(public, msg, sig):
    n = SM2.n
    r, s = parse_der_signature(sig)
    if not (1 <= r < n and 1 <= s < n):
        return False
    t = (r + s) % n
    if t == 0:
        return False
    X = SM2.add(SM2.mul(s, SM2.g), SM2.mul(t, SM2.point(public)))
    return X is not None and (_sm2_e(public, msg) + X[0]) % n == r


# ---------------------------------------------------------------- keys


def _der(data, i=0):
    """One DER element at i: (tag, content, index after it)."""
    tag, n = data[i], data[i + 1]
    i += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(data[i : i + k], "big")
        i += k
    return tag, data[i : i + n], i + n


def _der_seq(content):
    out, i = [], 0
    while i < len(content):
        tag, value, i = _der(content, i)
        out.append((tag, value))
    return out


OID_ED25519 = bytes.fromhex("2b6570")
OID_EC = bytes.fromhex("2a8648ce3d0201")
OID_P256 = bytes.fromhex("2a8648ce3d030107")
OID_SM2 = bytes.fromhex("2a811ccf5501822d")


class Key:
    """A device key: scheme, raw secret and raw public key."""

    def __init__(self, scheme, secret):
        self.scheme, self.secret = scheme, secret
        if scheme == "ed25519":
            self.public = ed25519_public(secret)
        else:
            curve = P256 if scheme == "p256" else SM2
            self.public = curve.public(int.from_bytes(secret, "big"))

    @classmethod
    def from_pkcs8_pem(cls, pem):
        body = "".join(l for l in pem.strip().splitlines() if not l.startswith("-----"))
        _, info, _ = _der(base64.b64decode(body))
        fields = _der_seq(info)
        alg = _der_seq(fields[1][1])
        oid = alg[0][1]
        private = fields[2][1]
        if oid == OID_ED25519:
            return cls("ed25519", _der(private)[1])
        if oid in (OID_EC, OID_SM2):
            curve = alg[1][1] if len(alg) > 1 else OID_SM2
            scheme = {OID_P256: "p256", OID_SM2: "sm2"}.get(curve)
            if scheme is None:
                raise ValueError("unsupported curve")
            ec = _der_seq(_der(private)[1])
            return cls(scheme, ec[1][1].rjust(32, b"\x00"))
        raise ValueError("unsupported key algorithm")

    def sign(self, msg):
        if self.scheme == "ed25519":
            return ed25519_sign(self.secret, msg)
        d = int.from_bytes(self.secret, "big")
        return p256_sign(d, msg) if self.scheme == "p256" else sm2_sign(d, msg)


def verify(scheme, public, msg, sig):
    try:
        return {"ed25519": ed25519_verify, "p256": p256_verify, "sm2": sm2_verify}[scheme](
            public, msg, sig
        )
    except (ValueError, IndexError):
        return False


def sign_batch(key, device_id, first_seq, readings):
    """The whole device side: leaves, root, message, signature, payload."""
    if not 1 <= len(readings) <= 4096 or first_seq < 1:
        raise ValueError("a batch has 1 to 4096 readings numbered from 1")
    root = merkle_root(reading_leaves(device_id, first_seq, readings))
    signature = key.sign(signing_message(device_id, first_seq, len(readings), root))
    return batch_payload(device_id, first_seq, readings, signature)


# ---------------------------------------------------------------- MQTT 5 (just what a device needs)


def _mqtt_string(s):
    raw = s.encode("utf-8")
    return struct.pack(">H", len(raw)) + raw


def _mqtt_varint(n):
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _packet(first, body):
    return bytes([first]) + _mqtt_varint(len(body)) + body


def _read_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("the gateway closed the connection")
        data += chunk
    return data


def _read_packet(sock):
    first = _read_exact(sock, 1)[0]
    length, shift = 0, 0
    while True:
        byte = _read_exact(sock, 1)[0]
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    return first, _read_exact(sock, length)


def _properties(body, i):
    """MQTT 5 properties at i: (reason string, user properties, index after)."""
    n, shift, length = 0, 0, 0
    while True:
        byte = body[i + n]
        length |= (byte & 0x7F) << shift
        shift += 7
        n += 1
        if not byte & 0x80:
            break
    i += n
    end, reason, user = i + length, None, {}

    def string(j):
        k = struct.unpack(">H", body[j : j + 2])[0]
        return body[j + 2 : j + 2 + k].decode("utf-8"), j + 2 + k

    # MQTT 5 section 2.2.2.2: the size of every other property's value.
    fixed = {0x01: 1, 0x17: 1, 0x19: 1, 0x24: 1, 0x25: 1, 0x28: 1, 0x29: 1, 0x2A: 1,
             0x13: 2, 0x21: 2, 0x22: 2, 0x23: 2, 0x02: 4, 0x11: 4, 0x18: 4, 0x27: 4}
    while i < end:
        prop = body[i]
        i += 1
        if prop == 0x1F:
            reason, i = string(i)
        elif prop == 0x26:
            key, i = string(i)
            value, i = string(i)
            user[key] = value
        elif prop in fixed:
            i += fixed[prop]
        elif prop in (0x03, 0x08, 0x09, 0x12, 0x15, 0x16, 0x1A, 0x1C):
            i += 2 + struct.unpack(">H", body[i : i + 2])[0]
        else:
            raise ValueError(f"unknown property {prop:#x}")
    return reason, user, end


def connect_password(key, device_id, time_ms, nonce):
    """Spec §7 (signed CONNECT): `<time_ms>:<nonce>:<hex signature>` over
    "ingot/mqtt-connect/v1\\n<device id>\\n<time_ms>\\n<nonce>"."""
    message = f"ingot/mqtt-connect/v1\n{device_id}\n{time_ms}\n{nonce}".encode()
    return f"{time_ms}:{nonce}:{key.sign(message).hex()}"


class Refused(ConnectionError):
    """The gateway refused the CONNECT: MQTT 5 reason code and reason string."""

    def __init__(self, code, reason):
        super().__init__(f"CONNACK refused: reason {code:#x} {reason or ''}".strip())
        self.code, self.reason = code, reason


def publish(host, port, client_id, topic, payload, timeout=30, login=None, tls_ca=None):
    """CONNECT (with a user name and password when `login` is given, over
    TLS trusting `tls_ca` when given), PUBLISH at QoS 1, wait for the PUBACK,
    DISCONNECT."""
    with socket.create_connection((host, port), timeout=timeout) as raw:
        sock = raw
        if tls_ca is not None:
            sock = ssl.create_default_context(cafile=tls_ca).wrap_socket(raw, server_hostname=host)
        flags = 0x02 | (0xC0 if login else 0)
        connect = _mqtt_string("MQTT") + bytes([5, flags]) + struct.pack(">H", 60) + b"\x00"
        body = connect + _mqtt_string(client_id)
        if login:
            body += _mqtt_string(login[0]) + _mqtt_string(login[1])
        sock.sendall(_packet(0x10, body))
        kind, body = _read_packet(sock)
        if kind >> 4 != 2:
            raise ConnectionError(f"expected CONNACK, got packet type {kind >> 4}")
        if body[1] != 0:
            reason, _, _ = _properties(body, 2) if len(body) > 2 else (None, {}, 0)
            raise Refused(body[1], reason)
        packet_id = 1
        sock.sendall(_packet(0x32, _mqtt_string(topic) + struct.pack(">H", packet_id) + b"\x00" + payload))
        kind, body = _read_packet(sock)
        if kind >> 4 != 4 or struct.unpack(">H", body[:2])[0] != packet_id:
            raise ConnectionError(f"expected PUBACK, got packet type {kind >> 4}")
        code, reason, user = 0, None, {}
        if len(body) > 2:
            code = body[2]
        if len(body) > 3:
            reason, user, _ = _properties(body, 3)
        sock.sendall(b"\xe0\x00")
        return {"reason_code": code, "reason_string": reason, "refusal": user.get("ingot-refusal")}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    pub = sub.add_parser("publish", help="sign a batch of readings and publish it")
    pub.add_argument("--host", default="127.0.0.1")
    pub.add_argument("--port", type=int, default=1883)
    pub.add_argument("--key", required=True, help="the device key, PKCS#8 PEM")
    pub.add_argument("--device-id", required=True)
    pub.add_argument("--first-seq", type=int, required=True)
    pub.add_argument("--count", type=int, default=3)
    pub.add_argument("--start-ms", type=int, default=None, help="first timestamp (default: now)")
    pub.add_argument("--corrupt-signature", action="store_true", help="flip a signature bit (to see a refusal)")
    pub.add_argument("--auth", action="store_true", help="sign the CONNECT (gateways run with --require-device-auth)")
    pub.add_argument("--auth-nonce", default=None, help="the CONNECT nonce (default: fresh)")
    pub.add_argument("--tls-ca", default=None, help="connect over TLS, trusting this CA certificate (PEM)")
    pub.add_argument("--topic", default=None, help="publish here instead of the device's own topic")
    args = parser.parse_args(argv)

    key = Key.from_pkcs8_pem(open(args.key).read())
    start = args.start_ms if args.start_ms is not None else int(time.time() * 1000)
    readings = [
        {
            "timestamp_ms": start + 1000 * i,
            "measurements": [
                {"name": "temperature", "value": 2150 + i, "scale": 2, "unit": "°C"},
                {"name": "spindle", "value": -(i + 1), "scale": 0, "unit": "rpm"},
            ],
        }
        for i in range(args.count)
    ]
    payload = bytearray(sign_batch(key, args.device_id, args.first_seq, readings))
    if args.corrupt_signature:
        payload[-1] ^= 0x01
    client_id = f"py-{os.getpid()}-{secrets.token_hex(4)}"
    login = None
    if args.auth:
        nonce = args.auth_nonce or secrets.token_hex(16)
        login = (args.device_id, connect_password(key, args.device_id, int(time.time() * 1000), nonce))
    topic = args.topic or TOPIC_PREFIX + args.device_id
    try:
        result = publish(args.host, args.port, client_id, topic, bytes(payload), login=login, tls_ca=args.tls_ca)
    except Refused as refused:
        print(json.dumps({"connack": refused.code, "reason_string": refused.reason}))
        return 3
    result.update(first_seq=args.first_seq, count=args.count, next_seq=args.first_seq + args.count)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
