// Interposes the malloc family for the test executable and counts allocating calls per
// thread. Forwards to glibc's exported __libc_* implementations (glibc-specific).
#include "MallocCounter.h"
#include <errno.h>
#include <stddef.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void __libc_free(void *pointer);
extern void *__libc_memalign(size_t alignment, size_t size);

// initial-exec TLS: no lazy allocation on first access, safe inside malloc itself.
static __thread uint64_t rtcgate_count __attribute__((tls_model("initial-exec")));

uint64_t rtcgate_malloc_count(void) { return rtcgate_count; }
void rtcgate_malloc_count_reset(void) { rtcgate_count = 0; }
int rtcgate_malloc_counter_linked(void) { return 1; }

void *malloc(size_t size) {
    rtcgate_count += 1;
    return __libc_malloc(size);
}

void *calloc(size_t count, size_t size) {
    rtcgate_count += 1;
    return __libc_calloc(count, size);
}

void *realloc(void *pointer, size_t size) {
    rtcgate_count += 1;
    return __libc_realloc(pointer, size);
}

void free(void *pointer) {
    __libc_free(pointer);
}

void *memalign(size_t alignment, size_t size) {
    rtcgate_count += 1;
    return __libc_memalign(alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size) {
    rtcgate_count += 1;
    return __libc_memalign(alignment, size);
}

int posix_memalign(void **result, size_t alignment, size_t size) {
    rtcgate_count += 1;
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0) {
        return EINVAL;
    }
    void *pointer = __libc_memalign(alignment, size);
    if (pointer == NULL) {
        return ENOMEM;
    }
    *result = pointer;
    return 0;
}
