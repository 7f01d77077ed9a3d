-- test_plot.lua — scripts/plot.py draws non-empty PNGs (cascade, maps,
-- bars, sweep) from a merged sweep of tests/lua/helpers/mimic.lua, which
-- writes the protocols' layout. Skipped, with a note, when Debian's
-- python3-h5py or python3-matplotlib is missing.
local T = require "sanity.test"

local py = "/usr/bin/python3"
local root = os.getenv("SANITY_ROOT") or "."
if not os.execute(py .. " -c 'import h5py, matplotlib' >/dev/null 2>&1") then
  print("test_plot: skipped (needs " .. py .. " with h5py and matplotlib: apt install python3-h5py python3-matplotlib)")
  T.done()
  return
end

local H = "tests/lua/helpers/"
local tmp = os.tmpname()
os.remove(tmp)
assert(os.execute("mkdir -p " .. tmp))
local function p(name) return tmp .. "/" .. name end
local function png(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s:sub(1, 8) == "\137PNG\r\n\26\n" and #s
end
local function sh(cmd)
  local f = io.popen(cmd .. " 2>&1")
  local out = f:read("a")
  local ok, _, code = f:close()
  return code, out
end

T.case("all four figures from a merged sweep, in one process", function()
  local st, _, err = T.sanity("sweep " .. H .. "mimic.lua noise=0.1,0.3 stop_layer=2,3 --out " .. p("s") .. " --quiet")
  T.eq(st, 0, err)
  st, _, err = T.sanity("merge " .. p("s") .. " -o " .. p("m.h5") .. " --pad -q")
  T.eq(st, 0, err)
  local code, out = sh(string.format("%s %s/scripts/plot.py all %s -o %s --examples 1 --select stop_layer=3",
    py, root, p("m.h5"), p("figs")))
  T.eq(code, 0, out)
  for _, name in ipairs{"cascade", "maps", "bars", "sweep"} do
    local size = png(p("figs/m_" .. name .. ".png"))
    T.ok(size and size > 5000, name .. ": " .. tostring(size) .. "\n" .. out)
  end
end)

T.case("a clear message and status 1 for what cannot be drawn", function()
  local st = T.sanity("run " .. H .. "mimic.lua stop_layer=1 --out " .. p("one.h5") .. " --quiet")
  T.eq(st, 0)
  local code, out = sh(string.format("%s %s/scripts/plot.py sweep %s", py, root, p("one.h5")))
  T.eq(code, 1)
  T.ok(out:find("is not a merged file (sanity merge DIR -o FILE.h5)", 1, true), out)
end)

os.execute("rm -rf " .. tmp)
T.done()
