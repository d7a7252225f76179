/* The Lua allocator: the whole heap's cap and the running rule's growth cap
 * (rt->mem_limit, set around each resume), small blocks from a slab. */
#include "rt_private.h"
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define MX_RT_SLAB 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MX_RT_SLAB 0
#endif
#endif
#ifndef MX_RT_SLAB
#define MX_RT_SLAB 1
#endif
typedef struct slab_chunk {
    struct slab_chunk *next;
    _Alignas(16) unsigned char mem[65536 - 16];
} slab_chunk;

/* Lua tells the allocator each block's size when it frees or resizes it, so
 * small blocks (strings, tables, closures, coroutines: most of a batch run's
 * allocations) come from per-size free lists carved out of 64 KiB chunks,
 * with no header and no malloc call. Chunks are kept until the state is
 * closed; the memory caps count bytes as before. Sanitizer builds use plain
 * malloc so ASan still sees every Lua block. */
static void *slab_get(rt_slab *sl, size_t size) {
    int k = (int)((size + SLAB_GRAIN - 1) / SLAB_GRAIN) - 1;
    slab_free *f = sl->free[k];
    if (f) {
        sl->free[k] = f->next;
        return f;
    }
    size_t obj = (size_t)(k + 1) * SLAB_GRAIN;
    if (sl->left < obj) {
        slab_chunk *c = malloc(sizeof *c);
        if (!c) return NULL;
        c->next = sl->chunks;
        sl->chunks = c;
        sl->bump = c->mem;
        sl->left = sizeof c->mem;
    }
    void *p = sl->bump;
    sl->bump += obj;
    sl->left -= obj;
    return p;
}
static void slab_put(rt_slab *sl, void *p, size_t size) {
    int k = (int)((size + SLAB_GRAIN - 1) / SLAB_GRAIN) - 1;
    slab_free *f = p;
    f->next = sl->free[k];
    sl->free[k] = f;
}
void rt_slab_release(rt_slab *sl) {
    while (sl->chunks) {
        slab_chunk *n = sl->chunks->next;
        free(sl->chunks);
        sl->chunks = n;
    }
    memset(sl, 0, sizeof *sl);
}
#define SLAB_SMALL(n) (MX_RT_SLAB && (n) <= SLAB_MAX)

/* Everything but the two common cases below: blocks resized, large blocks,
 * a size class's first blocks (carved from a chunk). Out of line, so that
 * the common cases need no saved registers. */
static __attribute__((noinline)) void *alloc_other(mx_rt *rt, void *ptr, size_t osize, size_t nsize) {
    if (!ptr) osize = 0;
    if (nsize == 0) {
        if (ptr && SLAB_SMALL(osize)) slab_put(&rt->slab, ptr, osize);
        else free(ptr);
        rt->mem_used -= osize;
        return NULL;
    }
    if (nsize > osize && rt->mem_used + (nsize - osize) > rt->mem_limit) return NULL;
    void *p;
    if (ptr && SLAB_SMALL(osize) && SLAB_SMALL(nsize)
        && (osize + SLAB_GRAIN - 1) / SLAB_GRAIN == (nsize + SLAB_GRAIN - 1) / SLAB_GRAIN) {
        p = ptr;                              /* same size class */
    } else if (SLAB_SMALL(nsize) || (ptr && SLAB_SMALL(osize))) {
        p = SLAB_SMALL(nsize) ? slab_get(&rt->slab, nsize) : malloc(nsize);
        if (!p) return NULL;
        if (ptr) {
            memcpy(p, ptr, osize < nsize ? osize : nsize);
            if (SLAB_SMALL(osize)) slab_put(&rt->slab, ptr, osize);
            else free(ptr);
        }
    } else {
        p = realloc(ptr, nsize);
        if (!p) return NULL;
    }
    rt->mem_used = rt->mem_used - osize + nsize;
    return p;
}

/* Most calls free a small block or make one from its size class's free
 * list or the current chunk: those are done here, without a call. (ptr NULL: osize is the
 * new object's type, not a size.) Lua never has a block of size 0. */
void *rt_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    mx_rt *rt = ud;
    if (MX_RT_SLAB && ptr && nsize == 0 && osize <= SLAB_MAX) {
        slab_free *f = ptr, **head = &rt->slab.free[(osize - 1) / SLAB_GRAIN];
        f->next = *head;
        *head = f;
        rt->mem_used -= osize;
        return NULL;
    }
    if (MX_RT_SLAB && !ptr && nsize - 1 < SLAB_MAX && rt->mem_used + nsize <= rt->mem_limit) {
        size_t k = (nsize - 1) / SLAB_GRAIN, obj = (k + 1) * SLAB_GRAIN;
        slab_free *f = rt->slab.free[k];
        if (f) {
            rt->slab.free[k] = f->next;
            rt->mem_used += nsize;
            return f;
        }
        if (rt->slab.left >= obj) { /* carved from the current chunk */
            void *p = rt->slab.bump;
            rt->slab.bump += obj;
            rt->slab.left -= obj;
            rt->mem_used += nsize;
            return p;
        }
    }
    return alloc_other(rt, ptr, osize, nsize);
}
