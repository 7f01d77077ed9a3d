--@keys n methods nr_samples noise_magnitude
-- hedstrom2024.lua — MPRT vs Smooth MPRT vs Efficient MPRT (Hedström et al.
-- 2023/2024) on the bundled LeNet: how each test ranks the methods.
--   MPRT : mean Spearman(|e|, |e'|) after full top-down randomization (lower = passes better)
--   sMPRT: the same on explanations denoised over nr_samples noisy copies, bottom-up
--   eMPRT: relative rise of the explanation's histogram entropy after full
--          bottom-up randomization (higher = passes better)
--   bin/sanity run experiments/hedstrom2024.lua --out results/hedstrom2024.h5 [n=128] [nr_samples=20]
local root = sanity.scripts_dir .. "/.."
local f = results.open()
local m = model.load(root .. "/data/lenet_fmnist.h5")
local x, y = data.fashion_mnist{split = "test", n = cfg.n or 128}
local wanted = cfg.methods or {"gradient", "integrated_gradients", "smoothgrad", "guided_backprop",
                               "lrp_epsilon", "lrp_zplus"}
local P = require "sanity.protocol"
local methods = P.available(wanted, "hedstrom2024")
local common = {model = m, x = x, y = y, methods = methods, results = f, label = "lenet_fmnist", quiet = true,
                method_opts = {integrated_gradients = {steps = 32}, smoothgrad = {n = 50}}}
local function with(t) return P.merged(common, t) end
local r1 = require("sanity.mprt").run(with{similarities = {"spearman_abs"}, skip_layers = true, group = "mprt"})
local r2 = require("sanity.smprt").run(with{similarities = {"spearman_abs"}, skip_layers = true, group = "smprt",
  nr_samples = cfg.nr_samples or 20, noise_magnitude = cfg.noise_magnitude or 0.1})
local r3 = require("sanity.emprt").run(with{group = "emprt"})

-- score per method, and its rank (1 = passes best) under each test
local n = #methods
local scores = tensor.zeros(3, n)
for i = 1, n do
  scores[1][i] = r1.mean[i][2][1]          -- similarity at the last step: lower passes
  scores[2][i] = r2.mean[i][2][1]
  scores[3][i] = r3.rise[i]:mean()         -- complexity rise: higher passes
end
local function ranks(row, higher_better)
  local idx = {}
  for i = 1, n do idx[i] = i end
  table.sort(idx, function(a, b)
    if higher_better then return row[a] > row[b] end
    return row[a] < row[b]
  end)
  local r = {}
  for pos, i in ipairs(idx) do r[i] = pos end
  return r
end
local rk = {ranks(scores[1], false), ranks(scores[2], false), ranks(scores[3], true)}
print(string.format("MPRT vs sMPRT vs eMPRT on lenet_fmnist, %d samples (rank 1 = passes best)", x:size(1)))
print(string.format("%-22s %18s %18s %18s", "method", "MPRT sim (rank)", "sMPRT sim (rank)", "eMPRT rise (rank)"))
local rank_table = tensor.zeros(3, n)
for i, name in ipairs(methods) do
  print(string.format("%-22s %12.3f (%d) %12.3f (%d) %12.3f (%d)", name, scores[1][i], rk[1][i],
    scores[2][i], rk[2][i], scores[3][i], rk[3][i]))
  for t = 1, 3 do rank_table[t][i] = rk[t][i] end
end
f:write("rankings/score", scores, {dims = {"test", "method"}, coords = {test = {"mprt", "smprt", "emprt"}, method = methods}})
f:write("rankings/rank", rank_table, {dims = {"test", "method"}})
