-- attr_maps.lua — computes a map of every randomised or batched attribution
-- method on a fixed batch and writes them to --out, so a test can compare
-- runs with different --threads bit for bit. cfg.batch_size: rows per pass.
local models = require "sanity.models"
local bs = cfg.batch_size or 256
local x = data.fashion_mnist{n = 5}
local lenet, resnet = models.lenet{seed = 4}, models.resnet8{seed = 4}
local f = results.open(cfg.out)
local o = {batch_size = bs, seed = 9}
local function with(t)
  local r = {}
  for k, v in pairs(o) do r[k] = v end
  for k, v in pairs(t or {}) do r[k] = v end
  return r
end
for name, m in pairs{lenet = lenet, resnet8 = resnet} do
  f:write(name .. "/gradient", attr.gradient(m, x, "predicted", with()))
  local ig, gap = attr.integrated_gradients(m, x, "predicted", with{steps = 7, baseline = "uniform"})
  f:write(name .. "/ig", ig)
  f:write(name .. "/ig_gap", gap)
  f:write(name .. "/smoothgrad", attr.smoothgrad(m, x, 2, with{n = 6}))
  f:write(name .. "/vargrad", attr.vargrad(m, x, 2, with{n = 6}))
  f:write(name .. "/gradient_shap", attr.gradient_shap(m, x, 2, with{n = 6, stdev = 0.1, baselines = x}))
  f:write(name .. "/guided_backprop", attr.guided_backprop(m, x, 2, with()))
  f:write(name .. "/gradcam", attr.gradcam(m, x, 2, with()))
  f:write(name .. "/smooth_ig", attr.smooth("integrated_gradients", m, x, 2,
    with{steps = 3, baseline = "uniform", smooth = {n = 3, kind = "smoothgrad_sq"}}))
end
f:close()
