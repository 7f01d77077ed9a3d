-- yeh2019_infidelity.lua — Yeh et al. 2019 ("On the (In)fidelity and
-- Sensitivity of Explanations"), Fashion-MNIST/LeNet version: infidelity
-- (square removal, noisy baseline and gaussian noise, with the paper's
-- optimal scaling beta)
-- and max-sensitivity of gradient, integrated gradients, guided backprop,
-- SmoothGrad (and LRP variants when attr.list() has them), to check the
-- paper's qualitative finding that smoothing lowers both.
--   bin/sanity run experiments/yeh2019_infidelity.lua --out results/yeh2019.h5 [n=256]
--       [n_perturb=100] [radius=0.1] [points=20] [sigma=0.1] [noisy_sigma=0.2] [square_max=10] [seed=0]
-- Model: data/lenet_fmnist.h5 (model.load) when present; otherwise a LeNet
-- trained here for a few epochs as a stand-in (said on stderr and recorded
-- in the results file). Methods missing from attr.list() are skipped, except
-- SmoothGrad and integrated gradients, which get Lua stand-ins built on
-- attr.gradient (flagged "(stand-in)") so the comparison can run before the
-- attribution family lands.
-- Conventions: maps of "global" methods (integrated gradients, input x
-- gradient, LRP: they already contain the input) use I = the removed square
-- (multiply_by_inputs = true); "local" ones (gradient, SmoothGrad, guided
-- backprop) use I = x - x'. The noisy baseline (the paper's "Gaussian"
-- perturbation) is x' = N(0, noisy_sigma^2) per pixel, I = x - x'; the
-- gaussian case (Captum's common use) is I ~ N(0, sigma^2), x' = x - I; both
-- for every method. Explained output: the logit of the true class.
local models = require "sanity.models"

local n = cfg.n or 256
local n_perturb = cfg.n_perturb or 100
local radius = cfg.radius or 0.1
local points = cfg.points or 20
local sigma = cfg.sigma or 0.1
local noisy_sigma = cfg.noisy_sigma or 0.2
local square_max = cfg.square_max or 10
local seed = cfg.seed or sanity.seed
local t_start = sanity.clock()

-- ---- the model ----------------------------------------------------------

-- Stand-in LeNet: SGD with momentum on softmax cross-entropy, batches of 64
-- in data set order.
local function train_lenet(epochs, n_train)
  local m = models.lenet{seed = seed}
  local x, y = data.fashion_mnist{split = "train", n = n_train}
  local onehot = tensor.zeros(n_train, 10) -- built once; the training loop is per batch
  for i = 1, n_train do onehot[i][y[i] + 1] = 1 end
  local params = m:parameters()
  local vel = {}
  for k, p in ipairs(params) do vel[k] = p.value * 0 end
  local bs, lr, mom = 64, 0.05, 0.9
  m:train()
  for e = 1, epochs do
    local loss, nb = 0, 0
    for s = 1, n_train - bs + 1, bs do -- contiguous slices of the (already shuffled) training set
      local xb, yb = x:narrow(s, bs), onehot:narrow(s, bs)
      local logits = m:forward(xb)
      local z = logits - logits:max(2, true)
      local p = z:exp()
      p = p / p:sum(2, true)
      loss = loss - (yb * (p + 1e-12):log()):sum() / bs
      nb = nb + 1
      m:zero_grad()
      m:backward((p - yb) / bs, {param_grads = true, input_grad = false})
      for k, pr in ipairs(params) do
        vel[k]:mul_(mom):add_(pr.grad)
        pr.value:sub_(vel[k] * lr)
      end
    end
    sanity.log(string.format("stand-in LeNet: epoch %d, mean loss %.4f", e, loss / nb))
  end
  m:eval()
  return m
end

local model_source
local m
if model.load and io.open("data/lenet_fmnist.h5") then
  m = model.load("data/lenet_fmnist.h5")
  model_source = "data/lenet_fmnist.h5"
else
  local epochs, n_train = cfg.epochs or 3, cfg.n_train or 20000
  io.stderr:write(string.format("yeh2019_infidelity: data/lenet_fmnist.h5 (model.load) is not available; "
    .. "training a stand-in LeNet here (%d epochs on %d training images)\n", epochs, n_train))
  m = train_lenet(epochs, n_train)
  model_source = "stand-in LeNet trained by this script"
end

local x, y = data.fashion_mnist{split = "test", n = n}
local acc = 0
do
  local pred = m:forward(x):argmax(2)
  for i = 1, n do if pred[i] == y[i] then acc = acc + 1 end end
  acc = acc / n
end
sanity.log(string.format("model: %s, test accuracy on the %d images: %.3f", model_source, n, acc))

-- ---- the methods ----------------------------------------------------------

local have = {}
for _, name in ipairs(attr.list()) do have[name] = true end

-- Lua stand-ins, batched over the whole batch (one attr.gradient call per draw or step)
local function smoothgrad_standin(mm, xx, t, o)
  local k, s = 50, 0.15 -- Smilkov et al.: 50 samples, noise 10-20% of the input range
  local acc_g
  for d = 1, k do
    local noise = tensor.randn(xx:shape(), {seed = (o and o.seed) or seed, stream = "yeh2019.smoothgrad." .. d})
    local g = attr.gradient(mm, xx + noise * s, t, o)
    acc_g = acc_g and acc_g + g or g
  end
  return acc_g / k
end

local function ig_standin(mm, xx, t, o)
  local steps = 32 -- midpoint Riemann sum from the zero baseline
  local acc_g
  for k = 1, steps do
    local g = attr.gradient(mm, xx * ((k - 0.5) / steps), t, o)
    acc_g = acc_g and acc_g + g or g
  end
  return acc_g * xx / steps
end

local candidates = {
  {"gradient", "gradient", false},
  {"input_x_gradient", "input_x_gradient", true},
  {"integrated_gradients", "integrated_gradients", true, ig_standin},
  {"guided_backprop", "guided_backprop", false},
  {"smoothgrad", "smoothgrad", false, smoothgrad_standin},
}
for _, name in ipairs(attr.list()) do
  if name:match("^lrp") then candidates[#candidates + 1] = {name, name, true} end
end

local methods = {}
for _, c in ipairs(candidates) do
  local label, name, global, standin = c[1], c[2], c[3], c[4]
  if have[name] then
    methods[#methods + 1] = {label = label, method = name, global = global}
  elseif standin then
    io.stderr:write(string.format("yeh2019_infidelity: attr.%s is not available; using a Lua stand-in\n", name))
    methods[#methods + 1] = {label = label .. " (stand-in)", method = standin, global = global}
  else
    io.stderr:write(string.format("yeh2019_infidelity: attr.%s is not available; skipped\n", name))
  end
end

-- ---- the metrics ------------------------------------------------------------

local function explain(meth)
  if type(meth.method) == "function" then return meth.method(m, x, y, {seed = seed}) end
  return attr.explain(meth.method, m, x, y, {seed = seed})
end

local function mean_sem(t)
  local mu = t:mean()
  local sd = t:numel() > 1 and t:std() or 0
  return mu, sd / math.sqrt(t:numel())
end

local rows = {sq = {}, sq_raw = {}, noisy = {}, gauss = {}, sens = {}, sens_avg = {}}
local labels = {}
print(string.format("Yeh et al. 2019 on Fashion-MNIST, %s, %d test images (accuracy %.3f)", model_source, n, acc))
print(string.format("infidelity: optimal scaling beta, %d perturbations; square sides 1..%d; noisy baseline "
  .. "sigma %g; gaussian sigma %g", n_perturb, square_max, noisy_sigma, sigma))
print(string.format("max-sensitivity: %d points in the L-inf ball of radius %g, ||dPhi||_2 / ||Phi||_2", points, radius))
print(string.format("%-30s %19s %19s %19s %19s", "method", "INFD square", "INFD noisy base", "INFD gaussian",
  "SENS_MAX"))
for _, meth in ipairs(methods) do
  local t0 = sanity.clock()
  local maps = explain(meth)
  local sq = metric.infidelity(m, x, y, maps, {perturbation = "square_removal", square = {1, square_max},
    n_perturb = n_perturb, normalize = true, multiply_by_inputs = meth.global, seed = seed})
  local sq_raw = metric.infidelity(m, x, y, maps, {perturbation = "square_removal", square = {1, square_max},
    n_perturb = n_perturb, normalize = false, multiply_by_inputs = meth.global, seed = seed})
  local noisy = metric.infidelity(m, x, y, maps, {perturbation = "noisy_baseline", sigma = noisy_sigma,
    n_perturb = n_perturb, normalize = true, seed = seed})
  local gauss = metric.infidelity(m, x, y, maps, {perturbation = "gaussian", sigma = sigma,
    n_perturb = n_perturb, normalize = true, seed = seed})
  local sens, sens_avg = metric.sensitivity_max(m, x, y, meth.method, {radius = radius, n = points, seed = seed,
    method_opts = {seed = seed}})
  labels[#labels + 1] = meth.label
  rows.sq[#rows.sq + 1], rows.sq_raw[#rows.sq_raw + 1] = sq, sq_raw
  rows.noisy[#rows.noisy + 1], rows.gauss[#rows.gauss + 1] = noisy, gauss
  rows.sens[#rows.sens + 1], rows.sens_avg[#rows.sens_avg + 1] = sens, sens_avg
  local cells = {}
  for _, t in ipairs{sq, noisy, gauss, sens} do
    local mu, se = mean_sem(t)
    cells[#cells + 1] = string.format("%9.4g ± %-7.2g", mu, se)
  end
  print(string.format("%-30s %s", meth.label, table.concat(cells, " ")))
  sanity.log(string.format("%s: %.1f s", meth.label, sanity.clock() - t0))
end
print("(mean ± standard error over images; lower is better everywhere)")

-- The paper's finding: smoothing lowers both sensitivity and infidelity.
-- Paired over images: SmoothGrad minus gradient, share of images where it is
-- lower, and the paired t-test's p (H1: SmoothGrad lower).
local gi, si
for k, l in ipairs(labels) do
  if l == "gradient" then gi = k end
  if l:match("^smoothgrad") then si = k end
end
local paired = {}
if gi and si then
  print(string.format("\n%s vs gradient, paired over the %d images:", labels[si], n))
  print(string.format("%-16s %12s %14s %12s", "metric", "mean diff", "share lower", "p (less)"))
  for _, key in ipairs{"sq", "noisy", "gauss", "sens"} do
    local a, b = rows[key][si], rows[key][gi]
    local d = a - b
    local lower = 0
    for _, v in ipairs(d:totable()) do if v < 0 then lower = lower + 1 end end
    local t = metric.ttest_paired(a, b, {alternative = "less"})
    local name = ({sq = "INFD square", noisy = "INFD noisy base", gauss = "INFD gaussian", sens = "SENS_MAX"})[key]
    print(string.format("%-16s %12.4g %13.1f%% %12.3g", name, d:mean(), 100 * lower / n, t.p))
    paired[#paired + 1] = {name = name, mean_diff = d:mean(), share_lower = lower / n, p = t.p}
  end
end

if cfg.out then
  local f = results.open()
  local o = {dims = {"method", "sample"}, coords = {method = labels}}
  f:write("infidelity/square", rows.sq, o)
  f:write("infidelity/square_unscaled", rows.sq_raw, o)
  f:write("infidelity/noisy_baseline", rows.noisy, o)
  f:write("infidelity/gaussian", rows.gauss, o)
  f:write("sensitivity/max", rows.sens, o)
  f:write("sensitivity/avg", rows.sens_avg, o)
  f:write("labels", y, {dims = {"sample"}})
  for _, r in ipairs(paired) do
    f:attrs(nil, {["smoothgrad_vs_gradient/" .. r.name] = string.format("mean diff %.6g, share lower %.4f, p %.3g",
      r.mean_diff, r.share_lower, r.p)})
  end
  f:attrs(nil, {model = model_source, test_accuracy = acc, n = n, n_perturb = n_perturb, radius = radius,
    points = points, sigma = sigma, noisy_sigma = noisy_sigma, square_max = square_max, explained = "logit of the true class",
    seconds = sanity.clock() - t_start})
  f:close()
  print("wrote " .. cfg.out)
end
