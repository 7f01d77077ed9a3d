-- Prints order-sensitive checksums of LRP and DeepLift maps (for the
-- thread-count test in test_attr_lrp.lua, which runs this with --threads 1 and 2).
local models = require "sanity.models"
local m = models.resnet8{seed = 3}
local x = data.fashion_mnist{n = 5}
local maps = {attr.lrp(m, x, "predicted", {composite = "epsilon_gamma_box"}),
  attr.lrp(m, x, "predicted", {composite = "alpha2_beta1"}), attr.deeplift(m, x, 2),
  attr.lrp(models.lenet{seed = 3}, x, 1, {composite = "epsilon_plus_flat", rules = {maxpool2d = "proportional"}})}
for _, a in ipairs(maps) do
  local v, s = a:reshape(a:numel()):totable(), 0
  for i, e in ipairs(v) do s = s + e * (i % 97 + 1) end
  print(string.format("%a", s))
end
