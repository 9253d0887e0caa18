/* json.cc -- tide.json: decode and encode on RapidJSON's SAX reader and
 * writer (header-only), with no document tree in between: the reader's
 * events build Lua values directly, and the encoder walks Lua values and
 * drives the writer.
 *
 * Numbers: JSON integers that fit int64 decode to Lua integers, exactly;
 * any other number (a fraction, an exponent, an integer beyond int64) to a
 * float. Lua integers encode without a fraction; floats with Grisu2, which
 * always reads back to the same double and is nearly always the shortest
 * such text ("1.0" stays a float). A number too large for a double (1e400)
 * is a decode error rather than inf, which JSON cannot write back.
 *
 * Strings are bytes, as Lua's are: invalid UTF-8 passes through decode and
 * encode unchanged (as with lua-cjson); escapes (\u00e9, surrogate pairs)
 * decode to UTF-8. A high surrogate escape without its low half is an
 * error; a lone low one decodes to its three-byte form, as RapidJSON 1.1
 * does (bytes that are not UTF-8, passed on like any other).
 *
 * Arrays decode to tables with the array metatable (core.json_array_mt),
 * so `[]` encodes back as `[]`; objects decode to plain tables and `null`
 * to the sentinel core.json_null. Nesting deeper than MAX_DEPTH is an
 * error both ways (never a C stack overflow: the reader is iterative).
 *
 * Errors and C++: this file is compiled without exceptions, and no Lua
 * error is raised while a RapidJSON frame with a destructor is live, except
 * a memory error. Even that one loses nothing: the reader's and writer's
 * buffers belong to a per-state box (a userdata, freed by its __gc), so the
 * frames it skips own nothing (the box then stays marked busy, and later
 * calls each use a fresh box: slower, still right). Every other failure (bad
 * input, a value that cannot be encoded) is recorded, the RapidJSON frames
 * return, and the error is raised from the plain C entry points below.
 *
 * Calls: Lua's C API and tide_error_push/tide_usage_error (error.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define RAPIDJSON_HAS_STDSTRING 0
#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

extern "C" {
#include "tide.h"
}

/* Deeper than any real document, shallow enough for Lua's stack (each
 * level holds a table and a key). */
#define MAX_DEPTH 1000
/* Buffers larger than this are given back after each call. */
#define KEEP_BYTES (256 * 1024)
/* The longest path that an encode error names, and the longest key in it. */
#define PATH_MAX_LEN 200
#define KEY_MAX_LEN 40

#define JSON_BOX_MT "tide.json.box"
#define JSON_NULL_MT "tide.json.null"
#define JSON_ARRAY_MT "tide.json.array"

/* Upvalues of decode/encode/array. */
enum { UP_BOX = 1, UP_NULL = 2, UP_ARRAY_MT = 3 };

/* ---------------------------------------------------------------------------
 * The box: buffers that outlive a call */

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
} json_box;

static void slot_trim(json_slot *s) {
  if (s->cap > KEEP_BYTES) {
    free(s->mem);
    s->mem = NULL;
    s->cap = 0;
  }
}

static void slot_free(json_slot *s) {
  free(s->mem);
  s->mem = NULL;
  s->cap = 0;
}

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

static int box_gc(lua_State *L) {
  json_box *box = static_cast<json_box *>(luaL_checkudata(L, 1, JSON_BOX_MT));
  slot_free(&box->reader);
  slot_free(&box->output);
  slot_free(&box->levels);
  free(box->encoder);
  box->encoder = NULL;
  return 0;
}

/* Pushes a new empty box. */
static json_box *box_new(lua_State *L) {
  json_box *box = static_cast<json_box *>(lua_newuserdatauv(L, sizeof(json_box), 0));
  memset(box, 0, sizeof *box);
  luaL_setmetatable(L, JSON_BOX_MT);
  return box;
}

/* The state's box, or a new one (pushed) when that one is in use: a Lua
 * allocation inside a call may run a finalizer that decodes or encodes. */
static json_box *box_take(lua_State *L) {
  json_box *box = static_cast<json_box *>(lua_touserdata(L, lua_upvalueindex(UP_BOX)));
  if (box->busy) box = box_new(L);
  box->busy = 1;
  box->reader.L = box->output.L = box->levels.L = L;
  return box;
}

static void box_give(json_box *box) {
  slot_trim(&box->reader);
  slot_trim(&box->output);
  slot_trim(&box->levels);
  box->busy = 0;
}

