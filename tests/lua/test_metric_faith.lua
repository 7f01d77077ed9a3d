-- test_metric_faith.lua — faithfulness, robustness and complexity metrics:
-- closed forms on linear models, the NumPy/PyTorch references of
-- tests/fixtures/faith.h5 (scripts/fixtures/make_faith_fixtures.py, which
-- re-derives every random perturbation from the documented streams),
-- determinism, and bad inputs. Thread-count invariance: tests/unit/test_faith.c.
local T = require "sanity.test"

local FIX = (os.getenv("SANITY_ROOT") or ".") .. "/tests/fixtures/faith.h5"
local function fx(name) return data.load_h5(FIX, name) end

-- |a - b| <= tol * max(1, |b|) elementwise
local function rel(a, b, tol, msg)
  local d = ((a - b):abs() / (b:abs():maximum(1))):max()
  if not (d <= tol) then error(string.format("%s: max relative diff %.3g > %g", msg or "", d, tol), 2) end
end

local function finite(t) return t:sum() == t:sum() and t:abs():max() < math.huge end

-- the fixture's model: conv1 (2->3, 3x3, pad 1), relu, maxpool 2, flatten, fc (27->4)
local function fixture_model()
  local m = nn.sequential({
    {"conv1", nn.conv2d(2, 3, 3, {padding = 1})}, {"relu1", nn.relu()}, {"pool1", nn.maxpool2d(2)},
    {"flatten", nn.flatten()}, {"fc", nn.linear(27, 4)},
  }, {seed = 1, input_shape = {2, 6, 7}})
  for _, p in ipairs{"conv1.weight", "conv1.bias", "fc.weight", "fc.bias"} do
    local layer, name = p:match("([^.]+)%.(.+)")
    m:layer(layer)[name]:copy_(fx("model/" .. p))
  end
  return m
end

local m = fixture_model()
local x, maps, y = fx("x"), fx("maps"), fx("targets")
local SEED = 7

T.case("fixture model reproduces PyTorch's logits", function()
  T.near(m:forward(x), fx("logits"), 1e-5)
end)

T.case("perturbations follow the documented streams (Python re-derivation)", function()
  local x2 = x:narrow(1, 2)
  local cases = {
    gaussian = {{sigma = 0.1}, 0},
    noisy_baseline = {{sigma = 0.2, baseline = 0.1}, 0},
    square_removal = {{square = {1, 4}}, 0},
    masking = {{fraction = 0.3, baseline = 0.5}, 0},
    blur = {{sigma = 1.0, square = 3}, 1e-6},
  }
  for kind, c in pairs(cases) do
    local o = c[1]
    o.perturbation, o.n_perturb, o.seed = kind, 4, SEED
    local xp, I = metric.perturbations(x2, o)
    T.eq(table.concat(xp:shape(), ","), "2,4,2,6,7", kind)
    T.near(xp, fx("pert/" .. kind .. "_xp"), c[2], kind .. " x'")
    T.near(I, fx("pert/" .. kind .. "_I"), c[2], kind .. " I")
  end
end)

T.case("infidelity matches the reference for every perturbation", function()
  local cases = {
    gaussian = {perturbation = "gaussian", sigma = 0.1},
    gaussian_norm = {perturbation = "gaussian", sigma = 0.1, normalize = true},
    noisy = {perturbation = "noisy_baseline", sigma = 0.2, baseline = 0.1},
    square = {perturbation = "square_removal", square = {1, 4}},
    square_norm_ind = {perturbation = "square_removal", square = {1, 4}, multiply_by_inputs = true, normalize = true},
    masking = {perturbation = "masking", fraction = 0.3, baseline = 0.5},
    masking_ind = {perturbation = "masking", fraction = 0.3, multiply_by_inputs = true},
    blur = {perturbation = "blur", sigma = 1.0, square = 3},
    blur_norm = {perturbation = "blur", sigma = 1.0, square = {3, 3}, normalize = true},
  }
  for name, o in pairs(cases) do
    o.n_perturb, o.seed = 16, SEED
    rel(metric.infidelity(m, x, y, maps, o), fx("infid/" .. name), 2e-5, name)
  end
end)

