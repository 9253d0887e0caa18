/* ctx.c -- the bottom layer: the per-lua_State context (its creation and
 * teardown), anchors, calling into Lua (tide_call_cb, GC stress), the
 * on_unhandled handler (tide.on_unhandled and the default one; origins, slow
 * steps and the reporting itself are in report.c), the microtask queue and
 * its drain, the queue of finished I/O, and the registries of module hooks
 * and reaction kinds. The classes of C objects (tide_class_new,
 * core.interpose) are in class.c, beside it.
 *
 * May call: ring.c, report.c (and Lua, libuv). Nothing above it: what the
 * drain runs (reactions, task wakeups, thenable jobs) and the module
 * teardown go through the function pointers that the files above register
 * on the context (see tide.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tide.h"

#define TIDE_CTX_MT "tide.context"

/* One entry of the microtask queue. A wakeup names the coroutine of a task
 * waiting in await and the promise it waits for: both are anchored already
 * (the task by its anchor, the promise by the await frame), so queueing it
 * touches no Lua table. A task that ends while a wakeup for it is still
 * queued keeps its coroutine alive until the queue has passed that wakeup
 * (tide_job_hold); an ended task's coroutine gets no new wakeup
 * (tide_wake_push). Any other job (co == NULL) is the next pair of values in
 * the Lua ring ctx->jobs. */
struct tide_job {
  lua_State *co;
  const tide_promise *promise;
};

static const char ctx_key = 'k'; /* registry key of the context sentinel */
static const char tb_key = 't';  /* registry key: last callback traceback */

tide_ctx *tide_ctx_get(lua_State *L) {
  tide_ctx **box;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &ctx_key);
  box = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return box ? *box : NULL;
}

tide_ctx *tide_ctx_check(lua_State *L, int box) {
  tide_ctx **b = lua_touserdata(L, box);
  if (b == NULL || *b == NULL)
    luaL_error(L, "tide cannot be used any more: the Lua state is closing (this "
                  "finalizer runs after tide's own)");
  return *b;
}

void tide_push_ctx(lua_State *L, tide_ctx *ctx) {
  (void)ctx;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &ctx_key);
}

void tide_setfuncs(lua_State *L, tide_ctx *ctx, const luaL_Reg *funcs) {
  tide_push_ctx(L, ctx);
  luaL_setfuncs(L, funcs, 1);
}

void tide_gc_stress(lua_State *L, tide_ctx *ctx) {
  if (ctx->gc_stress) lua_gc(L, LUA_GCCOLLECT);
}

/* ---------------------------------------------------------------------------
 * Registries: module hooks and reaction kinds */

void tide_module_register(tide_ctx *ctx, const tide_module *m) {
  if (ctx->n_modules == TIDE_MODULES_MAX) {
    fprintf(stderr, "tide: too many modules (raise TIDE_MODULES_MAX)\n");
    abort();
  }
  ctx->modules[ctx->n_modules++] = m;
}

void tide_on_closing(tide_ctx *ctx, tide_closing_fn fn) {
  if (ctx->n_closing == TIDE_MODULES_MAX) {
    fprintf(stderr, "tide: too many closing hooks (raise TIDE_MODULES_MAX)\n");
    abort();
  }
  ctx->closing[ctx->n_closing++] = fn;
}

void tide_reaction_register(tide_ctx *ctx, tide_kind kind, tide_react_fn react) {
  ctx->reactions[kind] = react;
}

/* ---------------------------------------------------------------------------
 * Anchors: C-held references to Lua objects */

/* Anchors live in one table, indexed by slots that a C free list hands out:
 * cheaper than luaL_ref, which keeps its free list inside the table. */
int tide_anchor(lua_State *L, tide_ctx *ctx) {
  int ref = ctx->anchor_nfree ? ctx->anchor_free[--ctx->anchor_nfree] : ++ctx->anchor_top;
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->anchors);
  lua_insert(L, -2);
  lua_rawseti(L, -2, ref);
  lua_pop(L, 1);
  return ref;
}

