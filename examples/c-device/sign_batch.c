/*
 * Sign a batch of three readings with the Ingot C device library and print
 * the MQTT topic and the payload (hex), one per line. Publish the payload
 * with any MQTT client at QoS 1, e.g.
 *
 *   ./sign_batch SN-77.key manufacturer:SN-77 1 $(date +%s000) > out.txt
 *   topic=$(sed -n 1p out.txt); sed -n 2p out.txt | xxd -r -p > batch.bin
 *   mosquitto_pub -V mqttv5 -q 1 -t "$topic" -f batch.bin
 *
 * Build (from the repository root, after `cargo build -p ingot-device-c`):
 *
 *   cc -std=c99 -Wall -Icrates/device-c/include examples/c-device/sign_batch.c \
 *      target/debug/libingot_device_c.a -lpthread -ldl -lm -o sign_batch
 */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <inttypes.h>

#include "ingot_device.h"

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)size + 1);
    if (text && fread(text, 1, (size_t)size, f) != (size_t)size) {
        free(text);
        text = NULL;
    }
    if (text) text[size] = '\0';
    fclose(f);
    return text;
}

static int check(IngotStatus status, const char *what) {
    if (status != INGOT_STATUS_OK) {
        fprintf(stderr, "%s: %s\n", what, ingot_status_message(status));
        return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s KEY.pem DEVICE_ID FIRST_SEQ START_MS\n", argv[0]);
        return 2;
    }
    char *pem = read_file(argv[1]);
    if (!pem) {
        fprintf(stderr, "cannot read %s\n", argv[1]);
        return 1;
    }
    uint64_t first_seq = strtoull(argv[3], NULL, 10);
    uint64_t start_ms = strtoull(argv[4], NULL, 10);

    IngotDevice *device = NULL;
    int failed = check(ingot_device_new(argv[2], pem, first_seq, &device), "ingot_device_new");
    free(pem);
    if (failed) return 1;

    /* 21.53 °C and -0.017 mm/s; then 21.60 °C; then a running flag. */
    IngotMeasurement first[2] = {
        {"temperature", 2153, 2, "\xc2\xb0" "C"},
        {"vibration", -17, 3, "mm/s"},
    };
    IngotMeasurement second[1] = {{"temperature", 2160, 2, "\xc2\xb0" "C"}};
    IngotMeasurement third[1] = {{"running", 1, 0, ""}};
    failed = check(ingot_device_add_reading(device, start_ms, first, 2), "reading 1")
          || check(ingot_device_add_reading(device, start_ms + 1000, second, 1), "reading 2")
          || check(ingot_device_add_reading(device, start_ms + 2000, third, 1), "reading 3");

    static uint8_t payload[INGOT_MAX_BATCH_BYTES];
    size_t payload_len = 0;
    char topic[INGOT_MAX_TOPIC_BYTES];
    size_t topic_len = 0;
    failed = failed
          || check(ingot_device_sign(device, payload, sizeof payload, &payload_len), "ingot_device_sign")
          || check(ingot_device_topic(device, topic, sizeof topic, &topic_len), "ingot_device_topic");
    if (!failed) {
        /* A real device persists this before publishing (protocol §6). */
        fprintf(stderr, "next sequence number: %" PRIu64 "\n", ingot_device_next_seq(device));
        printf("%s\n", topic);
        for (size_t i = 0; i < payload_len; i++) printf("%02x", payload[i]);
        printf("\n");
    }
    ingot_device_free(device);
    return failed;
}
