#!/usr/bin/env python3
"""MQTT 5 conformance of the Ingot edge gateway, checked with paho-mqtt
(the Eclipse client most device firmware in Python uses), run by the edge
end-to-end test against a live gateway:

- a client without an identifier is assigned one;
- a request for a persistent session is answered with session expiry 0, and
  the receive maximum is advertised;
- a signed batch at QoS 1 gets PUBACK Success; a corrupted one gets 0x87 with
  the user property `ingot-refusal: bad_signature`;
- paho's normal DISCONNECT ends the session cleanly (the test checks the
  gateway counted nothing as malformed).

    python3 paho_check.py PORT KEY.pem DEVICE_ID FIRST_SEQ START_MS

Prints one JSON object and exits 0 when everything held.
"""

import json
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "examples", "python-device"))

import ingot_device as dev  # noqa: E402
import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402
from paho.mqtt.packettypes import PacketTypes  # noqa: E402


def main():
    port, key_path, device_id = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    first_seq, start_ms = int(sys.argv[4]), int(sys.argv[5])
    key = dev.Key.from_pkcs8_pem(open(key_path).read())
    reading = {"timestamp_ms": start_ms, "measurements": [{"name": "temperature", "value": 2199, "scale": 2, "unit": "°C"}]}
    good = dev.sign_batch(key, device_id, first_seq, [reading])
    bad = bytearray(dev.sign_batch(key, device_id, first_seq + 1, [dict(reading, timestamp_ms=start_ms + 1)]))
    bad[-1] ^= 1

    found = {}
    connected, acked = threading.Event(), {}
    done = threading.Condition()

    def on_connect(client, userdata, flags, reason_code, properties):
        found["connack"] = reason_code.value
        found["assigned_client_id"] = getattr(properties, "AssignedClientIdentifier", None)
        found["session_expiry"] = getattr(properties, "SessionExpiryInterval", None)
        found["receive_maximum"] = getattr(properties, "ReceiveMaximum", None)
        found["session_present"] = flags.session_present
        connected.set()

    def on_publish(client, userdata, mid, reason_code, properties):
        with done:
            acked[mid] = (reason_code.value, dict(getattr(properties, "UserProperty", []) or []))
            done.notify_all()

    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id="", protocol=mqtt.MQTTv5
    )
    client.on_connect, client.on_publish = on_connect, on_publish
    connect_properties = Properties(PacketTypes.CONNECT)
    connect_properties.SessionExpiryInterval = 3600
    client.connect("127.0.0.1", port, keepalive=30, clean_start=False, properties=connect_properties)
    client.loop_start()
    if not connected.wait(15):
        sys.exit("no CONNACK")
    topic = dev.TOPIC_PREFIX + device_id
    mids = [client.publish(topic, good, qos=1).mid, client.publish(topic, bytes(bad), qos=1).mid]
    with done:
        done.wait_for(lambda: all(m in acked for m in mids), timeout=30)
    client.disconnect()
    client.loop_stop()
    found["good"] = acked.get(mids[0])
    found["bad"] = acked.get(mids[1])
    checks = {
        "connack success": found["connack"] == 0,
        "assigned client id": (found["assigned_client_id"] or "").startswith("ingot-"),
        "no session kept": found["session_expiry"] == 0 and not found["session_present"],
        "receive maximum": found["receive_maximum"] == 64,
        "batch accepted": found["good"] is not None and found["good"][0] == 0,
        "bad signature refused": found["bad"] is not None
        and found["bad"][0] == 0x87
        and found["bad"][1].get("ingot-refusal") == "bad_signature",
    }
    found["failed"] = [name for name, ok in checks.items() if not ok]
    print(json.dumps(found))
    return 1 if found["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
