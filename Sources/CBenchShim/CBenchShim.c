// See include/CBenchShim.h.
#define _GNU_SOURCE
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include "CBenchShim.h"

int rb_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int rb_epoll_add_in(int epfd, int fd, uint32_t token) {
    struct epoll_event ev = { .events = EPOLLIN, .data.u32 = token };
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

int rb_epoll_mod(int epfd, int fd, uint32_t token, int want_out) {
    struct epoll_event ev = { .events = EPOLLIN | (want_out ? EPOLLOUT : 0), .data.u32 = token };
    return epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev);
}

int rb_epoll_wait(int epfd, uint32_t *tokens, uint32_t *masks, int max_events, int timeout_ms) {
    struct epoll_event evs[256];
    if (max_events > 256) max_events = 256;
    int n = epoll_wait(epfd, evs, max_events, timeout_ms);
    for (int i = 0; i < n; i++) {
        tokens[i] = evs[i].data.u32;
        masks[i] = evs[i].events;
    }
    return n;
}

uint32_t rb_epollin(void) { return EPOLLIN; }
uint32_t rb_epollout(void) { return EPOLLOUT; }
uint32_t rb_epollerr_hup(void) { return EPOLLERR | EPOLLHUP; }

int rb_timerfd_create(void) { return timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC); }

int rb_timerfd_arm(int fd, uint64_t deadline_ns) {
    if (deadline_ns == 0) deadline_ns = 1;  // an all-zero it_value would disarm it
    struct itimerspec spec = { .it_value = { .tv_sec = (time_t)(deadline_ns / 1000000000u),
                                             .tv_nsec = (long)(deadline_ns % 1000000000u) } };
    return timerfd_settime(fd, TFD_TIMER_ABSTIME, &spec, NULL);
}
