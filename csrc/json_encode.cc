/* json_encode.cc -- tide.json.encode: walks Lua values and drives
 * RapidJSON's writer; a value that cannot be encoded is recorded with where
 * it is, the writer is left, and the usage error raised (see json.cc). */
#include <math.h>
#include <stdio.h>

#include "json.h"

/* The longest path that an encode error names, and the longest key in it. */
#define PATH_MAX_LEN 200
#define KEY_MAX_LEN 40

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
int tide_json_encode(lua_State *L) {
  const char *root = luaL_optstring(L, 2, "value");
  int level = (int)luaL_optinteger(L, 3, 1);
  lua_settop(L, 1);
  json_box *box = tide_json_box_take(L); /* stack: v [box] */
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
    tide_json_box_give(box);
    return 1;
  }
  /* stack: v [box], keys and values of the open tables */
  luaL_where(L, level);
  push_reason(L, *enc);
  push_path(L, *enc, root);
  enc->~Encoder();
  tide_json_box_give(box);
  /* stack: ..., where, reason, path */
  int top = lua_gettop(L);
  lua_pushfstring(L, "%s%s (at %s)", lua_tostring(L, top - 2), lua_tostring(L, top - 1),
                  lua_tostring(L, top));
  tide_error_push(L, "usage", "%s", lua_tostring(L, -1));
  lua_pushvalue(L, top);
  lua_setfield(L, -2, "path");
  return lua_error(L);
}
