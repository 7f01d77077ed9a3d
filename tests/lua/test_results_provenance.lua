-- test_results_provenance.lua — the provenance every results file carries.
-- Writes to cfg.out when given, so it doubles as the acceptance check:
--   bin/sanity run tests/lua/test_results_provenance.lua --out /tmp/r.h5
--   h5dump -A /tmp/r.h5
--   /usr/bin/python3 -c "import h5py; d=h5py.File('/tmp/r.h5')['mprt/ig']; print(d.dims[0].label, d.dims[0][0].name)"
-- Without --out it writes to a temporary directory and removes it.
local T = require "sanity.test"

local tmp
local path = cfg.out
if not path then
  tmp = os.tmpname()
  os.remove(tmp)
  assert(os.execute("mkdir -p " .. tmp))
  path = tmp .. "/provenance.h5"
end

local f = results.open(path)
local ig = tensor.arange(10):reshape(2, 5)
f:write("mprt/ig", ig, {dims = {"layer", "sample"}, coords = {layer = {"conv1", "fc1"}},
                        attrs = {method = "integrated_gradients", steps = 32}})

T.case("provenance is written when the file is opened", function()
  local a = f:read_attrs()
  for _, k in ipairs{"script", "script_sha256", "command_line", "cfg_json", "seed", "sanity_version", "git_commit",
                     "lua_version", "openblas_version", "hdf5_version", "host", "threads", "start_time_utc"} do
    T.ok(a[k] ~= nil, "missing provenance attribute " .. k)
  end
  T.eq(a.end_time_utc, nil, "end time only at completion")
  T.eq(a.script, sanity.script)
  T.eq(a.seed, cfg.seed); T.eq(a.threads, cfg.threads)
  T.ok(a.script_sha256:match("^" .. string.rep("%x", 64) .. "$"), a.script_sha256)
  local sum = io.popen("sha256sum " .. sanity.script):read("l")
  T.eq(a.script_sha256, sum and sum:match("^(%x+)"))
  T.ok(a.command_line:find(sanity.script, 1, true), a.command_line)
  T.ok(a.cfg_json:find('"seed":' .. cfg.seed, 1, true), a.cfg_json)
  T.ok(a.start_time_utc:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$"), a.start_time_utc)
end)

T.case("completion adds the end time and renames the file", function()
  T.eq(f:close(), path)
  local a = results.read_attrs(path)
  T.ok(a.end_time_utc and a.end_time_utc >= a.start_time_utc, tostring(a.end_time_utc))
  T.near(results.read(path, "mprt/ig"), ig, 0)
  T.eq(results.read_attrs(path, "mprt/ig").method, "integrated_gradients")
end)

if tmp then os.execute("rm -rf " .. tmp) end
T.done()
