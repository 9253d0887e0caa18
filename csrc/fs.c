/* fs.c -- file system primitives on libuv's fs (its thread pool).
 *
 * One C function per libuv call, each an operation with a promise:
 * fs_open, fs_close, fs_read, fs_write, fs_stat, fs_fstat, fs_scandir,
 * fs_mkdir, fs_rmdir, fs_unlink, fs_rename. lua/tide/fs.lua composes them
 * into tide.fs (read, write, lines, ...), so that a cancelled tide.fs.read
 * closes its descriptor through ordinary cleanup code.
 *
 * A request (fs_req) is malloc'ed and owned by libuv until its callback,
 * which only queues it (tide_io_done); its completion then settles the
 * promise. Cancelling the promise asks libuv to cancel the request and
 * settles at once; the request is freed when libuv gives it back. Failures
 * reject with `fs` errors carrying libuv's error name, the path and the
 * call.
 *
 * libuv can only cancel work that has not started, and a started open of a
 * FIFO blocks its pool thread until the other end opens: a cancelled open
 * of a FIFO, and every such open when the state closes (which waits for the
 * pool), is unblocked by opening the FIFO once ourselves. Requests in the
 * pool are listed in the context (core.stats().fs counts them).
 *
 * May call: ctx.c, error.c, promise.c, op.c. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#include "tide.h"

typedef enum {
  FS_OPEN,
  FS_CLOSE,
  FS_READ,
  FS_WRITE,
  FS_STAT,
  FS_SCANDIR,
  FS_NONE
} fs_call;

typedef struct fs_op fs_op;

typedef struct fs_req {
  tide_io io;
  uv_fs_t req;
  tide_ctx *ctx;
  fs_op *op;    /* the promise's userdata; NULL once it was cancelled */
  int data_ref; /* anchor of a write's data while libuv uses it */
  char *buf;    /* a read's buffer */
  size_t buf_len;
  char *label; /* a descriptor call's path, for tide.handles */
  size_t label_size;
  uint8_t call;               /* fs_call: what the result looks like */
  const char *name;           /* the call, for error messages */
  struct fs_req *prev, *next; /* ctx->fs_reqs, while libuv holds it */
} fs_req;

struct fs_op {
  tide_op_promise base;
  fs_req *req; /* NULL once libuv gave it back, or the op was cancelled */
};

#define REQ_OF(r) ((fs_req *)((char *)(r)-offsetof(fs_req, req)))
#define IO_OF(i) ((fs_req *)((char *)(i)-offsetof(fs_req, io)))

/* ---------------------------------------------------------------------------
 * Results */

static const char *fs_type_name(uv_dirent_type_t t) {
  switch (t) {
  case UV_DIRENT_FILE:
    return "file";
  case UV_DIRENT_DIR:
    return "directory";
  case UV_DIRENT_LINK:
    return "link";
  case UV_DIRENT_FIFO:
    return "fifo";
  case UV_DIRENT_SOCKET:
    return "socket";
  case UV_DIRENT_CHAR:
    return "char";
  case UV_DIRENT_BLOCK:
    return "block";
  default:
    return "unknown";
  }
}

static const char *fs_mode_type(uint64_t mode) {
  switch (mode & S_IFMT) {
  case S_IFREG:
    return "file";
  case S_IFDIR:
    return "directory";
  case S_IFLNK:
    return "link";
  case S_IFIFO:
    return "fifo";
  case S_IFSOCK:
    return "socket";
  case S_IFCHR:
    return "char";
  case S_IFBLK:
    return "block";
  default:
    return "unknown";
  }
}

static void fs_set_time(lua_State *L, const char *k, uv_timespec_t t) {
  lua_pushnumber(L, (lua_Number)t.tv_sec + (lua_Number)t.tv_nsec / 1e9);
  lua_setfield(L, -2, k);
}

