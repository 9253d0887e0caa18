/* timer.c -- tide.sleep, set_timeout, set_interval and tide.now.
 *
 * All timers of a loop share one uv_timer_t armed for the earliest of them
 * (a binary heap, heap.c): a pending timer costs a heap slot, not a libuv
 * handle. Zero delays do not use a timer at all: with libuv 1.44 a 0 ms timer
 * re-armed from its own callback runs again in the same iteration, so it is
 * not a loop turn. They go to the immediate queue instead, run from a check
 * handle after the loop has polled for I/O (an idle handle keeps that poll
 * from blocking meanwhile) -- the phase of Node's setImmediate.
 *
 * A sleep is an operation (tide_op): its promise can be cancelled through
 * its task, a signal or a timeout. The one exception is a zero sleep without
 * a signal, which ends at the next turn anyway: it is a plain promise, the
 * cheapest way to let the loop turn. A set_timeout/set_interval handle is a
 * tide.timer userdata whose callback runs outside any task; an error in it
 * is reported through tide.on_unhandled.
 *
 * May call: ctx.c, class.c, heap.c, ring.c, promise.c, op.c. Its state lives in
 * ctx->timer; it registers the TIMERS and IMMEDIATES events and a module
 * (teardown, stats: timers, immediates). */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "heap.h"
#include "tide.h"

#define TIDE_TIMER_MT "tide.timer"

typedef enum { TIMER_IDLE, TIMER_HEAP, TIMER_IMMEDIATE } timer_where;

/* What sleeps and callback timers share: their place in the queues. */
typedef struct timer_node {
  tide_heap_node hn; /* key: due time in loop milliseconds */
  uint8_t where;     /* timer_where */
  uint8_t is_sleep;  /* a sleep op (else a callback timer handle) */
  uint8_t refd;      /* keeps the loop alive */
  uint8_t spare;
  int anchor; /* anchors ref of the owning userdata while scheduled */
} timer_node;

/* The timers of a context (ctx->timer). */
typedef struct timer_state {
  tide_heap timers;         /* pending timers */
  uv_timer_t timer;         /* armed for the earliest of them */
  uint32_t timers_refd;     /* how many of them keep the loop alive */
  tide_ring immediates;     /* zero-delay sleeps and timers, run at check */
  uint32_t immediates_live; /* how many of those are still to run */
  uint32_t immediates_refd; /* how many of those keep the loop alive */
  uv_check_t check;
  uv_idle_t idle; /* keeps poll from blocking while immediates wait */
} timer_state;

static inline timer_state *ts(tide_ctx *ctx) { return ctx->timer; }

typedef struct sleep_op {
  tide_op_promise base; /* kind TIDE_K_OP */
  timer_node node;
} sleep_op;

typedef struct timer_handle {
  uint8_t kind; /* TIDE_K_TIMER, so the immediate queue can tell */
  timer_node node;
  uint64_t interval_ms; /* 0 for a one-shot timer */
} timer_handle;
enum { TIMER_UV_CALLBACK = 1 }; /* user value of a timer_handle */

#define NODE_OF(hn) ((timer_node *)((char *)(hn)-offsetof(timer_node, hn)))

/* The longest delay: far enough to mean "forever", small enough for libuv. */
#define MAX_DELAY_MS ((uint64_t)1 << 52)

static void timer_cb(uv_timer_t *h);
static void check_cb(uv_check_t *h);
static void idle_cb(uv_idle_t *h);

/* ---------------------------------------------------------------------------
 * Scheduling */

/* Arms the libuv timer for the earliest pending timer, and lets it keep the
 * loop alive only while some pending timer wants to. */
static void rearm(tide_ctx *ctx) {
  tide_heap_node *top = tide_heap_top(&ts(ctx)->timers);
  uint64_t now;
  if (!top) {
    uv_timer_stop(&ts(ctx)->timer);
    return;
  }
  /* libuv counts the timeout from its cached loop time: refresh it (a cheap
   * clock read) so that the timer does not fire early and spin. */
  uv_update_time(&ctx->loop);
  now = uv_now(&ctx->loop);
  /* After a firing pass nothing left is due, so the delay is 0 only for a
   * timer that came due meanwhile, and running it in this pass is right. */
  uv_timer_start(&ts(ctx)->timer, timer_cb, top->key > now ? top->key - now : 0, 0);
  if (ts(ctx)->timers_refd)
    uv_ref((uv_handle_t *)&ts(ctx)->timer);
  else
    uv_unref((uv_handle_t *)&ts(ctx)->timer);
}

