-- test_resume.lua — runs killed at any moment continue where they stopped:
-- SIGKILL after 0, 1, 3 and 5 completed units (tests/lua/helpers/mimic.lua
-- sleeps between units), resumed with --resume, gives a file equal to an
-- uninterrupted run's (`sanity diff`, which ignores the start/end times);
-- SIGINT/SIGTERM exit with 130/143 and leave the partial file and the unit
-- store; a unit file damaged by a crash is computed again.
local T = require "sanity.test"

local bin = os.getenv("SANITY_BIN") or "bin/sanity"
local H = "tests/lua/helpers/"
local tmp = T.tmpdir()
local function p(name) return tmp .. "/" .. name end
local exists = T.exists
local sh = T.sh
local function nunits(dir)
  return tonumber((sh("ls " .. dir .. " 2>/dev/null | grep -c '\\.h5$'")))
end
-- runs the mimic in the background, kills it with `sig` once `count` units
-- are stored; returns the exit status
local function killrun(sig, count, args, delay)
  local out = sh(string.format("DELAY=%s sh %skillrun.sh %s %s %d %s run %smimic.lua %s", delay or "", H, sig, tmp,
    count, bin, H, args))
  return tonumber(out:match("status=(%d+)")), out
end

-- 0.12 s per unit: a kill after 5 of 8 units must land before the last
-- three finish, even when the machine is loaded and killrun.sh's polling lags
local run_args = "sleep=0.12 --out " .. p("r.h5") .. " --resume --quiet"

T.case("an uninterrupted run as the reference", function()
  local status, _, err = T.sanity("run " .. H .. "mimic.lua " .. run_args)
  T.eq(status, 0, err)
  T.ok(exists(p("r.h5")) and not exists(p("r.h5.units")), "store removed once complete")
  T.eq(os.rename(p("r.h5"), p("ref.h5")), true)
end)

T.case("SIGKILL after 0, 1, 3 and 5 units, then --resume: equal to the reference", function()
  local seen = {}
  for _, count in ipairs{0, 1, 3, 5} do
    local status = killrun("KILL", count, run_args)
    T.eq(status, 137, "killed at " .. count)
    T.ok(not exists(p("r.h5")), "no final file after a kill")
    local n = nunits(p("r.h5.units"))
    T.ok(n >= count and n < 8, string.format("%d units stored after a kill at %d", n, count))
    seen[#seen + 1] = n
  end
  T.ok(seen[4] > seen[2], "units accumulate across attempts: " .. table.concat(seen, ","))
  local status, _, err = T.sanity("run " .. H .. "mimic.lua " .. run_args)
  T.eq(status, 0, err)
  T.ok(not exists(p("r.h5.units")) and not exists(p("r.h5.partial")), "store and partial file gone")
  local st, out = T.sanity("diff " .. p("ref.h5") .. " " .. p("r.h5"))
  T.eq(st, 0, out)
  T.ok(out:find("are equal", 1, true), out)
  -- and diff does see a difference when there is one: the times
  st, out = T.sanity("diff --all " .. p("ref.h5") .. " " .. p("r.h5"))
  T.ok(st == 0 or out:find("_time_utc", 1, true), out)
end)

T.case("SIGKILL at arbitrary moments, mid-write included, then --resume: equal", function()
  local args = "methods=gradient,ig,saliency stop_layer=5 sleep=0.02 --out " .. p("w.h5") .. " --resume --quiet"
  local status, _, err = T.sanity("run " .. H .. "mimic.lua " .. args)
  T.eq(status, 0, err)
  T.eq(os.rename(p("w.h5"), p("wref.h5")), true)
  local killed = 0
  for _, delay in ipairs{"0.03", "0.06", "0.09", "0.12", "0.15", "0.18"} do
    status = killrun("KILL", 0, args, delay)
    if status == 0 then break end -- finished before the signal
    T.eq(status, 137)
    killed = killed + 1
  end
  T.ok(killed >= 2, "killed " .. killed .. " times")
  status, _, err = T.sanity("run " .. H .. "mimic.lua " .. args)
  T.eq(status, 0, err)
  local st, out = T.sanity("diff " .. p("wref.h5") .. " " .. p("w.h5"))
  T.eq(st, 0, out)
end)

T.case("SIGINT and SIGTERM: status 130 and 143, partial file and unit store kept", function()
  for _, c in ipairs{{"INT", 130}, {"TERM", 143}} do
    local sig, code = c[1], c[2]
    os.execute("rm -rf " .. p("s.h5") .. "*")
    local status = killrun(sig, 1, "sleep=0.3 --out " .. p("s.h5") .. " --quiet")
    T.eq(status, code, sig)
    T.ok(exists(p("s.h5.partial")), "partial file kept after " .. sig)
    T.ok(nunits(p("s.h5.units")) >= 1, "unit store kept after " .. sig)
    T.ok(not exists(p("s.h5")), "no final file after " .. sig)
  end
  -- the message names the signal; no traceback for an interrupt
  os.execute("rm -rf " .. p("s.h5") .. "*")
  sh(string.format("sh %skillrun.sh INT %s 1 sh -c 'exec %s run %smimic.lua sleep=0.3 --out %s --resume 2>%s'",
    H, tmp, bin, H, p("s.h5"), p("err.txt")))
  local f = assert(io.open(p("err.txt")))
  local err = f:read("a")
  f:close()
  T.ok(err:find("interrupted by SIGINT", 1, true), err)
  T.ok(err:find("partial results kept in " .. p("s.h5.partial"), 1, true), err)
  T.ok(not err:find("stack traceback", 1, true), err)
end)

T.case("a damaged unit file is computed again; a changed cfg refuses the store", function()
  local script = p("count.lua")
  local f = assert(io.open(script, "w"))
  f:write([[
local f = results.open()
local calls = 0
for i = 1, 3 do
  local v = f:unit("u" .. i, function() calls = calls + 1; return {x = tensor.full({2}, i)} end)
  assert(v.x[1] == i)
end
print("calls=" .. calls)
if cfg.fail then error("failing after the units") end
]])
  f:close()
  local run = "run " .. script .. " --out " .. p("c.h5") .. " "
  local status, out, err = T.sanity(run .. "fail=true")
  T.eq(status, 1)
  T.ok(out:find("calls=3", 1, true), out)
  T.eq(nunits(p("c.h5.units")), 3)
  -- damage one unit as a crash outside the rename discipline (or a bad disk) might
  local fh = assert(io.open(p("c.h5.units/u2.h5"), "r+b"))
  fh:write(string.rep("\0", 64))
  fh:close()
  status, out, err = T.sanity(run .. "fail=true --resume")
  T.eq(status, 1)
  T.ok(out:find("calls=1", 1, true), out)
  T.ok(err:find("unit 'u2'", 1, true) and err:find("computing it again", 1, true), err)
  status, out = T.sanity(run .. "fail=true --resume")
  T.ok(out:find("calls=0", 1, true), "complete units are never computed again: " .. out)
  status, out, err = T.sanity(run .. "fail=false --resume")
  T.eq(status, 1, "cfg changed: the store is refused")
  T.ok(err:find("another configuration", 1, true) and err:find("fail (true stored, false now)", 1, true), err)
  T.ok(exists(p("c.h5.units/u1.h5")), "a refused store is left alone")
  -- without --resume an old store is dropped and everything computed again
  status, out, err = T.sanity(run .. "fail=false")
  T.eq(status, 0, err)
  T.ok(out:find("calls=3", 1, true), out)
  T.ok(exists(p("c.h5")) and not exists(p("c.h5.units")), "complete, store removed")
end)

T.done()