static void fs_push_stat(lua_State *L, const uv_stat_t *s) {
  lua_createtable(L, 0, 10);
  lua_pushstring(L, fs_mode_type(s->st_mode));
  lua_setfield(L, -2, "type");
  lua_pushinteger(L, (lua_Integer)s->st_size);
  lua_setfield(L, -2, "size");
  lua_pushinteger(L, (lua_Integer)(s->st_mode & 07777));
  lua_setfield(L, -2, "mode");
  lua_pushinteger(L, (lua_Integer)s->st_uid);
  lua_setfield(L, -2, "uid");
  lua_pushinteger(L, (lua_Integer)s->st_gid);
  lua_setfield(L, -2, "gid");
  lua_pushinteger(L, (lua_Integer)s->st_nlink);
  lua_setfield(L, -2, "nlink");
  lua_pushinteger(L, (lua_Integer)s->st_ino);
  lua_setfield(L, -2, "ino");
  fs_set_time(L, "mtime", s->st_mtim);
  fs_set_time(L, "atime", s->st_atim);
  fs_set_time(L, "ctime", s->st_ctim);
}

/* Pushes the value a successful request fulfils with. */
static void fs_push_result(lua_State *L, fs_req *q) {
  uv_dirent_t ent;
  lua_Integer n = 0;
  switch (q->call) {
  case FS_OPEN:
  case FS_WRITE:
    lua_pushinteger(L, (lua_Integer)q->req.result);
    break;
  case FS_READ:
    lua_pushlstring(L, q->buf, (size_t)q->req.result);
    break;
  case FS_STAT:
    fs_push_stat(L, &q->req.statbuf);
    break;
  case FS_SCANDIR:
    lua_createtable(L, (int)q->req.result, 1);
    while (uv_fs_scandir_next(&q->req, &ent) != UV_EOF) {
      lua_createtable(L, 0, 2);
      lua_pushstring(L, ent.name);
      lua_setfield(L, -2, "name");
      lua_pushstring(L, fs_type_name(ent.type));
      lua_setfield(L, -2, "type");
      lua_rawseti(L, -2, ++n);
    }
    lua_pushinteger(L, n);
    lua_setfield(L, -2, "n");
    break;
  default:
    lua_pushnil(L);
    break;
  }
}

/* Frees q (its data anchor is the caller's business). */
static void fs_req_release(tide_ctx *ctx, fs_req *q) {
  uv_fs_req_cleanup(&q->req);
  if (q->buf) ctx->alloc(ctx->alloc_ud, q->buf, q->buf_len, 0);
  if (q->label) ctx->alloc(ctx->alloc_ud, q->label, q->label_size, 0);
  ctx->alloc(ctx->alloc_ud, q, sizeof *q, 0);
}

static void fs_req_free(lua_State *L, tide_ctx *ctx, fs_req *q) {
  tide_unanchor(L, ctx, q->data_ref);
  fs_req_release(ctx, q);
}

static void fs_discard(tide_ctx *ctx, tide_io *io) {
  fs_req *q = IO_OF(io);
  if (q->call == FS_OPEN && q->req.result >= 0) {
    uv_fs_t close_req;
    uv_fs_close(&ctx->loop, &close_req, (uv_file)q->req.result, NULL);
    uv_fs_req_cleanup(&close_req);
  }
  fs_req_release(ctx, q);
}

/* Driver side: settle the promise (unless it was cancelled), free q. */
static void fs_complete(lua_State *L, tide_ctx *ctx, tide_io *io) {
  fs_req *q = IO_OF(io);
  fs_op *op = q->op;
  if (op) {
    int p;
    tide_push_anchored(L, ctx, op->base.op.ref);
    p = lua_gettop(L);
    op->req = NULL;
    tide_op_done(L, ctx, &op->base.op);
    if (q->req.result < 0) {
      tide_error_push_fs(L, (int)q->req.result, q->name, q->req.path);
      tide_settle(L, ctx, p, TIDE_REJECTED, -1);
    } else {
      fs_push_result(L, q);
      tide_settle_direct(L, ctx, p, TIDE_FULFILLED, -1);
    }
    lua_settop(L, p - 1);
  } else if (q->call == FS_OPEN && q->req.result >= 0) {
    /* Cancelled, but libuv had already opened the file: close it here, or
     * the descriptor would leak (nobody is left to use it). */
    uv_fs_t close_req;
    uv_fs_close(&ctx->loop, &close_req, (uv_file)q->req.result, NULL);
    uv_fs_req_cleanup(&close_req);
  }
  fs_req_free(L, ctx, q);
}

