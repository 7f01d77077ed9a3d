-- bench/perturb.lua — LIME and KernelSHAP (1000 samples each, a 4 x 4 grid:
-- 49 segments, baseline 0) on 64 Fashion-MNIST test images explaining their
-- labels with LeNet (models.lenet{seed = 0}; random weights until trained
-- ones exist), for 1 and 2 threads; occlusion and RISE too for reference.
-- Prints seconds (best of `reps`) and images per second. Compare with
-- scripts/bench/perturb_torch.py, which reads the same weights and images
-- from the file written with export=PATH:
--   bin/sanity run scripts/bench/perturb.lua [reps=3] [n=64] [samples=1000] [batch=256]
--                                            [threads_list=1,2] [export=/tmp/perturb_bench.h5]
--   /usr/bin/python3 scripts/bench/perturb_torch.py --weights /tmp/perturb_bench.h5
-- (the machine may be shared: numbers are as measured; re-run on an idle one)
local models = require "sanity.models"

local reps, n, samples, batch = cfg.reps or 3, cfg.n or 64, cfg.samples or 1000, cfg.batch or 256
local root = arg[0]:match("^(.*)/scripts/bench/") or "."

if not cfg.worker then
  local threads_list = cfg.threads_list or {1, 2}
  if type(threads_list) == "number" then threads_list = {threads_list} end
  if cfg.export then -- weights and images for perturb_torch.py
    local m = models.lenet{seed = 0}
    local x, y = data.fashion_mnist{n = n}
    local f = results.open(cfg.export)
    f:write("x", x)
    f:write("y", y)
    for _, p in ipairs(m:parameters()) do f:write(p.name, p.value) end
    f:close()
  end
  print(string.format("%-12s %7s %10s %10s %10s", "method", "threads", "min s", "median s", "images/s"))
  for _, th in ipairs(threads_list) do
    local p = io.popen(string.format("%s/bin/sanity run %s/scripts/bench/perturb.lua worker=true reps=%d n=%d samples=%d batch=%d --threads %d",
      root, root, reps, n, samples, batch, th))
    io.write(p:read("a"))
    p:close()
  end
  return
end

local m = models.lenet{seed = 0}
local x, y = data.fashion_mnist{n = n}
local th = sanity.threads
local methods = {
  {"lime", function() return attr.lime(m, x, y, {n_samples = samples, batch_size = batch}) end},
  {"kernel_shap", function() return attr.kernel_shap(m, x, y, {n_samples = samples, batch_size = batch}) end},
  {"occlusion", function() return attr.occlusion(m, x, y, {patch = 4, stride = 2, batch_size = batch}) end},
  {"rise", function() return attr.rise(m, x, y, {n_masks = samples, batch_size = batch}) end},
}
for _, mt in ipairs(methods) do
  local s = {}
  for r = 1, reps do
    local t0 = sanity.clock()
    mt[2]()
    s[r] = sanity.clock() - t0
    collectgarbage()
  end
  table.sort(s)
  print(string.format("%-12s %7d %10.3f %10.3f %10.1f", mt[1], th, s[1], s[(#s + 1) // 2], n / s[1]))
end
