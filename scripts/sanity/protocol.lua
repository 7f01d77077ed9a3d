-- sanity.protocol — what the randomization protocols share: option
-- checking, the similarity measures by name, explanations with per-method
-- options, checkpointed units, summaries and results writing.
-- Every numeric step is a batched C call; nothing here loops over samples.
local P = {}

-- Similarity measures: name -> function(a, b, opts) -> tensor [N].
-- "_abs" variants compare |a| with |b| (Adebayo et al. report Spearman with
-- and without absolute values).
P.measures = {
  spearman = function(a, b) return metric.spearman(a, b) end,
  spearman_abs = function(a, b) return metric.spearman(a, b, {abs = true}) end,
  pearson = function(a, b) return metric.pearson(a, b) end,
  pearson_abs = function(a, b) return metric.pearson(a, b, {abs = true}) end,
  cosine = function(a, b) return metric.cosine(a, b) end,
  mse = function(a, b) return metric.mse(a, b) end,
  ssim = function(a, b, o) return metric.ssim(a, b, {data_range = o.data_range}) end,
  ssim_abs = function(a, b, o) return metric.ssim(a, b, {abs = true, data_range = o.data_range}) end,
  hog = function(a, b, o) return metric.hog(a, b, o.hog) end,
  topk = function(a, b, o) return metric.topk_intersection(a, b, {k = o.k or 100}) end,
}

