-- sanity.mprt — the Model Parameter Randomisation Test (Adebayo et al.
-- 2018): explain with the trained model, randomize its layers step by step
-- (cascading top-down by default), explain again, compare.
--   local mprt = require "sanity.mprt"
--   local r = mprt.run{model = m, x = x, y = y, methods = {"gradient"}, results = f}
-- Options (defaults in M.defaults; Quantus' and Xplique's names are accepted:
-- layer_order = order, similarity_func = similarities, normalise = normalize):
--   methods, method_opts = {integrated_gradients = {steps = 32}}
--   similarities = {"spearman_abs", "spearman", "ssim", "hog", ...}
--   order "top_down"|"bottom_up"|"independent", stop_layer, reverse, types, skip
--   mode "reinit"|"noise"|"shuffle"|"zero"|"sign_flip", level, relative, bias, bn_stats
--   abs, normalize, reduce, output, batch_size: the explanations' post-processing
--   skip_layers: only the fully randomized step is explained (Quantus)
--   fixed_noise: reuse the reference explanation's random draws at every step
--   denoise = {nr_samples =, noise_magnitude =}: sMPRT (see sanity.smprt)
--   seed, results (a results file), group, n_maps, label, quiet
-- Writes /<group>/scores [method, step, measure, sample] where step 1 is
-- "original" (a second explanation of the trained model: 1 for deterministic
-- methods, the noise floor for stochastic ones), then one entry per
-- randomization step; maps for the first n_maps samples; summary mean/std;
-- p-values of a one-sided paired t-test "similarity at original > at the
-- last step". Returns the same arrays in a table.
local P = require "sanity.protocol"
local M = {}

M.defaults = {
  methods = {"gradient"}, method_opts = {},
  similarities = {"spearman_abs", "spearman", "ssim"},
  order = "top_down", stop_layer = 1.0, reverse = false, types = false, skip = false,
  mode = "reinit", level = 1.0, relative = false, bias = true, bn_stats = false,
  abs = false, normalize = "none", reduce = "none", output = "logit", batch_size = 256,
  skip_layers = false, fixed_noise = false, denoise = false,
  seed = false, results = false, group = "mprt", n_maps = 8, label = "model",
  quiet = false, data_range = false, hog = false, k = false, protocol = "mprt",
}
local aliases = {layer_order = "order", similarity_func = "similarities", normalise = "normalize"}

-- Normalizes the user's option table: aliases, lists from cfg strings, and
-- validation of every name before any work starts.
function M.options(o, defaults, fname)
  local extra = {model = true, x = true, y = true}
  for a in pairs(aliases) do extra[a] = true end
  local merged = P.check_options(o, defaults, extra, fname)
  for a, canonical in pairs(aliases) do
    if o[a] ~= nil then merged[canonical] = o[a] end
  end
  merged.methods = P.list(merged.methods)
  merged.similarities = P.list(merged.similarities)
  if merged.normalize == true then merged.normalize = "max_abs" end -- Quantus' normalise=True
  if merged.normalize == false then merged.normalize = "none" end
  for k, v in pairs(merged) do if v == false and defaults[k] == false then merged[k] = nil end end
  merged.seed = merged.seed or sanity.seed
  if not merged.model then error(fname .. ": option 'model' (a sanity.Model) is required", 3) end
  if not tensor.is_tensor(merged.x) then error(fname .. ": option 'x' (a tensor [N, ...]) is required", 3) end
  P.check_names(merged.methods, attr.list(), "attribution method", 3)
  P.check_names(merged.similarities, P.measure_names(), "similarity", 3)
  if #merged.methods == 0 then error(fname .. ": 'methods' is empty", 3) end
  if #merged.similarities == 0 then error(fname .. ": 'similarities' is empty", 3) end
  return merged
end

-- The explanation of `method` under `model`; with o.denoise, the sMPRT
-- average over noisy copies of x (the last copy noise-free, as Quantus).
function M.explain(o, method, model, x, y, seed)
  local opts = P.explain_opts(o, method, seed)
  if not o.denoise then return attr.explain(method, model, x, y, opts) end
  local n, mag = o.denoise.nr_samples or 50, o.denoise.noise_magnitude or 0.1
  local post = {abs = opts.abs, normalize = opts.normalize}
  opts.abs, opts.normalize = false, "none" -- post-process the average, not each draw
  local flat = x:reshape(x:size(1), -1)
  local range = P.per_sample(flat:max(2) - flat:min(2), x) * mag
  local sum
  for d = 1, n do
    local xd = x
    if d < n then xd = x + tensor.randn(x:shape(), {seed = seed, stream = rng.stream("smprt", d, 0)}) * range end
    local e = attr.explain(method, model, xd, y, opts)
    sum = sum and sum:add_(e) or e
  end
  local avg = sum / n
  if post.abs then avg = avg:abs() end
  if post.normalize == "rms" then
    local rms = (avg * avg):reshape(x:size(1), -1):mean(2):sqrt()
    avg = avg / P.per_sample(rms:clamp(1e-30), x)
  elseif post.normalize == "max_abs" then
    avg = avg / P.per_sample(avg:abs():reshape(x:size(1), -1):max(2):clamp(1e-30), x)
  elseif post.normalize ~= "none" then
    error("denoised explanations support normalize = none, rms or max_abs", 3)
  end
  return avg
end

