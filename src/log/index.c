/* index.c - dense memory-mapped index of store positions. */
#include "index.h"

#include "format.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

struct sl_index {
    const seglog_vfs_t *vfs;
    int fd;
    uint8_t *map;          /* capacity * 8 bytes, or NULL when capacity is 0 */
    uint32_t capacity;     /* slots mapped */
    uint32_t file_entries; /* slots the file held when opened */
    int settled;           /* count was set: close may cut the file to it */
    uint32_t dirty_to;     /* slots at and past this are known to be zero */
    _Atomic uint32_t count;
};

static int s_map(sl_index_t *x, uint32_t capacity, int grow);

int sl_index_open(const seglog_vfs_t *vfs, const char *path, uint32_t capacity, int truncate,
                  sl_index_t **out)
{
    int fd = vfs->open(vfs->ctx, path, O_RDWR | O_CREAT | (truncate ? O_TRUNC : 0), 0644);
    if (fd < 0)
        return -fd;
    sl_index_t *x = calloc(1, sizeof *x);
    if (!x) {
        vfs->close(vfs->ctx, fd);
        return SEGLOG_E_NOMEM;
    }
    x->vfs = vfs;
    x->fd = fd;
    off_t size = 0;
    int rc = -vfs->fstat_size(vfs->ctx, fd, &size);
    if (rc)
        goto fail;
    x->file_entries = (uint32_t)((uint64_t)size / SL_INDEX_ENTRY_LEN);
    x->dirty_to = x->file_entries;
    if (x->file_entries > capacity)
        capacity = x->file_entries; /* never hide entries a bigger config wrote */
    rc = s_map(x, capacity, capacity > x->file_entries);
    if (rc)
        goto fail;
    *out = x;
    return 0;
fail:
    vfs->close(vfs->ctx, fd);
    free(x);
    return rc;
}

uint32_t sl_index_capacity(const sl_index_t *x)
{
    return x->capacity;
}

uint32_t sl_index_file_entries(const sl_index_t *x)
{
    return x->file_entries;
}

uint32_t sl_index_count(const sl_index_t *x)
{
    return atomic_load_explicit(&x->count, memory_order_acquire);
}

uint32_t sl_index_valid_prefix(const sl_index_t *x, uint32_t limit, uint32_t min_pos,
                               uint64_t store_size)
{
    if (limit > x->capacity)
        limit = x->capacity;
    uint32_t prev = 0;
    for (uint32_t i = 0; i < limit; i++) {
        const uint8_t *e = x->map + (size_t)i * SL_INDEX_ENTRY_LEN;
        uint32_t rel = sl_get32(e), pos = sl_get32(e + 4);
        if (rel != i || pos < min_pos || (i > 0 && pos <= prev) || pos >= store_size)
            return i;
        prev = pos;
    }
    return limit;
}

void sl_index_put(sl_index_t *x, uint32_t rel, uint32_t pos)
{
    uint8_t *e = x->map + (size_t)rel * SL_INDEX_ENTRY_LEN;
    sl_put32(e, rel);
    sl_put32(e + 4, pos);
    if (rel + 1 > x->dirty_to)
        x->dirty_to = rel + 1;
}

void sl_index_set_count(sl_index_t *x, uint32_t count)
{
    if (count < x->dirty_to) {
        /* Zero what is cut (or was stale in the file) so that a later
         * recovery never trusts it. Only the dirty range: touching the
         * whole preallocated map would fault in every page. */
        size_t from = (size_t)count * SL_INDEX_ENTRY_LEN;
        size_t to = (size_t)x->dirty_to * SL_INDEX_ENTRY_LEN;
        if (x->map && to > from)
            memset(x->map + from, 0, to - from);
    }
    x->dirty_to = count;
    x->settled = 1;
    atomic_store_explicit(&x->count, count, memory_order_release);
}

