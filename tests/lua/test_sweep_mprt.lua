-- test_sweep_mprt.lua — issue 9's acceptance with the real MPRT protocol
-- (experiments/demo.lua on the bundled LeNet):
--   a 2x3 sweep (noise level x stop layer) run as 3 shards and merged equals
--   the same sweep run unsharded and merged, bit for bit;
--   a run killed with SIGKILL after 1, 4 and 9 completed units and resumed
--   equals an uninterrupted run.
local T = require "sanity.test"

local bin = os.getenv("SANITY_BIN") or "bin/sanity"
local tmp = T.tmpdir()
local sh = T.sh
local grid = "mode=noise level=0.1,0.5 stop_layer=1,2,3 n=12 methods=[gradient,sobel] similarities=[spearman_abs,ssim]"

T.case("3 shards merged = unsharded merged, bitwise", function()
  local out, status = sh(string.format("%s sweep experiments/demo.lua %s --out %s/all --quiet", bin, grid, tmp))
  T.eq(status, 0, out)
  for i = 0, 2 do
    out, status = sh(string.format("%s sweep experiments/demo.lua %s --out %s/sh --shard %d/3 --quiet", bin, grid, tmp, i))
    T.eq(status, 0, out)
  end
  for _, d in ipairs{"all", "sh"} do
    out, status = sh(string.format("%s merge %s/%s -o %s/%s.h5 --pad --quiet", bin, tmp, d, tmp, d))
    T.eq(status, 0, out)
  end
  local scores = results.read(tmp .. "/all.h5", "mprt/scores")
  T.eq(scores:size(1), 6, "six runs stacked")
  -- /provenance holds each run's command line and output path, which name the directory
  out, status = sh(string.format("%s diff %s/all.h5 %s/sh.h5 --ignore /provenance --ignore cfg_json "
    .. "--ignore command_line --ignore sweep_dir", bin, tmp, tmp))
  T.eq(status, 0, out)
end)

T.case("SIGKILL after 1, 4 and 9 units, then --resume = uninterrupted", function()
  local args = "experiments/demo.lua n=64 methods=gradient,integrated_gradients,guided_backprop,sobel --quiet"
  local out, status = sh(string.format("%s run %s --out %s/ref.h5", bin, args, tmp))
  T.eq(status, 0, out)
  for _, count in ipairs{1, 4, 9} do
    out = sh(string.format("sh tests/lua/helpers/killrun.sh KILL %s %d %s run %s --out %s/r.h5 --resume",
      tmp, count, bin, args, tmp))
    T.ok(out:find("status=137", 1, true), "killed after " .. count .. " units: " .. out)
  end
  out, status = sh(string.format("%s run %s --out %s/r.h5 --resume", bin, args, tmp))
  T.eq(status, 0, out)
  -- the command lines differ (--resume): compare everything else
  out, status = sh(string.format("%s diff %s/ref.h5 %s/r.h5 --ignore command_line --ignore cfg_json", bin, tmp, tmp))
  T.eq(status, 0, out)
end)

T.done()
