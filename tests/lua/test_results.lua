-- test_results.lua — the results module from Lua: writing every kind of
-- value, dimension scales, reading back, errors (T.errors), the
-- .partial -> final rename and failure reports (through bin/sanity on small
-- scripts), `sanity info`, and h5py/xarray views of the file when Debian's
-- python3 has them.
local T = require "sanity.test"

local tmp = T.tmpdir()
local function p(name) return tmp .. "/" .. name end
local exists = T.exists
local function write_file(path, text)
  local fh = assert(io.open(path, "w"))
  fh:write(text)
  fh:close()
end
local function shell_ok(cmd) return os.execute(cmd .. " >/dev/null 2>&1") == true end

T.case("write every kind of value and read it back", function()
  local f = results.open(p("kinds.h5"))
  T.ok(tostring(f):find("writing " .. p("kinds.h5.partial"), 1, true), tostring(f))
  T.eq(f:path(), p("kinds.h5"))
  local x = tensor.arange(12):reshape(3, 4)
  f:write("t", x)
  f:write("nums", {0.5, 1, 2})
  f:write("grid", {{1, 2, 3}, {4, 5, 6}})
  f:write("words", {"conv1", "fc1", "ünïcode"})
  f:write("wordgrid", {{"a", "b"}, {"c", "d"}})
  f:write("rows", {tensor.ones(2, 2), tensor.zeros(2, 2), tensor.full({2, 2}, 3)})
  f:write("pi", 3.25)
  f:write("label", "hello")
  f:write("deep/er/still", {1})
  T.ok(f:has("t")); T.ok(f:has("/deep/er/still")); T.ok(not f:has("deep")); T.ok(not f:has("nope"))
  T.near(f:read("t"), x, 0)
  local grid = f:read("grid")
  T.eq(table.concat(grid:shape(), "x"), "2x3"); T.eq(grid[2][3], 6)
  T.eq(f:read("nums")[1], 0.5)
  local rows = f:read("rows")
  T.eq(table.concat(rows:shape(), "x"), "3x2x2"); T.eq(rows:sum(), 4 + 0 + 12)
  local words = f:read("words")
  T.eq(#words, 3); T.eq(words[3], "ünïcode")
  T.eq(f:read("wordgrid")[2][1], "c")
  T.eq(f:read("pi"):dim(), 0); T.eq(f:read("pi"):item(), 3.25)
  T.eq(f:read("label"), "hello")
  local names = f:list()
  T.eq(table.concat(names, " "), "/deep/er/still /grid /label /nums /pi /rows /t /wordgrid /words")
  T.eq(f:close(), p("kinds.h5"))
  T.ok(exists(p("kinds.h5")) and not exists(p("kinds.h5.partial")), "renamed on close")
  T.ok(tostring(f):find("(complete)", 1, true))
  -- the module-level readers open the finished file
  T.near(results.read(p("kinds.h5"), "t"), x, 0)
  T.eq(results.read(p("kinds.h5"), "words")[1], "conv1")
  T.eq(#results.list(p("kinds.h5")), 9)
  local a = results.read_attrs(p("kinds.h5"))
  T.eq(a.seed, cfg.seed); T.ok(a.end_time_utc:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$"), a.end_time_utc)
end)

T.case("dimension scales, coordinates and attributes", function()
  local f = results.open(p("dims.h5"))
  local layers = {"conv1", "conv2", "fc1"}
  f:write("mprt/ig", tensor.rand{3, 4}, {dims = {"layer", "sample"}, coords = {layer = layers},
                                         attrs = {method = "ig", steps = 32, noise = 0.1, abs = true}})
  f:write("mprt/grad", tensor.rand{3, 4}, {dims = {"layer", "sample"}})                 -- reuses both scales
  f:write("mprt/ssim", tensor.rand{3, 2}, {dims = {"layer", "pair"}, coords = {layer = layers, pair = {10, 20}}})
  T.eq(table.concat(f:read("mprt/layer"), ","), "conv1,conv2,fc1")
  T.near(f:read("mprt/sample"), tensor.from{0, 1, 2, 3}, 0)
  T.near(f:read("mprt/pair"), tensor.from{10, 20}, 0)
  local at = f:read_attrs("mprt/ig")
  T.eq(at.method, "ig"); T.eq(at.steps, 32); T.eq(math.type(at.steps), "integer"); T.eq(at.noise, 0.1); T.eq(at.abs, true)
  f:attrs(nil, {note = "root note", n = 3})
  f:attrs("mprt/grad", {method = "gradient", flag = true})
  T.eq(f:read_attrs().note, "root note"); T.eq(f:read_attrs("/mprt/grad").method, "gradient")
  -- clashes and mismatches
  T.errors(function() f:write("mprt/bad", tensor.rand{4, 4}, {dims = {"layer", "sample"}}) end,
           "dimension 'layer' has length 3", "has length 4")
  T.errors(function() f:write("mprt/bad", tensor.rand{3, 4}, {dims = {"layer", "sample"},
                                                          coords = {layer = {"a", "b", "c"}}}) end,
           "coordinates for dimension 'layer' differ")
  T.errors(function() f:write("mprt/bad", tensor.rand{3}, {dims = {"layer"}, coords = {layers = layers}}) end,
           "'layers' is not one of dims (layer)")
  T.errors(function() f:write("mprt/bad", tensor.rand{3}, {coords = {layer = layers}}) end, "needs option 'dims'")
  T.errors(function() f:write("mprt/bad", tensor.rand{3}, {dims = {"x"}, coords = {x = {1, 2}}}) end,
           "have 2 values", "has length 3")
  T.errors(function() f:write("mprt/bad", tensor.rand{3, 4}, {dims = {"layer"}}) end,
           "option 'dims': 1 name for a value with 2 dimensions (shape [3, 4])")
  T.errors(function() f:write("mprt/bad", tensor.rand{3, 4}, {dims = {"layer", 2}}) end, "entry 2 is a number")
  T.errors(function() f:write("mprt/bad", tensor.rand{3}, {dims = "layer"}) end, "array of names expected")
  T.errors(function() f:write("mprt/bad", tensor.rand{3, 3}, {dims = {"a", "a"}}) end, "appears twice")
  T.errors(function() f:write("mprt/layer", {1, 2, 3}) end, "coordinates of dimension 'layer'")
  T.errors(function() f:write("mprt/ig", tensor.rand{3, 4}) end, "already exists", "overwrite=true")
  T.errors(function() f:write("mprt/bad", {1}, {attrs = {x = {}}}) end, "'x' must be a number, string or boolean")
  T.errors(function() f:write("mprt/bad", {1}, {dim = {"x"}}) end, "unknown option 'dim'")
  T.ok(not f:has("mprt/bad"), "failed writes leave nothing behind")
  f:write("mprt/ig", tensor.zeros(3, 4), {dims = {"layer", "sample"}, overwrite = true})
  T.eq(f:read("mprt/ig"):sum(), 0)
  f:close()
end)

T.case("bad values are refused with a clear message", function()
  local f = results.open(p("bad.h5"))
  T.errors(function() f:write("v", true) end, "bad argument #2 to 'write'", "got boolean")
  T.errors(function() f:write("v", nil) end, "got nil")
  T.errors(function() f:write("v", {1, "a"}) end, "element [2] is a string, expected a number")
  T.errors(function() f:write("v", {{1, 2}, {3}}) end, "ragged array: element [2] has 1 entries, expected 2")
  T.errors(function() f:write("v", {{1, 2}, 3}) end, "element [2] is a number, expected an array")
  T.errors(function() f:write("v", {}) end, "empty array")
  T.errors(function() f:write("v", {a = 1}) end, "table with key 'a', not an array")
  T.errors(function() f:write("v", {true}) end, "element [1] is a boolean")
  T.errors(function() f:write("v", {tensor.ones(2), tensor.ones(3)}) end, "tensor [2] has shape [3], element [1]... has [2]")
  T.errors(function() f:write("v", {"a\0b"}) end, "NUL byte")
  T.errors(function() f:write("v", {"\255"}) end, "not valid UTF-8")
  local t = tensor.ones(2); t:free()
  T.errors(function() f:write("v", t) end, "tensor has been freed")
  T.errors(function() f:write(nil, {1}) end, "bad argument #1 to 'write'")
  T.errors(function() f:write("a//b", {1}) end, "empty path component")
  T.errors(function() f:attrs(nil, {k = {}}) end, "'k' must be a number, string or boolean")
  T.errors(function() f:attrs("nope", {k = 1}) end, "no dataset '/nope'")
  T.errors(function() f.write(42, "x", {1}) end, "sanity.ResultsFile expected")
  T.errors(function() f:read("nope") end, "no dataset '/nope'")
  T.ok(not f:has("v"))
  f:close()
end)

T.case("a closed file raises, never crashes", function()
  local f = results.open(p("closed.h5"))
  f:write("x", {1, 2})
  f:close()
  f:close() -- closing twice is fine
  T.errors(function() f:write("y", {1}) end, "results file is closed")
  T.errors(function() f:read("x") end, "results file is closed")
  T.errors(function() f:has("x") end, "results file is closed")
  T.errors(function() f:flush() end, "results file is closed")
  T.errors(function() f:attrs(nil, {a = 1}) end, "results file is closed")
  T.errors(function() f:list() end, "results file is closed")
  T.eq(f:path(), p("closed.h5"))
  collectgarbage() -- a collected handle frees its file, nothing more
end)

T.case("opening: missing directory, twice, no --out", function()
  T.errors(function() results.open(p("no/such/dir/x.h5")) end,
           "cannot create results file", "directory '" .. p("no/such/dir") .. "' does not exist")
  local f = results.open(p("twice.h5"))
  T.errors(function() results.open(p("twice.h5")) end, "already opened in this run")
  T.errors(function() results.open(tmp .. "/./twice.h5") end, "already opened in this run")
  f:close()
  T.errors(function() results.open(p("twice.h5")) end, "already opened in this run")
  local out = cfg.out
  cfg.out = nil
  T.errors(function() results.open() end, "no output file: pass --out FILE.h5 or results.open(path)")
  cfg.out = out
end)

T.case("reading errors name the file and what it holds", function()
  T.errors(function() results.read(p("none.h5"), "x") end, "cannot open results file '" .. p("none.h5") .. "'", "No such file")
  write_file(p("text.h5"), "just text\n")
  T.errors(function() results.read(p("text.h5"), "x") end, "not an HDF5 file")
  T.errors(function() results.list(p("text.h5")) end, "not an HDF5 file")
  T.errors(function() results.read_attrs(p("none.h5")) end, "No such file")
  T.errors(function() results.read(p("kinds.h5"), "missing") end, "no dataset '/missing'", "it has: /deep/er/still, /grid")
  T.errors(function() results.read(p("kinds.h5")) end, "bad argument #2 to 'read'")
  T.errors(function() results.read_attrs(p("kinds.h5"), "nope") end, "no dataset '/nope'")
  local f = results.open(p("busy.h5"))
  T.errors(function() results.read(p("busy.h5"), "x") end, "still being written by this run")
  f:close()
end)

T.case("<close> completes the file at the end of its scope", function()
  do
    local f <close> = results.open(p("scoped.h5"))
    f:write("x", {1})
    T.ok(exists(p("scoped.h5.partial")))
  end
  T.ok(exists(p("scoped.h5")) and not exists(p("scoped.h5.partial")))
end)

-- Scripts run by bin/sanity: success renames, failure keeps .partial.
local function run(script, body, args)
  write_file(p(script), body)
  return T.sanity("run " .. p(script) .. " " .. (args or "") .. " --quiet")
end

T.case("a successful run renames PATH.partial to PATH and records provenance", function()
  local status, _, err = run("ok.lua", [[
    local f = results.open()
    f:write("x", {1, 2, 3}, {dims = {"i"}})
  ]], "--out " .. p("ok.h5") .. " noise=0.5 methods=a,b ig.steps=32 name='it s' --seed 7 --threads 1")
  T.eq(status, 0, err)
  T.ok(exists(p("ok.h5")) and not exists(p("ok.h5.partial")))
  local a = results.read_attrs(p("ok.h5"))
  T.eq(a.seed, 7); T.eq(a.threads, 1)
  T.eq(a.cfg_json, '{"ig":{"steps":32},"methods":["a","b"],"name":"it s","noise":0.5,"out":"' .. p("ok.h5") ..
       '","seed":7,"threads":1}')
  T.ok(a.command_line:find("run " .. p("ok.lua") .. " --out " .. p("ok.h5") .. " noise=0.5 methods=a,b ig.steps=32 'name=it s' --seed 7", 1, true),
       a.command_line)
  T.eq(a.script, p("ok.lua"))
  local sum = io.popen("sha256sum " .. p("ok.lua")):read("l"):match("^(%x+)")
  T.eq(a.script_sha256, sum)
  T.eq(a.sanity_version, sanity.version)
  T.ok(a.lua_version:find(_VERSION, 1, true), a.lua_version)
  T.ok(a.hdf5_version:match("^%d+%.%d+%.%d+$")); T.ok(a.openblas_version:find("OpenBLAS", 1, true))
  T.ok(#a.host > 0 and #a.git_commit > 0)
  T.ok(a.start_time_utc <= a.end_time_utc)
end)

T.case("a failed run keeps PATH.partial, says so and exits 1", function()
  local status, _, err = run("fail.lua", [[
    local f = results.open()
    f:write("x", {4, 5})
    error("boom")
  ]], "--out " .. p("fail.h5"))
  T.eq(status, 1)
  T.ok(err:find("boom", 1, true), err)
  T.ok(err:find("run failed; partial results kept in " .. p("fail.h5.partial"), 1, true), err)
  T.ok(exists(p("fail.h5.partial")) and not exists(p("fail.h5")))
  T.near(results.read(p("fail.h5.partial"), "x"), tensor.from{4, 5}, 0) -- what was written is readable
  T.eq(results.read_attrs(p("fail.h5.partial")).end_time_utc, nil)
  -- without --out
  status, _, err = run("noout.lua", "results.open()")
  T.eq(status, 1); T.ok(err:find("no output file: pass --out FILE.h5 or results.open(path)", 1, true), err)
  -- a <close> scope left by an error keeps its file partial even if the script goes on
  status, _, err = run("tbc.lua", [[
    pcall(function()
      local f <close> = results.open()
      f:write("x", {1})
      error("inner")
    end)
  ]], "--out " .. p("tbc.h5"))
  T.eq(status, 0, err)
  T.ok(exists(p("tbc.h5.partial")) and not exists(p("tbc.h5")))
  T.ok(err:find("closed by an error; partial results kept in " .. p("tbc.h5.partial"), 1, true), err)
  -- an explicit close is final even if the script fails later
  status = run("late.lua", 'local f = results.open(); f:write("x", {1}); f:close(); error("late")', "--out " .. p("late.h5"))
  T.eq(status, 1)
  T.ok(exists(p("late.h5")) and not exists(p("late.h5.partial")))
  -- a missing directory at open is a script error naming it
  status, _, err = run("nodir.lua", "results.open()", "--out " .. p("nodir/x.h5"))
  T.eq(status, 1); T.ok(err:find("directory '" .. p("nodir") .. "' does not exist", 1, true), err)
end)

T.case("a run killed with SIGKILL never leaves PATH; flushed data survive", function()
  local status = run("killed.lua", [[
    local f = results.open()
    f:write("done", {1, 2, 3})
    f:flush()
    f:write("unflushed", {4})
    local pid = io.open("/proc/self/stat"):read("n")
    os.execute("kill -KILL " .. pid)
    while true do end
  ]], "--out " .. p("killed.h5"))
  T.ok(status ~= 0)
  T.ok(exists(p("killed.h5.partial")) and not exists(p("killed.h5")))
  T.near(results.read(p("killed.h5.partial"), "done"), tensor.from{1, 2, 3}, 0)
end)

T.case("sanity info prints provenance and datasets", function()
  local status, out, err = T.sanity("info " .. p("dims.h5"))
  T.eq(status, 0, err)
  T.ok(out:find("provenance:", 1, true) and out:find("script_sha256", 1, true), out)
  T.ok(out:find("/mprt/ig%s+float32 %[3, 4%]%s+%(layer, sample%)"), out)
  T.ok(out:find("/mprt/ssim%s+float32 %[3, 2%]%s+%(layer, pair%)"), out)
  T.ok(out:find("/mprt/layer%s+string%s+%[3%]%s+dimension scale"), out)
  T.ok(out:find("method = gradient", 1, true), out)
  status, out, err = T.sanity("info " .. p("none.h5"))
  T.eq(status, 1); T.ok(err:find("No such file", 1, true), err)
  status, out, err = T.sanity("info " .. p("text.h5"))
  T.eq(status, 1); T.ok(err:find("not an HDF5 file", 1, true), err)
  status, out, err = T.sanity("info")
  T.eq(status, 2); T.ok(err:find("usage: sanity info", 1, true), err)
  status, out = T.sanity("info --help")
  T.eq(status, 0); T.ok(out:find("usage: sanity info", 1, true))
end)

T.case("h5py and xarray see named dimensions", function()
  if not shell_ok("/usr/bin/python3 -c 'import h5py'") then
    io.stderr:write("test_results: note: h5py not available, skipping the h5py check\n")
    return
  end
  local py = p("check.py")
  write_file(py, [==[
import sys, h5py
f = h5py.File(sys.argv[1], "r")
d = f["mprt/ig"]
assert d.dims[0].label == "layer", d.dims[0].label
assert d.dims[1].label == "sample", d.dims[1].label
assert d.dims[0][0].name.endswith("/layer"), d.dims[0][0].name
assert [s.decode() for s in d.dims[0][0][:]] == ["conv1", "conv2", "fc1"]
assert list(d.dims[1][0][:]) == [0, 1, 2, 3]
assert f["mprt/grad"].dims[0][0] == d.dims[0][0]
import numpy
g = f["mprt/grad"]
assert isinstance(g.attrs["flag"], numpy.bool_) and g.attrs["flag"], repr(g.attrs["flag"])
assert g.attrs["method"] == "gradient" and f.attrs["note"] == "root note" and f.attrs["n"] == 3
print("h5py ok")
try:
    import xarray as xr, h5netcdf
except ImportError:
    print("xarray missing")
    sys.exit(0)
ds = xr.open_dataset(sys.argv[1], engine="h5netcdf", group="mprt")
assert ds["ig"].dims == ("layer", "sample"), ds["ig"].dims
assert list(ds["layer"].values) == ["conv1", "conv2", "fc1"]
print("xarray ok")
]==])
  local out = io.popen("/usr/bin/python3 " .. py .. " " .. p("dims.h5") .. " 2>&1"):read("a")
  T.ok(out:find("h5py ok", 1, true), out)
  if not out:find("xarray ok", 1, true) then
    io.stderr:write("test_results: note: xarray/h5netcdf not available, skipping the xarray check\n")
  end
end)

T.done()