static int s_map(sl_index_t *x, uint32_t capacity, int grow)
{
    if (x->map)
        munmap(x->map, (size_t)x->capacity * SL_INDEX_ENTRY_LEN);
    x->map = NULL;
    x->capacity = capacity;
    if (capacity == 0)
        return 0;
    off_t bytes = (off_t)capacity * SL_INDEX_ENTRY_LEN;
    int rc = -x->vfs->ftruncate(x->vfs->ctx, x->fd, bytes);
    if (rc == 0 && grow)
        rc = -x->vfs->fallocate(x->vfs->ctx, x->fd, bytes);
    if (rc) {
        x->capacity = 0; /* nothing is mapped */
        return rc;
    }
    void *m = mmap(NULL, (size_t)bytes, PROT_READ | PROT_WRITE, MAP_SHARED, x->fd, 0);
    if (m == MAP_FAILED) {
        x->capacity = 0;
        return errno;
    }
    /* Entries are touched one page at a time: without this, the first write
     * to each page of the preallocated file faults in a whole readahead
     * window (8 MiB here) of pages the segment may never use. Advice only;
     * a failure changes nothing. */
    (void)madvise(m, (size_t)bytes, MADV_RANDOM);
    x->map = m;
    return 0;
}

int sl_index_grow(sl_index_t *x, uint32_t capacity)
{
    if (capacity <= x->capacity)
        return 0;
    uint32_t old = x->capacity;
    int rc = s_map(x, capacity, 1);
    if (rc && old > 0)
        s_map(x, old, 0); /* on failure too, capacity says what is mapped */
    return rc;
}

int sl_index_shrink(sl_index_t *x)
{
    if (x->capacity == sl_index_count(x))
        return 0; /* already exact (a cleanly closed sealed segment) */
    return s_map(x, sl_index_count(x), 0);
}

int sl_index_read(const sl_index_t *x, uint32_t rel, uint32_t *pos)
{
    if (rel >= sl_index_count(x))
        return SEGLOG_E_OFFSET_OUT_OF_RANGE;
    *pos = sl_get32(x->map + (size_t)rel * SL_INDEX_ENTRY_LEN + 4);
    return 0;
}

int sl_index_slot(const sl_index_t *x, uint32_t rel, uint32_t *rel_out, uint32_t *pos_out)
{
    if (rel >= x->capacity)
        return SEGLOG_E_OFFSET_OUT_OF_RANGE;
    const uint8_t *e = x->map + (size_t)rel * SL_INDEX_ENTRY_LEN;
    *rel_out = sl_get32(e);
    *pos_out = sl_get32(e + 4);
    return 0;
}

int sl_index_sync(sl_index_t *x)
{
    size_t bytes = (size_t)sl_index_count(x) * SL_INDEX_ENTRY_LEN;
    if (!x->map || bytes == 0)
        return 0;
    return msync(x->map, bytes, MS_SYNC) < 0 ? errno : 0;
}

int sl_index_datasync(sl_index_t *x)
{
    int rc = sl_index_sync(x);
    if (rc == 0)
        rc = -x->vfs->fdatasync(x->vfs->ctx, x->fd);
    return rc;
}

int sl_index_close(sl_index_t **x_p, int sync)
{
    sl_index_t *x = *x_p;
    if (!x)
        return 0;
    *x_p = NULL;
    int rc = 0;
    uint32_t count = sl_index_count(x);
    if (x->map) {
        if (sync)
            rc = sl_index_sync(x);
        munmap(x->map, (size_t)x->capacity * SL_INDEX_ENTRY_LEN);
    }
    int r = 0;
    if (x->settled) /* cut the preallocated tail back to the real length */
        r = -x->vfs->ftruncate(x->vfs->ctx, x->fd, (off_t)count * SL_INDEX_ENTRY_LEN);
    if (rc == 0)
        rc = r;
    if (rc == 0 && sync)
        rc = -x->vfs->fdatasync(x->vfs->ctx, x->fd);
    r = -x->vfs->close(x->vfs->ctx, x->fd);
    if (rc == 0)
        rc = r;
    free(x);
    return rc;
}