/* ---------------------------------------------------------------------------
 * Decode */

/* Builds Lua values from the reader's events. A container's items wait on
 * the Lua stack above a slot for its table, and go into the table when it
 * ends (or when CHUNK slots wait), so that the table is made at its size
 * instead of growing one rehash at a time. stack: ... [slot items...]* */
#define CHUNK 256

class Builder {
public:
  Builder(lua_State *L) : L_(L), depth_(0), too_deep_(0) {}

  bool Null() {
    lua_pushvalue(L_, lua_upvalueindex(UP_NULL));
    return Add();
  }
  bool Bool(bool b) {
    lua_pushboolean(L_, b);
    return Add();
  }
  bool Int(int i) {
    lua_pushinteger(L_, i);
    return Add();
  }
  bool Uint(unsigned u) {
    lua_pushinteger(L_, u);
    return Add();
  }
  bool Int64(int64_t i) {
    lua_pushinteger(L_, i);
    return Add();
  }
  bool Uint64(uint64_t u) {
    /* Beyond int64: a float, like any other number that is not an int64. */
    if (u > (uint64_t)INT64_MAX)
      lua_pushnumber(L_, (lua_Number)u);
    else
      lua_pushinteger(L_, (lua_Integer)u);
    return Add();
  }
  bool Double(double d) {
    lua_pushnumber(L_, d);
    return Add();
  }
  bool RawNumber(const char *, rapidjson::SizeType, bool) { return false; }
  bool String(const char *s, rapidjson::SizeType len, bool) {
    lua_pushlstring(L_, s, len);
    return Add();
  }
  bool Key(const char *s, rapidjson::SizeType len, bool) {
    lua_pushlstring(L_, s, len);
    return true;
  }
  bool StartObject() { return Open(0); }
  bool EndObject(rapidjson::SizeType) { return Close(); }
  bool StartArray() { return Open(1); }
  bool EndArray(rapidjson::SizeType) { return Close(); }

  int too_deep() const { return too_deep_; }

private:
  struct level {
    int slot;         /* stack index of the table (nil until made) */
    int array;        /* 1 for an array */
    lua_Integer next; /* an array's index for the first waiting item */
  };

  bool Open(int array) {
    /* Room for the slot, CHUNK waiting items and a key and value more. */
    if (depth_ >= MAX_DEPTH || !lua_checkstack(L_, CHUNK + 4)) {
      too_deep_ = 1;
      return false;
    }
    level *l = &levels_[++depth_];
    lua_pushnil(L_);
    l->slot = lua_gettop(L_);
    l->array = array;
    l->next = 1;
    return true;
  }

  /* Moves the waiting items into the table, making it if need be. */
  void Flush(level *l, int last) {
    int n = lua_gettop(L_) - l->slot;
    if (lua_isnil(L_, l->slot)) {
      if (l->array) {
        lua_createtable(L_, n, 0);
        lua_pushvalue(L_, lua_upvalueindex(UP_ARRAY_MT));
        lua_setmetatable(L_, -2);
      } else {
        lua_createtable(L_, 0, last ? n / 2 : n);
      }
      lua_replace(L_, l->slot);
    }
    if (l->array) {
      /* From the top down: each rawseti pops the item it stores. */
      for (int i = n; i > 0; i--)
        lua_rawseti(L_, l->slot, l->next + i - 1);
      l->next += n;
    } else {
      /* In order, so that a repeated key keeps its last value. */
      for (int i = 1; i < n; i += 2) {
        lua_pushvalue(L_, l->slot + i);
        lua_pushvalue(L_, l->slot + i + 1);
        lua_rawset(L_, l->slot);
      }
      lua_settop(L_, l->slot);
    }
  }

  bool Close() {
    Flush(&levels_[depth_], 1);
    depth_--;
    return Add();
  }

  /* The value on top joins the items of the open container (a root stays). */
  bool Add() {
    if (depth_ == 0) return true;
    level *l = &levels_[depth_];
    if (lua_gettop(L_) - l->slot >= CHUNK) Flush(l, 0);
    return true;
  }

  lua_State *L_;
  int depth_;
  int too_deep_;
  level levels_[MAX_DEPTH + 1];
};

/* The flags: correctly rounded doubles, and an explicit stack instead of
 * recursion. */
