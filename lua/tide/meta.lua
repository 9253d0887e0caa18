---@meta
--- Type declarations of tide for LuaLS (lua-language-server): the API that
--- is written in C (tide.core) or made at load time, which the language
--- server cannot read from the Lua sources. The Lua-implemented functions
--- carry their own annotations next to their code. This file is never
--- loaded at run time: nothing requires it, and loading it would only
--- return a table of empty stubs.
-- luacheck: ignore
-- @module tide.meta

--- A tide.error: what tide rejects with (and raises for misuse no argument
--- check can see, kind "usage"). `tostring` shows the cause chain.
--- @class tide.error
--- @field kind string      "timeout", "cancelled", "network", "http", "fs", "usage", ...
--- @field message string
--- @field cause any        the error that led to this one, if any
--- @field reason any       for `cancelled`: why it was cancelled
--- @field status integer|nil  for `http`
--- @field url string|nil      for `http`, `network`
--- @field code string|nil     for `fs` (libuv's error name, "ENOENT"), `network`
--- @field path string|nil     for `fs`
--- @field errors any[]|nil    for `aggregate`: every reason, in input order

--- A value that settles later: "pending" until it is fulfilled with a value
--- or rejected with a reason (Promises/A+).
--- @class tide.promise
local promise = {}

--- Registers reactions (A+ `then`); handlers that are not callable are
--- ignored. Returns the derived promise, which follows what the handler
--- returns (or raises).
--- @param on_fulfilled (fun(value: any): any)|nil
--- @param on_rejected (fun(reason: any): any)|nil
--- @return tide.promise
function promise:next(on_fulfilled, on_rejected) end

--- `p:next(nil, on_rejected)`.
--- @param on_rejected fun(reason: any): any
--- @return tide.promise
function promise:catch(on_rejected) end

--- The state now: "pending", "fulfilled" or "rejected".
--- @return "pending"|"fulfilled"|"rejected"
function promise:state() end

--- The state and the value (or reason), without waiting.
--- @return "pending"|"fulfilled"|"rejected" state
--- @return any value
function promise:peek() end

--- Waits for the promise (inside a task, or at the top level where it runs
--- the loop): its value, or raises its reason.
--- @return any
function promise:await() end

--- A coroutine task: a promise of its function's result.
--- The promise of an operation (sleep, a file request, an HTTP request,
--- timeout, retry, map, a channel or semaphore wait, collect/each): a
--- promise that can be cancelled. Indexing a promise with a name it does
--- not have raises "tide.promise has no field 'x' (did you forget
--- :await()?)"; `then` and `cancel` stay nil on plain promises.
--- @class tide.operation : tide.promise
local operation = {}

--- Stops the operation's work (timer, transfer, file request, child
--- tasks) and rejects its promise with a `cancelled` error (`.reason =
--- reason`), which is never reported as unhandled. Returns true if it was
--- still pending; cancelling a settled promise does nothing.
--- @param reason any
--- @return boolean
function operation:cancel(reason) end

--- @class tide.task : tide.promise
local task = {}

--- Cancels the task: a `cancelled` error (with `.reason = reason`) is
--- raised at its current await, and the I/O it started stops. Returns true
--- if the task was still pending.
--- @param reason any
--- @return boolean
function task:cancel(reason) end

--- The traceback of a failed task, or where a live one is now; nil for a
--- task that succeeded.
--- @return string|nil
function task:traceback() end

--- A callback timer (tide.set_timeout, tide.set_interval). Its callback runs
--- outside any task.
--- @class tide.timer
local timer = {}

--- Stops the timer. Returns true if it was still pending. Also its __close.
--- @return boolean
function timer:cancel() end

--- The timer no longer keeps tide.run() and top-level waits going.
--- @return tide.timer
function timer:unref() end

--- The timer keeps tide.run() and top-level waits going again (the default).
--- @return tide.timer
function timer:ref() end

--- @class tide
local tide = {}

--- `tide.promise(function(resolve, reject) ... end)`: a new promise; the
--- executor runs at once.
--- @param executor fun(resolve: fun(value: any), reject: fun(reason: any))
--- @return tide.promise
function tide.promise(executor) end

--- A pending promise and the two functions that settle it.
--- @return tide.promise promise
--- @return fun(value: any) resolve
--- @return fun(reason: any) reject
function tide.deferred() end

--- `v` itself if it is a tide promise, else a promise that adopts `v`
--- (following thenables).
--- @param v any
--- @return tide.promise
function tide.resolve(v) end

--- A promise rejected with `reason`.
--- @param reason any
--- @return tide.promise
function tide.reject(reason) end

--- Runs `fn(arg)` from the microtask queue.
--- @param fn fun(arg: any)
--- @param arg any
function tide.queue_microtask(fn, arg) end

--- Starts `fn(...)` as a new task and returns it (it runs up to its first
--- await at once).
--- @param fn function
--- @param ... any
--- @return tide.task
function tide.spawn(fn, ...) end

