--@keys n methods
-- binder2023.lua — two shortcomings of top-down randomization checks
-- (Binder et al. 2023), on the bundled LeNet:
--   1. maps that carry no information about the model still score "well":
--      a random map (fresh noise per explanation) gets ~0 similarity, the
--      best possible MPRT score, while its faithfulness (correlation between
--      attribution and output drop) is ~0; the model-blind Sobel and input
--      maps fail with similarity 1;
--   2. the verdict depends on the order: similarity after half of the layers
--      are randomized top-down vs bottom-up.
--   bin/sanity run experiments/binder2023.lua --out results/binder2023.h5 [n=128]
local root = sanity.scripts_dir .. "/.."
local mprt = require "sanity.mprt"
local f = results.open()
local m = model.load(root .. "/data/lenet_fmnist.h5")
local x, y = data.fashion_mnist{split = "test", n = cfg.n or 128}
local wanted = cfg.methods or {"random", "sobel", "input", "gradient", "input_x_gradient", "guided_backprop",
                               "integrated_gradients", "lrp_epsilon", "lrp_zplus"}
local P = require "sanity.protocol"
local methods = P.available(wanted, "binder2023")
local common = {model = m, x = x, y = y, methods = methods, results = f, label = "lenet_fmnist", quiet = true,
                similarities = {"spearman_abs"}, stop_layer = 0.6,
                method_opts = {integrated_gradients = {steps = 32}}}
local function with(t) return P.merged(common, t) end
local td = mprt.run(with{order = "top_down", group = "top_down"})
local bu = mprt.run(with{order = "bottom_up", group = "bottom_up"})

-- faithfulness of each method's maps on the trained model
local faith = tensor.zeros(#methods)
local faith_all = {}
for i, name in ipairs(methods) do
  local e = attr.explain(name, m, x, y, {seed = sanity.seed})
  faith_all[i] = metric.faithfulness_correlation(m, x, y, e, {n = 100, seed = sanity.seed})
  faith[i] = faith_all[i]:mean()
end
f:write("faithfulness_correlation", tensor.stack(faith_all), {dims = {"method", "sample"},
  coords = {method = methods}})

local function span(r) return r.steps[2] .. ".." .. r.steps[#r.steps] end
print(string.format("Binder et al. 2023 on lenet_fmnist, %d samples: Spearman(|e|,|e'|) after randomizing %d of 5 "
  .. "layers top-down (%s) or bottom-up (%s) (lower = 'passes'), and faithfulness correlation on the trained model",
  x:size(1), #td.steps - 1, span(td), span(bu)))
print(string.format("%-22s %16s %16s %16s", "method", "top-down", "bottom-up", "faithfulness"))
for i, name in ipairs(methods) do
  local a, b = td.mean[i][#td.steps][1], bu.mean[i][#bu.steps][1]
  print(string.format("%-22s %16.3f %16.3f %16.3f", name, a, b, faith[i]))
end