static const unsigned kReadFlags = rapidjson::kParseFullPrecisionFlag |
                                   rapidjson::kParseIterativeFlag |
                                   rapidjson::kParseStopWhenDoneFlag;

typedef struct decode_result {
  rapidjson::ParseErrorCode code;
  size_t offset;
  int too_deep;
} decode_result;

/* Runs the reader over s[0..len) (s is NUL-terminated, as Lua strings are).
 * On success the value is on top of L's stack. */
static void decode_run(lua_State *L, json_box *box, const char *s, size_t len,
                       decode_result *out) {
  SlotAllocator alloc(&box->reader);
  rapidjson::GenericReader<rapidjson::UTF8<>, rapidjson::UTF8<>, SlotAllocator> reader(
      &alloc, 256);
  rapidjson::StringStream in(s);
  Builder builder(L);
  rapidjson::ParseResult r = reader.Parse<kReadFlags>(in, builder);
  out->code = r.Code();
  out->offset = r.Offset();
  out->too_deep = builder.too_deep();
  if (out->code != rapidjson::kParseErrorNone) return;
  /* The reader stops at the end of the root value: only whitespace may
   * follow, and a NUL byte is not the end of a Lua string. */
  size_t at = in.Tell();
  while (at < len && (s[at] == ' ' || s[at] == '\t' || s[at] == '\n' || s[at] == '\r'))
    at++;
  if (at < len) {
    out->code = rapidjson::kParseErrorDocumentRootNotSingular;
    out->offset = at;
  }
}

/* tide.json.decode(s) -> value. Raises a `json` error for text that is not
 * JSON, with `offset` (0-based byte) set. */
static int json_decode(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  decode_result r;
  lua_settop(L, 1);
  json_box *box = box_take(L); /* stack: s [box] */
  int base = lua_gettop(L);
  decode_run(L, box, s, len, &r);
  box_give(box);
  if (r.code == rapidjson::kParseErrorNone) return 1;
  lua_settop(L, base);
  if (r.too_deep)
    tide_error_push(L, "json", "invalid JSON at byte %I: nested deeper than %d levels",
                    (lua_Integer)r.offset, MAX_DEPTH);
  else if (r.code == rapidjson::kParseErrorStringEscapeInvalid && r.offset < len &&
           (unsigned char)s[r.offset] < 0x20)
    /* RapidJSON reports a raw control character as a bad escape. */
    tide_error_push(L, "json", "invalid JSON at byte %I: a control character in a string",
                    (lua_Integer)r.offset);
  else
    tide_error_push(L, "json", "invalid JSON at byte %I: %s", (lua_Integer)r.offset,
                    rapidjson::GetParseError_En(r.code));
  lua_pushinteger(L, (lua_Integer)r.offset);
  lua_setfield(L, -2, "offset");
  return lua_error(L);
}

/* ---------------------------------------------------------------------------
 * Encode */

typedef rapidjson::GenericStringBuffer<rapidjson::UTF8<>, SlotAllocator> OutBuffer;
typedef rapidjson::Writer<OutBuffer, rapidjson::UTF8<>, rapidjson::UTF8<>, SlotAllocator>
    OutWriter;

/* Why a value cannot be encoded. */
enum {
  ENC_OK = 0,
  ENC_TYPE,   /* function, thread, userdata */
  ENC_NAN,    /* NaN or an infinity */
  ENC_CYCLE,  /* a table inside itself */
  ENC_DEEP,   /* nested deeper than MAX_DEPTH */
  ENC_MIXED,  /* integer keys and string keys */
  ENC_SPARSE, /* integer keys with holes */
  ENC_KEY     /* a key that is neither a string nor an integer */
};

/* One open table: its identity (for cycles) and where in it we are (for the
 * path): an array index, or the stack index of the current key. */
typedef struct enc_frame {
  const void *table;
  lua_Integer index;
  int key; /* 0 in an array */
} enc_frame;

class Encoder {
public:
  Encoder(lua_State *L, json_box *box)
      : L_(L), out_alloc_(&box->output), level_alloc_(&box->levels),
        out_(&out_alloc_, 1024), writer_(out_, &level_alloc_, 32), depth_(0),
        err_(ENC_OK), detail_(0), what_(NULL) {}

