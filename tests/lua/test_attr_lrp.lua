-- test_attr_lrp.lua — LRP rules and composites, DeepLift: PyTorch reference
-- maps (tests/fixtures/lrp.h5 from scripts/fixtures/make_lrp_fixtures.py),
-- conservation and sign properties, composite resolution, determinism and
-- bad input.
local T = require "sanity.test"
local models = require "sanity.models"
local seeded = dofile("tests/lua/helpers/seeded_weights.lua")

local FIX = "tests/fixtures/lrp.h5"
local SEEDS = {lenet = 11, mlp = 12, resnet8 = 13}
local X = tensor.rand({2, 1, 28, 28}, {seed = 5, stream = "lrp.x"})
local TARGETS = {3, 8}

local function rel_l2(a, b) return ((a - b):square():sum() / b:square():sum()) ^ 0.5 end

local function fixture_model(name)
  local m = seeded(models[name]{seed = 0}, SEEDS[name])
  return m, name == "mlp" and X:reshape(2, 784) or X
end

-- the cases of make_lrp_fixtures.py, in the order of each model's dataset
local CASES = {
  {"epsilon", {composite = "epsilon", epsilon = 0.01}},
  {"zplus", {composite = "zplus"}},
  {"gamma", {composite = "gamma", gamma = 0.25}},
  {"alpha2_beta1", {composite = "alpha2_beta1"}},
  {"epsilon_gamma_box", {composite = "epsilon_gamma_box"}},
  {"epsilon_plus_flat", {composite = "epsilon_plus_flat"}},
  {"w_square", {composite = "w_square"}},
}
local SIGNED = { -- on 2x - 1: inputs of both signs
  {"signed_alpha2_beta1", {composite = "alpha2_beta1"}},
  {"signed_alpha1_beta0", {composite = "alpha1_beta0"}},
  {"signed_epsilon_gamma_box", {composite = "epsilon_gamma_box", low = -1, high = 1}},
}
local ILL = {gamma = true, w_square = true, epsilon_gamma_box = true} -- resnet8: stabilizer 0.01

T.case("matches the PyTorch reference (1e-4 relative L2 per sample)", function()
  for _, mn in ipairs{"lenet", "mlp", "resnet8"} do
    local m, x = fixture_model(mn)
    T.near(m:forward(x), data.load_h5(FIX, mn .. "_logits"), 1e-5, mn .. " logits (same weights)")
    local all, k = data.load_h5(FIX, mn), 0
    local function check(name, got)
      k = k + 1
      for i = 1, 2 do
        local e = rel_l2(got[i], all[k][i])
        T.ok(e < 1e-4, string.format("%s %s sample %d: relative L2 %.3g", mn, name, i, e))
      end
    end
    for _, c in ipairs(CASES) do
      local opts = {}
      for key, v in pairs(c[2]) do opts[key] = v end
      if mn == "resnet8" and ILL[c[1]] then opts.stabilizer = 0.01 end
      check(c[1], attr.lrp(m, x, TARGETS, opts))
    end
    if mn ~= "resnet8" then
      for _, c in ipairs(SIGNED) do check(c[1], attr.lrp(m, x * 2 - 1, TARGETS, c[2])) end
    end
    if mn == "lenet" then
      check("proportional max pooling", attr.lrp(m, x, TARGETS, {epsilon = 0.01, rules = {maxpool2d = "proportional"}}))
    end
    check("deeplift", attr.deeplift(m, x, TARGETS))
    T.eq(k, all:size(1), "every case checked")
  end
end)

