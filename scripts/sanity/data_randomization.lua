-- sanity.data_randomization — the data randomization test (Adebayo et al.
-- 2018): compare the explanations of a model with those of the same
-- architecture trained on randomly permuted labels. A method whose maps stay
-- similar cannot be explaining what the model learned from the labels.
--   data_randomization.run{model = m, permuted_model = mp (or a path), x = x, y = y, ...}
-- Both models explain the same targets (the labels given, or the trained
-- model's predictions). Writes /<group>/scores [method, measure, sample],
-- each model's accuracy on (x, y) when labels are given, and maps.
local P = require "sanity.protocol"
local mprt = require "sanity.mprt"
local M = {}

M.defaults = {
  methods = {"gradient"}, method_opts = {}, similarities = {"spearman_abs", "spearman", "ssim", "hog"},
  permuted_model = false,
  abs = false, normalize = "none", reduce = "none", output = "logit", batch_size = 256,
  fixed_noise = false, seed = false, results = false, group = "data_randomization", n_maps = 8,
  label = "model", quiet = false, data_range = false, hog = false, k = false, protocol = "data_randomization",
}

local function accuracy(model, x, y)
  local pred = model:forward(x):argmax(2)
  return 1 - (pred - y):abs():sign():mean()
end

function M.run(opts)
  local o = mprt.options(opts or {}, M.defaults, "data_randomization.run")
  local permuted = o.permuted_model
  if type(permuted) == "string" then permuted = model.load(permuted) end
  if not permuted then error("data_randomization.run: option 'permuted_model' (a model or a path) is required", 2) end
  local m, x, f, g = o.model, o.x, o.results, o.group
  local y = P.targets(m, x, o.y)
  local n, n_maps = x:size(1), math.min(o.n_maps, x:size(1))
  local scores, maps_a, maps_b = P.paired_units(o, f, g, n_maps, {"a", "b"}, function(method)
    return mprt.explain(o, method, m, x, y, P.explain_seed(o, 0)),
           mprt.explain(o, method, permuted, x, y, P.explain_seed(o, 1))
  end)
  local r = {methods = o.methods, measures = o.similarities, scores = scores,
             maps_model = maps_a, maps_permuted = maps_b}
  r.mean, r.std = r.scores:mean(3), r.scores:std(3)
  if tensor.is_tensor(o.y) then
    r.accuracy, r.accuracy_permuted = accuracy(m, x, o.y), accuracy(permuted, x, o.y)
  end
  if f then
    local sample = {}
    for i = 1, n do sample[i] = i - 1 end
    f:write(g .. "/scores", r.scores, {dims = {"method", "measure", "sample"},
      coords = {method = r.methods, measure = r.measures, sample = sample}})
    f:write(g .. "/maps/input", x:narrow(1, n_maps), {dims = {"example", "channel", "y", "x"}})
    f:write(g .. "/maps/model", r.maps_model, {dims = {"method", "example", "map_channel", "y", "x"},
      coords = {method = r.methods}})
    f:write(g .. "/maps/permuted", r.maps_permuted, {dims = {"method", "example", "map_channel", "y", "x"}})
    f:attrs(g, {protocol = "data_randomization", model = o.label, seed = o.seed, n_samples = n,
                accuracy = r.accuracy or -1, accuracy_permuted = r.accuracy_permuted or -1})
  end
  if not o.quiet then
    P.print_measures(string.format("Data randomization: %s vs the same architecture trained on permuted labels, "
      .. "%d samples%s (mean ± std)", o.label, n,
      r.accuracy and string.format(" (accuracy %.3f vs %.3f)", r.accuracy, r.accuracy_permuted) or ""),
      r.methods, r.measures, r.mean, r.std)
  end
  return r
end

return M