  /* Encodes the value at idx. On failure, returns false with err() set and
   * the path written by Path() still describable (the keys stay on L's
   * stack until the caller unwinds). */
  bool Value(int idx) {
    switch (lua_type(L_, idx)) {
    case LUA_TNIL:
      return writer_.Null();
    case LUA_TBOOLEAN:
      return writer_.Bool(lua_toboolean(L_, idx));
    case LUA_TNUMBER:
      if (lua_isinteger(L_, idx))
        return writer_.Int64(lua_tointeger(L_, idx));
      else {
        double d = lua_tonumber(L_, idx);
        if (!isfinite(d)) return Fail(ENC_NAN, isnan(d) ? "NaN" : d > 0 ? "inf" : "-inf");
        return writer_.Double(d);
      }
    case LUA_TSTRING: {
      size_t len;
      const char *s = lua_tolstring(L_, idx, &len);
      if (len > 0xffffffffu) return Fail(ENC_TYPE, "string longer than 4 GiB");
      return writer_.String(s, (rapidjson::SizeType)len);
    }
    case LUA_TTABLE:
      return Table(idx);
    case LUA_TLIGHTUSERDATA:
      /* lua-cjson's null is a NULL light userdata: accepted as null too. */
      if (lua_touserdata(L_, idx) == NULL) return writer_.Null();
      return Fail(ENC_TYPE, "light userdata");
    case LUA_TUSERDATA: {
      if (lua_rawequal(L_, idx, lua_upvalueindex(UP_NULL))) return writer_.Null();
      /* Its __name (FILE*, tide.promise) when it has one: the metatable
       * keeps that string alive after the pop. */
      const char *what = "userdata";
      if (luaL_getmetafield(L_, idx, "__name") != LUA_TNIL) {
        if (lua_type(L_, -1) == LUA_TSTRING) what = lua_tostring(L_, -1);
        lua_pop(L_, 1);
      }
      return Fail(ENC_TYPE, what);
    }
    default:
      return Fail(ENC_TYPE, luaL_typename(L_, idx));
    }
  }

  const char *Result(size_t *len) {
    *len = out_.GetSize();
    return out_.GetString();
  }
  int err() const { return err_; }
  lua_Integer detail() const { return detail_; }
  const char *what() const { return what_; }
  int depth() const { return depth_; }
  const enc_frame &frame(int i) const { return frames_[i]; }

private:
  bool Fail(int err, const char *what) {
    err_ = err;
    what_ = what;
    return false;
  }

  /* A table is an array when it is marked as one, or when its keys are
   * exactly 1..n (n > 0); an object when its keys are all strings (or it
   * is empty). Arrays take a pass to count the keys, objects none: anything
   * else is found on the way and explained by Reject. */
  bool Table(int idx) {
    const void *id = lua_topointer(L_, idx);
    for (int i = 0; i < depth_; i++)
      if (frames_[i].table == id) return Fail(ENC_CYCLE, NULL);
    if (depth_ >= MAX_DEPTH || !lua_checkstack(L_, 6)) return Fail(ENC_DEEP, NULL);
    idx = lua_absindex(L_, idx);
    int marked = 0;
    if (lua_getmetatable(L_, idx)) {
      marked = lua_rawequal(L_, -1, lua_upvalueindex(UP_ARRAY_MT));
      lua_pop(L_, 1);
    }
    lua_Integer n = (lua_Integer)lua_rawlen(L_, idx);

    enc_frame *f = &frames_[depth_++];
    f->table = id;
    f->index = 0;
    f->key = 0;
    if (n > 0 || marked) {
      lua_Integer count = 0;
      lua_pushnil(L_);
      while (lua_next(L_, idx)) {
        lua_pop(L_, 1);
        count++;
      }
      if (count != n) return Reject(idx);
      if (!writer_.StartArray()) return false;
      for (lua_Integer i = 1; i <= n; i++) {
        f->index = i;
        /* count == n and no hole: the keys are exactly 1..n. */
        if (lua_rawgeti(L_, idx, i) == LUA_TNIL) return Reject(idx);
        if (!Value(-1)) return false;
        lua_pop(L_, 1);
      }
      if (!writer_.EndArray()) return false;
    } else {
      if (!writer_.StartObject()) return false;
      lua_pushnil(L_);
      while (lua_next(L_, idx)) {
        if (lua_type(L_, -2) != LUA_TSTRING) return Reject(idx);
        size_t klen;
        const char *k = lua_tolstring(L_, -2, &klen);
        f->key = lua_absindex(L_, -2);
        if (!writer_.Key(k, (rapidjson::SizeType)klen)) return false;
        if (!Value(-1)) return false;
        lua_pop(L_, 1);
      }
      if (!writer_.EndObject()) return false;
    }
    depth_--;
    return true;
  }