void tide_unanchor(lua_State *L, tide_ctx *ctx, int ref) {
  if (ref <= 0) return;
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->anchors);
  lua_pushnil(L);
  lua_rawseti(L, -2, ref);
  lua_pop(L, 1);
  if (ctx->anchor_nfree == ctx->anchor_capfree) {
    void *ud;
    lua_Alloc alloc = lua_getallocf(L, &ud);
    int cap = ctx->anchor_capfree ? ctx->anchor_capfree * 2 : 256;
    int *free_slots =
        alloc(ud, ctx->anchor_free, sizeof(int) * (size_t)ctx->anchor_capfree,
              sizeof(int) * (size_t)cap);
    if (!free_slots) return; /* out of memory: the slot is simply not reused */
    ctx->anchor_free = free_slots;
    ctx->anchor_capfree = cap;
  }
  ctx->anchor_free[ctx->anchor_nfree++] = ref;
}

void tide_push_anchored(lua_State *L, tide_ctx *ctx, int ref) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->anchors);
  lua_rawgeti(L, -1, ref);
  lua_remove(L, -2);
}

/* ---------------------------------------------------------------------------
 * Callbacks into Lua */

/* Message handler for callbacks: keeps a traceback aside and returns the
 * error unchanged, so that the reported reason is what the code raised. */
static int callback_msgh(lua_State *L) {
  luaL_traceback(L, L, NULL, 1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &tb_key);
  lua_settop(L, 1);
  return 1;
}

void tide_call_cb(lua_State *L, tide_ctx *ctx, int nargs) {
  int fn = lua_gettop(L) - nargs;
  uint64_t t0 = 0;
  lua_Debug ar;
  char what[96];
  if (ctx->slow_ns) {
    /* tide.debug{slow=}: the callback is named by where it was written. */
    lua_pushvalue(L, fn);
    if (lua_getinfo(L, ">S", &ar) && ar.linedefined > 0)
      snprintf(what, sizeof what, "a callback (function at %s:%d)", ar.short_src,
               ar.linedefined);
    else
      snprintf(what, sizeof what, "a callback");
    t0 = uv_hrtime();
  }
  lua_pushcfunction(L, callback_msgh);
  lua_insert(L, fn);
  tide_gc_stress(L, ctx);
  if (lua_pcall(L, nargs, 0, fn) != LUA_OK) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &tb_key);
    tide_report(L, ctx, -2, 0, -1);
    lua_pop(L, 2);
  }
  lua_pop(L, 1);
  if (t0) tide_slow_check(L, ctx, t0, what, NULL);
}

/* ---------------------------------------------------------------------------
 * Unhandled errors: the handler (reporting itself is in report.c) */

/* The default handler: writes the reason, and the failed task's traceback
 * when there is one, to stderr. (reason, promise [, traceback]) */
