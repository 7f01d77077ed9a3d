-- bench/faith.lua — the issue's speed case: infidelity (gaussian, 100
-- perturbations) and max-sensitivity (20 points, radius 0.02) of gradient
-- maps for 256 LeNet images of Fashion-MNIST, with the session's threads.
--   bin/sanity run scripts/bench/faith.lua --threads 1 [reps=5] [n=256] [export=/tmp/faith_bench.h5]
--   bin/sanity run scripts/bench/faith.lua --threads 2
--   /usr/bin/python3 scripts/bench/faith_torch.py --weights /tmp/faith_bench.h5 --threads 1,2
-- Writes the LeNet weights, images and labels to `export` so the PyTorch
-- script runs the same model on the same batch. Prints min and median
-- seconds per metric and samples/s (the machine is shared: min is the
-- steadier number; re-run on an idle machine for the record).
local models = require "sanity.models"

local reps = cfg.reps or 5
local n = cfg.n or 256
local export = cfg.export or "/tmp/faith_bench.h5"

local m
if model.load and io.open("data/lenet_fmnist.h5") then
  m = model.load("data/lenet_fmnist.h5")
else
  m = models.lenet{seed = 0}
end
local x, y = data.fashion_mnist{split = "test", n = n}
local g = attr.gradient(m, x, y)

do
  local f <close> = results.open(export)
  for _, p in ipairs(m:parameters()) do f:write("params/" .. p.name, p.value) end
  f:write("x", x)
  f:write("y", y)
end

local function timed(fn)
  local s = {}
  local out = fn() -- warm-up
  for r = 1, reps do
    local t0 = sanity.clock()
    fn()
    s[r] = sanity.clock() - t0
  end
  table.sort(s)
  return s[1], s[(reps + 1) // 2], out
end

local lo_i, med_i, inf = timed(function() return metric.infidelity(m, x, y, g, {n_perturb = 100, sigma = 0.1}) end)
local lo_s, med_s, sens = timed(function() return metric.sensitivity_max(m, x, y, "gradient", {n = 20, radius = 0.02}) end)
print(string.format("sanity %s, threads %d, %d images", sanity.version, sanity.threads, n))
print(string.format("%-34s %8s %8s %10s  %s", "metric", "min s", "median s", "samples/s", "mean value"))
print(string.format("%-34s %8.3f %8.3f %10.1f  %.5g", "infidelity (gaussian 0.1, 100)", lo_i, med_i, n / lo_i, inf:mean()))
print(string.format("%-34s %8.3f %8.3f %10.1f  %.5g", "max-sensitivity (gradient, 20)", lo_s, med_s, n / lo_s, sens:mean()))
print(string.format("%-34s %8.3f %8.3f %10.1f", "both", lo_i + lo_s, med_i + med_s, n / (lo_i + lo_s)))