  /* The table at idx (the innermost frame) cannot be encoded: finds out why
   * from all its keys. The path then ends at the table itself. */
  bool Reject(int idx) {
    depth_--;
    int marked = 0;
    if (lua_getmetatable(L_, idx)) {
      marked = lua_rawequal(L_, -1, lua_upvalueindex(UP_ARRAY_MT));
      lua_pop(L_, 1);
    }
    lua_Integer count = 0, ints = 0, max = 0;
    lua_pushnil(L_);
    while (lua_next(L_, idx)) {
      lua_pop(L_, 1);
      count++;
      int kt = lua_type(L_, -1);
      if (kt == LUA_TNUMBER && lua_isinteger(L_, -1)) {
        lua_Integer k = lua_tointeger(L_, -1);
        ints++;
        if (k > max) max = k;
        if (k < 1) {
          lua_pop(L_, 1);
          detail_ = k;
          return Fail(ENC_SPARSE, NULL);
        }
      } else if (kt != LUA_TSTRING) {
        const char *tn = kt == LUA_TNUMBER ? "float" : luaL_typename(L_, -1);
        lua_pop(L_, 1);
        return Fail(ENC_KEY, tn);
      }
    }
    if ((ints > 0 || marked) && ints < count) return Fail(ENC_MIXED, NULL);
    /* Integer keys only, with a hole: name the first one. */
    detail_ = 1;
    for (lua_Integer i = 1; i <= max; i++) {
      int t = lua_rawgeti(L_, idx, i);
      lua_pop(L_, 1);
      if (t == LUA_TNIL) {
        detail_ = i;
        break;
      }
    }
    return Fail(ENC_SPARSE, NULL);
  }

  lua_State *L_;
  SlotAllocator out_alloc_, level_alloc_;
  OutBuffer out_;
  OutWriter writer_;
  int depth_;
  int err_;
  lua_Integer detail_;
  const char *what_;
  enc_frame frames_[MAX_DEPTH];
};

/* A key as it reads in a path: .name for an identifier, else ["..."]. */
static void path_key(luaL_Buffer *b, const char *k, size_t len) {
  int ident = len > 0 && !(k[0] >= '0' && k[0] <= '9');
  for (size_t i = 0; ident && i < len; i++) {
    unsigned char c = (unsigned char)k[i];
    ident = c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9');
  }
  if (ident && len <= KEY_MAX_LEN) {
    luaL_addchar(b, '.');
    luaL_addlstring(b, k, len);
    return;
  }
  luaL_addstring(b, "[\"");
  for (size_t i = 0; i < len && i < KEY_MAX_LEN; i++) {
    unsigned char c = (unsigned char)k[i];
    if (c == '"' || c == '\\') {
      luaL_addchar(b, '\\');
      luaL_addchar(b, (char)c);
    } else if (c < 0x20 || c == 0x7f) {
      char esc[8];
      snprintf(esc, sizeof esc, "\\%d", c);
      luaL_addstring(b, esc);
    } else {
      luaL_addchar(b, (char)c);
    }
  }
  if (len > KEY_MAX_LEN) luaL_addstring(b, "...");
  luaL_addstring(b, "\"]");
}

/* Pushes the path of the failing value: root, then one step per open
 * table (the keys are still on the stack). */
static void push_path(lua_State *L, const Encoder &enc, const char *root) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addstring(&b, root);
  for (int i = 0; i < enc.depth(); i++) {
    if (luaL_bufflen(&b) > PATH_MAX_LEN) {
      luaL_addstring(&b, "...");
      break;
    }
    const enc_frame &f = enc.frame(i);
    if (f.key) {
      size_t len;
      const char *k = lua_tolstring(L, f.key, &len);
      path_key(&b, k, len);
    } else {
      char step[32];
      snprintf(step, sizeof step, "[%lld]", (long long)f.index);
      luaL_addstring(&b, step);
    }
  }
  luaL_pushresult(&b);
}

