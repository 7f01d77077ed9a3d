-- perturb_maps.lua — every perturbation method on a few images, written to
-- cfg.out; test_attr_perturbation.lua runs it with --threads 1 and 2 and
-- compares the files bitwise. With warn=true it runs a singular LIME
-- regression instead (the warning goes to stderr unless --quiet).
local models = require "sanity.models"
local m = models.lenet{seed = 4}
local x = data.fashion_mnist{n = 3}
if cfg.warn then
  local map = attr.lime(m, x, 1, {n_samples = 60, alpha = 0, kernel_width = 1e-3})
  print(map:abs():max() == map:abs():max() and "finite" or "nan")
  return
end
local f = results.open()
local seg = {kind = "slic", n_segments = 30, compactness = 0.3}
f:write("segments", attr.segments(x, seg))
f:write("occlusion", attr.occlusion(m, x, 1, {patch = 5, stride = 3}))
f:write("ablation", attr.feature_ablation(m, x, 1, {segments = seg}))
f:write("lime", attr.lime(m, x, 1, {n_samples = 300, segments = seg, baseline = "blur"}))
f:write("kernel_shap", attr.kernel_shap(m, x, 1, {n_samples = 300, segments = seg}))
f:write("rise", attr.rise(m, x, 1, {n_masks = 300}))
