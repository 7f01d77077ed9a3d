-- test_attr_methods.lua — the gradient-based attribution methods against
-- PyTorch references (tests/fixtures/attr_<model>.h5, written by
-- scripts/fixtures/make_attr_fixtures.py), their defining properties,
-- determinism across threads and batch sizes, and their bad-input errors.
-- (LRP and DeepLift live in their own test file.)
local T = require "sanity.test"
local models = require "sanity.models"
local root = os.getenv("SANITY_ROOT") or "."
local set_pattern = dofile(root .. "/tests/lua/helpers/pattern_weights.lua")
local RULES = {"riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid", "gausslegendre"}

local function fixture(name) return root .. "/tests/fixtures/" .. name end

-- relative L2 error per sample <= tol (an all-zero reference, e.g. a
-- Grad-CAM map the relu cleared, must be matched exactly)
local function close(got, want, tol, what)
  T.eq(table.concat(got:shape(), ","), table.concat(want:shape(), ","), what .. " shape")
  for i = 1, want:size(1) do
    local den = want[i]:square():sum()
    local err = den > 0 and ((got[i] - want[i]):square():sum() / den) ^ 0.5 or got[i]:abs():max()
    if not (err <= tol) then error(string.format("%s sample %d: relative L2 error %.3g > %g", what, i, err, tol), 2) end
  end
end