/* The check and idle handles keep the loop alive only while some queued
 * immediate wants to (an unref'd set_timeout(fn, 0) does not). */
static void immediates_ref(tide_ctx *ctx) {
  if (ts(ctx)->immediates_refd) {
    uv_ref((uv_handle_t *)&ts(ctx)->check);
    uv_ref((uv_handle_t *)&ts(ctx)->idle);
  } else {
    uv_unref((uv_handle_t *)&ts(ctx)->check);
    uv_unref((uv_handle_t *)&ts(ctx)->idle);
  }
}

/* Queues the userdata at idx to run in the next check phase. */
static void push_immediate(lua_State *L, tide_ctx *ctx, int idx, int refd) {
  lua_pushvalue(L, idx);
  tide_ring_push(L, &ts(ctx)->immediates, 1);
  if (ts(ctx)->immediates_live++ == 0) {
    uv_check_start(&ts(ctx)->check, check_cb);
    uv_idle_start(&ts(ctx)->idle, idle_cb);
  }
  if (refd && ts(ctx)->immediates_refd++ == 0) immediates_ref(ctx);
}

static void immediate_gone(tide_ctx *ctx, int refd) {
  if (refd && --ts(ctx)->immediates_refd == 0) immediates_ref(ctx);
  if (--ts(ctx)->immediates_live == 0) {
    uv_check_stop(&ts(ctx)->check);
    uv_idle_stop(&ts(ctx)->idle);
  }
}

/* Queues the timer whose node is n and whose (anchored) userdata is at
 * owner to fire after delay_ms. */
static void schedule(lua_State *L, tide_ctx *ctx, timer_node *n, int owner,
                     uint64_t delay_ms) {
  if (delay_ms == 0) {
    push_immediate(L, ctx, owner, n->refd);
    n->where = TIMER_IMMEDIATE;
    return;
  }
  /* Due time in whole milliseconds on libuv's clock, from the precise time
   * rounded up: never early, however long Lua ran since the loop's cached
   * time (libuv's own uv_now is rounded down). */
  n->hn.key = (uv_hrtime() + 999999) / 1000000 + delay_ms;
  if (tide_heap_push(&ts(ctx)->timers, &n->hn) != 0) luaL_error(L, "not enough memory");
  n->where = TIMER_HEAP;
  if (n->refd) ts(ctx)->timers_refd++;
  if (n->hn.index == 0 || (n->refd && ts(ctx)->timers_refd == 1)) rearm(ctx);
}

/* Takes n off its queue. An entry left in the immediate queue is skipped
 * when the check phase reaches it. */
static void unschedule(tide_ctx *ctx, timer_node *n) {
  if (n->where == TIMER_HEAP) {
    int was_top = n->hn.index == 0;
    tide_heap_remove(&ts(ctx)->timers, &n->hn);
    if (n->refd) ts(ctx)->timers_refd--;
    if (was_top || (n->refd && ts(ctx)->timers_refd == 0)) rearm(ctx);
  } else if (n->where == TIMER_IMMEDIATE) {
    immediate_gone(ctx, n->refd);
  }
  n->where = TIMER_IDLE;
}

static uint64_t delay_ms(lua_State *L, int arg, double min_ms) {
  double s = luaL_checknumber(L, arg), ms;
  luaL_argcheck(L, s >= 0, arg, "must be a non-negative number of seconds");
  ms = ceil(s * 1000.0);
  if (ms < min_ms) ms = min_ms;
  return ms >= (double)MAX_DELAY_MS ? MAX_DELAY_MS : (uint64_t)ms;
}

/* ---------------------------------------------------------------------------
 * Sleep */

static void sleep_cancel(lua_State *L, tide_ctx *ctx, int p, int err) {
  sleep_op *op = lua_touserdata(L, p);
  unschedule(ctx, &op->node);
  tide_op_done(L, ctx, &op->base.op);
  tide_settle(L, ctx, p, TIDE_REJECTED, err);
}

/* Seconds until the timer at node is due (0 once it is due or immediate). */
static double due_in(tide_ctx *ctx, const timer_node *n) {
  uint64_t now = uv_hrtime() / 1000000; /* the clock of the keys (schedule) */
  (void)ctx;
  if (n->where != TIMER_HEAP || n->hn.key <= now) return 0;
  return (double)(n->hn.key - now) / 1e3;
}

