-- sanity.random_logit — the random logit test (Adebayo et al. 2018; Xplique's
-- RandomLogitMetric): explain each sample for its true class and for a
-- random other class, drawn uniformly from the other K-1 classes with the
-- keyed RNG (stream "random_logit", per sample), and compare. Low similarity
-- means the explanation depends on the class being explained.
-- Writes /<group>/scores [method, measure, sample], /<group>/off_class
-- [sample], maps for n_maps samples. Defaults: SSIM (as Xplique) and
-- Spearman on |maps|.
local P = require "sanity.protocol"
local mprt = require "sanity.mprt"
local M = {}

M.defaults = {
  methods = {"gradient"}, method_opts = {}, similarities = {"ssim", "spearman_abs"},
  abs = false, normalize = "none", reduce = "none", output = "logit", batch_size = 256,
  fixed_noise = false, seed = false, results = false, group = "random_logit", n_maps = 8,
  label = "model", quiet = false, data_range = false, hog = false, k = false, protocol = "random_logit",
}

function M.run(opts)
  local o = mprt.options(opts or {}, M.defaults, "random_logit.run")
  local model, x, f, g = o.model, o.x, o.results, o.group
  local y = P.targets(model, x, o.y)
  local n, n_maps = x:size(1), math.min(o.n_maps, x:size(1))
  local k = model:forward(x:narrow(1, 1)):size(2)
  if k < 2 then error("random_logit.run: the model has one output class; a random other class needs two", 2) end
  -- off-class: r uniform in [0, K-2], shifted past the true class
  local r = rng.integers(n, 0, k - 2, {seed = o.seed, stream = "random_logit"})
  local off = r + (r - y + 0.5):sign():clamp(0, 1)
  local scores, maps_true, maps_off = P.paired_units(o, f, g, n_maps, {"true_maps", "off_maps"}, function(method)
    return mprt.explain(o, method, model, x, y, P.explain_seed(o, 0)),
           mprt.explain(o, method, model, x, off, P.explain_seed(o, 1))
  end)
  local res = {methods = o.methods, measures = o.similarities, scores = scores,
               off_class = off, target = y, maps_true = maps_true, maps_off = maps_off}
  res.mean, res.std = res.scores:mean(3), res.scores:std(3)
  if f then
    local sample = {}
    for i = 1, n do sample[i] = i - 1 end
    f:write(g .. "/scores", res.scores, {dims = {"method", "measure", "sample"},
      coords = {method = res.methods, measure = res.measures, sample = sample}})
    f:write(g .. "/target", y, {dims = {"sample"}})
    f:write(g .. "/off_class", off, {dims = {"sample"}})
    f:write(g .. "/maps/input", x:narrow(1, n_maps), {dims = {"example", "channel", "y", "x"}})
    f:write(g .. "/maps/true_class", res.maps_true, {dims = {"method", "example", "map_channel", "y", "x"},
      coords = {method = res.methods}})
    f:write(g .. "/maps/off_class", res.maps_off, {dims = {"method", "example", "map_channel", "y", "x"}})
    f:attrs(g, {protocol = "random_logit", model = o.label, seed = o.seed, n_samples = n, classes = k})
  end
  if not o.quiet then
    P.print_measures(string.format("Random logit: %s, %d samples, %d classes (mean ± std)", o.label, n, k),
      res.methods, res.measures, res.mean, res.std)
  end
  return res
end

return M