/* q is in libuv's thread pool from its start to its callback. */
static void fs_pool_enter(tide_ctx *ctx, fs_req *q) {
  q->prev = NULL;
  q->next = ctx->fs_reqs;
  if (q->next) q->next->prev = q;
  ctx->fs_reqs = q;
  ctx->fs_pending++;
}

static void fs_pool_leave(tide_ctx *ctx, fs_req *q) {
  if (q->prev)
    q->prev->next = q->next;
  else
    ctx->fs_reqs = q->next;
  if (q->next) q->next->prev = q->prev;
  ctx->fs_pending--;
}

/* An open of a FIFO waits, in its pool thread, for the other end. Opening
 * the FIFO for both ends without blocking, then closing it, ends that wait
 * (the open then completes, and fs_complete closes what it opened). Only
 * for a FIFO: nothing else is opened behind the caller's back. */
static void fs_unblock_open(fs_req *q) {
  struct stat st;
  int fd;
  if (q->call != FS_OPEN || !q->req.path) return;
  if (stat(q->req.path, &st) != 0 || !S_ISFIFO(st.st_mode)) return;
  fd = open(q->req.path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd >= 0) close(fd);
}

/* The closing hook (before the last run of the loop, which waits for the
 * pool). Opens are the only requests dropped here: what they would open is
 * closed unused anyway, while a write or a close still has to happen. */
static void fs_closing(tide_ctx *ctx) {
  for (fs_req *q = ctx->fs_reqs; q; q = q->next)
    if (q->call == FS_OPEN && uv_cancel((uv_req_t *)&q->req) != 0) fs_unblock_open(q);
}

/* libuv side: no Lua here, just queue it for the driver. */
static void fs_cb(uv_fs_t *r) {
  fs_req *q = REQ_OF(r);
  fs_pool_leave(q->ctx, q);
  tide_io_done(q->ctx, &q->io);
}

static void fs_cancel(lua_State *L, tide_ctx *ctx, int p, int err) {
  fs_op *op = lua_touserdata(L, p);
  if (op->req) {
    /* Stops it if it has not started; either way libuv gives it back later
     * and fs_complete then only frees it. A close is never stopped: the
     * descriptor would leak. */
    if (op->req->call != FS_CLOSE && uv_cancel((uv_req_t *)&op->req->req) != 0)
      fs_unblock_open(op->req); /* it has started: it may be blocked */
    op->req->op = NULL;
    op->req = NULL;
  }
  tide_op_done(L, ctx, &op->base.op);
  tide_settle(L, ctx, p, TIDE_REJECTED, err);
}

/* tide.handles: the call, and the path it works on (a descriptor call's
 * when the Lua layer gave it: see fs_label), and a rename's target. */
static void fs_describe(lua_State *L, tide_ctx *ctx, int p, int e) {
  fs_op *op = lua_touserdata(L, p);
  fs_req *q = op->req;
  const char *path;
  (void)ctx;
  if (!q) return;
  lua_pushstring(L, q->name);
  lua_setfield(L, e, "call");
  path = q->req.path ? q->req.path : q->label;
  if (path) {
    lua_pushstring(L, path);
    lua_setfield(L, e, "path");
  }
  if (q->req.new_path) {
    lua_pushstring(L, q->req.new_path);
    lua_setfield(L, e, "to");
  }
}

static const tide_op_class fs_class = {"fs", fs_cancel, fs_describe, 1};

/* ---------------------------------------------------------------------------
 * Starting requests */

/* Pushes a pending fs op promise and returns its request (not started),
 * with a buffer of buf_len bytes (a read's) and data_ref (an anchor of a
 * write's data, or LUA_NOREF) handed over to it. Two phases: first what
 * Lua allocates (the promise, its anchor as an op), then the C memory; if
 * that fails the op is undone before the error, so running out of memory
 * leaks no request and leaves no promise pending. */