static int default_unhandled(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  tide_promise *p = tide_topromise(L, ctx, 2);
  const char *tb = NULL;
  lua_settop(L, 3);
  tide_safe_tostring(L, 1);
  if (lua_type(L, 3) == LUA_TSTRING) {
    tb = lua_tostring(L, 3);
  } else if (p && p->kind == TIDE_K_TASK &&
             lua_getiuservalue(L, 2, TIDE_TASK_UV_CO) == LUA_TSTRING) {
    tb = lua_tostring(L, -1);
  }
  fprintf(stderr, "tide: unhandled %s: %s\n", p ? "rejection" : "error in a callback",
          lua_tostring(L, 4));
  if (p) {
    /* Where the promise was made: a task's spawn, an operation's start, any
     * promise's with tide.debug{origins = true}. */
    tide_origin_push(L, ctx, 2);
    if (lua_type(L, -1) == LUA_TSTRING)
      fprintf(stderr, "(the %s was %s at %s)\n",
              p->kind == TIDE_K_TASK ? "task" : "promise",
              p->kind == TIDE_K_TASK ? "spawned" : "made", lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  if (tb) fprintf(stderr, "%s\n", tb);
  fflush(stderr);
  if (ctx->failure == LUA_NOREF && tide_in_script(L)) {
    /* As in Node 15+: lost work fails a script, once it is reported. */
    lua_pushvalue(L, 1);
    ctx->failure = luaL_ref(L, LUA_REGISTRYINDEX);
    ctx->failure_in_callback = p == NULL;
  }
  return 0;
}

/* tide.on_unhandled(fn | nil) -> previous handler */
static int l_on_unhandled(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  if (!lua_isnoneornil(L, 1)) luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_settop(L, 1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->on_unhandled);
  if (lua_isnil(L, 1)) {
    tide_push_ctx(L, ctx);
    lua_pushcclosure(L, default_unhandled, 1);
  } else {
    lua_pushvalue(L, 1);
  }
  lua_rawseti(L, LUA_REGISTRYINDEX, ctx->on_unhandled);
  return 1;
}

/* ---------------------------------------------------------------------------
 * Microtasks
 *
 * A job is a pair (a, b):
 *   a promise, b reaction  -> the reaction's kind reacts (tide_react)
 *   a table {p, x, then}   -> call then(x, resolve, reject) for p
 *   a function, b value    -> a(b)  (tide.queue_microtask)
 *   a false, b value       -> nothing: b was kept alive until now (tide_job_hold) */

/* Appends an entry to the C queue; raises when out of memory. */
static void queue_push(lua_State *L, tide_ctx *ctx, lua_State *co,
                       const tide_promise *p) {
  tide_job *j;
  if (ctx->q_count == ctx->q_cap) {
    uint32_t cap = ctx->q_cap ? ctx->q_cap * 2 : 256;
    tide_job *q = ctx->alloc(ctx->alloc_ud, NULL, 0, cap * sizeof *q);
    if (!q) luaL_error(L, "not enough memory");
    for (uint32_t i = 0; i < ctx->q_count; i++)
      q[i] = ctx->queue[(ctx->q_head + i) & (ctx->q_cap - 1)];
    ctx->alloc(ctx->alloc_ud, ctx->queue, ctx->q_cap * sizeof *q, 0);
    ctx->queue = q;
    ctx->q_cap = cap;
    ctx->q_head = 0;
  }
  j = &ctx->queue[(ctx->q_head + ctx->q_count++) & (ctx->q_cap - 1)];
  j->co = co;
  j->promise = p;
}

void tide_job_push(lua_State *L, tide_ctx *ctx, int a, int b) {
  tide_ring_push2(L, &ctx->jobs, a, b);
  queue_push(L, ctx, NULL, NULL);
}

void tide_job_hold(lua_State *L, tide_ctx *ctx, int v) {
  v = lua_absindex(L, v);
  lua_pushboolean(L, 0);
  tide_job_push(L, ctx, -1, v);
  lua_pop(L, 1);
}

void tide_wake_push(lua_State *L, tide_ctx *ctx, lua_State *co, const tide_promise *p) {
  /* Its task has ended (task.c clears the extra space then): the wakeup would
   * be stale, and nothing would keep co alive until it ran. */
  if (*(void **)lua_getextraspace(co) == NULL) return;
  queue_push(L, ctx, co, p);
}

void tide_drain(tide_ctx *ctx) {
  lua_State *L = ctx->L;
  int base, jobs, reported = 0;
  if (L == NULL || ctx->draining) return;
  ctx->draining = 1;
  luaL_checkstack(L, 32, "tide: microtask queue");
  base = lua_gettop(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->jobs.ref); /* grows in place: stays valid */
  jobs = base + 1;
  /* Rejections are reported in one round per drain: those that appear after
   * it (an on_unhandled handler that itself fails a task, say) wait for the
   * next drain, so such a cycle still lets the loop turn. */
  while (ctx->q_count || (ctx->rejections.count && !reported)) {
    while (ctx->q_count) {
      tide_job j = ctx->queue[ctx->q_head];
      ctx->q_head = (ctx->q_head + 1) & (ctx->q_cap - 1);
      ctx->q_count--;
      if (j.co) {
        ctx->wake(L, ctx, j.co, j.promise);
        continue;
      }
      tide_ring_shift_at(L, &ctx->jobs, jobs, 2); /* a, b */
      switch (lua_type(L, jobs + 1)) {
      case LUA_TUSERDATA:
        tide_react(L, ctx, jobs + 1, jobs + 2);
        break;
      case LUA_TTABLE:
        lua_pop(L, 1);
        ctx->thenable_job(L, ctx);
        break;
      case LUA_TBOOLEAN: /* tide_job_hold: its value may go now */
        break;
      default:
        tide_call_cb(L, ctx, 1);
        break;
      }
      lua_settop(L, jobs);
    }
    /* The queue is empty: whatever is still rejected without a handler is
     * reported, once. */
    if (ctx->q_count || !ctx->rejections.count) continue;
    reported = 1;
    for (size_t n = ctx->rejections.count; n > 0; n--) {
      tide_promise *p;
      tide_ring_shift(L, &ctx->rejections, 1);
      p = lua_touserdata(L, -1);
      p->flags &= (uint8_t)~TIDE_F_TRACKED;
      if (!(p->flags & (TIDE_F_HANDLED | TIDE_F_QUIET))) {
        p->flags |= TIDE_F_HANDLED;
        lua_getiuservalue(L, -1, TIDE_UV_STATE);
        tide_report(L, ctx, -1, -2, 0);
      }
      lua_settop(L, jobs);
    }
  }
  lua_settop(L, base);
  ctx->draining = 0;
}

/* tide.queue_microtask(fn [, arg]) */
static int l_queue_microtask(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_settop(L, 2);
  tide_job_push(L, ctx, 1, 2);
  return 0;
}

/* ---------------------------------------------------------------------------
 * Finished I/O */

void tide_on_event(tide_ctx *ctx, tide_event ev, tide_event_fn fn) {
  ctx->handlers[ev] = fn;
}

void tide_io_done(tide_ctx *ctx, tide_io *io) {
  io->next = NULL;
  if (ctx->io_tail)
    ctx->io_tail->next = io;
  else
    ctx->io_head = io;
  ctx->io_tail = io;
  tide_post(ctx, TIDE_EV_IO);
}

/* The TIDE_EV_IO handler: completes finished I/O in order, draining the
 * microtasks after each. */
static void io_event(lua_State *L, tide_ctx *ctx) {
  tide_io *io;
  while ((io = ctx->io_head) != NULL) {
    ctx->io_head = io->next;
    if (!ctx->io_head) ctx->io_tail = NULL;
    io->complete(L, ctx, io);
    tide_drain(ctx);
  }
}

/* core.report_error(err): hands err to the unhandled-error handler (for
 * errors the Lua layer catches in callbacks, such as on_abort listeners). */
static int l_report_error(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  lua_settop(L, 1);
  tide_report_unhandled(L, ctx, 1, 0);
  return 0;
}

/* ---------------------------------------------------------------------------
 * Life cycle */

static void close_walk_cb(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

/* __gc of the context sentinel: runs at lua_close. */
static int ctx_gc(lua_State *L) {
  tide_ctx **box = luaL_checkudata(L, 1, TIDE_CTX_MT);
  tide_ctx *ctx = *box;
  void *ud;
  lua_Alloc alloc;
  if (!ctx) return 0;
  *box = NULL;
  if (ctx->n_live_tasks > 0) {
    /* Nothing is lost silently: work the loop never finished. */
    fprintf(stderr,
            "tide: %u task(s) never finished: the loop stopped before they did "
            "(await them, or end with tide.run() to let them finish)\n",
            (unsigned)ctx->n_live_tasks);
    fflush(stderr);
  }
  ctx->closed = 1;
  ctx->L = NULL;
  uv_walk(&ctx->loop, close_walk_cb, NULL);
  for (int i = 0; i < ctx->n_closing; i++)
    ctx->closing[i](ctx);
  /* Lets requests in libuv's thread pool finish, then drops what they
   * would have settled. Each finished request posts an event, which stops
   * the run (tide_post): run again until nothing is left, or requests still
   * in the pool would be freed under it. */
  while (uv_run(&ctx->loop, UV_RUN_DEFAULT) != 0) {
  }
  while (ctx->io_head) {
    tide_io *io = ctx->io_head;
    ctx->io_head = io->next;
    io->discard(ctx, io);
  }
  uv_loop_close(&ctx->loop);
  /* The modules free what they own, the last opened first. */
  for (int i = ctx->n_modules; i-- > 0;)
    if (ctx->modules[i]->close) ctx->modules[i]->close(ctx);
  alloc = lua_getallocf(L, &ud);
  alloc(ud, ctx->anchor_free, sizeof(int) * (size_t)ctx->anchor_capfree, 0);
  alloc(ud, ctx->queue, sizeof(*ctx->queue) * ctx->q_cap, 0);
  alloc(ud, ctx, sizeof *ctx, 0);
  return 0;
}

static int new_ref_table(lua_State *L) {
  lua_newtable(L);
  return luaL_ref(L, LUA_REGISTRYINDEX);
}

/* Creates the context for L (or returns the existing one). */
tide_ctx *tide_ctx_new(lua_State *L) {
  tide_ctx *ctx = tide_ctx_get(L), **box;
  void *ud;
  lua_Alloc alloc;
  const char *stress;
  if (ctx) return ctx;
  /* An emptied box: the state is closing, and no new context could be freed. */
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &ctx_key) != LUA_TNIL) tide_ctx_check(L, -1);
  lua_pop(L, 1);
  alloc = lua_getallocf(L, &ud);
  ctx = alloc(ud, NULL, 0, sizeof *ctx);
  if (!ctx) luaL_error(L, "tide: not enough memory");
  memset(ctx, 0, sizeof *ctx);
  ctx->alloc = alloc;
  ctx->alloc_ud = ud;
  box = lua_newuserdatauv(L, sizeof *box, 0);
  *box = ctx;
  luaL_newmetatable(L, TIDE_CTX_MT);
  lua_pushcfunction(L, ctx_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &ctx_key);

  if (uv_loop_init(&ctx->loop) != 0) luaL_error(L, "tide: cannot create an event loop");
  ctx->loop.data = ctx;
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  ctx->main = lua_tothread(L, -1);
  lua_pop(L, 1);
  tide_ring_init(L, &ctx->jobs, 256);
  tide_ring_init(L, &ctx->rejections, 16);
  ctx->anchors = new_ref_table(L);
  ctx->tracebacks = new_ref_table(L);
  ctx->failure = LUA_NOREF;
  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  ctx->origins = luaL_ref(L, LUA_REGISTRYINDEX);
  ctx->on_slow = LUA_NOREF;
  ctx->lib_ref = LUA_NOREF;
  tide_push_ctx(L, ctx);
  lua_pushcclosure(L, default_unhandled, 1);
  ctx->on_unhandled = luaL_ref(L, LUA_REGISTRYINDEX);
  tide_on_event(ctx, TIDE_EV_IO, io_event);
  stress = getenv("TIDE_GC_STRESS");
  ctx->gc_stress = stress && *stress && strcmp(stress, "0") != 0;
  return ctx;
}

/* core.debug_set(slow, origins, on_slow) -> previous slow, origins, on_slow:
 * the switches behind tide.debug (slow: seconds or nil for off). */
static int l_debug_set(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  double slow = luaL_optnumber(L, 1, 0);
  if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TFUNCTION);
  lua_settop(L, 3);
  if (ctx->slow_ns)
    lua_pushnumber(L, (double)ctx->slow_ns / 1e9);
  else
    lua_pushnil(L);
  lua_pushboolean(L, ctx->debug_origins);
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->on_slow);
  luaL_unref(L, LUA_REGISTRYINDEX, ctx->on_slow);
  lua_pushvalue(L, 3);
  ctx->on_slow =
      lua_isnil(L, 3) ? (lua_pop(L, 1), LUA_NOREF) : luaL_ref(L, LUA_REGISTRYINDEX);
  /* At least 1 ns: 0 means off. */
  ctx->slow_ns = slow > 0 ? (slow * 1e9 < 1 ? 1 : (uint64_t)(slow * 1e9)) : 0;
  if (ctx->on_slow == LUA_NOREF) ctx->slow_ns = 0;
  ctx->debug_origins = lua_toboolean(L, 2);
  return 3;
}

/* core.origin(v) -> "file:line" where the promise, task or timer v was
 * made, or nil. */
static int l_origin(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  lua_settop(L, 1);
  tide_origin_push(L, ctx, 1);
  return 1;
}

/* core.lib_source(prefix): the source prefix of tide's own Lua files
 * ("@/usr/share/lua/5.4/tide/"), whose frames origins skip. */
static int l_lib_source(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  luaL_checkstring(L, 1);
  lua_settop(L, 1);
  luaL_unref(L, LUA_REGISTRYINDEX, ctx->lib_ref);
  ctx->lib = lua_tolstring(L, 1, &ctx->lib_len);
  ctx->lib_ref = luaL_ref(L, LUA_REGISTRYINDEX); /* keeps ctx->lib alive */
  return 0;
}

void tide_ctx_open(lua_State *L, tide_ctx *ctx) {
  static const luaL_Reg funcs[] = {{"on_unhandled", l_on_unhandled},
                                   {"queue_microtask", l_queue_microtask},
                                   {"report_error", l_report_error},
                                   {"debug_set", l_debug_set},
                                   {"origin", l_origin},
                                   {"lib_source", l_lib_source},
                                   {NULL, NULL}};
  tide_setfuncs(L, ctx, funcs);
}
