-- test_units.lua — f:unit, the unit store of a results file: values of every
-- kind come back as they went in (and from the store, not from fn), keys
-- are unique per run, errors are clear and store nothing, the store is
-- removed when the file completes and kept when it does not.
local T = require "sanity.test"

local tmp = T.tmpdir()
local function p(name) return tmp .. "/" .. name end
local exists = T.exists

T.case("values of every kind round-trip through the store", function()
  local f = results.open(p("kinds.h5"))
  local x = tensor.randn({3, 4}, {seed = 1, stream = 1})
  local calls = 0
  local v = f:unit("method/step 1", function()
    calls = calls + 1
    return {t = x, i = 42, n = 0.1, b = true, no = false, s = "conv1", nums = {{1, 2}, {3, 4.5}},
            words = {"a", "ü"}, scalar = tensor.full({}, 7), empty = tensor.zeros(0)}
  end)
  T.eq(calls, 1)
  T.ok(tensor.is_tensor(v.t) and v.t ~= x, "a tensor read back from the store")
  T.near(v.t, x, 0)
  T.eq(math.type(v.i), "integer"); T.eq(v.i, 42)
  T.eq(math.type(v.n), "float"); T.eq(v.n, 0.1)
  T.eq(v.b, true); T.eq(v.no, false)
  T.eq(v.s, "conv1")
  T.eq(v.nums[2][2], 4.5); T.eq(#v.nums, 2)
  T.eq(v.words[2], "ü")
  T.eq(v.scalar:dim(), 0); T.eq(v.scalar:item(), 7)
  T.eq(v.empty:numel(), 0)
  local u = f:units()
  T.eq(u.dir, p("kinds.h5.units")); T.eq(u.stored, 1)
  T.ok(exists(p("kinds.h5.units/method%2Fstep%201.h5")), "key escaped into a file name")
  T.eq(f:unit("empty", function() return {} end) and next(f:unit("empty2", function() return {} end)), nil)
  f:close()
  T.ok(exists(p("kinds.h5")) and not exists(p("kinds.h5.units")), "store removed when the file completes")
end)

T.case("bad keys, functions and values raise and store nothing", function()
  local f = results.open(p("bad.h5"))
  T.errors(function() f:unit("", function() return {} end) end, "non-empty string")
  T.errors(function() f:unit({}, function() return {} end) end, "string expected")
  T.errors(function() f:unit("k") end, "function expected")
  T.errors(function() f:unit("k1", function() return 3 end) end, "unit 'k1'", "table of name -> value, got number")
  T.errors(function() f:unit("k2", function() return {1, 2} end) end, "unit 'k2'", "got a number key")
  T.errors(function() f:unit("k3", function() return {x = print} end) end, "value 'x'",
    "expected a tensor, number, boolean, string or array, got function")
  T.errors(function() f:unit("k4", function() return {x = {tensor.ones(2), tensor.ones(2)}} end) end,
    "a table of tensors cannot be stored", "tensor.stack")
  T.errors(function() f:unit("k5", function() return {x = {}} end) end, "empty array")
  T.errors(function() f:unit("k6", function() error("inside the unit") end) end, "inside the unit")
  T.eq(f:units().stored, 0, "nothing stored by failed units")
  T.eq(f:unit("k6", function() return {ok = true} end).ok, true, "a failed unit may be tried again")
  f:unit("once", function() return {a = 1} end)
  T.errors(function() f:unit("once", function() return {a = 1} end) end, "unit 'once' was already used in this run")
  f:close()
  T.errors(function() f:unit("x", function() return {} end) end, "results file is closed")
  T.errors(function() results.open(p("o.h5"), {resume = "yes"}) end, "option 'resume'", "boolean expected")
  T.errors(function() results.open(p("o2.h5"), {resum = true}) end, "resum")
end)

T.case("a file closed by an error keeps its store; a resumed open reuses it", function()
  local ok = pcall(function()
    local f <close> = results.open(p("kept.h5"))
    f:unit("a", function() return {v = 1} end)
    error("boom")
  end)
  T.ok(not ok)
  T.ok(exists(p("kept.h5.partial")) and exists(p("kept.h5.units/a.h5")), "partial file and store kept")
end)

T.case("sanity run --resume and results.open{resume=} through bin/sanity", function()
  local script = p("resume.lua")
  local fh = assert(io.open(script, "w"))
  fh:write([[
local f = results.open(nil, cfg.explicit and {resume = cfg.explicit == "yes"} or nil)
local n = 0
for i = 1, 2 do f:unit("u" .. i, function() n = n + 1; return {i = i} end) end
print("computed=" .. n .. " resume=" .. tostring(sanity.resume) .. " cfg=" .. tostring(cfg.resume))
if cfg.crash then error("crash") end
]])
  fh:close()
  local run = "run " .. script .. " --out " .. p("r.h5")
  local st, out = T.sanity(run .. " crash=true")
  T.eq(st, 1)
  T.ok(out:find("computed=2 resume=false cfg=nil", 1, true), out)
  st, out = T.sanity(run .. " crash=true --resume")
  T.ok(out:find("computed=0 resume=true cfg=true", 1, true), out)
  -- the option overrides the command line either way
  st, out = T.sanity(run .. " crash=true explicit=no --resume")
  T.ok(out:find("computed=2", 1, true), out)
  st, out = T.sanity(run .. " crash=true explicit=no")
  T.ok(out:find("computed=2", 1, true), "explicit=no drops the store: " .. out)
end)

T.done()
