-- test_attr_core.lua — what every attribution method shares: targets,
-- explained outputs, post-processing, chunking, dispatch and errors.
-- (Per-method correctness lives in the method families' own tests.)
local T = require "sanity.test"
local models = require "sanity.models"

local lin = nn.sequential({{"flatten", nn.flatten()}, {"fc", nn.linear(12, 3)}}, {seed = 3, input_shape = {1, 3, 4}})
local x = tensor.randn({5, 1, 3, 4}, {seed = 1, stream = "x"})
local W = lin:layer("fc").weight            -- [3, 12], shares the model's storage

T.case("gradient of a linear model is its weight row", function()
  local g = attr.gradient(lin, x, 2)
  for i = 1, 5 do T.near(g[i]:reshape(12), W[3], 0) end
  local ixg = attr.input_x_gradient(lin, x, {0, 1, 2, 0, 1})
  T.near(ixg[2]:reshape(12), x[2]:reshape(12) * W[2], 1e-7)
end)

T.case("targets: tensor, index, array, predicted", function()
  local y = tensor.from{0, 1, 2, 0, 1}
  T.ok(attr.gradient(lin, x, y):equal(attr.gradient(lin, x, {0, 1, 2, 0, 1})))
  local logits = lin:forward(x)
  local pred = logits:argmax(2)
  T.ok(attr.gradient(lin, x, "predicted"):equal(attr.gradient(lin, x, pred)))
end)

T.case("softmax and log_softmax gradients = chain rule over logit gradients", function()
  local m = models.lenet{seed = 2}
  local xs = tensor.rand({2, 1, 28, 28}, {seed = 4, stream = "img"})
  local t = 3
  local logits = m:forward(xs)
  local per_class = {}
  for j = 0, 9 do per_class[j] = attr.gradient(m, xs, j) end
  local gs = attr.gradient(m, xs, t, {output = "softmax"})
  local gl = attr.gradient(m, xs, t, {output = "log_softmax"})
  for i = 1, 2 do
    local row = logits[i]
    local p = (row - row:max()):exp()
    p = p / p:sum()
    local want_s, want_l = tensor.zeros(1, 28, 28), tensor.zeros(1, 28, 28)
    for j = 0, 9 do
      local e = j == t and 1 or 0
      want_l = want_l + per_class[j][i] * (e - p[j + 1])
      want_s = want_s + per_class[j][i] * (p[t + 1] * (e - p[j + 1]))
    end
    T.near(gl[i], want_l, 1e-6 * want_l:abs():max() + 1e-9, "log_softmax")
    T.near(gs[i], want_s, 1e-6 * want_s:abs():max() + 1e-9, "softmax")
  end
end)

T.case("post-processing: abs, reduce, normalize", function()
  local x3 = tensor.randn({2, 3, 4, 4}, {seed = 6, stream = "rgb"})
  local m = nn.sequential({nn.flatten(), nn.linear(48, 2)}, {seed = 1, input_shape = {3, 4, 4}})
  local raw = attr.gradient(m, x3, 1)
  local s = attr.gradient(m, x3, 1, {reduce = "sum"})
  T.eq(table.concat(s:shape(), ","), "2,1,4,4")
  T.near(s, raw:sum(2, true), 1e-6)
  local a = attr.gradient(m, x3, 1, {abs = true, reduce = "max"})
  T.near(a, raw:abs():max(2, true), 0)
  local mm = attr.gradient(m, x3, 1, {normalize = "min_max"})
  T.near(mm[1]:min(), 0, 0); T.near(mm[1]:max(), 1, 1e-6)
  local ma = attr.gradient(m, x3, 1, {normalize = "max_abs"})
  T.near(ma[2]:abs():max(), 1, 1e-6)
end)

T.case("results do not depend on batch_size", function()
  local m = models.lenet{seed = 7}
  local xs = data.fashion_mnist{n = 37}
  local a = attr.gradient(m, xs, 5, {batch_size = 256})
  local b = attr.gradient(m, xs, 5, {batch_size = 5})
  T.ok(a:equal(b), "bitwise equal across chunk sizes")
  -- a sample explained alone equals the same sample inside the batch
  T.ok(attr.gradient(m, xs:narrow(20, 1), 5):equal(a:narrow(20, 1)))
end)

T.case("model mode is restored", function()
  local m = models.lenet{seed = 1}
  m:train()
  T.errors(function() attr.gradient(m, x:narrow(1, 1), 0) end, "conv2d 'conv")
  T.ok(m:training(), "training mode restored after an error")
  attr.gradient(m, data.fashion_mnist{n = 2}, 0)
  T.ok(m:training(), "training mode restored after success")
end)

T.case("dispatch and errors", function()
  T.ok(#attr.list() >= 2)
  T.ok(attr.explain("gradient", lin, x, 1):equal(attr.gradient(lin, x, 1)))
  T.errors(function() attr.explain("nope", lin, x, 1) end, "unknown attribution method 'nope'", "gradient")
  T.errors(function() attr.gradient(lin, x, 3) end, "target 3 (sample 1) out of range for 3 classes")
  T.errors(function() attr.gradient(lin, x, tensor.from{0, 1}) end, "2 entries for 5 samples")
  T.errors(function() attr.gradient(lin, x, "best") end, "\"predicted\"")
  T.errors(function() attr.gradient(lin, x, -1) end, "non-negative")
  T.errors(function() attr.gradient(lin, x, 1, {reduce = "median"}) end, "option 'reduce'", "sum, mean")
  T.errors(function() attr.gradient(lin, x, 1, {stepz = 3}) end, "unknown option 'stepz'")
  -- the bad target is numbered in the batch, not in its chunk
  T.errors(function() attr.gradient(lin, x, tensor.from{0, 1, 2, 0, 7}, {batch_size = 2}) end,
    "target 7 (sample 5) out of range")
  T.errors(function() attr.gradient(lin, x, 1, {batch_size = 0}) end, "batch_size")
  T.errors(function() attr.gradient(nil, x, 1) end, "sanity.Model expected")
  T.errors(function() attr.gradient(lin, tensor.zeros(5, 1, 3, 3), 1) end, "linear 'fc'")
end)

T.done()