function M.run(opts)
  local o = M.options(opts or {}, M.defaults, (opts and opts.protocol or "mprt") .. ".run")
  local model, x = o.model, o.x
  local y = P.targets(model, x, o.y)
  local f = o.results
  local steps = randomize.order(model, {order = o.order, stop_layer = o.stop_layer, reverse = o.reverse,
                                        types = o.types, skip = o.skip})
  if o.skip_layers then steps = {steps[#steps]} end
  local ropts = {mode = o.mode, level = o.level, relative = o.relative, bias = o.bias,
                 bn_stats = o.bn_stats, seed = o.seed}
  local n, n_maps = x:size(1), math.min(o.n_maps, x:size(1))
  local step_names = {"original"}
  for _, s in ipairs(steps) do step_names[#step_names + 1] = s.layer end
  local g = o.group
  local progress = P.progress(#o.methods * (#steps + 2), g)

  local scores, maps_orig, maps_rand = {}, {}, {}
  local randomized = {} -- step index -> randomized clone, made when first needed
  for mi, method in ipairs(o.methods) do
    local ref = P.unit(f, g .. "." .. method .. ".reference", function()
      return {map = M.explain(o, method, model, x, y, P.explain_seed(o, 0))}
    end).map
    progress:advance()
    maps_orig[mi] = ref:narrow(1, n_maps)
    local per_step, per_step_maps = {}, {}
    for si = 0, #steps do
      local key = string.format("%s.%s.step%02d.%s", g, method, si, step_names[si + 1])
      local u = P.unit(f, key, function()
        local m = model
        if si > 0 then
          randomized[si] = randomized[si] or randomize.clone(model, steps[si], ropts)
          m = randomized[si]
        end
        local e = M.explain(o, method, m, x, y, P.explain_seed(o, si + 1))
        return {scores = P.similarities(o.similarities, ref, e, o), maps = e:narrow(1, n_maps):clone()}
      end)
      per_step[si + 1], per_step_maps[si + 1] = u.scores, u.maps
      progress:advance()
    end
    scores[mi] = tensor.stack(per_step)      -- [step, measure, sample]
    maps_rand[mi] = tensor.stack(per_step_maps)
  end
  progress:done()

  local r = {methods = o.methods, steps = step_names, measures = o.similarities,
             scores = tensor.stack(scores),                 -- [method, step, measure, sample]
             maps_original = tensor.stack(maps_orig),       -- [method, example, C, H, W]
             maps_randomized = tensor.stack(maps_rand),     -- [method, step, example, C, H, W]
             input = x:narrow(1, n_maps):clone()}
  r.mean, r.std = r.scores:mean(4), r.scores:std(4)
  r.pvalue = M.pvalues(r.scores)
  if f then M.write(f, o, r, n) end
  if not o.quiet then M.print(o, r, n) end
  return r
end

-- One-sided paired t-test per method and measure: is the similarity at
-- "original" greater than after the last randomization step?
function M.pvalues(scores)
  local nm, ns, nq = scores:size(1), scores:size(2), scores:size(3)
  local p = tensor.zeros(nm, nq)
  for mi = 1, nm do
    for q = 1, nq do
      local first, last = scores[mi][1][q], scores[mi][ns][q]
      if first:numel() >= 2 then p[mi][q] = metric.ttest_paired(first, last, {alternative = "greater"}).p
      else p[mi][q] = 0 / 0 end
    end
  end
  return p
end

function M.write(f, o, r, n)
  local g = o.group
  local sample = {}
  for i = 1, n do sample[i] = i - 1 end
  f:write(g .. "/scores", r.scores, {dims = {"method", "step", "measure", "sample"},
    coords = {method = r.methods, step = r.steps, measure = r.measures, sample = sample}})
  f:write(g .. "/summary_mean", r.mean, {dims = {"method", "step", "measure"}})
  f:write(g .. "/summary_std", r.std, {dims = {"method", "step", "measure"}})
  f:write(g .. "/pvalue", r.pvalue, {dims = {"method", "measure"}})
  f:write(g .. "/maps/input", r.input, {dims = {"example", "channel", "y", "x"}})
  f:write(g .. "/maps/original", r.maps_original, {dims = {"method", "example", "map_channel", "y", "x"},
    coords = {method = r.methods}})
  f:write(g .. "/maps/randomized", r.maps_randomized,
    {dims = {"method", "step", "example", "map_channel", "y", "x"}, coords = {method = r.methods, step = r.steps}})
  f:attrs(g, {protocol = o.protocol, order = o.order, mode = o.mode, model = o.label, seed = o.seed,
              stop_layer = tostring(o.stop_layer), n_samples = n, skip_layers = o.skip_layers and true or false,
              abs = o.abs and true or false, normalize = o.normalize, fixed_noise = o.fixed_noise and true or false,
              nr_samples = o.denoise and (o.denoise.nr_samples or 50) or 0,
              noise_magnitude = o.denoise and (o.denoise.noise_magnitude or 0.1) or 0})
end

function M.print(o, r, n)
  for q, measure in ipairs(r.measures) do
    P.print_table(string.format("%s: %s, %s %s randomization, %d samples — %s (mean ± std), p: original > last",
      o.protocol:upper(), o.label, o.order, o.mode, n, measure), r.methods, r.steps, r.mean, r.std, q, r.pvalue)
  end
end

return M
