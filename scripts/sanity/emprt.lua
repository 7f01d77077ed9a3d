-- sanity.emprt — Efficient MPRT (Hedström et al. 2023): instead of
-- comparing explanations pairwise, measure how much more complex they get
-- when the model is fully randomized. Complexity = discrete entropy of the
-- map's histogram (`bins` equal-width bins over the map's own range, 100 by
-- default as Quantus' discrete_entropy without a bin rule).
--   ratio[i] = H(e_randomized) / H(e_original)   (1 when H(e_original) = 0:
--              a constant original map has no complexity to compare)
--   rise[i]  = ratio[i] - 1                       (Quantus' eMPRT score)
--   model_ratio[i] = entropy(softmax f_rand(x_i)) / entropy(softmax f(x_i))
-- A method passes when its explanations grow more complex with the model
-- (high rise). Defaults follow Quantus: bottom-up order, full randomization
-- (stop_layer = 1.0), raw maps (abs = false, normalize = "none").
-- all_steps = true also records the complexity after every cascade step.
local P = require "sanity.protocol"
local mprt = require "sanity.mprt"
local M = {}

M.defaults = {
  methods = {"gradient"}, method_opts = {},
  order = "bottom_up", stop_layer = 1.0, reverse = false, types = false, skip = false,
  mode = "reinit", level = 1.0, relative = false, bias = true, bn_stats = false,
  abs = false, normalize = "none", reduce = "none", output = "logit", batch_size = 256,
  bins = 100, all_steps = false, fixed_noise = false,
  seed = false, results = false, group = "emprt", n_maps = 8, label = "model", quiet = false,
  similarities = {"spearman"}, protocol = "emprt",
}

-- b / a elementwise, 1 where a = 0 (entropies are >= 0, so sign(a) masks).
local function ratio(a, b)
  local mask = a:sign()
  return mask * b / a:clamp(1e-20) + (1 - mask)
end

local function output_entropy(model, x)
  local logits = model:forward(x)
  local z = logits - logits:max(2, true)
  local p = z:exp()
  p = p / p:sum(2, true)
  return -(p * p:clamp(1e-30):log()):sum(2)
end

function M.run(opts)
  local o = mprt.options(opts or {}, M.defaults, "emprt.run")
  if math.type(o.bins) ~= "integer" or o.bins < 1 then error("emprt.run: bins must be an integer >= 1", 2) end
  local model, x, f, g = o.model, o.x, o.results, o.group
  local y = P.targets(model, x, o.y)
  local steps = randomize.order(model, {order = o.order, stop_layer = o.stop_layer, reverse = o.reverse,
                                        types = o.types, skip = o.skip})
  if not o.all_steps then steps = {steps[#steps]} end
  local ropts = {mode = o.mode, level = o.level, relative = o.relative, bias = o.bias,
                 bn_stats = o.bn_stats, seed = o.seed}
  local n, n_maps = x:size(1), math.min(o.n_maps, x:size(1))
  local states = {"original"}
  for _, s in ipairs(steps) do states[#states + 1] = s.layer end
  local progress = P.progress(#o.methods * (#steps + 1), g)
  local models = {model}
  for si, s in ipairs(steps) do models[si + 1] = randomize.clone(model, s, ropts) end

  local complexity, maps = {}, {}
  for mi, method in ipairs(o.methods) do
    local per, per_maps = {}, {}
    for si = 0, #steps do
      local u = P.unit(f, string.format("%s.%s.state%02d.%s", g, method, si, states[si + 1]), function()
        local e = mprt.explain(o, method, models[si + 1], x, y, P.explain_seed(o, si))
        return {h = metric.histogram_entropy(e, {bins = o.bins}), maps = e:narrow(1, n_maps):clone()}
      end)
      per[si + 1], per_maps[si + 1] = u.h, u.maps
      progress:advance()
    end
    complexity[mi], maps[mi] = tensor.stack(per), tensor.stack(per_maps)
  end
  progress:done()

  local r = {methods = o.methods, states = states, complexity = tensor.stack(complexity), -- [method, state, sample]
             maps = tensor.stack(maps), input = x:narrow(1, n_maps):clone()}
  local last = #states
  local ratios, rises = {}, {}
  for mi = 1, #o.methods do
    ratios[mi] = ratio(r.complexity[mi][1], r.complexity[mi][last])
    rises[mi] = ratios[mi] - 1
  end
  r.ratio, r.rise = tensor.stack(ratios), tensor.stack(rises)
  r.model_entropy = tensor.stack{output_entropy(model, x), output_entropy(models[#models], x)}
  r.model_ratio = ratio(r.model_entropy[1], r.model_entropy[2])
  if f then M.write(f, o, r, n) end
  if not o.quiet then M.print(o, r, n) end
  return r
end

function M.write(f, o, r, n)
  local g, sample = o.group, {}
  for i = 1, n do sample[i] = i - 1 end
  f:write(g .. "/complexity", r.complexity, {dims = {"method", "state", "sample"},
    coords = {method = r.methods, state = r.states, sample = sample}})
  f:write(g .. "/ratio", r.ratio, {dims = {"method", "sample"}})
  f:write(g .. "/rise", r.rise, {dims = {"method", "sample"}})
  f:write(g .. "/model_entropy", r.model_entropy, {dims = {"model_state", "sample"},
    coords = {model_state = {"original", "randomized"}}})
  f:write(g .. "/model_ratio", r.model_ratio, {dims = {"sample"}})
  f:write(g .. "/maps/input", r.input, {dims = {"example", "channel", "y", "x"}})
  f:write(g .. "/maps/explanations", r.maps, {dims = {"method", "state", "example", "map_channel", "y", "x"},
    coords = {method = r.methods, state = r.states}})
  f:attrs(g, {protocol = "emprt", order = o.order, mode = o.mode, model = o.label, seed = o.seed,
              bins = o.bins, n_samples = n, stop_layer = tostring(o.stop_layer)})
end

function M.print(o, r, n)
  print(string.format("eMPRT: %s, %s %s randomization (%s), %d samples, %d bins",
    o.label, o.order, o.mode, r.states[#r.states], n, o.bins))
  print(string.format("%-24s %12s %12s %16s %16s", "method", "H original", "H random", "ratio", "rise"))
  local last = #r.states
  for mi, m in ipairs(r.methods) do
    local h0, h1 = r.complexity[mi][1], r.complexity[mi][last]
    print(string.format("%-24s %12.3f %12.3f %16s %16s", m, h0:mean(), h1:mean(),
      string.format("%.3f±%.3f", r.ratio[mi]:mean(), r.ratio[mi]:std()),
      string.format("%.3f±%.3f", r.rise[mi]:mean(), r.rise[mi]:std())))
  end
  print(string.format("%-24s %12.3f %12.3f %16s", "(model output entropy)", r.model_entropy[1]:mean(),
    r.model_entropy[2]:mean(), string.format("%.3f±%.3f", r.model_ratio:mean(), r.model_ratio:std())))
  print("")
end

return M
