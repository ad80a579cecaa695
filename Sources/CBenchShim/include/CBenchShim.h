// epoll for rtcgate-bench, token-based so the load generator never touches the packed
// `struct epoll_event` from Swift. Batched datagram calls come from CSystem.
#ifndef RTCGATE_CBENCHSHIM_H
#define RTCGATE_CBENCHSHIM_H

#include <stdint.h>
#include <sys/socket.h>

/// epoll_create1(EPOLL_CLOEXEC).
int rb_epoll_create(void);
/// Registers `fd` for EPOLLIN (level-triggered) with `token` as user data.
int rb_epoll_add_in(int epfd, int fd, uint32_t token);
/// Changes interest of `fd` to EPOLLIN (+EPOLLOUT when `want_out`).
int rb_epoll_mod(int epfd, int fd, uint32_t token, int want_out);
/// Waits for at most `max_events` (<= 256) events; writes each event's token
/// to `tokens[i]` and its event mask to `masks[i]`. Returns count or -1.
int rb_epoll_wait(int epfd, uint32_t *tokens, uint32_t *masks, int max_events, int timeout_ms);

/// EPOLLIN / EPOLLOUT / EPOLLERR / EPOLLHUP bit values.
uint32_t rb_epollin(void);
uint32_t rb_epollout(void);
uint32_t rb_epollerr_hup(void);

/// timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC): a descriptor that becomes
/// readable at a CLOCK_MONOTONIC deadline (µs-precise wake-ups for the signal bench's schedule).
int rb_timerfd_create(void);
/// Arms `fd` to fire once at `deadline_ns` (absolute CLOCK_MONOTONIC nanoseconds).
int rb_timerfd_arm(int fd, uint64_t deadline_ns);

#endif