T.case("sensitivity matches the reference (gradient, re-explained per draw)", function()
  local base = {radius = 0.05, n = 5, seed = SEED}
  local function opts(extra)
    local o = {}
    for k, v in pairs(base) do o[k] = v end
    for k, v in pairs(extra) do o[k] = v end
    return o
  end
  local mx, av = metric.sensitivity_max(m, x, y, "gradient", opts{})
  rel(mx, fx("sens/max_l2"), 1e-4, "max l2"); rel(av, fx("sens/avg_l2"), 1e-4, "avg l2")
  local av2, mx2 = metric.sensitivity_avg(m, x, y, "gradient", opts{norm = "fro"})
  T.ok(av2:equal(av) and mx2:equal(mx), "fro = l2; avg returns avg first")
  mx, av = metric.sensitivity_max(m, x, y, "gradient", opts{norm = "linf"})
  rel(mx, fx("sens/max_linf"), 1e-4, "max linf"); rel(av, fx("sens/avg_linf"), 1e-4, "avg linf")
  mx, av = metric.sensitivity_max(m, x, y, "gradient", opts{normalize = false})
  rel(mx, fx("sens/max_l2_raw"), 1e-4, "max raw"); rel(av, fx("sens/avg_l2_raw"), 1e-4, "avg raw")
end)

T.case("faithfulness correlation, pixel flipping, completeness match the reference", function()
  rel(metric.faithfulness_correlation(m, x, y, maps, {subset_size = 10, n = 20, seed = SEED}), fx("corr/default"), 1e-4,
    "correlation")
  local c, a = metric.pixel_flipping(m, x, y, maps, {order = "morf", steps = 42})
  T.eq(table.concat(c:shape(), ","), "8,43")
  rel(c, fx("flip/morf_curve"), 1e-5, "morf curve"); rel(a, fx("flip/morf_auc"), 1e-5, "morf auc")
  c, a = metric.pixel_flipping(m, x, y, maps, {order = "lerf", patch = 2, steps = 5, baseline = 0.5})
  rel(c, fx("flip/lerf_curve"), 1e-5, "lerf curve"); rel(a, fx("flip/lerf_auc"), 1e-5, "lerf auc")
  local ab, sg = metric.completeness(m, x, y, maps)
  rel(ab, fx("compl/abs0"), 1e-5, "completeness abs"); rel(sg, fx("compl/signed0"), 1e-5, "completeness signed")
  ab, sg = metric.completeness(m, x, y, maps, {baseline = fx("compl/baseline")})
  rel(ab, fx("compl/abs_b"), 1e-5, "abs, tensor baseline"); rel(sg, fx("compl/signed_b"), 1e-5, "signed, tensor baseline")
  -- a baseline for every sample equals the shared one
  local b = fx("compl/baseline"):reshape(1, 2, 6, 7)
  local per = tensor.cat({b, b, b, b, b, b, b, b}, 1)
  T.ok(metric.completeness(m, x, y, maps, {baseline = per}):equal(ab))
end)

T.case("sufficiency matches the reference", function()
  local sm = fx("suff/maps")
  T.near(metric.sufficiency(m, x, sm), fx("suff/euclid_06"), 1e-6)
  T.near(metric.sufficiency(m, x, sm, {threshold = 0.3, distance = "cosine"}), fx("suff/cosine_03"), 1e-6)
  -- threshold 0: only the sample itself (maps are distinct) -> 1
  T.near(metric.sufficiency(m, x, sm, {threshold = 0}), tensor.ones(8), 0)
  -- threshold 1: every sample -> share of the batch with the same prediction
  local pred = m:forward(x):argmax(2)
  local s1 = metric.sufficiency(m, x, sm, {threshold = 1})
  for i = 1, 8 do
    local same = 0
    for j = 1, 8 do if pred[j] == pred[i] then same = same + 1 end end
    T.near(s1[i], same / 8, 1e-7)
  end
end)

