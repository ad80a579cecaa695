#ifndef RTCGATE_MALLOC_COUNTER_H
#define RTCGATE_MALLOC_COUNTER_H
// Test-only allocation counter. Linking this target into an executable interposes the
// process's malloc family (ELF symbol interposition) and forwards to glibc's __libc_*
// entry points, counting every allocating call made by the calling thread.
#include <stdint.h>

/// Number of allocating calls (malloc, calloc, realloc, posix_memalign, aligned_alloc,
/// memalign) made by the calling thread since it started or since the last reset.
uint64_t rtcgate_malloc_count(void);

/// Resets the calling thread's counter to zero.
void rtcgate_malloc_count_reset(void);

/// Returns 1: proves the interposing definitions are linked into this process.
int rtcgate_malloc_counter_linked(void);

#endif
