--- tide.json: JSON decode and encode (RapidJSON underneath, in tide.core).
--
--     local user = tide.json.decode('{"id": 7, "tags": []}')   -- user.id == 7 (an integer)
--     tide.json.encode(user)                                   -- {"id":7,"tags":[]}
--
-- Integers are exact over the whole int64 range; other numbers are floats.
-- `null` decodes to `tide.json.null`; arrays decode to tables marked as
-- arrays, so `[]` encodes back as `[]`; `tide.json.array(t)` marks a table.
-- A value that cannot be encoded (a function, a cycle, NaN, mixed or sparse
-- keys) raises a `usage` error naming the path inside it (`value.items[3]`).
-- @module tide.json
local core = require "tide.core"

-- The functions are written in C: declared for editors in tide/meta.lua.
--- @class tide.json
local M = {
  --- `tide.json.decode(s)` -> value; text that is not JSON raises a `json`
  --- error with `offset` (the byte where it went wrong, from 0).
  decode = core.json_decode,
  --- `tide.json.encode(v [, name [, level]])` -> string. `name` is the root
  --- of the path in an error ("value"); `level` is as error()'s: the
  --- position in the message is that of the caller `level` levels up.
  encode = core.json_encode,
  --- `tide.json.array(t)` -> t, marked to encode as an array.
  array = core.json_array,
  --- Stands for JSON's null, both ways (lua-cjson's `cjson.null` encodes as
  --- null too).
  null = core.json_null,
}

return M
