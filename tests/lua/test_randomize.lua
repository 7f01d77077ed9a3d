-- test_randomize.lua — randomize.layers/order/apply/clone: layer selection
-- with Xplique's stop_layer meaning, keyed draws, each mode, and errors.
local T = require "sanity.test"
local models = require "sanity.models"

local lenet = models.lenet{seed = 1}
local resnet = models.resnet8{seed = 1}

local function names(steps, field)
  local out = {}
  for i, s in ipairs(steps) do out[i] = field and s[field] or s end
  return table.concat(out, ",")
end

T.case("randomizable layers, input to output", function()
  T.eq(names(randomize.layers(lenet)), "conv1,conv2,fc1,fc2,fc3")
  T.eq(names(randomize.layers(lenet, {types = {"linear"}})), "fc1,fc2,fc3")
  T.eq(names(randomize.layers(lenet, {skip = {"fc3"}})), "conv1,conv2,fc1,fc2")
  local r = randomize.layers(resnet)
  T.eq(r[1], "stem.conv"); T.eq(r[2], "stem.bn"); T.eq(r[#r], "fc")
  T.eq(#r, 19) -- 9 convs (stem, 2 per block, 2 projection shortcuts), their 9 batch norms, fc
end)

T.case("stop_layer as fraction, count and name (Xplique's meaning)", function()
  local all = randomize.order(lenet, {stop_layer = 1.0})
  T.eq(names(all, "layer"), "fc3,fc2,fc1,conv2,conv1")
  T.eq(names(all[3].randomized), "fc3,fc2,fc1")             -- cascade: cumulative
  T.eq(#randomize.order(lenet), 1)                           -- default 0.25: floor(1.25) = 1
  T.eq(names(randomize.order(lenet, {stop_layer = 0.5}), "layer"), "fc3,fc2")
  T.eq(names(randomize.order(lenet, {stop_layer = 3}), "layer"), "fc3,fc2,fc1")
  T.eq(names(randomize.order(lenet, {stop_layer = "conv2"}), "layer"), "fc3,fc2,fc1") -- stops before conv2
  local bu = randomize.order(lenet, {order = "bottom_up", stop_layer = 1.0})
  T.eq(names(bu, "layer"), "conv1,conv2,fc1,fc2,fc3")
  T.eq(names(randomize.order(lenet, {reverse = true, stop_layer = 2}), "layer"), "conv1,conv2")
  local ind = randomize.order(lenet, {order = "independent", stop_layer = 1.0})
  T.eq(names(ind, "layer"), "fc3,fc2,fc1,conv2,conv1")
  T.eq(names(ind[3].randomized), "fc1")                      -- one layer at a time
  local rs = randomize.order(resnet, {stop_layer = 0.25})
  T.eq(#rs, 4); T.eq(rs[1].layer, "fc")
  -- top-down in a DAG = reverse topological order: the shortcut branch comes first
  T.eq(names(randomize.order(resnet, {stop_layer = "stage3.bn2"}), "layer"),
    "fc,stage3.shortcut.bn,stage3.shortcut.conv")
end)

T.case("reinit is keyed by (seed, layer): order and step do not matter", function()
  local a = randomize.clone(lenet, {"fc3", "fc2"}, {seed = 5})
  local b = randomize.clone(lenet, {"fc2", "fc3"}, {seed = 5})
  local c = randomize.clone(randomize.clone(lenet, "fc3", {seed = 5}), "fc2", {seed = 5})
  for _, l in ipairs{"fc2", "fc3"} do
    T.ok(a:layer(l).weight:equal(b:layer(l).weight))
    T.ok(a:layer(l).weight:equal(c:layer(l).weight))
    T.ok(not a:layer(l).weight:equal(lenet:layer(l).weight))
  end
  T.ok(a:layer("fc1").weight:equal(lenet:layer("fc1").weight), "other layers untouched")
  local d = randomize.clone(lenet, "fc3", {seed = 6})
  T.ok(not d:layer("fc3").weight:equal(a:layer("fc3").weight), "another seed, other values")
  -- the trained model is never modified
  T.ok(models.lenet{seed = 1}:layer("fc3").weight:equal(lenet:layer("fc3").weight))
  -- reinit draws from the layer's own initializer: U(+-1/sqrt(fan_in))
  local w = a:layer("fc2").weight
  T.ok(w:abs():max() <= 1 / math.sqrt(120) + 1e-7)
end)

T.case("noise, shuffle, zero, sign_flip, bias and batch-norm options", function()
  local w0 = lenet:layer("fc1").weight
  local z = randomize.clone(lenet, "fc1", {mode = "noise", level = 0})
  T.ok(z:layer("fc1").weight:equal(w0), "noise level 0 changes nothing")
  local n = randomize.clone(lenet, "fc1", {mode = "noise", level = 0.5, relative = true, seed = 2})
  local ratio = (n:layer("fc1").weight - w0):std() / w0:std()
  T.near(ratio, 0.5, 0.02)
  local na = randomize.clone(lenet, "fc1", {mode = "noise", level = 0.1, seed = 2})
  T.near((na:layer("fc1").weight - w0):std(), 0.1, 0.005)
  local s = randomize.clone(lenet, "fc1", {mode = "shuffle", seed = 3})
  local ws = s:layer("fc1").weight
  T.ok(not ws:equal(w0)); T.near(ws:sum(), w0:sum(), 1e-3); T.eq(ws:max(), w0:max())
  T.eq(randomize.clone(lenet, "fc1", {mode = "zero"}):layer("fc1").weight:abs():max(), 0)
  T.ok(randomize.clone(lenet, "fc1", {mode = "sign_flip"}):layer("fc1").weight:equal(-w0))
  local nb = randomize.clone(lenet, "fc1", {bias = false, seed = 9})
  T.ok(nb:layer("fc1").bias:equal(lenet:layer("fc1").bias))
  T.ok(not nb:layer("fc1").weight:equal(w0))
  -- batch norm: reinit resets running statistics unless bn_stats="keep"
  local trained = models.resnet8{seed = 1}
  trained:layer("stem.bn").running_mean:fill_(0.5)
  local r1 = randomize.clone(trained, "stem.bn")
  T.eq(r1:layer("stem.bn").running_mean:abs():max(), 0)
  T.eq(r1:layer("stem.bn").weight:min(), 1)          -- reset_parameters: gamma = 1
  local r2 = randomize.clone(trained, "stem.bn", {bn_stats = "keep"})
  T.eq(r2:layer("stem.bn").running_mean:min(), 0.5)
  local r3 = randomize.clone(trained, "stem.bn", {mode = "noise", level = 0.1})
  T.eq(r3:layer("stem.bn").running_mean:min(), 0.5)  -- other modes keep statistics
end)

T.case("errors list what is valid", function()
  T.errors(function() randomize.order(lenet, {stop_layer = 0.1}) end, "selects no layer", "0.2")
  T.errors(function() randomize.order(lenet, {stop_layer = 1.5}) end, "outside (0, 1]")
  T.errors(function() randomize.order(lenet, {stop_layer = 6}) end, "out of range", "5 randomizable", "fc3, fc2")
  T.errors(function() randomize.order(lenet, {stop_layer = 0}) end, "out of range")
  T.errors(function() randomize.order(lenet, {stop_layer = "relu1"}) end, "not a randomizable layer", "fc3, fc2, fc1")
  T.errors(function() randomize.order(lenet, {stop_layer = "fc3"}) end, "nothing would be randomized")
  T.errors(function() randomize.order(lenet, {order = "sideways"}) end, "top_down, bottom_up, independent")
  T.errors(function() randomize.layers(lenet, {skip = {"fc9"}}) end, "'fc9' is not a randomizable layer", "conv1")
  T.errors(function() randomize.layers(lenet, {types = {"lstm"}}) end, "unknown layer type 'lstm'")
  T.errors(function() randomize.layers(lenet, {types = {"batchnorm2d"}}) end, "no randomizable layer is left")
  local plain = nn.sequential({nn.flatten(), nn.relu()}, {input_shape = {4}})
  T.errors(function() randomize.layers(plain) end, "no randomizable layers")
  T.errors(function() randomize.clone(lenet, "relu1") end, "'relu1' (relu) has no parameters")
  T.errors(function() randomize.clone(lenet, "fc7") end, "fc7")
  T.errors(function() randomize.clone(lenet, "fc1", {mode = "scramble"}) end, "reinit, noise, shuffle")
  T.errors(function() randomize.clone(lenet, "fc1", {mode = "noise", level = -1}) end, "level")
end)

T.done()