T.case("every rule on one linear layer, computed by hand", function()
  local m = nn.sequential({{"fc", nn.linear(3, 2)}}, {seed = 1, input_shape = {3}})
  m:layer("fc").weight:copy_(tensor.from{{1, -2, 0.5}, {-1, 1, 2}})
  m:layer("fc").bias:copy_(tensor.from{0.5, -0.25})
  local x = tensor.from{{1, 2, -3}}
  -- z = 1 - 4 - 1.5 + 0.5 = -4: the relevance starts as -4 at class 0
  local cases = {
    {{rules = {fc = {"epsilon", epsilon = 0}}}, {1, -4, -1.5}},
    {{rules = {fc = {"epsilon", epsilon = 1}}}, {1 * 4 / 5, -4 * 4 / 5, -1.5 * 4 / 5}}, -- z - 1 = -5
    {{composite = "alpha2_beta1"}, {-4 * 2 / 1.5, -4 * -(-4 / -5.5), -4 * -(-1.5 / -5.5)}},
    {{composite = "alpha1_beta0"}, {-4 / 1.5, 0, 0}},
    {{composite = "zplus"}, {8, 0, -12}},
    {{composite = "gamma", gamma = 0.25}, {1.25, -4, -1.875}},
    {{composite = "epsilon_gamma_box", low = -3, high = 3}, {-4 * 4 / 6, -4 * 2 / 6, 0}},
    {{composite = "w_square"}, {-4 / 5.25, -16 / 5.25, -1 / 5.25}},
    {{composite = "flat"}, {-4 / 3, -4 / 3, -4 / 3}},
  }
  for _, c in ipairs(cases) do
    c[1].stabilizer = 0
    local r = attr.lrp(m, x, 0, c[1])
    T.near(r[1], tensor.from(c[2]), 1e-6, c[1].composite or "epsilon")
  end
  -- DeepLift on a linear model is (x - x_ref) times the weights
  T.near(attr.deeplift(m, x, 1, {baseline = tensor.from{1, 1, 1}}), tensor.from{{0, 1, -8}}, 1e-6)
end)

-- LeNet without biases: the z-rule conserves the logit exactly
local function lenet_nobias(seed)
  return nn.sequential({
    {"conv1", nn.conv2d(1, 6, 5, {padding = 2, bias = false})}, {"relu1", nn.relu()}, {"pool1", nn.maxpool2d(2)},
    {"conv2", nn.conv2d(6, 16, 5, {bias = false})}, {"relu2", nn.relu()}, {"pool2", nn.maxpool2d(2)},
    {"flatten", nn.flatten()}, {"fc1", nn.linear(400, 120, {bias = false})}, {"relu3", nn.relu()},
    {"fc2", nn.linear(120, 84, {bias = false})}, {"relu4", nn.relu()}, {"fc3", nn.linear(84, 10, {bias = false})},
  }, {seed = seed, input_shape = {1, 28, 28}})
end

T.case("LRP-epsilon with epsilon -> 0 conserves the logit (bias-free)", function()
  local m = lenet_nobias(3)
  local x = data.fashion_mnist{n = 6}
  local logits = m:forward(x)
  for _, eps in ipairs{0, 1e-9} do
    local r = attr.lrp(m, x, "predicted", {epsilon = eps})
    for i = 1, 6 do
      local f = logits[i]:max()
      T.near(r[i]:sum(), f, 1e-3 * math.abs(f), "sample " .. i .. " epsilon " .. eps)
    end
  end
  -- the z-rule's division guard: z = 0 everywhere gives zeros, not NaN
  local r0 = attr.lrp(m, tensor.zeros(2, 1, 28, 28), 1, {epsilon = 0})
  T.eq(r0:abs():max(), 0)
end)

-- every node kind the rules know, bias-free and with batch norm's shift at
-- zero, so the z-rule conserves the score exactly
local function zoo(seed)
  local g = nn.graph{seed = seed, input_shape = {2, 8, 8}}
  local h = g:add("conv", nn.conv2d(2, 4, 3, {padding = 1, bias = false}), g:input())
  h = g:add("bn", nn.batchnorm2d(4), h)
  h = g:add("lrelu", nn.leaky_relu(0.1), h)
  local s = g:add("skip", nn.conv2d(2, 4, 1, {bias = false}), g:input())
  h = g:add("add", nn.add(), h, s)
  h = g:add("tanh", nn.tanh(), h)
  h = g:add("avg", nn.avgpool2d(3, {stride = 2, padding = 1}), h)
  h = g:add("max", nn.maxpool2d(2), h)
  h = g:add("id", nn.identity(), h)
  h = g:add("adapt", nn.adaptive_avgpool2d({1, 2}), h)
  h = g:add("flatten", nn.flatten(), h)
  h = g:add("drop", nn.dropout(0.3), h)
  h = g:add("fc1", nn.linear(8, 6, {bias = false}), h)
  h = g:add("bn1", nn.batchnorm1d(6), h)
  h = g:add("sig", nn.sigmoid(), h)
  h = g:add("fc2", nn.linear(6, 3, {bias = false}), h)
  return g:build(g:add("softmax", nn.softmax(), h))
end

