-- An async generator over a paginated source: a fake "API" returns users
-- 5 per page, 30 ms per request, 10 pages in all. tide.generator turns it
-- into one stream of users, fetching a page only when the consumer has
-- used up the previous one. Taking the first 7 users fetches pages 1 and 2
-- and nothing more; leaving a for loop early stops the generator too.
--
-- Run (from the checkout, after scripts/build):
--   LUA_PATH="./lua/?.lua;./lua/?/init.lua;;" LUA_CPATH="./build/?.so;;" \
--     lua5.4 examples/paginated_generator.lua
-- or, after `luarocks make`: lua5.4 examples/paginated_generator.lua
local tide = require "tide"

local PAGE_SIZE, PAGES = 5, 10
local fetched = {} -- the pages requested from the "API"

local fetch_page = tide.async(function(page)
  fetched[#fetched + 1] = page
  tide.sleep(0.03):await()
  local users = {}
  for i = 1, PAGE_SIZE do users[i] = ("user%02d"):format((page - 1) * PAGE_SIZE + i) end
  return { users = users, next_page = page < PAGES and page + 1 or nil }
end)

local function all_users()
  return tide.generator(function(yield)
    local page = 1
    while page do
      local res = fetch_page(page):await()
      for _, user in ipairs(res.users) do yield(user) end
      page = res.next_page
    end
  end)
end

tide.run(function()
  local t0 = tide.now()
  local first = all_users():take(7):collect():await()
  print(("take(7): %s"):format(table.concat(first, " ", 1, first.n)))
  print(("pages fetched: %s of %d, in %.0f ms"):format(table.concat(fetched, ", "), PAGES, (tide.now() - t0) * 1000))

  fetched = {}
  for user in all_users() do
    if user == "user13" then
      print("for loop: found user13, break")
      break
    end
  end
  print(("pages fetched: %s of %d"):format(table.concat(fetched, ", "), PAGES))
end)
