/*
 * tsan_sync.h - tell ThreadSanitizer of a hand-off libzmq already orders.
 *
 * libzmq (not built with TSan) moves a message between threads through
 * lock-free pipes whose atomics TSan cannot see. Where our own code writes
 * a message's bytes on one thread and our own code reads them on another
 * (the HTTP gateway's requests and the replies it gets back), the writer
 * marks the buffer released after filling it and the reader marks it
 * acquired after receiving it: the ordering libzmq guarantees, made
 * visible. Outside a TSan build both are nothing at all.
 */
#ifndef SEGLOG_SERVER_TSAN_SYNC_H
#define SEGLOG_SERVER_TSAN_SYNC_H

#if defined(__SANITIZE_THREAD__)
#define SL_TSAN_ON 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SL_TSAN_ON 1
#endif
#endif

#ifdef SL_TSAN_ON
#include <sanitizer/tsan_interface.h>
#define SL_TSAN_RELEASE(addr) __tsan_release((void *)(addr))
#define SL_TSAN_ACQUIRE(addr) __tsan_acquire((void *)(addr))
#else
#define SL_TSAN_RELEASE(addr) ((void)(addr))
#define SL_TSAN_ACQUIRE(addr) ((void)(addr))
#endif

#endif