static fs_req *fs_req_new(lua_State *L, tide_ctx *ctx, fs_call call, const char *name,
                          size_t buf_len, int data_ref) {
  fs_op *op = (fs_op *)tide_promise_new(L, ctx, sizeof *op, TIDE_K_OP, 1, NULL);
  fs_req *q;
  tide_op_start(L, ctx, -1, &op->base.op, &fs_class);
  q = ctx->alloc(ctx->alloc_ud, NULL, 0, sizeof *q);
  if (q) {
    memset(q, 0, sizeof *q);
    if (buf_len && (q->buf = ctx->alloc(ctx->alloc_ud, NULL, 0, buf_len)) == NULL) {
      ctx->alloc(ctx->alloc_ud, q, sizeof *q, 0);
      q = NULL;
    }
  }
  if (!q) {
    tide_op_done(L, ctx, &op->base.op);
    tide_unanchor(L, ctx, data_ref);
    luaL_error(L, "not enough memory");
  }
  q->buf_len = buf_len;
  q->io.complete = fs_complete;
  q->io.discard = fs_discard;
  q->ctx = ctx;
  q->data_ref = data_ref;
  q->call = (uint8_t)call;
  q->name = name;
  op->req = q;
  q->op = op;
  return q;
}

/* Checks a libuv start result: on failure (bad arguments, mostly) the
 * request never started, so reject now. */
static int fs_started(lua_State *L, tide_ctx *ctx, fs_req *q, int rc, const char *path) {
  if (rc >= 0) fs_pool_enter(ctx, q);
  if (rc < 0) {
    fs_op *op = q->op;
    int p = lua_gettop(L);
    op->req = NULL;
    tide_op_done(L, ctx, &op->base.op);
    tide_error_push_fs(L, rc, q->name, path);
    tide_settle(L, ctx, p, TIDE_REJECTED, -1);
    lua_pop(L, 1);
    fs_req_free(L, ctx, q);
  }
  return 1;
}

/* A descriptor call's optional last argument: the path the descriptor was
 * opened at, kept for tide.handles only (without memory, it is simply not
 * shown). */
static void fs_label(lua_State *L, tide_ctx *ctx, fs_req *q, int arg) {
  size_t len;
  const char *path = lua_type(L, arg) == LUA_TSTRING ? lua_tolstring(L, arg, &len) : NULL;
  if (!path) return;
  q->label = ctx->alloc(ctx->alloc_ud, NULL, 0, len + 1);
  if (!q->label) return;
  memcpy(q->label, path, len + 1);
  q->label_size = len + 1;
}

static const char *fs_check_path(lua_State *L, int arg) {
  size_t len;
  const char *path = luaL_checklstring(L, arg, &len);
  luaL_argcheck(L, strlen(path) == len, arg, "path contains a zero byte");
  return path;
}

static uv_file fs_check_fd(lua_State *L, int arg) {
  lua_Integer fd = luaL_checkinteger(L, arg);
  luaL_argcheck(L, fd >= 0 && fd <= INT32_MAX, arg, "not a file descriptor");
  return (uv_file)fd;
}

static int fs_open_flags(lua_State *L, int arg) {
  static const char *const names[] = {"r", "r+", "w", "w+", "a", "a+", "wx", "ax", NULL};
  static const int flags[] = {O_RDONLY,
                              O_RDWR,
                              O_WRONLY | O_CREAT | O_TRUNC,
                              O_RDWR | O_CREAT | O_TRUNC,
                              O_WRONLY | O_CREAT | O_APPEND,
                              O_RDWR | O_CREAT | O_APPEND,
                              O_WRONLY | O_CREAT | O_EXCL,
                              O_WRONLY | O_CREAT | O_APPEND | O_EXCL};
  return flags[luaL_checkoption(L, arg, "r", names)] | O_CLOEXEC;
}

/* core.fs_open(path [, flags [, mode]]) -> promise of a descriptor.
 * flags as in fopen/Node: "r", "r+", "w", "w+", "a", "a+", "wx", "ax". */