T.case("z-rule conserves the score through every node kind", function()
  local m = zoo(5)
  for _, name in ipairs{"bn", "bn1"} do
    local l = m:layer(name)
    l.weight:copy_(tensor.rand(l.weight:shape(), {seed = 1, stream = name}) + 0.5)
    l.running_var:copy_(tensor.rand(l.weight:shape(), {seed = 2, stream = name}) + 0.5)
  end
  local x = tensor.randn({4, 2, 8, 8}, {seed = 3, stream = "zoo"})
  local p = m:forward(x)
  local rules = {maxpool2d = "proportional"}
  for _, o in ipairs{{epsilon = 0, stabilizer = 0}, {epsilon = 0, stabilizer = 0, rules = rules}} do
    local r = attr.lrp(m, x, 2, o)
    for i = 1, 4 do T.near(r[i]:sum(), p[i][3], 1e-5 * p[i][3], "sample " .. i) end
  end
  -- a rule per node, and DeepLift through tanh, sigmoid and leaky relu
  local rs = attr.lrp_rules(m)
  T.eq(rs.tanh.rule, "pass"); T.eq(rs.drop.rule, "pass"); T.eq(rs.softmax.rule, "pass"); T.eq(rs.avg.rule, "epsilon")
  T.eq(rs.adapt.rule, "epsilon")
  T.eq(rs.bn1.rule, "epsilon"); T.eq(rs.max.rule, "winner_take_all")
end)

T.case("flat and w_square conserve the score with biases too; softmax starts from p_t", function()
  local m = models.lenet{seed = 4}
  local x = data.fashion_mnist{n = 3}
  local logits = m:forward(x)
  for _, comp in ipairs{"flat", "w_square"} do
    local r = attr.lrp(m, x, 2, {composite = comp})
    for i = 1, 3 do T.near(r[i]:sum(), logits[i][3], 1e-4 * math.abs(logits[i][3]) + 1e-7, comp) end
  end
  local r = attr.lrp(m, x, 2, {composite = "flat", output = "softmax"})
  for i = 1, 3 do
    local p = (logits[i] - logits[i]:max()):exp()
    p = p / p:sum()
    T.near(r[i]:sum(), p[3], 1e-5, "softmax")
  end
end)

T.case("z+ on non-negative inputs: relevance has the sign of the score", function()
  local m = models.lenet{seed = 5}
  local x = data.fashion_mnist{n = 8}
  T.ok(x:min() >= 0)
  local logits = m:forward(x)
  local r = attr.lrp(m, x, 4, {composite = "zplus"})
  for i = 1, 8 do
    local s = logits[i][5] >= 0 and 1 or -1
    T.ok((r[i] * s):min() >= 0, "sample " .. i)
    T.ok(r[i]:abs():max() > 0, "not all zero")
  end
  -- the same through attr.lrp_zplus and attr.explain
  T.ok(attr.lrp_zplus(m, x, 4):equal(r))
  T.ok(attr.explain("lrp_zplus", m, x, 4):equal(r))
end)

T.case("flat: the input relevance does not depend on the input values", function()
  local m = nn.sequential({{"conv", nn.conv2d(1, 3, 3, {padding = 1})}, {"relu", nn.relu()}, {"flatten", nn.flatten()},
    {"fc", nn.linear(3 * 8 * 8, 4)}}, {seed = 2, input_shape = {1, 8, 8}})
  local x = tensor.rand({3, 1, 8, 8}, {seed = 1, stream = "flat"})
  local logits = m:forward(x)
  local r = attr.lrp(m, x, 1, {composite = "flat"})
  local shape1 = r[1] / logits[1][2]
  for i = 2, 3 do T.near(r[i] / logits[i][2], shape1, 1e-6, "sample " .. i) end
  -- equal shares on a single linear layer
  local lin = nn.sequential({{"flatten", nn.flatten()}, {"fc", nn.linear(64, 4)}}, {seed = 1, input_shape = {1, 8, 8}})
  local f = lin:forward(x)
  local rl = attr.lrp(lin, x, 0, {composite = "flat"})
  T.near(rl[2], tensor.full({1, 8, 8}, f[2][1] / 64), 1e-7)
end)

T.case("zbox: tensor bounds equal number bounds", function()
  local m = models.lenet{seed = 6}
  local x = data.fashion_mnist{n = 2}
  local a = attr.lrp(m, x, 1, {composite = "epsilon_gamma_box", low = 0, high = 1})
  local b = attr.lrp(m, x, 1, {composite = "epsilon_gamma_box", low = tensor.zeros(1, 28, 28),
    high = tensor.ones(1, 28, 28)})
  T.ok(a:equal(b))
  local c = attr.lrp(m, x, 1, {composite = "epsilon_gamma_box", rules = {conv1 = {"zbox", low = -1, high = 2}}})
  T.ok(not a:equal(c), "the bounds matter")
end)

