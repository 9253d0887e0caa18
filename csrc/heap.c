/* heap.c -- binary min-heap of intrusive nodes (see heap.h).
 * May call: nothing (no Lua, no libuv). */
#include "heap.h"

static int item_less(const tide_heap_item *a, const tide_heap_item *b) {
  return a->key < b->key || (a->key == b->key && a->seq < b->seq);
}

static void place(tide_heap *h, uint32_t i, tide_heap_item item) {
  h->items[i] = item;
  item.node->index = i;
}

static void sift_up(tide_heap *h, uint32_t i) {
  tide_heap_item item = h->items[i];
  while (i > 0) {
    uint32_t parent = (i - 1) / 2;
    if (!item_less(&item, &h->items[parent])) break;
    place(h, i, h->items[parent]);
    i = parent;
  }
  place(h, i, item);
}

static void sift_down(tide_heap *h, uint32_t i) {
  tide_heap_item item = h->items[i];
  for (;;) {
    uint32_t child = 2 * i + 1;
    if (child >= h->size) break;
    if (child + 1 < h->size && item_less(&h->items[child + 1], &h->items[child])) child++;
    if (!item_less(&h->items[child], &item)) break;
    place(h, i, h->items[child]);
    i = child;
  }
  place(h, i, item);
}

void tide_heap_init(tide_heap *h, tide_alloc_fn alloc, void *ud) {
  h->items = NULL;
  h->size = h->cap = 0;
  h->next_seq = 0;
  h->alloc = alloc;
  h->alloc_ud = ud;
}

void tide_heap_free(tide_heap *h) {
  if (h->items) h->alloc(h->alloc_ud, h->items, h->cap * sizeof *h->items, 0);
  h->items = NULL;
  h->size = h->cap = 0;
}

int tide_heap_push(tide_heap *h, tide_heap_node *n) {
  if (h->size == h->cap) {
    uint32_t cap = h->cap ? h->cap * 2 : 64;
    void *items = h->alloc(h->alloc_ud, h->items, h->cap * sizeof *h->items,
                           cap * sizeof *h->items);
    if (!items) return -1;
    h->items = items;
    h->cap = cap;
  }
  h->items[h->size].key = n->key;
  h->items[h->size].seq = h->next_seq++;
  h->items[h->size].node = n;
  n->index = h->size++;
  sift_up(h, n->index);
  return 0;
}

void tide_heap_remove(tide_heap *h, tide_heap_node *n) {
  uint32_t i = n->index;
  if (i == TIDE_HEAP_NONE) return;
  n->index = TIDE_HEAP_NONE;
  if (--h->size == i) return;
  place(h, i, h->items[h->size]);
  /* The moved item may belong above or below its new place. */
  if (i > 0 && item_less(&h->items[i], &h->items[(i - 1) / 2]))
    sift_up(h, i);
  else
    sift_down(h, i);
}