static void sleep_describe(lua_State *L, tide_ctx *ctx, int p, int e) {
  sleep_op *op = lua_touserdata(L, p);
  lua_pushnumber(L, due_in(ctx, &op->node));
  lua_setfield(L, e, "due_in");
}

static const tide_op_class sleep_class = {"sleep", sleep_cancel, sleep_describe, 0};

/* tide.sleep(seconds [, {signal=}]) -> promise fulfilled after that long */
static int l_sleep(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  uint64_t ms = delay_ms(L, 1, 0);
  sleep_op *op;
  int sig = 0, p;
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    sig = tide_opt_signal(L, 2, "tide.sleep");
  }
  if (ms == 0 && !sig) {
    /* One loop turn: a plain promise that the check phase fulfils (with
     * the class of operations: cancelling it rejects it at once, and the
     * check phase then finds it settled). */
    tide_promise *p0 = lua_newuserdatauv(L, sizeof(tide_promise), 1);
    memset(p0, 0, sizeof *p0); /* TIDE_K_PROMISE, pending (W1's hot path) */
    lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->op_mt_ref);
    lua_setmetatable(L, -2);
    if (ctx->debug_origins) tide_origin_record(L, ctx, -1);
    push_immediate(L, ctx, -1, 1);
    return 1;
  }
  op = (sleep_op *)tide_promise_new(L, ctx, sizeof *op, TIDE_K_OP, 1, NULL);
  p = lua_gettop(L);
  op->node.hn.index = TIDE_HEAP_NONE;
  op->node.is_sleep = 1;
  op->node.refd = 1;
  tide_op_start(L, ctx, p, &op->base.op, &sleep_class);
  op->node.anchor = op->base.op.ref;
  schedule(L, ctx, &op->node, p, ms);
  if (sig) tide_link_signal(L, sig, p);
  return 1;
}

/* ---------------------------------------------------------------------------
 * Callback timers */

static timer_handle *check_timer(lua_State *L) {
  return luaL_checkudata(L, 1, TIDE_TIMER_MT);
}

static int timer_pending(const timer_handle *t) { return t->node.where != TIMER_IDLE; }

static int new_timer(lua_State *L, int repeat) {
  tide_ctx *ctx = tide_ctx_up(L);
  timer_handle *t;
  uint64_t ms;
  luaL_checktype(L, 1, LUA_TFUNCTION);
  /* An interval of 0 would spin: Node's floor of 1 ms applies. */
  ms = delay_ms(L, 2, repeat ? 1 : 0);
  lua_settop(L, 2);
  t = lua_newuserdatauv(L, sizeof *t, 1);
  t->kind = TIDE_K_TIMER;
  t->node.hn.index = TIDE_HEAP_NONE;
  t->node.where = TIMER_IDLE;
  t->node.is_sleep = 0;
  t->node.refd = 1;
  t->interval_ms = repeat ? ms : 0;
  luaL_setmetatable(L, TIDE_TIMER_MT);
  tide_origin_record(L, ctx, 3);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, 3, TIMER_UV_CALLBACK);
  lua_pushvalue(L, 3);
  t->node.anchor = tide_anchor(L, ctx);
  schedule(L, ctx, &t->node, 3, ms);
  return 1;
}

/* tide.set_timeout(fn, seconds) -> timer */
static int l_set_timeout(lua_State *L) { return new_timer(L, 0); }
/* tide.set_interval(fn, seconds) -> timer */
static int l_set_interval(lua_State *L) { return new_timer(L, 1); }

/* Releases the anchor of a timer that will not fire again. */
static void timer_release(lua_State *L, tide_ctx *ctx, timer_handle *t) {
  tide_unanchor(L, ctx, t->node.anchor);
  t->node.anchor = LUA_NOREF;
}

/* timer:cancel() -> true if it was still pending. Also its __close. */
static int m_timer_cancel(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  timer_handle *t = check_timer(L);
  int pending = timer_pending(t);
  if (pending) {
    unschedule(ctx, &t->node);
    timer_release(L, ctx, t);
  }
  lua_pushboolean(L, pending);
  return 1;
}

