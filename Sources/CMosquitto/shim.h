#ifndef RTCGATE_CMOSQUITTO_SHIM_H
#define RTCGATE_CMOSQUITTO_SHIM_H
// libmosquitto (2.0), driven by rtcgate's own event loop: no libmosquitto thread.
#include <errno.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>

/// Reads packets until the socket would block (or `max_packets` were read, for fairness).
/// libmosquitto's own mosquitto_loop_read reads a single packet per call when nothing is queued,
/// and reports "would block" only through errno, which Swift cannot read reliably.
static inline int rtcgate_mosquitto_read_available(struct mosquitto *mosq, int max_packets) {
    int rc = MOSQ_ERR_SUCCESS;
    for (int i = 0; i < max_packets; i++) {
        errno = 0;
        rc = mosquitto_loop_read(mosq, 1);
        if (rc != MOSQ_ERR_SUCCESS) return rc;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return rc;
    }
    return rc;
}
#endif
