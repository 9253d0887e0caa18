/* heap.h -- a binary min-heap of intrusive nodes, ordered by (key, seq).
 *
 * The timer queue keeps every pending timer of a loop in one of these and arms
 * a single uv_timer_t for the earliest; ties on the key keep insertion order.
 * Keys live in the heap's own array, so sifting compares contiguous memory
 * instead of chasing node pointers; a node only records where it sits, so
 * that it can be removed (a cancelled timer) in O(log n).
 * No Lua here: memory comes from an allocator with lua_Alloc's signature so
 * that it is counted with the interpreter's own. */
#ifndef TIDE_HEAP_H
#define TIDE_HEAP_H

#include <stddef.h>
#include <stdint.h>

#define TIDE_HEAP_NONE UINT32_MAX /* index of a node that is not in a heap */

typedef struct tide_heap_node {
  uint64_t key;   /* due time; set before pushing */
  uint32_t index; /* position in the heap, or TIDE_HEAP_NONE */
} tide_heap_node;

typedef struct tide_heap_item {
  uint64_t key;
  uint64_t seq; /* insertion order, breaks ties */
  tide_heap_node *node;
} tide_heap_item;

typedef void *(*tide_alloc_fn)(void *ud, void *ptr, size_t osize, size_t nsize);

typedef struct tide_heap {
  tide_heap_item *items;
  uint32_t size, cap;
  uint64_t next_seq;
  tide_alloc_fn alloc;
  void *alloc_ud;
} tide_heap;

void tide_heap_init(tide_heap *h, tide_alloc_fn alloc, void *ud);
void tide_heap_free(tide_heap *h);
/* Returns 0 on success, -1 when out of memory (the heap is unchanged). */
int tide_heap_push(tide_heap *h, tide_heap_node *n);
void tide_heap_remove(tide_heap *h, tide_heap_node *n);
static inline tide_heap_node *tide_heap_top(const tide_heap *h) {
  return h->size ? h->items[0].node : NULL;
}

#endif