--- Waits for `x` (a promise, or any value, returned as it is): its value,
--- or raises its reason. Inside a task, or at the top level.
--- @param x any
--- @return any
function tide.await(x) end

--- Like tide.await, without raising.
--- @param x any
--- @return boolean ok
--- @return any value_or_reason
function tide.pawait(x) end

--- `tide.run(fn, ...)` runs `fn(...)` as the main task, drives the loop
--- until it ends and returns its result (or raises its error);
--- `tide.run()` drives the loop until nothing is left to do.
--- @param fn function|nil
--- @param ... any
--- @return any
function tide.run(fn, ...) end

--- The running task, or nil.
--- @return tide.task|nil
function tide.current() end

--- A promise fulfilled after `s` seconds (`0`: one loop turn).
--- @param s number seconds
--- @param opts {signal: tide.signal}|nil
--- @return tide.promise
function tide.sleep(s, opts) end

--- Calls `fn()` once after `s` seconds.
--- @param fn fun()
--- @param s number seconds
--- @return tide.timer
function tide.set_timeout(fn, s) end

--- Calls `fn()` every `s` seconds (at least 1 ms) until cancelled.
--- @param fn fun()
--- @param s number seconds
--- @return tide.timer
function tide.set_interval(fn, s) end

--- Monotonic time in seconds.
--- @return number
function tide.now() end

--- A promise of the list of the values (with `.n`), in input order;
--- rejects with the first rejection. `list.n` is honoured for holes.
--- @param list any[]
--- @return tide.promise
function tide.all(list) end

--- A promise of one entry per input: `{status = "fulfilled", value = v}` or
--- `{status = "rejected", reason = e}`.
--- @param list any[]
--- @return tide.promise
function tide.all_settled(list) end

--- Settles like the first input to settle (an empty list: never).
--- @param list any[]
--- @return tide.promise
function tide.race(list) end

--- Fulfils with the first fulfilment; if every input rejects, rejects with
--- an `aggregate` error whose `errors` lists the reasons.
--- @param list any[]
--- @return tide.promise
function tide.any(list) end

--- A new tide.error; `fields` (cause, status, url, ...) are copied in.
--- @param kind string
--- @param message string|nil
--- @param fields table|nil
--- @return tide.error
function tide.error(kind, message, fields) end

--- Whether `v` is a tide.error (of kind `kind`, if given).
--- @param v any
--- @param kind string|nil
--- @return boolean
function tide.is_error(v, kind) end

--- Sets the handler of rejections nobody handled (nil: the default, which
--- prints the reason and the task's traceback to stderr). Returns the
--- previous handler.
--- @param fn (fun(reason: any, task: tide.task|nil))|nil
--- @return function
function tide.on_unhandled(fn) end

-- Methods made at load time, which the language server cannot see.

--- @class tide.channel
local channel = {}

--- A stream of `f(v)` for each value received (ending it leaves the
--- channel open).
--- @param f fun(v: any): any
--- @return tide.stream
function channel:map(f) end

--- A stream of the values received for which `f(v)` is true.
--- @param f fun(v: any): boolean
--- @return tide.stream
function channel:filter(f) end

--- A stream of the next `n` values received.
--- @param n integer
--- @return tide.stream
function channel:take(n) end

--- A promise of every value until the channel is closed and drained.
--- @param opts {signal: tide.signal}|nil
--- @return tide.promise
function channel:collect(opts) end

--- A promise that `f(v)` has run for every value until the channel is
--- closed and drained.
--- @param f fun(v: any)
--- @param opts {signal: tide.signal}|nil
--- @return tide.promise
function channel:each(f, opts) end

--- JSON: integers stay integers (exactly, over the whole int64 range),
--- `null` is tide.json.null, decoded arrays stay arrays.
--- @class tide.json
--- @field null userdata  stands for JSON's null (lua-cjson's null encodes as null too)
local json = {}

--- Decodes JSON text. Integers become Lua integers, other numbers floats,
--- arrays tables marked as arrays, null tide.json.null. Text that is not
--- JSON raises a `json` error with `offset` (the byte, from 0).
--- @param s string
--- @return any
function json.decode(s) end

--- Encodes a value as JSON text (integers without a fraction). A value that
--- cannot be encoded (a function, a cycle, NaN, mixed keys, a sparse array)
--- raises a `usage` error naming its path (`value.items[3]`), at the line of
--- the caller `level` levels up (1: the function calling encode); `name` is
--- the root of the path.
--- @param v any
--- @param name string|nil  default "value"
--- @param level integer|nil  default 1, as error()'s
--- @return string
function json.encode(v, name, level) end

--- Marks `t` to encode as an array (`[]` when empty) and returns it.
--- @generic T: table
--- @param t T
--- @return T
function json.array(t) end