-- expected rule per node: {conv, linear, first}
local EXPECT = {
  epsilon = {"epsilon", "epsilon"}, zplus = {"zplus", "zplus"}, alpha1_beta0 = {"alpha1_beta0", "alpha1_beta0"},
  alpha2_beta1 = {"alpha2_beta1", "alpha2_beta1"}, gamma = {"gamma", "gamma"}, w_square = {"w_square", "w_square"},
  flat = {"flat", "flat"}, epsilon_plus = {"zplus", "epsilon"}, epsilon_gamma_box = {"gamma", "epsilon", "zbox"},
  epsilon_alpha2_beta1 = {"alpha2_beta1", "epsilon"}, epsilon_plus_flat = {"zplus", "epsilon", "flat"},
}
local OTHER = {relu = "pass", flatten = "pass", maxpool2d = "winner_take_all", batchnorm2d = "epsilon",
  add = "epsilon", adaptive_avgpool2d = "epsilon"}

T.case("composites resolve to the documented rule per node (LeNet, ResNet8)", function()
  for _, m in ipairs{models.lenet{seed = 1}, models.resnet8{seed = 1}} do
    local first = m:layers()[1].name
    for comp, e in pairs(EXPECT) do
      local rs = attr.lrp_rules(m, {composite = comp})
      T.eq(#rs, #m)
      for i, r in ipairs(rs) do
        T.eq(rs[r.name], r)
        local want
        if r.type == "conv2d" or r.type == "linear" then
          want = (r.name == first and e[3]) or (r.type == "conv2d" and e[1] or e[2])
        else
          want = OTHER[r.type]
        end
        T.eq(r.rule, want, comp .. " " .. r.name)
        if r.type == "batchnorm2d" or r.type == "add" then T.near(r.epsilon, 1e-6, 1e-12) end
      end
    end
  end
  -- overrides: names win over types; per-node parameters
  local m = models.lenet{seed = 1}
  local rs = attr.lrp_rules(m, {composite = "epsilon_plus", epsilon = 0.5, gamma = 0.1,
    rules = {conv2d = "gamma", conv1 = "zbox", fc3 = {"epsilon", epsilon = 1e-3}, maxpool2d = "proportional",
      fc1 = {"alpha_beta", alpha = 3, beta = 2}}})
  T.eq(rs.conv1.rule, "zbox"); T.eq(rs.conv1.low, 0); T.eq(rs.conv1.high, 1)
  T.eq(rs.conv2.rule, "gamma"); T.near(rs.conv2.gamma, 0.1, 1e-7)
  T.near(rs.fc2.epsilon, 0.5, 0); T.near(rs.fc3.epsilon, 1e-3, 1e-10)
  T.eq(rs.pool1.rule, "proportional")
  T.eq(rs.fc1.rule, "alpha_beta"); T.eq(rs.fc1.alpha, 3); T.eq(rs.fc1.beta, 2)
  -- the convenience names are the composites
  local x = data.fashion_mnist{n = 3}
  for _, c in ipairs{"epsilon", "epsilon_plus", "epsilon_gamma_box", "alpha2_beta1"} do
    T.ok(attr["lrp_" .. c](m, x, 2):equal(attr.lrp(m, x, 2, {composite = c})), c)
  end
end)

T.case("canonize: a batch norm merged into its conv equals the hand-merged model", function()
  local function build(bn)
    local layers = {{"conv", nn.conv2d(2, 4, 3, {padding = 1, bias = not bn})}}
    if bn then layers[#layers + 1] = {"bn", nn.batchnorm2d(4)} end
    for _, l in ipairs{{"relu", nn.relu()}, {"flatten", nn.flatten()}, {"fc", nn.linear(4 * 6 * 6, 3)}} do
      layers[#layers + 1] = l
    end
    return nn.sequential(layers, {seed = 1, input_shape = {2, 6, 6}})
  end
  local m, h = seeded(build(true), 21), build(false)
  local bn = m:layer("bn")
  local a = bn.weight / (bn.running_var + 1e-5):sqrt()
  h:layer("conv").weight:copy_(m:layer("conv").weight * a:reshape(4, 1, 1, 1))
  h:layer("conv").bias:copy_(bn.bias - bn.running_mean * a)
  h:layer("fc").weight:copy_(m:layer("fc").weight)
  h:layer("fc").bias:copy_(m:layer("fc").bias)
  local x = tensor.rand({3, 2, 6, 6}, {seed = 2, stream = "canon"}) * 2 - 1
  T.near(m:forward(x), h:forward(x), 1e-5, "the two models agree")
  for _, comp in ipairs{"epsilon", "epsilon_plus", "alpha2_beta1", "epsilon_gamma_box"} do
    local got = attr.lrp(m, x, 1, {composite = comp, canonize = true, low = -1})
    local want = attr.lrp(h, x, 1, {composite = comp, low = -1})
    for i = 1, 3 do T.ok(rel_l2(got[i], want[i]) < 1e-5, comp .. " sample " .. i .. ": " .. rel_l2(got[i], want[i])) end
    T.ok(not got:equal(attr.lrp(m, x, 1, {composite = comp, low = -1})), "canonize changes " .. comp)
  end
  local r8 = models.resnet8{seed = 1}
  local rs = attr.lrp_rules(r8, {composite = "epsilon_plus", canonize = true})
  for _, r in ipairs(rs) do
    if r.type == "batchnorm2d" then T.eq(r.rule, "pass", r.name) end
  end
  T.errors(function() attr.lrp(r8, x, 1, {canonize = 1}) end, "option 'canonize'")
end)

T.case("DeepLift: summation to delta on relu networks", function()
  for _, mn in ipairs{"mlp", "resnet8"} do
    local m = seeded(models[mn]{seed = 0}, SEEDS[mn])
    local x = data.fashion_mnist{n = 5}
    if mn == "mlp" then x = x:reshape(5, 784) end
    local base = tensor.rand(x:shape(), {seed = 3, stream = "dl.base"}) * 0.5
    for _, b in ipairs{"zeros", base, 0.25} do
      local a, delta = attr.deeplift(m, x, "predicted", {baseline = b})
      local lx = m:forward(x)
      local lb
      if b == "zeros" then lb = m:forward(x * 0) elseif type(b) == "number" then lb = m:forward(x * 0 + b)
      else lb = m:forward(b) end
      local pred = lx:argmax(2)
      for i = 1, 5 do
        local t = math.floor(pred[i]) + 1
        local df = lx[i][t] - lb[i][t]
        T.near(a[i]:sum(), df, 1e-4 * math.abs(df) + 1e-6, mn .. " sample " .. i)
        T.near(delta[i], a[i]:sum() - df, 1e-5 * math.abs(df) + 1e-6, "delta reported")
      end
    end
  end
end)

T.case("DeepLift: summation to delta through tanh, sigmoid, leaky relu", function()
  local m = nn.sequential({{"flatten", nn.flatten()}, {"fc1", nn.linear(12, 8)}, {"tanh", nn.tanh()},
    {"fc2", nn.linear(8, 8)}, {"sig", nn.sigmoid()}, {"fc3", nn.linear(8, 6)}, {"lrelu", nn.leaky_relu(0.2)},
    {"fc4", nn.linear(6, 3)}}, {seed = 4, input_shape = {12}})
  local x = tensor.randn({6, 12}, {seed = 1, stream = "dl"}) * 2
  local b = tensor.randn({12}, {seed = 2, stream = "dl"})
  local a, delta = attr.deeplift(m, x, 1, {baseline = b})
  local lx, lb = m:forward(x), m:forward(b:reshape(1, 12))
  for i = 1, 6 do
    local df = lx[i][2] - lb[1][2]
    T.near(a[i]:sum(), df, 1e-4 * math.abs(df) + 1e-6, "sample " .. i)
    T.ok(math.abs(delta[i]) <= 1e-4 * math.abs(df) + 1e-6)
  end
  -- the baseline at x: attributions vanish
  T.eq(attr.deeplift(m, x, 1, {baseline = x}):abs():max(), 0)
end)

T.case("bit-identical for any chunk size and thread count", function()
  local m = seeded(models.resnet8{seed = 0}, 13)
  local x = data.fashion_mnist{n = 7}
  for _, o in ipairs{{composite = "epsilon_gamma_box"}, {composite = "alpha2_beta1"}, {composite = "flat"}} do
    local a = attr.lrp(m, x, "predicted", o)
    o.batch_size = 3
    T.ok(a:equal(attr.lrp(m, x, "predicted", o)), o.composite)
    T.ok(a:narrow(1, 5, 2):equal(attr.lrp(m, x:narrow(1, 5, 2), "predicted", {composite = o.composite})),
      "samples alone")
  end
  local d = attr.deeplift(m, x, 1)
  T.ok(d:equal(attr.deeplift(m, x, 1, {batch_size = 2})))
  local outs = {}
  for _, th in ipairs{1, 2} do
    local st, out, err = T.sanity("run tests/lua/helpers/lrp_checksum.lua --threads " .. th)
    T.ok(st == 0, err)
    outs[th] = out
  end
  T.ok(#outs[1] > 0 and outs[1] == outs[2], "threads 1 vs 2:\n" .. outs[1] .. "\n" .. outs[2])
end)

T.case("bad input", function()
  local m = models.lenet{seed = 1}
  local x = data.fashion_mnist{n = 2}
  T.errors(function() attr.lrp(m, x, 0, {composite = "nope"}) end, "unknown LRP composite 'nope'", "epsilon_plus")
  T.errors(function() attr.lrp(m, x, 0, {rules = {conv1 = "foo"}}) end, "rules.conv1", "unknown LRP rule 'foo'",
    "zplus", "w_square")
  T.errors(function() attr.lrp(m, x, 0, {rules = {pool1 = "gamma"}}) end,
    "LRP rule 'gamma' is not applicable to layer 'pool1' (maxpool2d")
  T.errors(function() attr.lrp(m, x, 0, {rules = {relu1 = "epsilon"}}) end,
    "LRP rule 'epsilon' is not applicable to layer 'relu1' (relu")
  T.errors(function() attr.lrp(m, x, 0, {rules = {conv9 = "epsilon"}}) end, "no layer 'conv9'", "conv1, relu1, pool1")
  T.errors(function() attr.lrp(m, x, 0, {epsilon = -1}) end, "option 'epsilon'", "non-negative")
  T.errors(function() attr.lrp(m, x, 0, {rules = {fc1 = {"epsilon", epsilon = -0.1}}}) end, "rules.fc1 'epsilon'")
  T.errors(function() attr.lrp(m, x, 0, {gamma = -1, composite = "gamma"}) end, "option 'gamma'")
  T.errors(function() attr.lrp(m, x, 0, {composite = "epsilon_gamma_box", low = 1, high = 0}) end,
    "low must not exceed high")
  T.errors(function() attr.lrp(m, x, 0, {rules = {conv1 = {"alpha_beta", alpha = 3, beta = 1}}}) end,
    "alpha - beta = 1")
  T.errors(function() attr.lrp(m, x, 0, {rules = {fc1 = {"epsilon", eps = 1}}}) end, "unknown parameter 'eps'")
  T.errors(function() attr.lrp(m, x, 0, {rules = {fc1 = 3}}) end, "rules.fc1")
  T.errors(function() attr.lrp(m, x, 0, {rules = "epsilon"}) end, "option 'rules': table expected")
  T.errors(function() attr.lrp(m, x, 0, {epsilon_ = 1}) end, "unknown option 'epsilon_'")
  T.errors(function() attr.lrp_epsilon(m, x, 0, {composite = "zplus"}) end, "attr.lrp_epsilon uses composite")
  T.errors(function() attr.lrp(m, x, 0, {composite = "epsilon_gamma_box", low = tensor.zeros(3, 3)}) end,
    "conv2d 'conv1'", "zbox", "9 elements")
  T.errors(function() attr.lrp(m, x, 12) end, "out of range")
  T.errors(function() attr.lrp(m, x, {0, 12}, {batch_size = 1}) end, "target 12 (sample 2) out of range")
  T.errors(function() attr.deeplift(m, x, {0, 12}, {batch_size = 1}) end, "target 12 (sample 2) out of range")
  T.errors(function() attr.deeplift(m, x, 0, {baseline = tensor.zeros(3)}) end, "option 'baseline'", "784")
  T.errors(function() attr.deeplift(m, x, 0, {baseline = "ones"}) end, "option 'baseline'")
  T.errors(function() attr.explain("lrp_rules", m, x, 0) end, "unknown attribution method 'lrp_rules'")
  for _, name in ipairs(attr.list()) do T.ok(name ~= "lrp_rules" and name ~= "_lrp_rules") end
  -- the model's mode survives an option error
  m:train()
  T.errors(function() attr.lrp(m, x, 0, {composite = "nope"}) end, "nope")
  T.ok(m:training())
  attr.lrp(m, x, 0)
  T.ok(m:training())
end)

T.done()