static int fs_l_open(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  const char *path = fs_check_path(L, 1);
  int flags = fs_open_flags(L, 2);
  int mode = (int)luaL_optinteger(L, 3, 0644);
  fs_req *q;
  lua_settop(L, 3);
  q = fs_req_new(L, ctx, FS_OPEN, "open", 0, LUA_NOREF);
  return fs_started(L, ctx, q, uv_fs_open(&ctx->loop, &q->req, path, flags, mode, fs_cb),
                    path);
}

/* core.fs_close(fd [, path]) -> promise (path: for tide.handles) */
static int fs_l_close(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  uv_file fd = fs_check_fd(L, 1);
  fs_req *q;
  lua_settop(L, 2);
  q = fs_req_new(L, ctx, FS_CLOSE, "close", 0, LUA_NOREF);
  fs_label(L, ctx, q, 2);
  return fs_started(L, ctx, q, uv_fs_close(&ctx->loop, &q->req, fd, fs_cb), NULL);
}

/* core.fs_close_now(fd): closes fd at once, on this thread, ignoring errors.
 * For finalizers, which must not start operations (and may run after the
 * context is gone: this one does not use it). */
static int fs_l_close_now(lua_State *L) {
  close(fs_check_fd(L, 1));
  return 0;
}

/* core.fs_read(fd, size [, offset [, path]]) -> promise of a string ("" at
 * the end). offset -1 (the default) reads from the current position. */
static int fs_l_read(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  uv_file fd = fs_check_fd(L, 1);
  lua_Integer size = luaL_checkinteger(L, 2);
  lua_Integer offset = luaL_optinteger(L, 3, -1);
  fs_req *q;
  uv_buf_t buf;
  luaL_argcheck(L, size > 0 && size <= TIDE_FS_READ_MAX, 2,
                "size must be between 1 and 64 MiB");
  lua_settop(L, 4);
  q = fs_req_new(L, ctx, FS_READ, "read", (size_t)size, LUA_NOREF);
  fs_label(L, ctx, q, 4);
  buf = uv_buf_init(q->buf, (unsigned)size);
  return fs_started(L, ctx, q,
                    uv_fs_read(&ctx->loop, &q->req, fd, &buf, 1, offset, fs_cb), NULL);
}

/* core.fs_write(fd, data [, offset [, path]]) -> promise of the bytes
 * written */
static int fs_l_write(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  uv_file fd = fs_check_fd(L, 1);
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  lua_Integer offset = luaL_optinteger(L, 3, -1);
  fs_req *q;
  int data_ref;
  uv_buf_t buf = uv_buf_init((char *)data, (unsigned)len);
  luaL_argcheck(L, len <= UINT32_MAX, 2, "data too long for one write");
  lua_settop(L, 4);
  /* libuv reads the string from its thread pool: keep it alive until then,
   * even if the promise is cancelled meanwhile. (Anchored first: should the
   * op's own anchor then fail for lack of memory, only the string stays.) */
  lua_pushvalue(L, 2);
  data_ref = tide_anchor(L, ctx);
  q = fs_req_new(L, ctx, FS_WRITE, "write", 0, data_ref);
  fs_label(L, ctx, q, 4);
  return fs_started(L, ctx, q,
                    uv_fs_write(&ctx->loop, &q->req, fd, &buf, 1, offset, fs_cb), NULL);
}

/* core.fs_stat(path) -> promise of {type, size, mode, mtime, ...} */
static int fs_l_stat(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  const char *path = fs_check_path(L, 1);
  fs_req *q;
  lua_settop(L, 1);
  q = fs_req_new(L, ctx, FS_STAT, "stat", 0, LUA_NOREF);
  return fs_started(L, ctx, q, uv_fs_stat(&ctx->loop, &q->req, path, fs_cb), path);
}

/* core.fs_fstat(fd [, path]) -> promise of the same */
static int fs_l_fstat(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  uv_file fd = fs_check_fd(L, 1);
  fs_req *q;
  lua_settop(L, 2);
  q = fs_req_new(L, ctx, FS_STAT, "fstat", 0, LUA_NOREF);
  fs_label(L, ctx, q, 2);
  return fs_started(L, ctx, q, uv_fs_fstat(&ctx->loop, &q->req, fd, fs_cb), NULL);
}

