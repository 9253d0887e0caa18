/* json.h -- shared by json.cc, json_decode.cc and json_encode.cc (C++
 * compiled without exceptions; see json.cc): the per-state box of buffers
 * and the RapidJSON allocator over it. Private to those files. */
#ifndef TIDE_JSON_H
#define TIDE_JSON_H

#include <stdlib.h>
#include <string.h>

#define RAPIDJSON_HAS_STDSTRING 0
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

/* tide.h is C (it converts from void * implicitly): these files declare
 * the little they use of it here, with C linkage. */
extern "C" {
#include <lauxlib.h>
#include <lua.h>

typedef struct tide_ctx tide_ctx;
/* error.c: pushes a new tide.error {kind=, message=}. */
void tide_error_push(lua_State *L, const char *kind, const char *fmt, ...);
/* json.cc: registers core.json_decode, json_encode, json_array, json_null
 * and json_array_mt into the module table on top. */
void tide_json_open(lua_State *L, tide_ctx *ctx);
}

/* Deeper than any real document, shallow enough for Lua's stack (each
 * level holds a table and a key). */
#define MAX_DEPTH 1000
/* Buffers larger than this are given back after each call. */
#define KEEP_BYTES (256 * 1024)

#define JSON_BOX_MT "tide.json.box"
#define JSON_NULL_MT "tide.json.null"
#define JSON_ARRAY_MT "tide.json.array"

/* Upvalues of decode/encode/array. */
enum { UP_BOX = 1, UP_NULL = 2, UP_ARRAY_MT = 3 };

/* One growable buffer. RapidJSON's stacks are its only users, one stack per
 * slot, so a slot hands out the same memory again: no allocation per call. */
typedef struct json_slot {
  char *mem;
  size_t cap;
  lua_State *L; /* of the call using it, for a memory error */
} json_slot;

typedef struct json_box {
  json_slot reader; /* the reader's stack: strings being unescaped */
  json_slot output; /* the encoded text */
  json_slot levels; /* the writer's nesting stack */
  void *encoder;    /* room for an Encoder (large: its frames) */
  int busy;         /* a call is using it (a finalizer may call again) */
  int closed;       /* its finalizer ran (the state is closing) */
} json_box;

/* A RapidJSON allocator over one slot. Free is a no-op: the slot keeps its
 * memory until slot_trim or the box's __gc. */
class SlotAllocator {
public:
  static const bool kNeedFree = false;
  SlotAllocator() : slot_(NULL) {}
  explicit SlotAllocator(json_slot *slot) : slot_(slot) {}
  void *Malloc(size_t size) { return Grow(size); }
  void *Realloc(void *ptr, size_t old_size, size_t new_size) {
    (void)ptr;
    (void)old_size;
    return Grow(new_size);
  }
  static void Free(void *ptr) { (void)ptr; }

private:
  void *Grow(size_t size) {
    if (size > slot_->cap) {
      size_t cap = slot_->cap ? slot_->cap : 256;
      while (cap < size)
        cap *= 2;
      char *mem = static_cast<char *>(realloc(slot_->mem, cap));
      /* RapidJSON does not check for NULL: raise instead (see the top). */
      if (!mem) luaL_error(slot_->L, "not enough memory");
      slot_->mem = mem;
      slot_->cap = cap;
    }
    return slot_->mem;
  }
  json_slot *slot_;
};

/* The state's box, or a new one (pushed) when that one is in use: a Lua
 * allocation inside a call may run a finalizer that decodes or encodes. */
json_box *tide_json_box_take(lua_State *L);
/* Trims the box's buffers and marks it free. */
void tide_json_box_give(json_box *box);

int tide_json_decode(lua_State *L);
int tide_json_encode(lua_State *L);

#endif
