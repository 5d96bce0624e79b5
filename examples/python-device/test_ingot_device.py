#!/usr/bin/env python3
"""The reference device against the published test vectors
(docs/device-protocol-vectors.json): every intermediate value byte for byte,
Ed25519 and P-256 signatures exactly (both deterministic), SM2 signatures
verified both ways. Run: python3 -m unittest test_ingot_device (stdlib only)."""

import json
import os
import unittest

import ingot_device as dev

VECTORS = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "device-protocol-vectors.json")


class Vectors(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(VECTORS) as f:
            cls.v = json.load(f)

    def test_varints(self):
        for case in self.v["varints"]:
            self.assertEqual(dev.varint(case["value"]).hex(), case["encoding"])

    def test_merkle_roots(self):
        for case in self.v["merkle"]:
            leaves = [bytes.fromhex(x) for x in case["leaves"]]
            self.assertEqual(dev.merkle_root(leaves).hex(), case["root"], len(leaves))

    def test_sm3_known_answer(self):
        # GB/T 32905 example 1.
        self.assertEqual(
            dev.sm3(b"abc").hex(), "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
        )

    def test_batches(self):
        for b in self.v["batches"]:
            with self.subTest(scheme=b["scheme"]):
                key = dev.Key(b["scheme"], bytes.fromhex(b["private_key"]))
                public = key.public if b["scheme"] == "ed25519" else key.public
                self.assertEqual(public.hex(), b["public_key"])
                self.assertEqual(dev.text(b["device_id"], dev.MAX_DEVICE_ID).hex(), b["device_id_field"])
                self.assertEqual(dev.TOPIC_PREFIX + b["device_id"], b["topic"])
                enc = [dev.encode_reading(r).hex() for r in b["readings"]]
                self.assertEqual(enc, b["reading_encodings"])
                leaves = dev.reading_leaves(b["device_id"], b["first_seq"], b["readings"])
                self.assertEqual([x.hex() for x in leaves], b["leaves"])
                root = dev.merkle_root(leaves)
                self.assertEqual(root.hex(), b["root"])
                msg = dev.signing_message(b["device_id"], b["first_seq"], len(b["readings"]), root)
                self.assertEqual(msg.hex(), b["signing_message"])
                published = bytes.fromhex(b["signature"])
                self.assertTrue(dev.verify(b["scheme"], public, msg, published), "vector signature verifies")
                mine = key.sign(msg)
                self.assertTrue(dev.verify(b["scheme"], public, msg, mine), "own signature verifies")
                if b["scheme"] in ("ed25519", "p256"):
                    self.assertEqual(mine.hex(), b["signature"], "deterministic signature matches")
                self.assertEqual(
                    dev.batch_payload(b["device_id"], b["first_seq"], b["readings"], published).hex(),
                    b["payload"],
                )
                # A different message does not verify.
                self.assertFalse(dev.verify(b["scheme"], public, msg + b"x", published))


if __name__ == "__main__":
    unittest.main()