/* core.fs_scandir(path) -> promise of a list of {name=, type=} */
static int fs_l_scandir(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  const char *path = fs_check_path(L, 1);
  fs_req *q;
  lua_settop(L, 1);
  q = fs_req_new(L, ctx, FS_SCANDIR, "scandir", 0, LUA_NOREF);
  return fs_started(L, ctx, q, uv_fs_scandir(&ctx->loop, &q->req, path, 0, fs_cb), path);
}

/* core.fs_mkdir(path [, mode]) -> promise */
static int fs_l_mkdir(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  const char *path = fs_check_path(L, 1);
  int mode = (int)luaL_optinteger(L, 2, 0755);
  fs_req *q;
  lua_settop(L, 2);
  q = fs_req_new(L, ctx, FS_NONE, "mkdir", 0, LUA_NOREF);
  return fs_started(L, ctx, q, uv_fs_mkdir(&ctx->loop, &q->req, path, mode, fs_cb), path);
}

/* core.fs_rmdir(path), core.fs_unlink(path) -> promise */
static int fs_l_rmdir(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  const char *path = fs_check_path(L, 1);
  fs_req *q;
  lua_settop(L, 1);
  q = fs_req_new(L, ctx, FS_NONE, "rmdir", 0, LUA_NOREF);
  return fs_started(L, ctx, q, uv_fs_rmdir(&ctx->loop, &q->req, path, fs_cb), path);
}

static int fs_l_unlink(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  const char *path = fs_check_path(L, 1);
  fs_req *q;
  lua_settop(L, 1);
  q = fs_req_new(L, ctx, FS_NONE, "unlink", 0, LUA_NOREF);
  return fs_started(L, ctx, q, uv_fs_unlink(&ctx->loop, &q->req, path, fs_cb), path);
}

/* core.fs_rename(from, to) -> promise */
static int fs_l_rename(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  const char *from = fs_check_path(L, 1);
  const char *to = fs_check_path(L, 2);
  fs_req *q;
  lua_settop(L, 2);
  q = fs_req_new(L, ctx, FS_NONE, "rename", 0, LUA_NOREF);
  return fs_started(L, ctx, q, uv_fs_rename(&ctx->loop, &q->req, from, to, fs_cb), from);
}

/* libuv's pool has 4 threads unless UV_THREADPOOL_SIZE says otherwise when
 * it first starts: 4 opens waiting on FIFOs (or reads waiting on terminals)
 * would hold every thread and stall every other file call. A larger default,
 * unless the user set one: starving it then takes 16 such calls. (Without
 * effect when something else in the process started the pool already.) */
#define POOL_SIZE "16"

static void fs_stats(lua_State *L, tide_ctx *ctx, int t) {
  lua_pushinteger(L, ctx->fs_pending);
  lua_setfield(L, t, "fs");
}

static const tide_module fs_module = {"fs", NULL, fs_stats, NULL};

void tide_fs_open(lua_State *L, tide_ctx *ctx) {
  setenv("UV_THREADPOOL_SIZE", POOL_SIZE, 0);
  static const luaL_Reg funcs[] = {{"fs_open", fs_l_open},
                                   {"fs_close", fs_l_close},
                                   {"fs_close_now", fs_l_close_now},
                                   {"fs_read", fs_l_read},
                                   {"fs_write", fs_l_write},
                                   {"fs_stat", fs_l_stat},
                                   {"fs_fstat", fs_l_fstat},
                                   {"fs_scandir", fs_l_scandir},
                                   {"fs_mkdir", fs_l_mkdir},
                                   {"fs_rmdir", fs_l_rmdir},
                                   {"fs_unlink", fs_l_unlink},
                                   {"fs_rename", fs_l_rename},
                                   {NULL, NULL}};
  tide_module_register(ctx, &fs_module);
  tide_on_closing(ctx, fs_closing);
  tide_setfuncs(L, ctx, funcs);
  lua_pushinteger(L, TIDE_FS_READ_MAX);
  lua_setfield(L, -2, "READ_MAX"); /* core.READ_MAX, for tide.fs */
}
