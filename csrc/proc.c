/* proc.c -- core.proc_run: a command run through /bin/sh as a child
 * process on the loop, its standard output and error collected (for
 * tide.aws's credential_process, which must not block the loop).
 *
 * core.proc_run(command, timeout, max_bytes) -> an operation whose promise
 * fulfils with {status=, signal=, stdout=, stderr=, timed_out=,
 * too_long=, spawn_error=}: `status` the exit status (nil if it was killed
 * by `signal`); `timed_out` when it ran past `timeout` seconds (0: no
 * limit) and was killed; `too_long` when it wrote more than `max_bytes` on
 * one stream and was killed; `spawn_error` the message when it could not
 * start. Standard input is /dev/null. Cancelling the promise kills the
 * process.
 *
 * A run owns C memory (its handles and buffers) from the start until its
 * handles are closed: then it is queued as a finished I/O (tide_io) and
 * the driver settles the promise (unless cancelled) and frees it. At
 * teardown the context closes every handle itself: the closing hook kills
 * what still runs, and the module's close hook frees the runs whose
 * handles it closed.
 * May call: ctx.c, buf.c, promise.c, op.c. Its state lives in ctx->procs. */
#include <signal.h>
#include <stddef.h>
#include <string.h>

#include "buf.h"
#include "tide.h"

typedef struct proc_op proc_op;

typedef struct proc {
  tide_io io;
  tide_ctx *ctx;
  proc_op *op; /* the promise's userdata; NULL once it was cancelled */
  uv_process_t process;
  uv_pipe_t out, err;
  uv_timer_t timer;
  tide_buf obuf, ebuf;
  size_t max_bytes;
  int64_t status;
  int term_signal;
  int spawn_err;
  uint8_t exited, out_eof, err_eof, timed_out, too_long, closing;
  int open_handles;
  struct proc *prev, *next; /* ctx->procs, until freed */
} proc;

struct proc_op {
  tide_op_promise base;
  proc *run; /* NULL once finished or cancelled */
};

#define OF(ptr, field) ((proc *)((char *)(ptr)-offsetof(proc, field)))

static void proc_free(tide_ctx *ctx, proc *q) {
  if (q->prev)
    q->prev->next = q->next;
  else
    ctx->procs = q->next;
  if (q->next) q->next->prev = q->prev;
  tide_buf_free(&q->obuf, ctx->alloc, ctx->alloc_ud);
  tide_buf_free(&q->ebuf, ctx->alloc, ctx->alloc_ud);
  ctx->alloc(ctx->alloc_ud, q, sizeof *q, 0);
}

static void close_cb(uv_handle_t *h) {
  proc *q = h->data;
  if (--q->open_handles == 0) tide_io_done(q->ctx, &q->io);
}

/* Closes every handle; once all are closed the run is queued as done. */
static void finish(proc *q) {
  uv_handle_t *hs[] = {(uv_handle_t *)&q->process, (uv_handle_t *)&q->out,
                       (uv_handle_t *)&q->err, (uv_handle_t *)&q->timer};
  if (q->closing) return;
  q->closing = 1;
  for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++) {
    hs[i]->data = q;
    if (!uv_is_closing(hs[i])) {
      q->open_handles++;
      uv_close(hs[i], close_cb);
    }
  }
}

static void kill_and_finish(proc *q) {
  if (!q->exited && q->spawn_err == 0) uv_process_kill(&q->process, SIGKILL);
  finish(q);
}

static void maybe_finish(proc *q) {
  if (q->exited && q->out_eof && q->err_eof) finish(q);
}

static void exit_cb(uv_process_t *p, int64_t status, int term_signal) {
  proc *q = OF(p, process);
  q->exited = 1;
  q->status = status;
  q->term_signal = term_signal;
  uv_timer_stop(&q->timer);
  maybe_finish(q);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  proc *q = h->data;
  tide_buf *b = h == (uv_handle_t *)&q->out ? &q->obuf : &q->ebuf;
  (void)suggested;
  if (tide_buf_reserve(b, b->len + 4096, q->ctx->alloc, q->ctx->alloc_ud)) {
    *buf = uv_buf_init(NULL, 0); /* libuv then reports UV_ENOBUFS */
    return;
  }
  *buf = uv_buf_init(b->data + b->len, (unsigned)(b->cap - b->len));
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  proc *q = s->data;
  tide_buf *b = s == (uv_stream_t *)&q->out ? &q->obuf : &q->ebuf;
  (void)buf;
  if (n > 0) {
    b->len += (size_t)n;
    if (b->len > q->max_bytes) {
      q->too_long = 1;
      kill_and_finish(q);
    }
    return;
  }
  if (n == 0) return;
  uv_read_stop(s);
  if (s == (uv_stream_t *)&q->out)
    q->out_eof = 1;
  else
    q->err_eof = 1;
  maybe_finish(q);
}

static void timer_cb(uv_timer_t *t) {
  proc *q = OF(t, timer);
  q->timed_out = 1;
  kill_and_finish(q);
}

static void push_result(lua_State *L, proc *q) {
  lua_createtable(L, 0, 6);
  if (q->spawn_err) {
    lua_pushstring(L, uv_strerror(q->spawn_err));
    lua_setfield(L, -2, "spawn_error");
    return;
  }
  if (q->exited && q->term_signal == 0) {
    lua_pushinteger(L, (lua_Integer)q->status);
    lua_setfield(L, -2, "status");
  } else if (q->exited) {
    lua_pushinteger(L, q->term_signal);
    lua_setfield(L, -2, "signal");
  }
  lua_pushlstring(L, q->obuf.data ? q->obuf.data : "", q->obuf.len);
  lua_setfield(L, -2, "stdout");
  lua_pushlstring(L, q->ebuf.data ? q->ebuf.data : "", q->ebuf.len);
  lua_setfield(L, -2, "stderr");
  lua_pushboolean(L, q->timed_out);
  lua_setfield(L, -2, "timed_out");
  lua_pushboolean(L, q->too_long);
  lua_setfield(L, -2, "too_long");
}