T.case("sparseness and complexity match the reference and the closed forms", function()
  local cm = fx("cx/maps")
  T.near(metric.sparseness(cm), fx("cx/gini"), 1e-6)
  T.near(metric.complexity(cm), fx("cx/entropy"), 1e-5)
  local n = 50
  local onehot, const = tensor.zeros(1, n), tensor.full({1, n}, -3)
  onehot[1][17] = 4
  T.near(metric.sparseness(onehot)[1], (n - 1) / n, 1e-7)
  T.near(metric.sparseness(const)[1], 0, 1e-7)
  T.near(metric.complexity(const)[1], math.log(n), 1e-6)
  T.near(metric.complexity(onehot)[1], 0, 0)
  -- all-zero map: the limit of a constant map
  T.near(metric.sparseness(tensor.zeros(2, n)), tensor.zeros(2), 0)
  T.near(metric.complexity(tensor.zeros(2, n)), tensor.full({2}, math.log(n)), 1e-6)
end)

-- f(x) = w^T x + b on [N, 1, 5, 6]
local lin = nn.sequential({{"flatten", nn.flatten()}, {"fc", nn.linear(30, 3)}}, {seed = 5, input_shape = {1, 5, 6}})
local xl = tensor.rand({6, 1, 5, 6}, {seed = 2, stream = "xl"})
local g = attr.gradient(lin, xl, 2)
local gx = attr.input_x_gradient(lin, xl, 2)

T.case("linear model: square removal infidelity is 0, completeness exact", function()
  -- Phi = w * x with I = the removed square (Captum's multiply_by_inputs)
  local r = metric.infidelity(lin, xl, 2, gx, {perturbation = "square_removal", multiply_by_inputs = true})
  T.ok(r:max() < 1e-10, "infidelity of w*x: " .. r:max())
  -- Phi = w with I = x - x' (the paper's definition), any perturbation
  for _, k in ipairs{"square_removal", "gaussian", "noisy_baseline", "masking", "blur"} do
    local v = metric.infidelity(lin, xl, 2, g, {perturbation = k, n_perturb = 20})
    T.ok(v:max() < 1e-10, k .. ": " .. v:max())
  end
  -- the optimal scale recovers a rescaled map; without it the error is large
  T.ok(metric.infidelity(lin, xl, 2, g * 3, {normalize = true}):max() < 1e-10)
  T.ok(metric.infidelity(lin, xl, 2, g * 3):min() > 1e-3)
  local ab, sg = metric.completeness(lin, xl, 2, gx)
  T.ok(ab:max() < 1e-5, "completeness gap " .. ab:max())
  T.near(ab, sg:abs(), 0)
  -- a map that is off by 1 in total is off by 1
  local off = gx:clone()
  for i = 1, 6 do off[i][1][1][1] = off[i][1][1][1] + 1 end
  T.near(select(2, metric.completeness(lin, xl, 2, off)), tensor.ones(6), 1e-5)
end)

T.case("linear model: faithfulness correlation of gradient x input is 1", function()
  local c = metric.faithfulness_correlation(lin, xl, 2, gx, {subset_size = 7, n = 30})
  T.near(c, tensor.ones(6), 1e-5)
  -- a map unrelated to the model correlates less
  local noise = tensor.randn({6, 1, 5, 6}, {seed = 3, stream = "noise"})
  T.ok(metric.faithfulness_correlation(lin, xl, 2, noise, {subset_size = 7, n = 30}):mean() < 0.9)
end)

