/* sigv4_file.c -- the SHA-256 of a byte range of a file, computed in
 * libuv's thread pool: core.sigv4_sha256_file(fd, offset, length [, path])
 * -> a promise of the lower-case hex digest. SigV4 signs a file body's hash
 * (S3's x-amz-content-sha256) without its bytes ever becoming Lua strings.
 *
 * The work runs on a duplicate of fd (closed when the request is freed),
 * with pread(2) at its own offsets: no position is shared with the caller,
 * who may close its descriptor at once. A file that ends before the range
 * does rejects with an `fs` error (EIO). Cancelling the promise settles it
 * at once; a hash that has started stops at its next read and the request
 * is freed when libuv gives it back.
 *
 * Owns: sha_req. May call: ctx.c, error.c, promise.c, op.c, libuv,
 * libcrypto. Called by sigv4_lua.c (its open). */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tide.h"

/* What the worker reads at a time (its own malloc: not the state's
 * allocator, which is not for other threads). */
#define SHA_READ ((size_t)1 << 20)

typedef struct sha_op sha_op;

typedef struct sha_req {
  tide_io io;
  uv_work_t work;
  tide_ctx *ctx;
  sha_op *op; /* NULL once it was cancelled */
  int fd;     /* the duplicate */
  int64_t offset, length;
  int err;  /* a libuv error code, 0 if none */
  int stop; /* set (atomically) by a cancel: the worker stops */
  char hex[65];
  char *path; /* for errors and tide.handles; may be NULL */
  size_t path_size;
} sha_req;

struct sha_op {
  tide_op_promise base;
  sha_req *req; /* NULL once it settled or was cancelled */
};

#define IO_OF(i) ((sha_req *)((char *)(i)-offsetof(sha_req, io)))
#define WORK_OF(w) ((sha_req *)((char *)(w)-offsetof(sha_req, work)))

/* Worker thread: no Lua, no ctx allocator. */
static void sha_work(uv_work_t *w) {
  sha_req *q = WORK_OF(w);
  static const char digits[] = "0123456789abcdef";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  int64_t pos = q->offset, left = q->length;
  EVP_MD_CTX *c = EVP_MD_CTX_new();
  char *buf = malloc(left < (int64_t)SHA_READ ? (size_t)left + 1 : SHA_READ);
  if (!c || !buf || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1) {
    q->err = UV_ENOMEM;
    goto done;
  }
  while (left > 0) {
    size_t want = left < (int64_t)SHA_READ ? (size_t)left : SHA_READ;
    ssize_t n;
    if (__atomic_load_n(&q->stop, __ATOMIC_RELAXED)) {
      q->err = UV_ECANCELED;
      goto done;
    }
    do
      n = pread(q->fd, buf, want, (off_t)pos);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
      q->err = -errno;
      goto done;
    }
    if (n == 0) {
      q->err = UV_EIO; /* the file ends before the range does */
      goto done;
    }
    EVP_DigestUpdate(c, buf, (size_t)n);
    pos += n;
    left -= n;
  }
  EVP_DigestFinal_ex(c, md, &mdlen);
  for (unsigned i = 0; i < mdlen && i < 32; i++) {
    q->hex[2 * i] = digits[md[i] >> 4];
    q->hex[2 * i + 1] = digits[md[i] & 15];
  }
  q->hex[64] = '\0';
done:
  free(buf);
  if (c) EVP_MD_CTX_free(c);
}

static void sha_release(tide_ctx *ctx, sha_req *q) {
  if (q->fd >= 0) close(q->fd);
  if (q->path) ctx->alloc(ctx->alloc_ud, q->path, q->path_size, 0);
  ctx->alloc(ctx->alloc_ud, q, sizeof *q, 0);
}

static void sha_discard(tide_ctx *ctx, tide_io *io) { sha_release(ctx, IO_OF(io)); }

static void sha_push_error(lua_State *L, sha_req *q) {
  tide_error_push_fs(L, q->err, "read", q->path);
  if (q->err == UV_EIO) { /* set by the hash itself: the range is past the end */
    lua_pushfstring(L, "%s: the file ends before the range to hash (read)",
                    q->path ? q->path : "a file");
    lua_setfield(L, -2, "message");
  }
}

static void sha_complete(lua_State *L, tide_ctx *ctx, tide_io *io) {
  sha_req *q = IO_OF(io);
  sha_op *op = q->op;
  if (op) {
    int p;
    tide_push_anchored(L, ctx, op->base.op.ref);
    p = lua_gettop(L);
    op->req = NULL;
    tide_op_done(L, ctx, &op->base.op);
    if (q->err) {
      sha_push_error(L, q);
      tide_settle(L, ctx, p, TIDE_REJECTED, -1);
    } else {
      lua_pushlstring(L, q->hex, 64);
      tide_settle_direct(L, ctx, p, TIDE_FULFILLED, -1);
    }
    lua_settop(L, p - 1);
  }
  sha_release(ctx, q);
}

