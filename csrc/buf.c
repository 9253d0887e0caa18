/* buf.c -- growable byte buffers and chunk queues (see buf.h).
 * May call: nothing (no Lua, no libuv). */
#include <string.h>

#include "buf.h"

int tide_buf_append(tide_buf *b, const char *p, size_t n, tide_alloc_fn alloc, void *ud) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    char *data;
    while (cap < b->len + n)
      cap *= 2;
    data = alloc(ud, b->data, b->cap, cap);
    if (!data) return -1;
    b->data = data;
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}

int tide_buf_reserve(tide_buf *b, size_t n, tide_alloc_fn alloc, void *ud) {
  char *data;
  if (n <= b->cap) return 0;
  data = alloc(ud, b->data, b->cap, n);
  if (!data) return -1;
  b->data = data;
  b->cap = n;
  return 0;
}

void tide_buf_free(tide_buf *b, tide_alloc_fn alloc, void *ud) {
  if (b->data) alloc(ud, b->data, b->cap, 0);
  b->data = NULL;
  b->len = b->cap = 0;
}

int tide_chunks_push(tide_chunks *q, const char *p, size_t n, tide_alloc_fn alloc,
                     void *ud) {
  tide_chunk *c = q->spare;
  if (c && c->cap >= n) {
    q->spare = c->next;
    q->nspare--;
  } else {
    c = alloc(ud, NULL, 0, sizeof *c + n);
    if (!c) return -1;
    c->cap = n;
  }
  c->next = NULL;
  c->len = n;
  memcpy(c->data, p, n);
  if (q->tail)
    q->tail->next = c;
  else
    q->head = c;
  q->tail = c;
  q->bytes += n;
  return 0;
}

tide_chunk *tide_chunks_shift(tide_chunks *q) {
  tide_chunk *c = q->head;
  if (!c) return NULL;
  q->head = c->next;
  if (!q->head) q->tail = NULL;
  q->bytes -= c->len;
  return c;
}

void tide_chunk_free(tide_chunk *c, tide_alloc_fn alloc, void *ud) {
  alloc(ud, c, sizeof *c + c->cap, 0);
}

void tide_chunks_recycle(tide_chunks *q, tide_chunk *c, tide_alloc_fn alloc, void *ud) {
  if (q->nspare >= TIDE_CHUNKS_SPARE) {
    tide_chunk_free(c, alloc, ud);
    return;
  }
  c->next = q->spare;
  q->spare = c;
  q->nspare++;
}

void tide_chunks_clear(tide_chunks *q, tide_alloc_fn alloc, void *ud) {
  tide_chunk *c;
  while ((c = tide_chunks_shift(q)) != NULL)
    tide_chunk_free(c, alloc, ud);
  while ((c = q->spare) != NULL) {
    q->spare = c->next;
    tide_chunk_free(c, alloc, ud);
  }
  q->nspare = 0;
}
