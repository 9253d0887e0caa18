/* buf.h -- a growable byte buffer and a FIFO of byte chunks, for HTTP
 * bodies. No Lua here: memory comes from an allocator with lua_Alloc's
 * signature, so that it is counted with the interpreter's own. */
#ifndef TIDE_BUF_H
#define TIDE_BUF_H

#include <stddef.h>

#include "heap.h" /* tide_alloc_fn */

typedef struct tide_buf {
  char *data;
  size_t len, cap;
} tide_buf;

/* Appends n bytes; returns 0, or -1 when out of memory (unchanged). */
int tide_buf_append(tide_buf *b, const char *p, size_t n, tide_alloc_fn alloc, void *ud);
/* Makes room for at least n bytes in all; returns 0, or -1 (unchanged). */
int tide_buf_reserve(tide_buf *b, size_t n, tide_alloc_fn alloc, void *ud);
void tide_buf_free(tide_buf *b, tide_alloc_fn alloc, void *ud);

/* A queue of chunks: what a streamed body has received and nobody has read
 * yet. Bytes are counted so the producer can be paused (back-pressure). */
typedef struct tide_chunk {
  struct tide_chunk *next;
  size_t len, cap;
  char data[];
} tide_chunk;

/* Chunks a queue keeps once read, for the next pushes: a streamed body
 * would otherwise malloc and free one per piece. */
#define TIDE_CHUNKS_SPARE 4

typedef struct tide_chunks {
  tide_chunk *head, *tail;
  size_t bytes;
  tide_chunk *spare; /* read chunks kept for reuse (a list) */
  int nspare;
} tide_chunks;

int tide_chunks_push(tide_chunks *q, const char *p, size_t n, tide_alloc_fn alloc,
                     void *ud);
/* Detaches the first chunk (the caller frees it with tide_chunk_free, or
 * hands it back with tide_chunks_recycle). */
tide_chunk *tide_chunks_shift(tide_chunks *q);
void tide_chunk_free(tide_chunk *c, tide_alloc_fn alloc, void *ud);
/* Keeps a shifted chunk for a later push of no more than its capacity (or
 * frees it when q keeps enough). */
void tide_chunks_recycle(tide_chunks *q, tide_chunk *c, tide_alloc_fn alloc, void *ud);
/* Frees every chunk, the kept ones too. */
void tide_chunks_clear(tide_chunks *q, tide_alloc_fn alloc, void *ud);

#endif