T.case("linear model: pixel flipping removes in order, gradient sensitivity is 0", function()
  local c, auc = metric.pixel_flipping(lin, xl, 2, gx, {steps = 30})
  -- MoRF of w*x on a linear model: every step removes the largest remaining term, so the curve falls fastest
  local w = lin:layer("fc").weight[3]
  for i = 1, 6 do
    local terms = (xl[i]:reshape(30) * w):totable()
    table.sort(terms, function(a, b) return a > b end)
    local f = c[i][1]
    for k = 1, 30 do
      f = f - terms[k]
      T.near(c[i][k + 1], f, 1e-5)
    end
  end
  local _, lerf = metric.pixel_flipping(lin, xl, 2, gx, {steps = 30, order = "lerf"})
  T.ok((lerf - auc):min() > 0, "LeRF area above MoRF area")
  local mx, av = metric.sensitivity_max(lin, xl, 2, "gradient")
  T.near(mx, tensor.zeros(6), 0); T.near(av, tensor.zeros(6), 0)
  local s = metric.sensitivity_max(lin, xl, 2, "input_x_gradient", {radius = 0.1, norm = "linf"})
  T.ok(s:min() > 0, "input x gradient moves with x")
  -- a Lua function as the method: same draws, same result
  local calls = 0
  local fn = function(mm, xx, t, o)
    calls = calls + 1
    T.eq(o.batch_size, 4)
    return attr.gradient(mm, xx, t, o) * xx
  end
  local s2 = metric.sensitivity_max(lin, xl, 2, fn, {radius = 0.1, norm = "linf", n = 7, method_opts = {batch_size = 4}})
  T.eq(calls, 8, "x and 7 draws")
  T.ok(s2:equal(metric.sensitivity_max(lin, xl, 2, "input_x_gradient", {radius = 0.1, norm = "linf", n = 7})))
  T.errors(function() metric.sensitivity_max(lin, xl, 2, function() return 3 end) end,
    "the method function did not return a map tensor")
  T.errors(function() metric.sensitivity_max(lin, xl, 2, function() error("boom") end) end,
    "re-explaining with the method function", "boom")
end)

T.case("non-image inputs: features are elements", function()
  local flat = nn.sequential({nn.linear(10, 2)}, {seed = 1, input_shape = {10}})
  local xf = tensor.randn({4, 10}, {seed = 1, stream = "flat"})
  local gf = attr.input_x_gradient(flat, xf, 1)
  T.near(metric.faithfulness_correlation(flat, xf, 1, gf, {subset_size = 3, n = 20}), tensor.ones(4), 1e-5)
  T.ok(metric.infidelity(flat, xf, 1, gf, {perturbation = "masking", multiply_by_inputs = true}):max() < 1e-10)
  local c = metric.pixel_flipping(flat, xf, 1, gf)
  T.eq(table.concat(c:shape(), ","), "4,11")
  T.errors(function() metric.infidelity(flat, xf, 1, gf, {perturbation = "square_removal"}) end,
    "needs images [N, C, H, W] or [N, H, W], got [4, 10]")
  T.errors(function() metric.pixel_flipping(flat, xf, 1, gf, {patch = 2}) end, "patches need images")
end)

T.case("same seed: bit-identical, for any batch size; other seeds differ", function()
  local o = {perturbation = "gaussian", n_perturb = 13, seed = 3}
  local a = metric.infidelity(m, x, y, maps, o)
  o.batch_size = 5
  T.ok(metric.infidelity(m, x, y, maps, o):equal(a))
  o.seed = 4
  T.ok(not metric.infidelity(m, x, y, maps, o):equal(a))
  local c1 = metric.faithfulness_correlation(m, x, y, maps, {n = 10, seed = 2, batch_size = 3})
  T.ok(c1:equal(metric.faithfulness_correlation(m, x, y, maps, {n = 10, seed = 2})))
  local s1 = metric.sensitivity_max(m, x, y, "gradient", {seed = 9, n = 4})
  T.ok(s1:equal(metric.sensitivity_max(m, x, y, "gradient", {seed = 9, n = 4, method_opts = {batch_size = 3}})))
  local p1 = metric.pixel_flipping(m, x, y, maps, {batch_size = 7})
  T.ok(p1:equal(metric.pixel_flipping(m, x, y, maps)))
  T.ok(metric.sufficiency(m, x, maps, {batch_size = 3}):equal(metric.sufficiency(m, x, maps)))
end)