/* Driver side: settle the promise (unless it was cancelled), free q. */
static void proc_complete(lua_State *L, tide_ctx *ctx, tide_io *io) {
  proc *q = OF(io, io);
  proc_op *op = q->op;
  if (op) {
    int p;
    tide_push_anchored(L, ctx, op->base.op.ref);
    p = lua_gettop(L);
    op->run = NULL;
    tide_op_done(L, ctx, &op->base.op);
    push_result(L, q);
    tide_settle(L, ctx, p, TIDE_FULFILLED, -1);
    lua_settop(L, p - 1);
  }
  proc_free(ctx, q);
}

static void proc_discard(tide_ctx *ctx, tide_io *io) { proc_free(ctx, OF(io, io)); }

static void proc_cancel(lua_State *L, tide_ctx *ctx, int p, int err) {
  proc_op *op = lua_touserdata(L, p);
  if (op->run) {
    op->run->op = NULL;
    kill_and_finish(op->run);
    op->run = NULL;
  }
  tide_op_done(L, ctx, &op->base.op);
  tide_settle(L, ctx, p, TIDE_REJECTED, err);
}

static const tide_op_class proc_class = {"process", proc_cancel, NULL, 1};

/* core.proc_run(command, timeout, max_bytes) -> operation (see the top) */
static int proc_l_run(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  const char *cmd = luaL_checkstring(L, 1);
  double timeout = luaL_optnumber(L, 2, 0);
  lua_Integer max_bytes = luaL_optinteger(L, 3, 1 << 20);
  char *args[4];
  uv_process_options_t opts;
  uv_stdio_container_t stdio[3];
  proc_op *op;
  proc *q;
  luaL_argcheck(L, timeout >= 0 && timeout < 1e9, 2,
                "must be a non-negative number of seconds");
  luaL_argcheck(L, max_bytes > 0 && max_bytes <= TIDE_FS_READ_MAX, 3, "out of range");
  op = (proc_op *)tide_promise_new(L, ctx, sizeof *op, TIDE_K_OP, 1, NULL);
  tide_op_start(L, ctx, -1, &op->base.op, &proc_class);
  q = ctx->alloc(ctx->alloc_ud, NULL, 0, sizeof *q);
  if (!q) {
    tide_op_done(L, ctx, &op->base.op);
    return luaL_error(L, "not enough memory");
  }
  memset(q, 0, sizeof *q);
  q->ctx = ctx;
  q->io.complete = proc_complete;
  q->io.discard = proc_discard;
  q->max_bytes = (size_t)max_bytes;
  q->next = ctx->procs;
  if (q->next) q->next->prev = q;
  ctx->procs = q;
  op->run = q;
  q->op = op;

  uv_pipe_init(&ctx->loop, &q->out, 0);
  uv_pipe_init(&ctx->loop, &q->err, 0);
  uv_timer_init(&ctx->loop, &q->timer);
  q->out.data = q->err.data = q->timer.data = q;
  args[0] = "sh";
  args[1] = "-c";
  args[2] = (char *)cmd;
  args[3] = NULL;
  memset(&opts, 0, sizeof opts);
  stdio[0].flags = UV_IGNORE;
  stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[1].data.stream = (uv_stream_t *)&q->out;
  stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[2].data.stream = (uv_stream_t *)&q->err;
  opts.file = "/bin/sh";
  opts.args = args;
  opts.exit_cb = exit_cb;
  opts.stdio = stdio;
  opts.stdio_count = 3;
  q->spawn_err = uv_spawn(&ctx->loop, &q->process, &opts);
  q->process.data = q;
  if (q->spawn_err) {
    finish(q);
  } else {
    uv_read_start((uv_stream_t *)&q->out, alloc_cb, read_cb);
    uv_read_start((uv_stream_t *)&q->err, alloc_cb, read_cb);
    if (timeout > 0)
      uv_timer_start(&q->timer, timer_cb, (uint64_t)(timeout * 1000.0 + 0.5), 0);
  }
  return 1;
}

/* Teardown, once the context closed every handle: what still runs is
 * killed (its handles closed without our callbacks: freed at close). */
static void proc_closing(tide_ctx *ctx) {
  for (proc *q = ctx->procs; q; q = q->next)
    if (!q->exited && q->spawn_err == 0 && q->process.pid > 0)
      kill(q->process.pid, SIGKILL);
}

/* After the loop closed: frees the runs whose handles the context closed
 * (those this file closed were queued and discarded already). */
static void proc_close(tide_ctx *ctx) {
  while (ctx->procs)
    proc_free(ctx, ctx->procs);
}

static void proc_stats(lua_State *L, tide_ctx *ctx, int t) {
  lua_Integer n = 0;
  for (proc *q = ctx->procs; q; q = q->next)
    n++;
  lua_pushinteger(L, n);
  lua_setfield(L, t, "processes");
}

static const tide_module proc_module = {"proc", proc_close, proc_stats, NULL};

void tide_proc_open(lua_State *L, tide_ctx *ctx) {
  static const luaL_Reg funcs[] = {{"proc_run", proc_l_run}, {NULL, NULL}};
  tide_module_register(ctx, &proc_module);
  tide_on_closing(ctx, proc_closing);
  tide_setfuncs(L, ctx, funcs);
}
