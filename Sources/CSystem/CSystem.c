#define _GNU_SOURCE
#include <stddef.h>
#include <pthread.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include "CSystem.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif

_Static_assert(sizeof(struct rtcgate_mmsghdr) == sizeof(struct mmsghdr), "mmsghdr layout");
_Static_assert(offsetof(struct rtcgate_mmsghdr, msg_len) == offsetof(struct mmsghdr, msg_len), "mmsghdr layout");

int rtcgate_recvmmsg(int fd, struct rtcgate_mmsghdr *vec, unsigned int count, int flags) {
    return recvmmsg(fd, (struct mmsghdr *)vec, count, flags, NULL);
}

int rtcgate_sendmmsg(int fd, struct rtcgate_mmsghdr *vec, unsigned int count, int flags) {
    return sendmmsg(fd, (struct mmsghdr *)vec, count, flags);
}

int rtcgate_peer_credentials(int fd, int32_t *pid, uint32_t *uid, uint32_t *gid) {
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return -1;
    *pid = cred.pid;
    *uid = cred.uid;
    *gid = cred.gid;
    return 0;
}

int rtcgate_accept4(int fd, struct sockaddr *address, socklen_t *length, int flags) {
    return accept4(fd, address, length, flags);
}

unsigned long rtcgate_mmsghdr_size(void) { return sizeof(struct mmsghdr); }

void rtcgate_set_thread_name(const char *name) { pthread_setname_np(pthread_self(), name); }

int rtcgate_udp_segmentation_probe(int fd) {
    int zero = 0;  // 0: no default segment size; each send names its own
    return setsockopt(fd, SOL_UDP, UDP_SEGMENT, &zero, sizeof(zero));
}

unsigned long rtcgate_udp_segment_control_space(void) { return CMSG_SPACE(sizeof(uint16_t)); }

void rtcgate_udp_segment_control(void *control, uint16_t size) {
    memset(control, 0, CMSG_SPACE(sizeof(uint16_t)));
    struct cmsghdr *header = (struct cmsghdr *)control;
    header->cmsg_level = SOL_UDP;
    header->cmsg_type = UDP_SEGMENT;
    header->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    memcpy(CMSG_DATA(header), &size, sizeof(size));
}


unsigned long rtcgate_rxq_ovfl_control_space(void) { return CMSG_SPACE(sizeof(uint32_t)); }

int64_t rtcgate_rxq_ovfl_value(const struct msghdr *header) {
    if (header->msg_controllen < CMSG_LEN(sizeof(uint32_t))) return -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR((struct msghdr *)header); c != NULL; c = CMSG_NXTHDR((struct msghdr *)header, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL && c->cmsg_len >= CMSG_LEN(sizeof(uint32_t))) {
            uint32_t value;
            memcpy(&value, CMSG_DATA(c), sizeof(value));
            return value;
        }
    }
    return -1;
}

#define RTCGATE_MAX_PASSED 250

long rtcgate_send_descriptors(int socket, const void *data, unsigned long length, const int *descriptors, int count) {
    if (count < 0 || count > RTCGATE_MAX_PASSED || length == 0) { errno = EINVAL; return -1; }
    char control[CMSG_SPACE(sizeof(int) * RTCGATE_MAX_PASSED)];
    struct iovec iov = { .iov_base = (void *)data, .iov_len = length };
    struct msghdr message = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (count > 0) {
        memset(control, 0, sizeof(control));
        message.msg_control = control;
        message.msg_controllen = CMSG_SPACE(sizeof(int) * count);
        struct cmsghdr *header = CMSG_FIRSTHDR(&message);
        header->cmsg_level = SOL_SOCKET;
        header->cmsg_type = SCM_RIGHTS;
        header->cmsg_len = CMSG_LEN(sizeof(int) * count);
        memcpy(CMSG_DATA(header), descriptors, sizeof(int) * count);
    }
    return sendmsg(socket, &message, MSG_NOSIGNAL);
}

long rtcgate_receive_descriptors(int socket, void *data, unsigned long capacity, int *descriptors, int max_descriptors, int *count) {
    char control[CMSG_SPACE(sizeof(int) * RTCGATE_MAX_PASSED)];
    struct iovec iov = { .iov_base = data, .iov_len = capacity };
    struct msghdr message = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof(control) };
    *count = 0;
    long received = recvmsg(socket, &message, MSG_CMSG_CLOEXEC);
    if (received < 0) return -1;
    int found = 0, overflow = (message.msg_flags & MSG_CTRUNC) != 0;
    for (struct cmsghdr *header = CMSG_FIRSTHDR(&message); header; header = CMSG_NXTHDR(&message, header)) {
        if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
        int n = (int)((header->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        const int *passed = (const int *)CMSG_DATA(header);
        for (int i = 0; i < n; i++) {
            if (found < max_descriptors) descriptors[found++] = passed[i];
            else { close(passed[i]); overflow = 1; }
        }
    }
    if (overflow) {
        for (int i = 0; i < found; i++) close(descriptors[i]);
        errno = EMSGSIZE;
        return -1;
    }
    *count = found;
    return received;
}

/* Marked, patchable build stamps (see CSystem.h). volatile: read from memory at run time, never
   folded into the code, so patching a copy of the binary changes what it reports. */
__attribute__((used)) static volatile const char rtcgate_version_stamp[48] = "rtcgate-build-version:0.1.0";
__attribute__((used)) static volatile const char rtcgate_format_stamp[32] = "rtcgate-snapshot-format:1";

const char *rtcgate_version_string(void) {
    static char copy[48];
    if (copy[0] == 0) {
        for (int i = 22, j = 0; i < 47 && rtcgate_version_stamp[i] != 0; i++, j++) copy[j] = rtcgate_version_stamp[i];
    }
    return copy;
}

int rtcgate_snapshot_format(void) {
    int value = 0;
    for (int i = 24; i < 31 && rtcgate_format_stamp[i] >= '0' && rtcgate_format_stamp[i] <= '9'; i++) {
        value = value * 10 + (rtcgate_format_stamp[i] - '0');
    }
    return value;
}