T.case("targets as for attr: predicted, index, array; output option", function()
  local pred = m:forward(x):argmax(2)
  local a = metric.infidelity(m, x, "predicted", maps, {n_perturb = 8})
  T.ok(a:equal(metric.infidelity(m, x, pred, maps, {n_perturb = 8})))
  T.ok(metric.completeness(m, x, 1, maps):equal(metric.completeness(m, x, {1, 1, 1, 1, 1, 1, 1, 1}, maps)))
  local _, s = metric.completeness(m, x, y, maps, {output = "softmax"})
  local _, l = metric.completeness(m, x, y, maps)
  T.ok(not s:equal(l))
  m:train()
  T.errors(function() metric.infidelity(m, x, 9, maps) end, "target 9 (sample 1) out of range for 4 classes")
  T.ok(m:training(), "model mode restored after an error")
  metric.infidelity(m, x, y, maps, {n_perturb = 2})
  T.ok(m:training(), "model mode restored")
  m:eval()
end)

T.case("all-zero maps: defined results, no NaN", function()
  local z = tensor.zeros(8, 2, 6, 7)
  local f0 = m:forward(x)
  for _, k in ipairs{"gaussian", "square_removal", "masking", "blur", "noisy_baseline"} do
    for _, norm in ipairs{false, true} do
      local r = metric.infidelity(m, x, y, z, {perturbation = k, normalize = norm, n_perturb = 5})
      T.ok(finite(r), k)
    end
  end
  -- without I^T Phi, infidelity is the mean squared output change, with or without beta
  T.ok(metric.infidelity(m, x, y, z, {normalize = true}):equal(metric.infidelity(m, x, y, z)))
  T.near(metric.faithfulness_correlation(m, x, y, z), tensor.zeros(8), 0)
  local c, a = metric.pixel_flipping(m, x, y, z, {steps = 6})
  T.ok(finite(c) and finite(a))
  T.near(metric.sufficiency(m, x, z), metric.sufficiency(m, x, z, {threshold = 1}), 0)
  local ab = metric.completeness(m, x, y, z)
  T.ok(finite(ab))
  for i = 1, 8 do T.near(ab[i], math.abs(f0[i][y[i] + 1] - m:forward(tensor.zeros(1, 2, 6, 7))[1][y[i] + 1]), 1e-5) end
  -- sensitivity of an all-zero explanation: 0/0 = 0 (the zero map stays zero)
  local zm = nn.sequential({nn.flatten(), nn.linear(84, 2, {bias = true})}, {seed = 1, input_shape = {2, 6, 7}})
  zm:layer(2).weight:fill_(0)
  T.near(metric.sensitivity_max(zm, x, 0, "gradient"), tensor.zeros(8), 0)
end)

T.case("forward-heavy metrics: --threads 1 and 2 give identical files", function()
  T.same_across_threads((os.getenv("SANITY_ROOT") or ".") .. "/tests/lua/helpers/faith_maps.lua --quiet",
    {"infidelity", "infidelity_square", "pixel_flipping", "faithfulness_correlation", "sufficiency", "sensitivity_max"})
end)

