-- test_merge.lua — `sanity merge` on the problems sweeps meet (corrupt and
-- missing run files, runs from another version of the script, arrays whose
-- shapes differ, with and without --pad) and `sanity diff` on files that
-- differ in every way it reports.
local T = require "sanity.test"

local H = "tests/lua/helpers/"
local tmp = T.tmpdir()
local function p(name) return tmp .. "/" .. name end
local exists = T.exists

-- a 2x3 grid (noise x seed): every run has the same shapes
local status, _, err = T.sanity("sweep " .. H .. "mimic.lua noise=0.1,0.2 seed=1:3:1 --out " .. p("s") .. " --quiet")
assert(status == 0, err)
local ids = {}
do
  local _, out = T.sanity("sweep " .. H .. "mimic.lua noise=0.1,0.2 seed=1:3:1 --out " .. p("s") .. " --dry-run")
  for id in out:gmatch("\n%d+%s+(%x+)") do ids[#ids + 1] = id end
  assert(#ids == 6)
end
local function copy_sweep(name)
  os.execute("rm -rf " .. p(name) .. " && cp -r " .. p("s") .. " " .. p(name))
  return p(name)
end

T.case("merge: config columns, stacked arrays with their coordinates, provenance", function()
  local st, out, e = T.sanity("merge " .. p("s") .. " -o " .. p("m.h5"))
  T.eq(st, 0, e)
  T.eq(out, "merged 6 runs into " .. p("m.h5") .. "\n")
  T.near(results.read(p("m.h5"), "config/seed"), tensor.from{1, 2, 3, 1, 2, 3}, 0)
  T.eq(table.concat(results.read(p("m.h5"), "config/id"), ","), table.concat(ids, ","))
  T.eq(table.concat(results.read(p("m.h5"), "mprt/run"), ","), table.concat(ids, ","), "run coordinates are the ids")
  for r = 1, 6 do
    T.near(results.read(p("m.h5"), "mprt/maps/randomized")[r], results.read(p("s/runs/" .. ids[r] .. ".h5"),
      "mprt/maps/randomized"), 0)
  end
  T.eq(table.concat(results.read(p("m.h5"), "mprt/method"), ","), "gradient,ig")
  local prov = results.read(p("m.h5"), "provenance/cfg_json")
  T.ok(prov[4]:find('"noise":0.2', 1, true) and prov[4]:find('"seed":1', 1, true), prov[4])
  local a = results.read_attrs(p("m.h5"))
  T.eq(a.script, H .. "mimic.lua"); T.ok(a.script_sha256:match("^%x+$"), a.script_sha256)
  T.ok(a.command_line:find("sanity merge", 1, true), a.command_line)
  -- merging again overwrites, identically but for the times
  T.eq(T.sanity("merge " .. p("s") .. " -o " .. p("m2.h5") .. " -q"), 0)
  local st2, diff = T.sanity("diff " .. p("m.h5") .. " " .. p("m2.h5") .. " --ignore command_line --ignore cfg_json")
  T.eq(st2, 0, diff)
end)

T.case("a corrupt run file is skipped with a warning and counted; missing runs too", function()
  local d = copy_sweep("c")
  local f = assert(io.open(d .. "/runs/" .. ids[2] .. ".h5", "wb"))
  f:write("this is not HDF5")
  f:close()
  -- a truncated one: the first 2 KiB of a real run file
  local src = assert(io.open(d .. "/runs/" .. ids[3] .. ".h5", "rb"))
  local head = src:read(2048)
  src:close()
  f = assert(io.open(d .. "/runs/" .. ids[3] .. ".h5", "wb"))
  f:write(head)
  f:close()
  os.remove(d .. "/runs/" .. ids[4] .. ".h5")
  local st, out, e = T.sanity("merge " .. d .. " -o " .. p("c.h5"))
  T.eq(st, 0, e)
  T.eq(out, string.format("merged 3 runs into %s, skipped 3 (corrupt: %s/runs/%s.h5, %s/runs/%s.h5; not complete: 1)\n",
    p("c.h5"), d, ids[2], d, ids[3]), out)
  T.ok(e:find("warning: skipping corrupt run file " .. d .. "/runs/" .. ids[2] .. ".h5", 1, true), e)
  T.ok(e:find("not an HDF5 file", 1, true), e)
  T.eq(table.concat(results.read(p("c.h5"), "config/id"), ","), table.concat({ids[1], ids[5], ids[6]}, ","))
  T.eq(results.read_attrs(p("c.h5")).runs_skipped, 3)
end)

T.case("runs from another version of the script are reported, not merged", function()
  local d = copy_sweep("v")
  -- the same script with one more comment line: another sha256
  local src = assert(io.open(H .. "mimic.lua"))
  local text = src:read("a")
  src:close()
  local f = assert(io.open(p("mimic.lua"), "w"))
  f:write(text, "-- edited\n")
  f:close()
  os.remove(d .. "/runs/" .. ids[5] .. ".h5")
  local st, _, e = T.sanity("run " .. p("mimic.lua") .. " noise=0.2 seed=2 --out " .. d .. "/runs/" .. ids[5] .. ".h5")
  T.eq(st, 0, e)
  st, _, e = T.sanity("merge " .. d .. " -o " .. p("v.h5"))
  T.eq(st, 1)
  T.ok(e:find("run " .. ids[5] .. " (noise=0.2 seed=2) was made by a different script", 1, true), e)
  T.ok(e:find("nothing written", 1, true) and e:find("--any-script", 1, true), e)
  T.ok(not exists(p("v.h5")) and not exists(p("v.h5.partial")), "no output")
  st, _, e = T.sanity("merge " .. d .. " -o " .. p("v.h5") .. " --any-script")
  T.eq(st, 0, e)
  T.ok(results.read_attrs(p("v.h5")).script_sha256:find("mixed", 1, true))
  local shas = results.read(p("v.h5"), "provenance/script_sha256")
  T.ok(shas[5] ~= shas[1])
end)

T.case("arrays of different shapes: reported with the runs and shapes; --pad joins them", function()
  local st, _, e = T.sanity("sweep " .. H .. "mimic.lua stop_layer=2,4 methods=ig --out " .. p("d") .. " --quiet")
  T.eq(st, 0, e)
  st, _, e = T.sanity("merge " .. p("d") .. " -o " .. p("d.h5"))
  T.eq(st, 1)
  T.ok(e:find("array /mprt/scores has shape [1, 4, 2, 8] in run ", 1, true), e)
  T.ok(e:find("(stop_layer=4) but [1, 2, 2, 8] in run ", 1, true), e)
  T.ok(e:find("--pad", 1, true), e)
  T.ok(not exists(p("d.h5")))
  st, _, e = T.sanity("merge " .. p("d") .. " -o " .. p("d.h5") .. " --pad -q")
  T.eq(st, 0, e)
  local s = results.read(p("d.h5"), "mprt/scores")
  T.eq(table.concat(s:shape(), "x"), "2x1x4x2x8")
  T.eq(table.concat(results.read(p("d.h5"), "mprt/step"), ","), "fc2,fc1,conv2,conv1")
  local nan = s[1][1][3][1][1]
  T.ok(nan ~= nan, "steps a run lacks are NaN")
  T.ok(s[2][1][3][1][1] == s[2][1][3][1][1])
end)

T.case("merge: bad input", function()
  local cases = {
    {"merge", 2, "needs a sweep directory and -o"},
    {"merge " .. p("s"), 2, "needs a sweep directory and -o"},
    {"merge " .. p("s") .. " -o", 2, "-o needs a file name"},
    {"merge " .. p("s") .. " " .. p("c") .. " -o x.h5", 2, "one sweep directory at a time"},
    {"merge " .. p("s") .. " --frob -o x.h5", 2, "unknown option '--frob'"},
    {"merge " .. tmp .. " -o " .. p("x.h5"), 1, "is not a sweep directory (no " .. tmp .. "/sweep.json)"},
    {"merge " .. p("s") .. " -o /nonexistent/x.h5", 1, "directory '/nonexistent' does not exist"},
  }
  for _, c in ipairs(cases) do
    local st, _, e = T.sanity(c[1])
    T.eq(st, c[2], c[1])
    T.ok(e:find(c[3], 1, true), c[1] .. " -> " .. e)
  end
  local f = assert(io.open(p("bad.json"), "w"))
  os.execute("mkdir -p " .. p("j") .. " && echo '{not json' > " .. p("j/sweep.json"))
  f:close()
  local st, _, e = T.sanity("merge " .. p("j") .. " -o " .. p("x.h5"))
  T.eq(st, 1)
  T.ok(e:find("is not a sanity sweep manifest", 1, true), e)
  local empty = copy_sweep("e")
  os.execute("rm " .. empty .. "/runs/*.h5")
  st, _, e = T.sanity("merge " .. empty .. " -o " .. p("x.h5"))
  T.eq(st, 1)
  T.ok(e:find("no complete runs", 1, true), e)
end)

T.case("diff: every kind of difference, --ignore, --data-only, exit statuses", function()
  local function write(path, fn)
    local script = p("w.lua")
    local f = assert(io.open(script, "w"))
    f:write(fn)
    f:close()
    local st, _, e = T.sanity("run " .. script .. " --out " .. path)
    assert(st == 0, e)
  end
  write(p("a.h5"), [[
local f = results.open()
f:write("g/x", tensor.arange(6):reshape(2, 3), {dims = {"r", "c"}, attrs = {unit = "px"}})
f:write("g/only_a", {1, 2})
f:write("w", {"a", "b"})
f:attrs("g", {kind = "a"})
]])
  write(p("b.h5"), [[
local f = results.open()
local x = tensor.arange(6):reshape(2, 3)
x[2][3] = 7.5
f:write("g/x", x, {dims = {"r", "c"}, attrs = {unit = "mm"}})
f:write("g/only_b", {1, 2})
f:write("w", {"a", "c"})
f:attrs("g", {kind = "b"})
]])
  local st, out = T.sanity("diff " .. p("a.h5") .. " " .. p("b.h5"))
  T.eq(st, 1)
  for _, frag in ipairs{
    "/g/only_a: only in " .. p("a.h5"),
    "/g/only_b: only in " .. p("b.h5"),
    "/g/x: 1 of 6 values differ (first at [1, 2]: 5 vs 7.5; max |difference| 2.5)",
    'attribute /g/x @unit: "px" vs "mm"',
    'attribute /g @kind: "a" vs "b"',
    '/w: 1 of 2 values differ (first at [1]: "b" vs "c")',
    "attribute / @cfg_json",
  } do
    T.ok(out:find(frag, 1, true), frag .. " in:\n" .. out)
  end
  T.ok(not out:find("start_time_utc", 1, true), "times are ignored")
  st, out = T.sanity("diff " .. p("a.h5") .. " " .. p("b.h5") .. " --data-only --ignore /g")
  T.eq(st, 1)
  T.ok(out:find("/w:", 1, true) and not out:find("/g", 1, true) and not out:find("attribute", 1, true), out)
  st, out = T.sanity("diff " .. p("a.h5") .. " " .. p("a.h5") .. " --all")
  T.eq(st, 0, out)
  T.eq(out, p("a.h5") .. " and " .. p("a.h5") .. " are equal\n")
  st, out = T.sanity("diff -q " .. p("a.h5") .. " " .. p("b.h5"))
  T.eq(st, 1); T.eq(out, "")
  local cases = {
    {"diff " .. p("a.h5"), "needs exactly two results files"},
    {"diff " .. p("a.h5") .. " " .. p("nope.h5"), "cannot open results file"},
    {"diff " .. p("a.h5") .. " " .. p("b.h5") .. " --ignore", "--ignore needs a NAME"},
    {"diff --bogus a b", "unknown option '--bogus'"},
  }
  for _, c in ipairs(cases) do
    local s, _, e = T.sanity(c[1])
    T.eq(s, 2, c[1])
    T.ok(e:find(c[2], 1, true), c[1] .. " -> " .. e)
  end
end)

T.done()