/* Pushes what went wrong, without the path. */
static void push_reason(lua_State *L, const Encoder &enc) {
  switch (enc.err()) {
  case ENC_NAN:
    lua_pushfstring(L, "cannot encode %s", enc.what());
    break;
  case ENC_CYCLE:
    lua_pushstring(L, "cannot encode a table that contains itself");
    break;
  case ENC_DEEP:
    lua_pushfstring(L, "cannot encode tables nested deeper than %d levels", MAX_DEPTH);
    break;
  case ENC_MIXED:
    lua_pushstring(L, "cannot encode a table with both array items and string keys");
    break;
  case ENC_SPARSE:
    if (enc.detail() < 1)
      lua_pushfstring(L, "cannot encode an array with index %I", enc.detail());
    else
      lua_pushfstring(L,
                      "cannot encode a sparse array (nothing at index %I; use "
                      "tide.json.null for null)",
                      enc.detail());
    break;
  case ENC_KEY:
    lua_pushfstring(L, "cannot encode a table key of type %s", enc.what());
    break;
  default:
    lua_pushfstring(L, "cannot encode a %s", enc.what());
    break;
  }
}

/* tide.json.encode(v [, name [, level]]) -> string. A value that cannot be
 * encoded raises a `usage` error whose message names the path inside v
 * (`name` is its root, "value" by default) and starts with the position of
 * the caller `level` levels up (1, the default, is the function calling
 * encode), as error(msg, level) does; `path` holds the path. */
static int json_encode(lua_State *L) {
  const char *root = luaL_optstring(L, 2, "value");
  int level = (int)luaL_optinteger(L, 3, 1);
  lua_settop(L, 1);
  json_box *box = box_take(L); /* stack: v [box] */
  if (!box->encoder && !(box->encoder = malloc(sizeof(Encoder)))) {
    box->busy = 0;
    return luaL_error(L, "not enough memory");
  }
  Encoder *enc = new (box->encoder) Encoder(L, box);
  if (enc->Value(1)) {
    size_t len;
    const char *s = enc->Result(&len);
    lua_pushlstring(L, s, len);
    enc->~Encoder();
    box_give(box);
    return 1;
  }
  /* stack: v [box], keys and values of the open tables */
  luaL_where(L, level);
  push_reason(L, *enc);
  push_path(L, *enc, root);
  enc->~Encoder();
  box_give(box);
  /* stack: ..., where, reason, path */
  int top = lua_gettop(L);
  lua_pushfstring(L, "%s%s (at %s)", lua_tostring(L, top - 2), lua_tostring(L, top - 1),
                  lua_tostring(L, top));
  tide_error_push(L, "usage", "%s", lua_tostring(L, -1));
  lua_pushvalue(L, top);
  lua_setfield(L, -2, "path");
  return lua_error(L);
}

/* tide.json.array(t) -> t, marked to encode as an array (`[]` when empty). */
static int json_array(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  if (lua_getmetatable(L, 1)) {
    if (!lua_rawequal(L, -1, lua_upvalueindex(UP_ARRAY_MT)))
      return luaL_argerror(L, 1, "table has a metatable already");
    lua_pop(L, 1);
  } else {
    lua_pushvalue(L, lua_upvalueindex(UP_ARRAY_MT));
    lua_setmetatable(L, 1);
  }
  lua_settop(L, 1);
  return 1;
}

static int null_tostring(lua_State *L) {
  lua_pushliteral(L, "tide.json.null");
  return 1;
}

extern "C" void tide_json_open(lua_State *L, tide_ctx *ctx) {
  static const luaL_Reg funcs[] = {{"json_decode", json_decode},
                                   {"json_encode", json_encode},
                                   {"json_array", json_array},
                                   {NULL, NULL}};
  (void)ctx;
  /* stack: module */
  luaL_newmetatable(L, JSON_BOX_MT);
  lua_pushcfunction(L, box_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  box_new(L);

  lua_newuserdatauv(L, 0, 0); /* the null sentinel */
  luaL_newmetatable(L, JSON_NULL_MT);
  lua_pushcfunction(L, null_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pushliteral(L, "tide.json.null");
  lua_setfield(L, -2, "__metatable");
  lua_setmetatable(L, -2);

  luaL_newmetatable(L, JSON_ARRAY_MT);
  lua_pushliteral(L, "tide.json.array");
  lua_setfield(L, -2, "__name");
  /* stack: module, box, null, array_mt */
  lua_pushvalue(L, -2);
  lua_setfield(L, -5, "json_null");
  lua_pushvalue(L, -1);
  lua_setfield(L, -5, "json_array_mt");
  luaL_setfuncs(L, funcs, 3);
}