local function sorted_keys(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = k end
  table.sort(ks)
  return ks
end

function P.measure_names() return sorted_keys(P.measures) end

-- Raises (at the protocol caller's level) unless every entry of `list` is
-- in `valid` (a set or an array).
function P.check_names(list, valid, what, level)
  local set = {}
  if #valid > 0 then for _, v in ipairs(valid) do set[v] = true end else set = valid end
  for _, name in ipairs(list) do
    if not set[name] then
      error(string.format("unknown %s '%s' (valid: %s)", what, tostring(name),
        table.concat(#valid > 0 and valid or sorted_keys(valid), ", ")), (level or 2) + 1)
    end
  end
end

-- Checks the keys of an option table against the defaults' keys (typos are
-- errors, with the valid keys listed).
function P.check_options(o, defaults, extra, fname)
  for k in pairs(o) do
    if defaults[k] == nil and not (extra and extra[k]) then
      local valid = sorted_keys(defaults)
      for e in pairs(extra or {}) do valid[#valid + 1] = e end
      table.sort(valid)
      error(string.format("%s: unknown option '%s' (valid: %s)", fname, tostring(k), table.concat(valid, ", ")), 3)
    end
  end
  local merged = {}
  for k, v in pairs(defaults) do merged[k] = v end
  for k, v in pairs(o) do merged[k] = v end
  return merged
end

-- A list option may be given as one string or a comma-separated cfg list.
function P.list(v)
  if v == nil then return nil end
  if type(v) == "string" then
    local out = {}
    for part in v:gmatch("[^,]+") do out[#out + 1] = part end
    return out
  end
  return v
end

-- The explanation options for `method`: the common post-processing, the
-- method's own options (o.method_opts[method]) and the seed.
function P.explain_opts(o, method, seed)
  local opts = {abs = o.abs, normalize = o.normalize, reduce = o.reduce,
                batch_size = o.batch_size, output = o.output, seed = seed}
  for k, v in pairs((o.method_opts or {})[method] or {}) do opts[k] = v end
  return opts
end

-- A seed for explanation number `k` (0 = the reference): fresh noise for
-- every explanation, as in Quantus, unless o.fixed_noise.
function P.explain_seed(o, k)
  if o.fixed_noise or k == 0 then return o.seed end
  return rng.stream("explain", o.seed, k)
end

-- Runs fn() as a checkpointed unit of work when the results file keeps a
-- unit store (f:unit), else directly. fn returns a table of tensors.
function P.unit(f, key, fn)
  key = key:gsub("[^%w%._%-]", "_")
  if f and f.unit then return f:unit(key, fn) end
  return fn()
end

-- For each method of o.methods, two explanations e1, e2 = pair(method) of the
-- same samples, compared with every measure of o.similarities; one resumable
-- unit per method (key group.method, fields names[1] and names[2] for the
-- first n_maps maps of each). Returns scores [method, measure, sample] and
-- the kept maps of e1 and of e2, each [method, n_maps, ...].
function P.paired_units(o, f, g, n_maps, names, pair)
  local scores, maps1, maps2 = {}, {}, {}
  local progress = P.progress(#o.methods, g)
  for mi, method in ipairs(o.methods) do
    local u = P.unit(f, g .. "." .. method, function()
      local e1, e2 = pair(method)
      return {scores = P.similarities(o.similarities, e1, e2, o),
              [names[1]] = e1:narrow(1, n_maps):clone(), [names[2]] = e2:narrow(1, n_maps):clone()}
    end)
    scores[mi], maps1[mi], maps2[mi] = u.scores, u[names[1]], u[names[2]]
    progress:advance()
  end
  progress:done()
  return tensor.stack(scores), tensor.stack(maps1), tensor.stack(maps2)
end

-- Similarities of a and b for each measure: tensor [Q, N].
function P.similarities(measures, a, b, o)
  local rows = {}
  for i, name in ipairs(measures) do rows[i] = P.measures[name](a, b, o) end
  return tensor.stack(rows)
end

-- Progress on stderr: sanity.progress when the host has it.
function P.progress(total, label)
  if sanity.progress then return sanity.progress{total = total, label = label} end
  local done, t0, shown = 0, sanity.clock(), 0
  return {
    advance = function(_, k)
      done = done + (k or 1)
      if done == total or done - shown >= total / 10 then
        shown = done
        sanity.log(string.format("%s: %d/%d units (%.1f s)", label, done, total, sanity.clock() - t0))
      end
    end,
    done = function() end,
  }
end

local function fmt_cell(m, s)
  return string.format("%.3f±%.3f", m, s)
end

-- Prints a table: one row per method, one column per step, mean ± std of
-- `measure`, and a last column of p-values.
function P.print_table(title, methods, steps, mean, std, q, pvalues)
  local w = 14
  for _, m in ipairs(methods) do w = math.max(w, #m + 2) end
  local line = {string.format("%-" .. w .. "s", "method")}
  for _, s in ipairs(steps) do line[#line + 1] = string.format("%13s", s:sub(1, 13)) end
  if pvalues then line[#line + 1] = string.format("%10s", "p") end
  print(title)
  print(table.concat(line, " "))
  for mi, m in ipairs(methods) do
    line = {string.format("%-" .. w .. "s", m)}
    for si = 1, #steps do
      line[#line + 1] = string.format("%13s", fmt_cell(mean[mi][si][q], std[mi][si][q]))
    end
    if pvalues then
      local p = pvalues[mi][q]
      line[#line + 1] = p < 1e-16 and string.format("%10s", "<1e-16") or string.format("%10.2g", p)
    end
    print(table.concat(line, " "))
  end
  print("")
end

-- v [N] reshaped to [N, 1, ...] so it broadcasts over the samples of x.
function P.per_sample(v, x)
  local shape = {x:size(1)}
  for i = 2, x:dim() do shape[i] = 1 end
  return v:reshape(shape)
end

-- Prints a table of mean ± std per method (rows) and measure (columns);
-- mean and std are [method, measure] tensors.
function P.print_measures(title, methods, measures, mean, std)
  print(title)
  local line = {string.format("%-24s", "method")}
  for _, q in ipairs(measures) do line[#line + 1] = string.format("%16s", q) end
  print(table.concat(line, " "))
  for mi, m in ipairs(methods) do
    line = {string.format("%-24s", m)}
    for q = 1, #measures do
      line[#line + 1] = string.format("%16s", string.format("%.3f±%.3f", mean[mi][q], std[mi][q]))
    end
    print(table.concat(line, " "))
  end
  print("")
end

-- A new table with the entries of a, then b's (b wins).
function P.merged(a, b)
  local o = {}
  for k, v in pairs(a) do o[k] = v end
  for k, v in pairs(b or {}) do o[k] = v end
  return o
end

-- The names of `wanted` that attr.list() has, logging the others as skipped.
function P.available(wanted, who)
  local known, out = {}, {}
  for _, name in ipairs(attr.list()) do known[name] = true end
  for _, name in ipairs(wanted) do
    if known[name] then out[#out + 1] = name else sanity.log(who .. ": skipping " .. name .. " (not available)") end
  end
  return out
end

-- The explained targets: labels given, or the trained model's predictions
-- (resolved once, so randomized models explain the same classes).
function P.targets(model, x, y)
  if y == nil or y == "predicted" then return model:forward(x):argmax(2) end
  if type(y) == "number" then return tensor.full({x:size(1)}, y) end
  return y
end

return P