/* timer:unref() / timer:ref(): whether this timer keeps tide.run() and
 * top-level waits going. Returns the timer. */
static int set_refd(lua_State *L, int refd) {
  tide_ctx *ctx = tide_ctx_up(L);
  timer_handle *t = check_timer(L);
  if (t->node.refd != refd) {
    t->node.refd = (uint8_t)refd;
    if (t->node.where == TIMER_HEAP) {
      if (refd)
        ts(ctx)->timers_refd++;
      else
        ts(ctx)->timers_refd--;
      rearm(ctx);
    } else if (t->node.where == TIMER_IMMEDIATE) {
      if (refd)
        ts(ctx)->immediates_refd++;
      else
        ts(ctx)->immediates_refd--;
      immediates_ref(ctx);
    }
  }
  lua_settop(L, 1);
  return 1;
}

static int m_timer_unref(lua_State *L) { return set_refd(L, 0); }
static int m_timer_ref(lua_State *L) { return set_refd(L, 1); }

static int m_timer_tostring(lua_State *L) {
  timer_handle *t = check_timer(L);
  lua_pushfstring(L, "%s (%s)", TIDE_TIMER_MT, timer_pending(t) ? "pending" : "done");
  return 1;
}

/* ---------------------------------------------------------------------------
 * Firing */

/* Fires the timer whose node is node and whose userdata is on top of the
 * stack (popped), then drains the microtasks it caused. */
static void fire(lua_State *L, tide_ctx *ctx, timer_node *node) {
  int owner = lua_gettop(L);
  if (node->is_sleep) {
    sleep_op *op = lua_touserdata(L, owner);
    tide_op_done(L, ctx, &op->base.op);
    lua_pushnil(L);
    tide_settle_direct(L, ctx, owner, TIDE_FULFILLED, -1);
  } else {
    timer_handle *t = lua_touserdata(L, owner);
    /* An interval is re-armed before the call, so the callback may cancel it. */
    if (t->interval_ms)
      schedule(L, ctx, &t->node, owner, t->interval_ms);
    else
      timer_release(L, ctx, t);
    lua_getiuservalue(L, owner, TIMER_UV_CALLBACK);
    tide_call_cb(L, ctx, 0);
  }
  lua_settop(L, owner - 1);
  tide_drain(ctx);
}

static void fire_due(lua_State *L, tide_ctx *ctx) {
  uint64_t now = uv_now(&ctx->loop);
  tide_heap_node *hn;
  while ((hn = tide_heap_top(&ts(ctx)->timers)) != NULL && hn->key <= now) {
    timer_node *n = NODE_OF(hn);
    tide_heap_remove(&ts(ctx)->timers, hn);
    n->where = TIMER_IDLE;
    if (n->refd) ts(ctx)->timers_refd--;
    tide_push_anchored(L, ctx, n->anchor);
    fire(L, ctx, n);
  }
  rearm(ctx);
}

static void timer_cb(uv_timer_t *h) { tide_post(h->loop->data, TIDE_EV_TIMERS); }

/* Runs the immediates queued before this check phase (no Lua ran since:
 * that is all of them); those they queue wait for the next turn. */
static void fire_immediates(lua_State *L, tide_ctx *ctx) {
  uint32_t n = ts(ctx)->immediates.count;
  int ring, entry;
  lua_rawgeti(L, LUA_REGISTRYINDEX, ts(ctx)->immediates.ref); /* grows in place */
  ring = lua_gettop(L);
  entry = ring + 1;
  while (n-- > 0 && ts(ctx)->immediates.count) {
    timer_node *node;
    uint8_t kind;
    tide_ring_shift_at(L, &ts(ctx)->immediates, ring, 1);
    kind = *(uint8_t *)lua_touserdata(L, entry);
    if (kind == TIDE_K_PROMISE) {
      /* A zero sleep. */
      immediate_gone(ctx, 1);
      lua_pushnil(L);
      tide_settle_direct(L, ctx, entry, TIDE_FULFILLED, -1);
      lua_settop(L, ring);
      tide_drain(ctx);
      continue;
    }
    node = kind == TIDE_K_OP ? &((sleep_op *)lua_touserdata(L, entry))->node
                             : &((timer_handle *)lua_touserdata(L, entry))->node;
    if (node->where != TIMER_IMMEDIATE) {
      lua_settop(L, ring); /* cancelled while queued */
      continue;
    }
    node->where = TIMER_IDLE;
    immediate_gone(ctx, node->refd);
    fire(L, ctx, node);
  }
  lua_settop(L, ring - 1);
  /* Nothing left to run: drop the skipped (cancelled) entries too. */
  if (ts(ctx)->immediates_live == 0) tide_ring_clear(L, &ts(ctx)->immediates);
}

