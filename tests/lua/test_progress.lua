-- test_progress.lua — sanity.progress{total=, label=}: a bar on a terminal
-- (forced here with SANITY_PROGRESS=bar), a line per tenth otherwise,
-- nothing with --quiet; argument errors.
local T = require "sanity.test"

local tmp = os.tmpname()
local script = tmp .. ".lua"
local f = assert(io.open(script, "w"))
f:write([[
local p <close> = sanity.progress{total = 50, label = "units"}
for i = 1, 50 do p:advance() end
]])
f:close()

T.case("lines when stderr is not a terminal: one per tenth, then a final one", function()
  local status, out, err = T.sanity("run " .. script)
  T.eq(status, 0, err)
  T.eq(out, "")
  local lines = {}
  for l in err:gmatch("[^\n]+") do lines[#lines + 1] = l end
  T.eq(#lines, 10, err) -- 10%..90% and the final line
  T.ok(lines[1]:match("^units: 5/50 %(10%%%) .+, ETA "), lines[1])
  T.ok(lines[10]:match("^units: 50/50 in %d+s, "), lines[10])
end)

T.case("a bar with SANITY_PROGRESS=bar; nothing with --quiet or SANITY_PROGRESS=off", function()
  local _, _, err = T.sanity("run " .. script, "SANITY_PROGRESS=bar")
  T.ok(err:find("\r\27[K", 1, true) and err:find("units [", 1, true) and err:find("ETA", 1, true), err)
  T.ok(err:find("units: 50/50 in", 1, true), err)
  local _, _, quiet = T.sanity("run " .. script .. " --quiet", "SANITY_PROGRESS=bar")
  T.eq(quiet, "")
  local _, _, off = T.sanity("run " .. script, "SANITY_PROGRESS=off")
  T.eq(off, "")
end)

T.case("argument errors", function()
  T.errors(function() sanity.progress() end, "table expected")
  T.errors(function() sanity.progress{label = "x"} end, "option 'total'")
  T.errors(function() sanity.progress{total = -1} end, "option 'total'")
  T.errors(function() sanity.progress{total = 1.5} end, "option 'total'")
  T.errors(function() sanity.progress{total = 3, lable = "x"} end, "lable")
  local p = sanity.progress{total = 2, label = "t"}
  T.errors(function() p:advance(-1) end, "must be >= 0")
  T.errors(function() p:advance("x") end, "number expected")
  T.ok(tostring(p):find("progress 't' (0/2)", 1, true), tostring(p))
  p:done()
  p:done() -- again: nothing
  p:advance() -- after done: ignored
  T.ok(tostring(p):find(", done", 1, true))
end)

os.remove(script)
os.remove(tmp)
T.done()