T.case("bad input", function()
  local bad = tensor.zeros(8, 1, 6, 7)
  T.errors(function() metric.infidelity(m, x, y, bad) end, "maps must have the input's shape", "[8, 1, 6, 7]",
    "[8, 2, 6, 7]")
  T.errors(function() metric.faithfulness_correlation(m, x, y, tensor.zeros(8, 2, 7, 6)) end, "[8, 2, 7, 6]",
    "[8, 2, 6, 7]")
  T.errors(function() metric.pixel_flipping(m, x, y, bad) end, "maps must have the input's shape")
  T.errors(function() metric.completeness(m, x, y, bad) end, "maps must have the input's shape")
  T.errors(function() metric.sufficiency(m, x, bad) end, "maps must have the input's shape")
  T.errors(function() metric.sensitivity_max(m, x, y, "gradient", {radius = 0}) end, "option 'radius'", "positive")
  T.errors(function() metric.sensitivity_avg(m, x, y, "gradient", {radius = -1}) end, "option 'radius'")
  T.errors(function() metric.infidelity(m, x, y, maps, {perturbation = "square_removal", square = 7}) end,
    "side 7 is larger than the image (6 x 7)")
  T.errors(function() metric.infidelity(m, x, y, maps, {perturbation = "blur", square = {2, 9}}) end, "larger than the image")
  T.errors(function() metric.infidelity(m, x, y, maps, {perturbation = "square_removal", square = {3, 2}}) end,
    "1 <= min <= max")
  T.errors(function() metric.infidelity(m, x, y, maps, {n_perturb = 0}) end, "option 'n_perturb'", "1..")
  T.errors(function() metric.sensitivity_max(m, x, y, "gradient", {n = 0}) end, "option 'n'")
  T.errors(function() metric.faithfulness_correlation(m, x, y, maps, {n = 1}) end, "option 'n'", "2..")
  T.errors(function() metric.faithfulness_correlation(m, x, y, maps, {subset_size = 0}) end, "option 'subset_size'")
  T.errors(function() metric.faithfulness_correlation(m, x, y, maps, {subset_size = 43}) end, "more than the 42 features")
  T.errors(function() metric.pixel_flipping(m, x, y, maps, {steps = 0}) end, "option 'steps'")
  T.errors(function() metric.pixel_flipping(m, x, y, maps, {steps = 43}) end, "43 steps for 42 patches")
  T.errors(function() metric.pixel_flipping(m, x, y, maps, {patch = 8}) end, "larger than the image")
  T.errors(function() metric.pixel_flipping(m, x, y, maps, {order = "random"}) end, "option 'order'", "morf, lerf")
  T.errors(function() metric.sufficiency(m, x, maps, {threshold = 1.5}) end, "option 'threshold'")
  T.errors(function() metric.infidelity(m, x, y, maps, {perturbation = "gaussian", square = 3}) end,
    "option 'square'", "does not apply")
  T.errors(function() metric.infidelity(m, x, y, maps, {perturbation = "gaussian", baseline = 1}) end, "option 'baseline'")
  T.errors(function() metric.infidelity(m, x, y, maps, {perturbation = "masking", fraction = 0}) end, "option 'fraction'")
  T.errors(function() metric.infidelity(m, x, y, maps, {perturbation = "blur", multiply_by_inputs = true}) end,
    "option 'multiply_by_inputs'")
  T.errors(function() metric.infidelity(m, x, y, maps, {perturbation = "noise"}) end, "gaussian, noisy_baseline")
  T.errors(function() metric.infidelity(m, x, y, maps, {sigma = 0}) end, "option 'sigma'")
  T.errors(function() metric.infidelity(m, x, y, maps, {nperturb = 3}) end, "unknown option 'nperturb'")
  T.errors(function() metric.completeness(m, x, y, maps, {baseline = tensor.zeros(3, 6, 7)}) end,
    "option 'baseline'", "[3, 6, 7]")
  local nan = maps:clone()
  nan[3][1][1][1] = 0 / 0
  T.errors(function() metric.infidelity(m, x, y, nan) end, "sample 3 has NaN or Inf")
  T.errors(function() metric.sparseness(nan) end, "sample 3 has NaN or Inf")
  T.errors(function() metric.sensitivity_max(m, x, y, "nope") end, "unknown attribution method 'nope'", "gradient")
  T.errors(function() metric.sensitivity_max(m, x, y, "gradient", {output = "softmax"}) end, "unknown option 'output'")
  T.errors(function() metric.sensitivity_max(m, x, y, "gradient", {method_opts = {stepz = 2}}) end,
    "re-explaining with 'gradient'", "unknown option 'stepz'")
  T.errors(function() metric.infidelity(nil, x, y, maps) end, "sanity.Model expected")
  T.errors(function() metric.infidelity(m, tensor.zeros(0, 2, 6, 7), y, maps) end, "N >= 1")
  T.errors(function() metric.sparseness(tensor.zeros(3)) end, "a batch [N, ...]")
  local freed = maps:clone()
  freed:free()
  T.errors(function() metric.complexity(freed) end, "freed")
end)

T.done()