static void sha_after(uv_work_t *w, int status) {
  sha_req *q = WORK_OF(w);
  if (status == UV_ECANCELED && !q->err) q->err = UV_ECANCELED;
  tide_io_done(q->ctx, &q->io);
}

static void sha_cancel(lua_State *L, tide_ctx *ctx, int p, int err) {
  sha_op *op = lua_touserdata(L, p);
  if (op->req) {
    /* Not started: libuv drops it; started: it stops at its next read.
     * Either way sha_after hands it back, to be freed only. */
    uv_cancel((uv_req_t *)&op->req->work);
    __atomic_store_n(&op->req->stop, 1, __ATOMIC_RELAXED);
    op->req->op = NULL;
    op->req = NULL;
  }
  tide_op_done(L, ctx, &op->base.op);
  tide_settle(L, ctx, p, TIDE_REJECTED, err);
}

static void sha_describe(lua_State *L, tide_ctx *ctx, int p, int e) {
  sha_op *op = lua_touserdata(L, p);
  (void)ctx;
  if (!op->req) return;
  lua_pushliteral(L, "sha256");
  lua_setfield(L, e, "call");
  if (op->req->path) {
    lua_pushstring(L, op->req->path);
    lua_setfield(L, e, "path");
  }
  lua_pushinteger(L, (lua_Integer)op->req->length);
  lua_setfield(L, e, "length");
}

static const tide_op_class sha_class = {"fs", sha_cancel, sha_describe, 1};

/* core.sigv4_sha256_file(fd, offset, length [, path]) -> promise of the hex
 * SHA-256 of length bytes of fd from offset. */
static int sha_l_file(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  lua_Integer fd = luaL_checkinteger(L, 1);
  lua_Integer offset = luaL_checkinteger(L, 2);
  lua_Integer length = luaL_checkinteger(L, 3);
  size_t plen = 0;
  const char *path = luaL_optlstring(L, 4, NULL, &plen);
  sha_op *op;
  sha_req *q;
  int dupfd, rc;
  luaL_argcheck(L, fd >= 0 && fd <= INT32_MAX, 1, "not a file descriptor");
  luaL_argcheck(L, offset >= 0, 2, "offset must be >= 0");
  luaL_argcheck(L, length >= 0, 3, "length must be >= 0");
  lua_settop(L, 4);
  op = (sha_op *)tide_promise_new(L, ctx, sizeof *op, TIDE_K_OP, 1, NULL);
  tide_op_start(L, ctx, -1, &op->base.op, &sha_class);
  q = ctx->alloc(ctx->alloc_ud, NULL, 0, sizeof *q);
  if (q) {
    memset(q, 0, sizeof *q);
    if (path && (q->path = ctx->alloc(ctx->alloc_ud, NULL, 0, plen + 1)) != NULL) {
      memcpy(q->path, path, plen + 1);
      q->path_size = plen + 1;
    }
  }
  if (!q) {
    tide_op_done(L, ctx, &op->base.op);
    return luaL_error(L, "not enough memory");
  }
  q->ctx = ctx;
  q->offset = offset;
  q->length = length;
  q->io.complete = sha_complete;
  q->io.discard = sha_discard;
  q->fd = -1;
  dupfd = fcntl((int)fd, F_DUPFD_CLOEXEC, 0);
  rc = dupfd < 0 ? -errno : 0;
  if (rc == 0) {
    q->fd = dupfd;
    rc = uv_queue_work(&ctx->loop, &q->work, sha_work, sha_after);
  }
  if (rc < 0) {
    int p = lua_gettop(L);
    q->err = rc;
    tide_op_done(L, ctx, &op->base.op);
    sha_push_error(L, q);
    tide_settle(L, ctx, p, TIDE_REJECTED, -1);
    lua_pop(L, 1);
    if (q->fd >= 0) close(q->fd);
    q->fd = -1;
    if (q->path) ctx->alloc(ctx->alloc_ud, q->path, q->path_size, 0);
    ctx->alloc(ctx->alloc_ud, q, sizeof *q, 0);
    return 1;
  }
  op->req = q;
  q->op = op;
  return 1;
}

void tide_sigv4_file_open(lua_State *L, tide_ctx *ctx) {
  static const luaL_Reg funcs[] = {{"sigv4_sha256_file", sha_l_file}, {NULL, NULL}};
  tide_setfuncs(L, ctx, funcs);
}
