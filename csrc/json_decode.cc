/* json_decode.cc -- tide.json.decode: RapidJSON's SAX reader (iterative,
 * so no C recursion) drives a builder that makes the Lua values; errors are
 * raised only after the reader has returned (see json.cc). */
#include <rapidjson/error/en.h>

#include "json.h"

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
int tide_json_decode(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  decode_result r;
  lua_settop(L, 1);
  json_box *box = tide_json_box_take(L); /* stack: s [box] */
  int base = lua_gettop(L);
  decode_run(L, box, s, len, &r);
  tide_json_box_give(box);
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
