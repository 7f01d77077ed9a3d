-- bench/mprt.lua — wall time of a full cascading MPRT on the bundled LeNet:
-- n test images (1000), gradient and integrated gradients (32 steps,
-- Gauss-Legendre as Captum), Spearman on |maps|, all 5 layers top-down.
-- Compare with scripts/bench/mprt_torch.py (same weights, same protocol).
--   bin/sanity run scripts/bench/mprt.lua --threads 1 [n=1000] [reps=3]
local mprt = require "sanity.mprt"
local root = sanity.scripts_dir .. "/.."
local m = model.load(root .. "/data/lenet_fmnist.h5")
local x, y = data.fashion_mnist{split = "test", n = cfg.n or 1000}
local best, parts = math.huge, nil
for _ = 1, cfg.reps or 3 do
  local t0 = sanity.clock()
  local r = mprt.run{model = m, x = x, y = y, methods = {"gradient", "integrated_gradients"},
                     method_opts = {integrated_gradients = {steps = 32}}, similarities = {"spearman_abs"},
                     quiet = true}
  local t = sanity.clock() - t0
  if t < best then best, parts = t, r end
end
print(string.format("sanity MPRT: %d images, %d threads, gradient + IG-32, %d steps: %.2f s (best of %d)",
  x:size(1), sanity.threads, #parts.steps - 1, best, cfg.reps or 3))
print(string.format("  last-step Spearman |.|: gradient %.3f, integrated_gradients %.3f",
  parts.mean[1][#parts.steps][1], parts.mean[2][#parts.steps][1]))