--- Options of an HTTP request (see tide.http.request and the README's table).
--- @class tide.http.options
--- @field url string|nil             http:// or https:// (a malformed URL is a `usage` error)
--- @field method string|nil          "GET" unless given
--- @field query table|nil            appended percent-encoded
--- @field headers table|nil          name -> string|number
--- @field body string|tide.stream|fun():string?|tide.file|{file: string, offset: integer?, length: integer?}|nil  a string; streamed (chunked unless content_length); or a file (or a byte range of one), read in C and sent with its size
--- @field output string|tide.file|{file: string|tide.file, offset: integer}|nil  write a 2xx response's body to this path (created; truncated only once a 2xx body comes) or open file (at its position, or at `offset`); the response then has `bytes`, no `body` (any other status keeps its `body`)
--- @field content_length integer|nil the byte count of a streamed body (sent without chunked encoding)
--- @field json any                   sent as JSON
--- @field form table|nil             sent URL-encoded
--- @field timeout number|nil         seconds, the whole transfer
--- @field connect_timeout number|nil seconds, connecting
--- @field follow boolean|nil         follow redirects (default true)
--- @field max_redirects integer|nil  default 10
--- @field verify boolean|nil         TLS verification (default true)
--- @field ca_file string|nil
--- @field proxy string|nil
--- @field auth {user: string, password: string}|nil
--- @field aws_sigv4 {region: string, service: string, key: string?, secret: string?, provider: string?}|nil
--- @field http_version "1.0"|"1.1"|"2"|"2-prior-knowledge"|nil
--- @field signal tide.signal|nil     aborting it cancels the request
--- @field stream boolean|nil         read the body with res:chunks() / res:lines()
--- @field on_progress fun(dl_now: integer, dl_total: integer, ul_now: integer, ul_total: integer)|nil
--- @field max_body_size number|nil   bytes (decompressed)
--- @field decompress boolean|nil     default true
--- @field buffer_size integer|nil    curl's receive buffer, bytes
--- @field retry table|nil            tide.retry's options
--- @field multipart table[]|nil      {{name=, value=} | {name=, file=, filename=, content_type=}}
--- @field unix_socket string|nil     HTTP over this Unix socket
--- @field cert string|nil            TLS client certificate (PEM file)
--- @field key string|nil             its key (PEM file)
--- @field key_password string|nil
--- @field pinned_pubkey string|nil   "sha256//<base64>" or a key file

--- @class tide.http
local http = {}

--- A GET with the default client.
--- @param url string
--- @param opts tide.http.options|nil
--- @return tide.promise
function http.get(url, opts) end

--- A HEAD with the default client.
--- @param url string
--- @param opts tide.http.options|nil
--- @return tide.promise
function http.head(url, opts) end

--- A POST with the default client.
--- @param url string
--- @param opts tide.http.options|nil
--- @return tide.promise
function http.post(url, opts) end

--- A PUT with the default client.
--- @param url string
--- @param opts tide.http.options|nil
--- @return tide.promise
function http.put(url, opts) end

--- A PATCH with the default client.
--- @param url string
--- @param opts tide.http.options|nil
--- @return tide.promise
function http.patch(url, opts) end

--- A DELETE with the default client.
--- @param url string
--- @param opts tide.http.options|nil
--- @return tide.promise
function http.delete(url, opts) end

--- A response (see tide.http.request); its other methods are annotated in
--- http.lua.
--- @class tide.http.response
--- @field status integer
--- @field headers table
--- @field body string|nil  nil for a streamed response
--- @field url string
local response = {}

--- Whether the status is 2xx.
--- @return boolean
function response:ok() end

--- The response itself if its status is not 4xx/5xx; otherwise raises an
--- `http` error with `status`, `url` and `body`.
--- @return tide.http.response
function response:raise_for_status() end

--- The body decoded as JSON (raises a `json` error if it is not JSON).
--- @return any
function response:json() end

--- Stops a streamed response (its connection closes). Also its `<close>`.
--- @return nil
function response:close() end

--- Closes the pooled connections of the default client (the module
--- functions make a new one when next used).
--- @return nil
function http.close() end

--- @class tide.http.client
local client = {}

--- Closes the client's pooled connections.
--- @return nil
function client:close() end

--- A GET through this client (`url` joined to its base_url).
--- @param url string
--- @param opts tide.http.options|nil
--- @return tide.promise
function client:get(url, opts) end

--- A HEAD through this client.
--- @param url string
--- @param opts tide.http.options|nil
--- @return tide.promise
function client:head(url, opts) end

--- A POST through this client.
--- @param url string
--- @param opts tide.http.options|nil
--- @return tide.promise
function client:post(url, opts) end

--- A PUT through this client.
--- @param url string
--- @param opts tide.http.options|nil
--- @return tide.promise
function client:put(url, opts) end

--- A PATCH through this client.
--- @param url string
--- @param opts tide.http.options|nil
--- @return tide.promise
function client:patch(url, opts) end

--- A DELETE through this client.
--- @param url string
--- @param opts tide.http.options|nil
--- @return tide.promise
function client:delete(url, opts) end

--- An open file (tide.fs.open): its methods are in lua/tide/file.lua.
--- @class tide.file
--- @field path string  the path it was opened at
--- @field mode string  its mode as io.open's, without "b" ("r", "w+", ...)

return tide

