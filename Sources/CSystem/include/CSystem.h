#ifndef RTCGATE_CSYSTEM_H
#define RTCGATE_CSYSTEM_H
// Linux system calls that Swift's Glibc module hides behind _GNU_SOURCE: batched datagram
// I/O (recvmmsg/sendmmsg), peer credentials of Unix sockets (SO_PEERCRED) and descriptor
// passing (SCM_RIGHTS).
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <signal.h>

/// Layout-identical to glibc's `struct mmsghdr`.
struct rtcgate_mmsghdr {
    struct msghdr msg_hdr;
    unsigned int msg_len;
};

/// recvmmsg(2) with MSG_DONTWAIT semantics left to `flags`; returns -1 and sets errno on error.
int rtcgate_recvmmsg(int fd, struct rtcgate_mmsghdr *vec, unsigned int count, int flags);
/// sendmmsg(2); returns the number of messages sent, or -1 with errno.
int rtcgate_sendmmsg(int fd, struct rtcgate_mmsghdr *vec, unsigned int count, int flags);
/// SO_PEERCRED of a connected Unix stream socket; returns 0 on success.
int rtcgate_peer_credentials(int fd, int32_t *pid, uint32_t *uid, uint32_t *gid);
/// accept4(2) with the given SOCK_* flags.
int rtcgate_accept4(int fd, struct sockaddr *address, socklen_t *length, int flags);
/// Names the calling thread (shown by top -H, ps -L); the kernel keeps 15 bytes.
void rtcgate_set_thread_name(const char *name);
/// Turns on UDP generic segmentation offload for `fd` (UDP_SEGMENT, per message): 0 when the
/// kernel has it (Linux 4.18+), -1 with errno (ENOPROTOOPT) when not.
int rtcgate_udp_segmentation_probe(int fd);
/// Bytes of control buffer one UDP_SEGMENT control message needs (CMSG_SPACE(sizeof(uint16_t))).
unsigned long rtcgate_udp_segment_control_space(void);
/// Writes a UDP_SEGMENT control message with segment size `size` into `control`
/// (`rtcgate_udp_segment_control_space()` bytes).
void rtcgate_udp_segment_control(void *control, uint16_t size);
/// Bytes of control buffer one SO_RXQ_OVFL control message needs (CMSG_SPACE(sizeof(uint32_t))).
unsigned long rtcgate_rxq_ovfl_control_space(void);
/// The socket's count of dropped datagrams carried by SO_RXQ_OVFL in a received message's
/// control data, or -1 when the message carries none.
int64_t rtcgate_rxq_ovfl_value(const struct msghdr *header);
/// Sends `length` bytes of `data` and `count` file descriptors (SCM_RIGHTS, at most 250) in one
/// message on a connected Unix socket. Returns the bytes sent, or -1 with errno.
long rtcgate_send_descriptors(int socket, const void *data, unsigned long length, const int *descriptors, int count);
/// Receives one message: up to `capacity` bytes into `data` and up to `max_descriptors`
/// descriptors (close-on-exec) into `descriptors`, their number in `*count`. Returns the bytes
/// received (0: the peer closed), or -1 with errno; EMSGSIZE when the message carried more
/// descriptors than `max_descriptors` (those received are closed, none returned).
long rtcgate_receive_descriptors(int socket, void *data, unsigned long capacity, int *descriptors, int max_descriptors, int *count);
/// The version this binary reports, read from a marked string in its read-only data
/// ("rtcgate-build-version:0.1.0"), so a test can make a build with another version by patching
/// the bytes of a copy (docs/handover.md).
const char *rtcgate_version_string(void);
/// The handover snapshot format this binary writes and reads, from a marked string
/// ("rtcgate-snapshot-format:1") for the same reason: a test makes a deliberately incompatible build.
int rtcgate_snapshot_format(void);
/// Size of glibc's struct mmsghdr, for a layout check at start-up.
unsigned long rtcgate_mmsghdr_size(void);

#endif