for _, name in ipairs{"lenet", "mlp", "resnet8"} do
  T.case(name .. ": methods match the PyTorch references", function()
    local f = fixture("attr_" .. name .. ".h5")
    local m = set_pattern(models[name]{seed = 0})
    local x, y, b = data.load_h5(f, "x"), data.load_h5(f, "target"), data.load_h5(f, "ig_baseline")
    local ref = function(k) return data.load_h5(f, k) end
    close(attr.gradient(m, x, y), ref("gradient"), 1e-4, "gradient")
    close(attr.input_x_gradient(m, x, y), ref("input_x_gradient"), 1e-4, "input_x_gradient")
    for _, rule in ipairs(RULES) do
      local map, gap = attr.integrated_gradients(m, x, y, {steps = 16, rule = rule, baseline = b})
      close(map, ref("ig_" .. rule), 1e-4, "IG " .. rule)
      local want = ref("ig_" .. rule .. "_gap")
      for i = 1, 2 do T.near(gap[i], want[i], 1e-4 * map[i]:abs():sum() + 1e-7, "gap " .. rule) end
    end
    local map, gap = attr.integrated_gradients(m, x, y, {steps = 16}) -- zeros, gausslegendre
    close(map, ref("ig_zeros"), 1e-4, "IG zeros")
    T.near(gap[2], ref("ig_zeros_gap")[2], 1e-4 * map[2]:abs():sum() + 1e-7, "gap zeros")
    close(attr.guided_backprop(m, x, y), ref("guided_backprop"), 1e-4, "guided_backprop")
    close(attr.deconvnet(m, x, y), ref("deconvnet"), 1e-4, "deconvnet")
    local layers = results.read_attrs(f).cam_layers
    for layer in (layers or ""):gmatch("[^,]+") do
      close(attr.gradcam(m, x, y, {layer = layer}), ref("gradcam_" .. layer), 1e-4, "gradcam " .. layer)
      close(attr.gradcam(m, x, y, {layer = layer, relu = false, upsample = false}), ref("gradcam_" .. layer .. "_raw"),
        1e-4, "gradcam raw " .. layer)
      close(attr.guided_gradcam(m, x, y, {layer = layer}), ref("guided_gradcam_" .. layer), 1e-4, "guided_gradcam")
    end
    if name ~= "mlp" then T.ok(layers and #layers > 0, "fixture has CAM layers") end
  end)
end

-- a small smooth model, a linear one and a batch
local tanh_mlp = nn.sequential({nn.flatten(), nn.linear(784, 32), nn.tanh(), nn.linear(32, 10)},
  {seed = 3, input_shape = {1, 28, 28}})
local lin = nn.sequential({{"flatten", nn.flatten()}, {"fc", nn.linear(12, 3)}}, {seed = 3, input_shape = {1, 3, 4}})
local xl = tensor.randn({4, 1, 3, 4}, {seed = 1, stream = "xl"})
local W = lin:layer("fc").weight
local x = data.fashion_mnist{n = 6}
local lenet = models.lenet{seed = 11}

T.case("IG of a linear model with a zero baseline is x * w, gap 0 (every rule)", function()
  for _, rule in ipairs(RULES) do
    local map, gap = attr.integrated_gradients(lin, xl, 1, {steps = 5, rule = rule})
    local wsum = rule == "riemann_trapezoid" and 1 - 1 / 5 or 1 -- Captum's trapezoid weights sum to 1 - 1/n
    for i = 1, 4 do T.near(map[i]:reshape(12), xl[i]:reshape(12) * W[2] * wsum, 1e-6, rule) end
    if rule ~= "riemann_trapezoid" then T.near(gap:abs():max(), 0, 1e-5, rule .. " gap") end
  end
end)

T.case("IG completeness gap -> 0 as steps grow", function()
  -- smooth model: Gauss-Legendre converges to rounding at once, Captum's
  -- trapezoid like 1/n (its weights miss 1/n), the midpoint rule like 1/n^2
  local function gaps(m, rule, list)
    local out = {}
    for i, s in ipairs(list) do
      local _, g = attr.integrated_gradients(m, x, 0, {steps = s, rule = rule})
      out[i] = g:abs():max()
    end
    return out
  end
  local gl = gaps(tanh_mlp, "gausslegendre", {2, 4, 8, 32})
  T.ok(gl[1] > 1e-5 and gl[3] < 1e-6 and gl[4] < 1e-6, string.format("gausslegendre %g %g %g", gl[1], gl[3], gl[4]))
  local tr = gaps(tanh_mlp, "riemann_trapezoid", {16, 32, 64, 128})
  for i = 2, 4 do T.near(tr[i] / tr[i - 1], 0.5, 0.05, "trapezoid gap halves with doubled steps") end
  local mid = gaps(tanh_mlp, "riemann_middle", {8, 16, 32})
  for i = 2, 3 do T.near(mid[i] / mid[i - 1], 0.25, 0.03, "midpoint gap quarters") end
  -- relu network (piecewise linear along the path): slower but steady
  for _, rule in ipairs{"riemann_trapezoid", "gausslegendre"} do
    local g = gaps(lenet, rule, {4, 16, 64, 256})
    T.ok(g[2] < g[1] and g[3] < g[2] and g[4] < g[3] and g[4] < g[1] / 20,
      string.format("%s on LeNet: %g %g %g %g", rule, g[1], g[2], g[3], g[4]))
  end
end)

T.case("IG baselines: tensor shapes, number, uniform, blur", function()
  local b1 = tensor.rand({1, 1, 28, 28}, {seed = 2, stream = "b"})
  local a = attr.integrated_gradients(lenet, x, 1, {steps = 4, baseline = b1})
  T.ok(a:equal(attr.integrated_gradients(lenet, x, 1, {steps = 4, baseline = b1:reshape(1, 28, 28)})), "sample shape")
  local bn = tensor.cat({b1, b1, b1, b1, b1, b1}, 1)
  T.ok(a:equal(attr.integrated_gradients(lenet, x, 1, {steps = 4, baseline = bn})), "[N, ...] baseline")
  local c = attr.integrated_gradients(lenet, x, 1, {steps = 4, baseline = 0.5})
  T.ok(c:equal(attr.integrated_gradients(lenet, x, 1, {steps = 4, baseline = tensor.full({1, 1, 28, 28}, 0.5)})))
  T.ok(attr.integrated_gradients(lenet, x, 1, {steps = 4, baseline = 0}):equal(attr.integrated_gradients(lenet, x, 1,
    {steps = 4})), "0 = zeros")
  -- uniform baseline: keyed by the seed; IG of a linear model shows it: map = (x - x') w
  local u1 = attr.integrated_gradients(lin, xl, 0, {steps = 2, baseline = "uniform", seed = 1})
  T.ok(u1:equal(attr.integrated_gradients(lin, xl, 0, {steps = 2, baseline = "uniform", seed = 1})), "same seed")
  T.ok(not u1:equal(attr.integrated_gradients(lin, xl, 0, {steps = 2, baseline = "uniform", seed = 2})), "seeds differ")
  for i = 1, 4 do
    local base = xl[i]:reshape(12) - u1[i]:reshape(12) / W[1]  -- x' recovered
    T.ok(base:min() >= xl[i]:min() - 1e-5 and base:max() <= xl[i]:max() + 1e-5, "uniform within the sample's range")
    T.ok(base:std() > 0.1 * (xl[i]:max() - xl[i]:min()), "uniform is spread out")
  end
  -- blur: a blurred image as baseline, sigma in pixels (values: unit tests vs scipy)
  local bl = attr.integrated_gradients(lenet, x, 1, {steps = 4, baseline = "blur", blur_sigma = 2})
  T.ok(not bl:equal(attr.integrated_gradients(lenet, x, 1, {steps = 4, baseline = "blur", blur_sigma = 3})))
  T.ok(attr.integrated_gradients(lenet, x, 1, {steps = 4, baseline = "blur", blur_sigma = 0}):abs():max() == 0,
    "sigma 0: the baseline is x, the map 0")
end)

-- The noisy inputs of SmoothGrad, one draw at a time (draw j for every sample).
local function noisy(xs, sigma, seed, j) return attr.noisy(xs, j, {sigma = sigma, seed = seed}) end

T.case("attr.noisy: x + sigma (max - min) N(0, 1) per sample, keyed by (sample, draw)", function()
  -- samples with range 1 (a 0 and a 1 pixel) and range 4: noise sd = sigma * range
  local n, d = 3, 20000
  local xs = tensor.zeros(n, d)
  xs[1][1], xs[2][1], xs[3][1] = 1, 4, 1
  local a = noisy(xs, 0.5, 3, 1) - xs
  for i, sd in ipairs{0.5, 2, 0.5} do
    local e = a[i] / sd
    T.near(e:mean(), 0, 4 / math.sqrt(d), "mean")
    T.near(e:std(), 1, 0.03, "sd")
    T.near((e:square():square()):mean(), 3, 0.15, "kurtosis of a normal")
    T.near((e:abs() - 1):sign():mean(), 2 * (1 - 0.6827) - 1, 0.02, "68% within one sd")
  end
  local c = function(u, v) return (u * v):mean() / (u:std() * v:std()) end
  T.near(c(a[1], a[3]), 0, 0.03, "samples independent")
  local b = noisy(xs, 0.5, 3, 2) - xs
  T.near(c(a[1], b[1]), 0, 0.03, "draws independent")
  T.ok(noisy(xs, 0.5, 3, 1):equal(noisy(xs, 0.5, 3, 1)), "keyed")
  T.ok(not noisy(xs, 0.5, 4, 1):equal(noisy(xs, 0.5, 3, 1)), "by the seed")
  T.ok(noisy(xs, 0, 3, 1):equal(xs), "sigma 0: x itself")
  T.errors(function() attr.noisy(xs, 0) end, "numbered from 1")
  T.errors(function() attr.noisy(xs, 1, {sigma = -1}) end, "option 'sigma'")
end)

T.case("SmoothGrad, SmoothGrad^2 and VarGrad = statistics of attr.gradient over the noisy inputs", function()
  local n, sigma, seed = 5, 0.2, 17
  local s1, s2 = tensor.zeros(x:shape()), tensor.zeros(x:shape())
  for j = 1, n do
    local g = attr.gradient(lenet, noisy(x, sigma, seed, j), 4)
    s1 = s1 + g
    s2 = s2 + g:square()
  end
  local mean, sq = s1 / n, s2 / n
  local opts = {n = n, sigma = sigma, seed = seed}
  local sg = attr.smoothgrad(lenet, x, 4, opts)
  T.near(sg, mean, 1e-6 * mean:abs():max(), "smoothgrad")
  T.near(attr.smoothgrad_sq(lenet, x, 4, opts), sq, 1e-6 * sq:max(), "smoothgrad_sq")
  local var = sq - mean:square()
  T.near(attr.vargrad(lenet, x, 4, opts), var, 1e-5 * var:max(), "vargrad")
  T.ok(not sg:equal(attr.smoothgrad(lenet, x, 4, {n = n, sigma = sigma, seed = seed + 1})), "keyed by the seed")
end)

T.case("SmoothGrad with sigma = 0 equals the gradient", function()
  local g = attr.gradient(lenet, x, 3)
  T.ok(attr.smoothgrad(lenet, x, 3, {n = 4, sigma = 0}):equal(g), "bitwise")
  T.ok(attr.smoothgrad_sq(lenet, x, 3, {n = 4, sigma = 0}):equal(g:square()))
  T.eq(attr.vargrad(lenet, x, 3, {n = 4, sigma = 0}):abs():max(), 0)
end)

T.case("attr.smooth: the noise tunnel over any method", function()
  local o = {seed = 5, smooth = {n = 4, sigma = 0.1}}
  -- smoothgrad sums conv1's output gradients and applies conv1's transpose once
  -- (attr/rows.h, the linear head): equal up to float rounding
  local sg = attr.smoothgrad(lenet, x, 2, {n = 4, sigma = 0.1, seed = 5})
  T.near(attr.smooth("gradient", lenet, x, 2, o), sg, 1e-6 * sg:abs():max(), "smooth(gradient) = smoothgrad")
  local tsg = attr.smoothgrad(tanh_mlp, x, 2, {n = 4, sigma = 0.1, seed = 5})
  T.near(attr.smooth("gradient", tanh_mlp, x, 2, o), tsg, 1e-6 * tsg:abs():max(), "through a linear head")
  T.ok(attr.smooth("gradient", lenet, x, 2, {seed = 5, smooth = {n = 4, sigma = 0.1, kind = "vargrad"}})
    :equal(attr.vargrad(lenet, x, 2, {n = 4, sigma = 0.1, seed = 5})), "vargrad")
  T.ok(attr.smooth(attr.gradient, lenet, x, 2, o):equal(attr.smooth("gradient", lenet, x, 2, o)), "function or name")
  -- method options pass through; post-processing applies once, to the result
  local ig = attr.smooth("integrated_gradients", lenet, x, 2, {steps = 4, smooth = {n = 2}})
  local nx = noisy(x, 0.15, 0, 1)
  local ig1 = attr.integrated_gradients(lenet, nx, 2, {steps = 4, seed = 0})
  local nx2 = noisy(x, 0.15, 0, 2)
  local ig2 = attr.integrated_gradients(lenet, nx2, 2, {steps = 4})
  T.near(ig, (ig1 + ig2) / 2, 1e-6 * ig:abs():max(), "mean of two IG maps on the noisy inputs")
  local n1 = attr.smooth("integrated_gradients", lenet, x, 2, {steps = 4, normalize = "max_abs", smooth = {n = 2}})
  T.near(n1, ig / ig:abs():max(2, true):max(3, true):max(4, true), 1e-6, "normalised once")
  -- targets are fixed on the clean input
  T.ok(attr.smooth("gradient", lenet, x, "predicted", o):equal(attr.smooth("gradient", lenet, x,
    lenet:forward(x):argmax(2), o)))
  -- CAM maps work too ([N, 1, H, W])
  T.eq(table.concat(attr.smooth("gradcam", lenet, x, 2, {smooth = {n = 2}}):shape(), ","), "6,1,28,28")
  -- a random method draws afresh per draw: seed_j = mix(seed, j)
  local r = attr.smooth("random", lenet, x, 0, {smooth = {n = 2, sigma = 0}})
  T.ok(not r:equal(attr.random(lenet, x, 0)), "per-draw seeds")
  T.ok(r:equal(attr.smooth("random", lenet, x, 0, {smooth = {n = 2, sigma = 0}})), "reproducible")
end)

T.case("GradientShap: expected gradients over a baseline set", function()
  -- one baseline, no noise: linear model -> (x - b) w exactly, any alpha
  local b = tensor.randn({1, 1, 3, 4}, {seed = 4, stream = "b"})
  local s = attr.gradient_shap(lin, xl, 2, {baselines = b, n = 3})
  for i = 1, 4 do T.near(s[i]:reshape(12), (xl[i] - b[1]):reshape(12) * W[3], 1e-6) end
  -- several baselines: the mean of (x - b_k) w over the drawn k, so it lies in their hull
  local bs = tensor.randn({3, 1, 3, 4}, {seed = 5, stream = "b"})
  local s3 = attr.gradient_shap(lin, xl, 2, {baselines = bs, n = 50, seed = 1})
  local lo, hi = math.huge, -math.huge
  for k = 1, 3 do
    local v = ((xl[1] - bs[k]):reshape(12) * W[3]):sum()
    lo, hi = math.min(lo, v), math.max(hi, v)
  end
  local got = s3[1]:sum()
  T.ok(got >= lo - 1e-5 and got <= hi + 1e-5, "mean over drawn baselines")
  T.ok(s3:equal(attr.gradient_shap(lin, xl, 2, {baselines = bs, n = 50, seed = 1})), "keyed")
  T.ok(not s3:equal(attr.gradient_shap(lin, xl, 2, {baselines = bs, n = 50, seed = 2})), "seeds differ")
  -- default baseline: zeros; noise changes the result
  T.eq(table.concat(attr.gradient_shap(lenet, x, 1):shape(), ","), "6,1,28,28")
  T.ok(not attr.gradient_shap(lenet, x, 1, {stdev = 0.1}):equal(attr.gradient_shap(lenet, x, 1)))
end)

T.case("guided backprop and deconvnet", function()
  -- no relu: the plain gradient (documented)
  T.ok(attr.guided_backprop(tanh_mlp, x, 1):equal(attr.gradient(tanh_mlp, x, 1)))
  T.ok(attr.deconvnet(tanh_mlp, x, 1):equal(attr.gradient(tanh_mlp, x, 1)))
  -- one hidden relu: guided = W1^T ([h > 0] [W2 row > 0] W2 row), by hand
  local m = nn.sequential({{"fc1", nn.linear(4, 5)}, {"relu", nn.relu()}, {"fc2", nn.linear(5, 2)}}, {seed = 8})
  local xs = tensor.randn({3, 4}, {seed = 3, stream = "xs"})
  local W1, W2 = m:layer("fc1").weight, m:layer("fc2").weight
  local h = m:forward(xs)
  h = m:activation("fc1")
  local gb, dc = attr.guided_backprop(m, xs, 1), attr.deconvnet(m, xs, 1)
  for i = 1, 3 do
    local g = tensor.zeros(5)
    local d = tensor.zeros(5)
    for k = 1, 5 do
      local w = W2[2][k]
      if h[i][k] > 0 and w > 0 then g[k] = w end
      if w > 0 then d[k] = w end
    end
    T.near(gb[i], g:reshape(1, 5):matmul(W1):reshape(4), 1e-6, "guided")
    T.near(dc[i], d:reshape(1, 5):matmul(W1):reshape(4), 1e-6, "deconvnet")
  end
end)

T.case("Grad-CAM: default layer, shapes, options", function()
  T.ok(attr.gradcam(lenet, x, 1):equal(attr.gradcam(lenet, x, 1, {layer = "conv2"})), "default: last conv2d")
  local r = models.resnet8{seed = 2}
  T.ok(attr.gradcam(r, x, 1):equal(attr.gradcam(r, x, 1, {layer = "stage3.shortcut.conv"})))
  T.eq(table.concat(attr.gradcam(r, x, 1, {upsample = false}):shape(), ","), "6,1,7,7")
  T.ok(attr.gradcam(lenet, x, 1):min() >= 0, "relu")
  local raw = attr.gradcam(lenet, x, 1, {relu = false, upsample = false})
  T.ok(raw:min() < 0, "without relu negative evidence shows")
  T.eq(table.concat(attr.guided_gradcam(lenet, x, 1):shape(), ","), "6,1,28,28")
  -- the layer's resolution equals the input's: upsampling is the identity
  T.ok(attr.gradcam(lenet, x, 1, {layer = "conv1"}):equal(attr.gradcam(lenet, x, 1, {layer = "conv1", upsample = false})))
end)

T.case("control maps: random, sobel, input, constant", function()
  local r1 = attr.random(lenet, x, 0, {seed = 1})
  T.ok(r1:equal(attr.random(lin, x, 5, {seed = 1})), "ignores model and target")
  T.ok(not r1:equal(attr.random(lenet, x, 0, {seed = 2})), "keyed by the seed")
  T.ok(r1:min() > 0 and r1:max() < 1 and math.abs(r1:mean() - 0.5) < 0.02)
  local f = fixture("attr_numeric.h5")
  local sx = data.load_h5(f, "sobel/x")
  T.near(attr.sobel(lenet, sx, 0), data.load_h5(f, "sobel/y"), 1e-5, "sobel vs scipy.ndimage")
  T.ok(attr.input(lenet, x, 0):equal(x))
  T.eq(attr.constant(lenet, x, 0):min(), 1); T.eq(attr.constant(lenet, x, 0):max(), 1)
  local s = attr.sobel(lenet, x, 0, {reduce = "sum", normalize = "max_abs"})
  T.eq(s:max(), 1)
end)

T.case("every method is listed and dispatched by name", function()
  local names = {}
  for _, n in ipairs(attr.list()) do names[n] = true end
  for _, n in ipairs{"integrated_gradients", "smoothgrad", "smoothgrad_sq", "vargrad", "gradient_shap",
    "guided_backprop", "deconvnet", "gradcam", "guided_gradcam", "random", "sobel", "input", "constant"} do
    T.ok(names[n], n .. " listed")
    T.eq(table.concat(attr.explain(n, lenet, x:narrow(1, 2), 1):shape(), ",", 2), "1,28,28", n)
  end
  T.ok(not names.smooth and not names.noisy, "the noise tunnel is not a method")
  local _, gap = attr.explain("integrated_gradients", lenet, x, 1, {steps = 2})
  T.eq(gap:size(1), 6, "explain passes the gap on")
end)

T.case("determinism: batch sizes", function()
  local function same(fn)
    local a, b, c = fn(256), fn(7), fn(1)
    return a:equal(b) and a:equal(c)
  end
  local r = models.resnet8{seed = 3}
  T.ok(same(function(bs) return attr.integrated_gradients(lenet, x, 1, {steps = 5, batch_size = bs}) end), "IG")
  T.ok(same(function(bs) return select(2, attr.integrated_gradients(r, x, 1, {steps = 3, batch_size = bs})) end), "gap")
  T.ok(same(function(bs) return attr.smoothgrad(r, x, 1, {n = 3, batch_size = bs}) end), "smoothgrad")
  T.ok(same(function(bs) return attr.gradient_shap(lenet, x, 1, {n = 3, stdev = 0.1, baselines = x, batch_size = bs}) end))
  T.ok(same(function(bs) return attr.guided_backprop(r, x, 1, {batch_size = bs}) end), "guided")
  T.ok(same(function(bs) return attr.gradcam(r, x, 1, {batch_size = bs}) end), "gradcam")
  T.ok(same(function(bs) return attr.smooth("deconvnet", r, x, 1, {batch_size = bs, smooth = {n = 2}}) end))
end)

-- With 2 threads, rowwise rows run on per-thread model copies: passes of 4
-- rows hold less than a sample's IG steps (7) or SmoothGrad draws (6), so
-- those go in rounds consumed on the calling thread; passes of 14 rows hold
-- whole samples, so each worker consumes its own chunks. Both must give
-- the bits of one thread.
T.case("determinism: --threads 1 and 2 give identical maps", function()
  for _, bs in ipairs{4, 14} do
    local out = T.thread_runs(string.format("%s/tests/lua/helpers/attr_maps.lua batch_size=%d --quiet", root, bs))
    local names = results.list(out[1])
    T.ok(#names >= 18, "maps written")
    for _, n in ipairs(names) do
      if n:match("^lenet/") or n:match("^resnet8/") then
        T.ok(results.read(out[1], n):equal(results.read(out[2], n)), n .. " bitwise, batch_size " .. bs)
      end
    end
  end
end)

T.case("bad input", function()
  local xs = x:narrow(1, 2)
  T.errors(function() attr.explain("smoothgrads", lenet, xs, 1) end, "unknown attribution method 'smoothgrads'",
    "smoothgrad, smoothgrad_sq")
  T.errors(function() attr.smooth("nope", lenet, xs, 1) end, "unknown attribution method 'nope'", "gradcam")
  T.errors(function() attr.smooth("smooth", lenet, xs, 1) end, "unknown attribution method 'smooth'")
  T.errors(function() attr.smooth("noisy", lenet, xs, 1) end, "unknown attribution method 'noisy'")
  T.errors(function() attr.explain("smooth", lenet, xs, 1) end, "unknown attribution method 'smooth'")
  T.errors(function() attr.explain("list", lenet, xs, 1) end, "unknown attribution method 'list'")
  T.errors(function() attr.smooth(42, lenet, xs, 1) end, "method name or function expected")
  T.errors(function() attr.smooth("gradient", lenet, xs, 1, {smooth = 3}) end, "option 'smooth'")
  T.errors(function() attr.smooth("gradient", lenet, xs, 1, {smooth = {n = 0}}) end, "smooth.n", "positive")
  T.errors(function() attr.smooth("gradient", lenet, xs, 1, {smooth = {sigma = -1}}) end, "smooth.sigma", "non-negative")
  T.errors(function() attr.smooth("gradient", lenet, xs, 1, {smooth = {kind = "mean"}}) end, "smoothgrad_sq, vargrad")
  T.errors(function() attr.smooth("gradient", lenet, xs, 1, {smooth = {m = 1}}) end, "unknown option 'm'")
  T.errors(function() attr.smooth("integrated_gradients", lenet, xs, 1, {stepz = 1}) end, "unknown option 'stepz'")
  T.errors(function() attr.gradcam(lenet, xs, 1, {layer = "conv9"}) end, "no layer 'conv9'", "conv2d layers: conv1, conv2")
  T.errors(function() attr.gradcam(lenet, xs, 1, {layer = "relu1"}) end, "layer 'relu1' is relu, not conv2d", "conv1, conv2")
  T.errors(function() attr.guided_gradcam(lenet, xs, 1, {layer = "fc1"}) end, "'fc1' is linear")
  T.errors(function() attr.gradcam(models.mlp{seed = 1}, xs, 1) end, "needs a conv2d layer")
  T.errors(function() attr.gradcam(lin, xl:reshape(4, 12), 1) end, "images [N, C, H, W]")
  T.errors(function() attr.gradcam(lenet, xs, 1, {upsample = 1}) end, "option 'upsample'")
  T.errors(function() attr.integrated_gradients(lenet, xs, 10) end, "target 10 (sample 1) out of range for 10 classes")
  T.errors(function() attr.smoothgrad(lenet, xs, {1, 12}) end, "target 12 (sample 2) out of range")
  -- passes of one sample each, on every thread: the first bad sample is named
  local x6 = data.fashion_mnist{n = 6}
  for f, o in pairs{integrated_gradients = {steps = 4}, gradient = {}, smoothgrad = {n = 4}} do
    o.batch_size = 4
    T.errors(function() attr[f](lenet, x6, {1, 2, 3, 11, 4, 12}, o) end, "target 11 (sample 4) out of range for 10 classes")
  end
  T.errors(function() metric.infidelity(lenet, x6, {1, 2, 3, 11, 4, 12}, x6, {batch_size = 1}) end,
    "target 11 (sample 4) out of range")
  T.errors(function() attr.gradcam(lenet, xs, 10) end, "out of range")
  T.errors(function() attr.gradient_shap(lenet, xs, 11) end, "out of range")
  T.errors(function() attr.integrated_gradients(lenet, xs, 1, {steps = 0}) end, "option 'steps'", "positive")
  T.errors(function() attr.integrated_gradients(lenet, xs, 1, {steps = -3}) end, "option 'steps'")
  T.errors(function() attr.integrated_gradients(lenet, xs, 1, {steps = 1.5}) end, "option 'steps'", "integer")
  T.errors(function() attr.integrated_gradients(lenet, xs, 1, {steps = 1, rule = "riemann_trapezoid"}) end,
    "riemann_trapezoid needs at least 2")
  T.errors(function() attr.integrated_gradients(lenet, xs, 1, {rule = "simpson"}) end, "option 'rule'", "gausslegendre")
  T.errors(function() attr.integrated_gradients(lenet, xs, 1, {baseline = "black"}) end, "option 'baseline'", "uniform")
  T.errors(function() attr.integrated_gradients(lenet, xs, 1, {baseline = tensor.zeros(2, 1, 28, 27)}) end,
    "[2, 1, 28, 27] does not fit x of shape [2, 1, 28, 28]")
  T.errors(function() attr.integrated_gradients(lenet, xs, 1, {baseline = tensor.zeros(3, 1, 28, 28)}) end,
    "[3, 1, 28, 28] does not fit x of shape [2, 1, 28, 28]")
  T.errors(function() attr.integrated_gradients(lenet, xs, 1, {baseline = {}}) end, "option 'baseline'", "a tensor")
  T.errors(function() attr.integrated_gradients(lenet, xs, 1, {blur_sigma = -1}) end, "option 'blur_sigma'")
  T.errors(function() attr.integrated_gradients(lin, xl:reshape(4, 12), 1, {baseline = "blur"}) end, "blur needs images")
  T.errors(function() attr.smoothgrad(lenet, xs, 1, {sigma = -0.1}) end, "option 'sigma'", "non-negative")
  T.errors(function() attr.vargrad(lenet, xs, 1, {n = 0}) end, "option 'n'", "positive")
  T.errors(function() attr.smoothgrad_sq(lenet, xs, 1, {n = "many"}) end, "option 'n'")
  T.errors(function() attr.gradient_shap(lenet, xs, 1, {n = 0}) end, "option 'n'")
  T.errors(function() attr.gradient_shap(lenet, xs, 1, {stdev = -1}) end, "option 'stdev'")
  T.errors(function() attr.gradient_shap(lenet, xs, 1, {baselines = tensor.zeros(4, 1, 28, 20)}) end,
    "[4, 1, 28, 20] does not fit x of shape [2, 1, 28, 28]")
  T.errors(function() attr.gradient_shap(lenet, xs, 1, {baselines = 0}) end, "option 'baselines'")
  T.errors(function() attr.sobel(lenet, tensor.zeros(2, 5), 1) end, "sobel needs images")
  -- errors leave a model in training mode as it was
  local m = models.lenet{seed = 1}
  m:train()
  T.errors(function() attr.integrated_gradients(m, xs, 10) end, "out of range")
  T.errors(function() attr.smooth("gradient", m, xs, 10) end, "out of range")
  T.ok(m:training(), "mode restored")
end)

T.done()