static void check_cb(uv_check_t *h) { tide_post(h->loop->data, TIDE_EV_IMMEDIATES); }

static void idle_cb(uv_idle_t *h) { (void)h; }

/* tide.now() -> monotonic seconds (nanosecond resolution) */
static int l_now(lua_State *L) {
  lua_pushnumber(L, (lua_Number)uv_hrtime() / 1e9);
  return 1;
}

/* Teardown: the handles are closed by now; the queued immediates went with
 * the Lua state. */
static void timer_close(tide_ctx *ctx) {
  timer_state *s = ts(ctx);
  tide_heap_free(&s->timers);
  ctx->alloc(ctx->alloc_ud, s, sizeof *s, 0);
  ctx->timer = NULL;
}

static void timer_stats(lua_State *L, tide_ctx *ctx, int t) {
  lua_pushinteger(L, ts(ctx)->timers.size);
  lua_setfield(L, t, "timers");
  lua_pushinteger(L, ts(ctx)->immediates_live);
  lua_setfield(L, t, "immediates");
}

/* tide.handles: the callback timers (sleeps are operations, listed as such). */
static void timer_handles(lua_State *L, tide_ctx *ctx, int list) {
  tide_heap *h = &ts(ctx)->timers;
  for (uint32_t i = 0; i < h->size; i++) {
    tide_heap_node *hn = h->items[i].node;
    timer_node *n = NODE_OF(hn);
    timer_handle *t;
    if (n->is_sleep) continue;
    t = (timer_handle *)((char *)n - offsetof(timer_handle, node));
    lua_createtable(L, 0, 5);
    lua_pushstring(L, t->interval_ms ? "interval" : "timer");
    lua_setfield(L, -2, "kind");
    tide_push_anchored(L, ctx, n->anchor);
    tide_origin_push(L, ctx, -1);
    lua_setfield(L, -3, "started");
    lua_setfield(L, -2, "timer");
    lua_pushnumber(L, due_in(ctx, n));
    lua_setfield(L, -2, "due_in");
    lua_pushboolean(L, n->refd);
    lua_setfield(L, -2, "refd");
    lua_rawseti(L, list, (lua_Integer)lua_rawlen(L, list) + 1);
  }
}

static const tide_module timer_module = {"timer", timer_close, timer_stats,
                                         timer_handles};

void tide_timer_open(lua_State *L, tide_ctx *ctx) {
  static const luaL_Reg funcs[] = {{"sleep", l_sleep},
                                   {"set_timeout", l_set_timeout},
                                   {"set_interval", l_set_interval},
                                   {"now", l_now},
                                   {NULL, NULL}};
  static const luaL_Reg methods[] = {{"cancel", m_timer_cancel},
                                     {"unref", m_timer_unref},
                                     {"ref", m_timer_ref},
                                     {NULL, NULL}};
  static const luaL_Reg metamethods[] = {
      {"__close", m_timer_cancel}, {"__tostring", m_timer_tostring}, {NULL, NULL}};
  timer_state *s = ctx->alloc(ctx->alloc_ud, NULL, 0, sizeof *s);
  if (!s) luaL_error(L, "tide: not enough memory");
  memset(s, 0, sizeof *s);
  ctx->timer = s;
  tide_module_register(ctx, &timer_module);
  tide_heap_init(&s->timers, ctx->alloc, ctx->alloc_ud);
  uv_timer_init(&ctx->loop, &ts(ctx)->timer);
  uv_check_init(&ctx->loop, &ts(ctx)->check);
  uv_idle_init(&ctx->loop, &ts(ctx)->idle);
  tide_ring_init(L, &ts(ctx)->immediates, 64);
  tide_on_event(ctx, TIDE_EV_TIMERS, fire_due);
  tide_on_event(ctx, TIDE_EV_IMMEDIATES, fire_immediates);

  tide_class_new(L, ctx, TIDE_TIMER_MT, NULL, methods, metamethods);
  lua_pop(L, 1);
  tide_setfuncs(L, ctx, funcs);
}
