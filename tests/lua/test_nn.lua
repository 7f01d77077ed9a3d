-- test_nn.lua — the nn and model modules from Lua: layer descriptors,
-- sequential and graph models, passes, introspection, shared parameter
-- storage, clone, modes, JSON, the bundled architectures, and the error
-- messages of bad options, shapes, names and call orders.
local T = require "sanity.test"
local models = require "sanity.models"

local function lenet_like()
  return nn.sequential({
    {"conv1", nn.conv2d(1, 6, 5, {padding = 2})}, {"relu1", nn.relu()}, {"pool1", nn.maxpool2d(2)},
    nn.flatten(),
    {"fc1", nn.linear(6 * 14 * 14, 10)},
  }, {seed = 3, input_shape = {1, 28, 28}})
end

T.case("layer descriptors", function()
  local c = nn.conv2d(1, 6, 5, {padding = 2, stride = {1, 2}})
  T.eq(c.type, "conv2d"); T.eq(c.in_channels, 1); T.eq(c.out_channels, 6)
  T.eq(c.kernel_size[1], 5); T.eq(c.padding[2], 2); T.eq(c.stride[2], 2); T.eq(c.bias, true)
  T.eq(c.init, "kaiming_uniform")
  T.ok(tostring(c):find("nn.conv2d{in_channels=1, out_channels=6, kernel_size={5, 5}", 1, true))
  T.eq(nn.maxpool2d(3).stride[1], 3)                 -- stride defaults to the kernel
  T.eq(nn.avgpool2d(2, {count_include_pad = false}).count_include_pad, false)
  T.eq(nn.leaky_relu(0.2).negative_slope, 0.2, "slope")
  T.near(nn.dropout(0.25).p, 0.25, 1e-7)
  T.eq(nn.batchnorm2d(8, {momentum = 0.5}).num_features, 8)
  T.eq(nn.adaptive_avgpool2d({2, 3}).output_size[2], 3)
  T.eq(nn.linear(3, 2, {bias = false}).bias, false)
end)

T.case("bad layer options", function()
  T.errors(function() return nn.conv2d(1, 6, 5, {stride = 0}) end, "nn.conv2d: stride must be at least 1, got 0")
  T.errors(function() return nn.conv2d(1, 6, 5, {strid = 2}) end, "unknown option 'strid'", "valid: stride")
  T.errors(function() return nn.conv2d(4, 6, 3, {groups = 3}) end, "in_channels (4) must be divisible by groups (3)")
  T.errors(function() return nn.conv2d(1, 6, {1, 2, 3}) end, "kernel_size: integer or {h, w} pair")
  T.errors(function() return nn.conv2d(1, 6, 3, {padding = "same"}) end, "option 'padding'")
  T.errors(function() return nn.linear(0, 3) end, "nn.linear: in_features must be at least 1, got 0")
  T.errors(function() return nn.linear(3, 2, {init = "he"}) end, "unknown value 'he'", "kaiming_uniform")
  T.errors(function() return nn.linear(3, 2, {bias = 1}) end, "option 'bias': boolean expected")
  T.errors(function() return nn.dropout(1.5) end, "nn.dropout: p must be in [0, 1], got 1.5")
  T.errors(function() return nn.maxpool2d(2, {padding = 2}) end, "padding (2) must be at most half the kernel size")
  T.errors(function() return nn.batchnorm1d(4, {eps = 0}) end, "eps must be positive")
  T.errors(function() return nn.relu(1) end, "nn.relu takes no arguments")
  T.errors(function() return nn.linear("a", 2) end, "bad argument #1 to 'linear'")
end)

T.case("sequential models: names, layers, parameters", function()
  local m = lenet_like()
  T.ok(model.is_model(m)); T.ok(not model.is_model({}))
  T.eq(#m, 5)
  local L = m:layers()
  T.eq(L[4].name, "flatten4")                          -- unnamed: <type><position>
  T.eq(L[1].type, "conv2d"); T.eq(L[1].inputs[1], "input"); T.eq(L[2].inputs[1], "conv1")
  T.eq(table.concat(L[1].params.weight, ","), "6,1,5,5"); T.eq(L[1].params.bias[1], 6)
  T.eq(L[1].randomizable, true); T.eq(L[2].randomizable, false)
  T.eq(table.concat(L[3].output_shape, ","), "6,14,14")
  T.eq(m:num_parameters(), 6 * 25 + 6 + 1176 * 10 + 10)
  local P = m:parameters()
  T.eq(#P, 4); T.eq(P[1].name, "conv1.weight"); T.eq(P[4].name, "fc1.bias"); T.eq(P[3].layer, "fc1")
  T.eq(table.concat(P[3].value:shape(), ","), "10,1176")
  local l = m:layer("conv1")
  T.eq(l.name, "conv1"); T.eq(l.type, "conv2d"); T.eq(l.index, 1); T.eq(l.padding[1], 2)
  T.eq(table.concat(l.weight:shape(), ","), "6,1,5,5")
  T.eq(m:layer(5).name, "fc1")
  local s = tostring(m)
  T.ok(s:find("Model: 5 layers", 1, true) and s:find("conv1", 1, true) and s:find("total parameters: 11926", 1, true))
  T.ok(not s:find("inputs", 1, true), "a chain has no inputs column")
end)

T.case("parameter tensors share the model's storage", function()
  local m = nn.sequential({{"fc", nn.linear(3, 2)}}, {seed = 1})
  local w, b = m:layer("fc").weight, m:layer("fc").bias
  w:copy_(tensor.from{{1, 2, 3}, {-1, 0, 0.5}})
  b:fill_(0)
  b[2] = -2
  local y = m:forward(tensor.from{{1, 1, 1}, {2, 0, -2}})
  T.near(y, tensor.from{{6, -2.5}, {-4, -5}}, 1e-6)
  -- the gradient of sum(y * g) by hand: dx = g W, dW = g^T x
  local dx = m:backward(tensor.from{{1, 0}, {0, 1}})
  T.near(dx, tensor.from{{1, 2, 3}, {-1, 0, 0.5}}, 1e-6)
  T.near(m:layer("fc").grads.weight, tensor.from{{1, 1, 1}, {2, 0, -2}}, 1e-6)
  T.near(m:parameters()[2].grad, tensor.from{1, 1}, 1e-6)
  m:backward(tensor.from{{1, 0}, {0, 1}})             -- parameter gradients accumulate
  T.near(m:layer("fc").grads.bias, tensor.from{2, 2}, 1e-6)
  m:zero_grad()
  T.eq(m:layer("fc").grads.bias:abs():sum(), 0)
  m:backward(tensor.from{{1, 0}, {0, 1}}, {param_grads = false})
  T.eq(m:layer("fc").grads.bias:abs():sum(), 0)
  T.eq(m:backward(tensor.from{{1, 0}, {0, 1}}, {input_grad = false}), nil)
end)

T.case("activations and gradients stay readable", function()
  local m = lenet_like()
  T.errors(function() return m:activation("conv1") end, "no forward pass")
  local x = tensor.randn({2, 1, 28, 28}, {seed = 1})
  local y = m:forward(x)
  T.eq(table.concat(y:shape(), ","), "2,10")
  T.eq(table.concat(m:activation("pool1"):shape(), ","), "2,6,14,14")
  T.ok(m:activation("input"):equal(x))
  T.ok(m:activation("fc1"):equal(y))
  T.errors(function() return m:gradient("conv1") end, "no gradient at 'conv1'")
  local dx = m:backward(tensor.ones(2, 10), {param_grads = false})
  T.ok(m:gradient("input"):equal(dx))
  T.eq(table.concat(m:gradient("conv1"):shape(), ","), "2,6,28,28")
  -- Grad-CAM ingredients: activation and gradient of a conv layer
  local a, g = m:activation("conv1"), m:gradient("conv1")
  T.ok(a:numel() == g:numel())
  -- a later forward does not overwrite what was handed out
  local y1 = y:clone()
  m:forward(tensor.randn({2, 1, 28, 28}, {seed = 2}))
  T.ok(y:equal(y1))
end)

T.case("passes are deterministic across threads and batch positions", function()
  local m = models.resnet8{seed = 5}
  local x = tensor.randn({11, 1, 28, 28}, {seed = 3})
  local g = tensor.randn({11, 10}, {seed = 4})
  local y1 = m:forward(x, {threads = 1}):clone()
  local d1 = m:backward(g, {threads = 1}):clone()
  local y2 = m:forward(x, {threads = 2})
  local d2 = m:backward(g, {threads = 2})
  T.ok(y1:equal(y2)); T.ok(d1:equal(d2))
  local y3 = m:forward(x:narrow(4, 5), {threads = 2})
  local d3 = m:backward(g:narrow(4, 5))
  T.ok(y3:equal(y1:narrow(4, 5))); T.ok(d3:equal(d1:narrow(4, 5)))
end)

T.case("input shape errors name the layer and both shapes", function()
  local m = lenet_like()
  T.errors(function() return m:forward(tensor.zeros(2, 3, 28, 28)) end,
    "conv2d 'conv1': input has 3 channels, weight expects 1", "input [2, 3, 28, 28]", "weight [6, 1, 5, 5]")
  T.errors(function() return m:forward(tensor.zeros(2, 1, 20, 20)) end,
    "linear 'fc1': input has 600 features, weight expects 1176", "input [2, 600]", "weight [10, 1176]")
  T.errors(function() return m:forward(tensor.zeros(2, 784)) end,
    "conv2d 'conv1': expected a 4-d input [N, C, H, W], got [2, 784]")
  T.errors(function() return m:forward(nil) end, "bad argument #1 to 'forward'", "sanity.Tensor expected")
  local err = T.errors(function() return m:forward(tensor.zeros(2, 3, 28, 28)) end, "channels")
  T.ok(err:find("test_nn.lua:%d+:"), "error carries the script position: " .. err)
  m:forward(tensor.zeros(2, 1, 28, 28))
  T.errors(function() return m:backward(tensor.zeros(2, 9)) end, "gradient has shape [2, 9]", "[2, 10]")
  T.errors(function() return m:forward(tensor.zeros(2, 1, 28, 28), {thread = 2}) end, "unknown option 'thread'")
  T.errors(function() return m:backward(tensor.zeros(2, 10), {params = true}) end, "unknown option 'params'")
end)

T.case("backward before forward", function()
  local m = lenet_like()
  T.errors(function() return m:backward(tensor.zeros(2, 10)) end, "backward before forward")
  local c = m:clone()
  m:forward(tensor.zeros(1, 1, 28, 28))
  T.errors(function() return c:backward(tensor.zeros(1, 10)) end, "backward before forward")
end)

T.case("unknown layer names list the model's layers", function()
  local m = lenet_like()
  T.errors(function() return m:layer("conv9") end, "no layer named 'conv9'", "(layers: conv1, relu1, pool1, flatten4, fc1)")
  T.errors(function() return m:layer(9) end, "layer 9 out of range (the model has 5 layers)")
  m:forward(tensor.zeros(1, 1, 28, 28))
  T.errors(function() return m:activation("nope") end, "no layer named 'nope'")
  T.errors(function() return m:reinit("nope") end, "no layer named 'nope'")
end)

T.case("sequential argument errors", function()
  T.errors(function() return nn.sequential({}) end, "no layers given")
  T.errors(function() return nn.sequential({nn.relu(), 3}) end, "entry 2 must be a layer")
  T.errors(function() return nn.sequential({{"a", nn.relu()}, {"a", nn.relu()}}) end, "a layer named 'a' already exists")
  T.errors(function() return nn.sequential({{"in put", nn.relu()}}) end, "invalid layer name 'in put'")
  T.errors(function() return nn.sequential({nn.add()}) end, "needs two inputs (use nn.graph)")
  T.errors(function() return nn.sequential({nn.relu()}, {sed = 1}) end, "unknown option 'sed'")
  T.errors(function() return nn.sequential({nn.relu()}, {input_shape = {0, 2}}) end, "sizes must be positive")
  T.errors(function()
    return nn.sequential({nn.conv2d(3, 8, 3), nn.flatten(), nn.linear(100, 2)}, {input_shape = {3, 8, 8}})
  end, "linear 'linear3': input has 288 features, weight expects 100")
end)

T.case("graph models: residual blocks", function()
  local g = nn.graph{seed = 0, input_shape = {2, 5}}
  local x = g:input()
  T.eq(x, "input")
  local h = g:add("t", nn.tanh(), x)
  local s = g:add("sum", nn.add(), h, x)
  local m = g:build(s)
  local xin = tensor.from{{{0.5, -1, 2, 0, 1}, {1, 1, 1, 1, 1}}}
  local y = m:forward(xin)
  T.near(y, xin:tanh() + xin, 1e-6)
  -- gradients from both consumers of the input add up: 1 - tanh^2 + 1
  local dx = m:backward(tensor.ones(1, 2, 5))
  T.near(dx, (xin:tanh():square() * -1) + 2, 1e-6)
  T.ok(tostring(m):find("t, input", 1, true), "graphs show their inputs")
  T.eq(m:layers()[2].inputs[2], "input")
end)

T.case("graph errors", function()
  local g = nn.graph{input_shape = {3, 8, 8}}
  local x = g:input()
  local c = g:add("c", nn.conv2d(3, 4, 3), x)
  T.errors(function() return g:add("sum", nn.add(), c, x) end,
    "add 'sum': inputs have different shapes [1, 4, 6, 6] and [1, 3, 8, 8]")
  T.errors(function() return g:add("r", nn.relu(), "nope") end, "no layer named 'nope' in the graph yet")
  T.errors(function() return g:add("r", nn.relu(), c, x) end, "relu 'r': takes 1 input, got 2")
  T.errors(function() return g:add("r", nn.relu()) end, "relu 'r': takes 1 input, got 0")
  T.errors(function() return g:add("c", nn.relu(), c) end, "a layer named 'c' already exists")
  T.errors(function() return g:add("input", nn.relu(), c) end, "reserved")
  local r = g:add(nil, nn.relu(), c)
  T.eq(r, "relu2")
  g:add("dangling", nn.tanh(), c)
  T.errors(function() return g:build(r) end, "the output must be the last layer added ('dangling'), got 'relu2'")
  local g2 = nn.graph{}
  local a = g2:add("a", nn.relu(), g2:input())
  g2:add("b", nn.tanh(), a)
  g2:add("c", nn.sigmoid(), a)
  T.errors(function() return g2:build("c") end, "layer 'b' does not feed the output layer 'c'")
  local g3 = nn.graph{}
  local m = g3:build(g3:add("a", nn.relu(), g3:input()))
  T.ok(model.is_model(m))
  T.errors(function() return g3:add("b", nn.relu(), "a") end, "already built")
  T.errors(function() return nn.graph{}:build("x") end, "no layers added")
end)

T.case("clone, modes, reinit", function()
  local m = models.resnet8{seed = 1}
  T.eq(m:training(), false)                         -- eval by default
  T.eq(m:train(), m); T.eq(m:training(), true)
  m:train(false); T.eq(m:training(), false)
  local c = m:clone()
  local w = m:layer("stem.conv").weight:clone()
  c:reinit("stem.conv", {seed = 9, purpose = "mprt"})
  T.ok(not c:layer("stem.conv").weight:equal(w))
  T.ok(m:layer("stem.conv").weight:equal(w))       -- the original is untouched
  c:reinit("stem.conv")                            -- (model seed, "init"): as at creation
  T.ok(c:layer("stem.conv").weight:equal(w))
  c:train()
  T.eq(m:training(), false)
  -- batch norm in train mode updates its running statistics, eval does not
  local rm = c:layer("stem.bn").running_mean:clone()
  c:forward(tensor.randn({4, 1, 28, 28}, {seed = 1}))
  T.ok(not c:layer("stem.bn").running_mean:equal(rm))
  T.eq(c:layer("stem.bn").num_batches_tracked:item(), 1)
  T.eq(m:layer("stem.bn").num_batches_tracked:item(), 0)
  T.errors(function() return c:reinit("stem.conv", {seed = -1}) end, "must be non-negative")
  T.eq(#c:buffers(), 3 * 9)
  T.eq(c:buffers()[1].name, "stem.bn.running_mean")
end)

T.case("JSON round trip", function()
  local m = models.resnet8{seed = 4}
  local j = m:to_json()
  T.ok(j:find('"format":%s*"sanity.model"'))
  local r = model.from_json(j)
  T.eq(r:to_json(), j)
  T.eq(r:num_parameters(), m:num_parameters())
  T.ok(r:layer("fc").weight:equal(m:layer("fc").weight))  -- same seed, same initial weights
  T.errors(function() return model.from_json("{") end, "model JSON: not valid JSON")
  T.errors(function() return model.from_json('{"nodes":[{"name":"a","type":"conv3d"}]}') end,
    "unknown layer type 'conv3d'")
end)

T.case("bundled architectures", function()
  local l, p, r = models.lenet{seed = 0}, models.mlp{seed = 0}, models.resnet8{seed = 0}
  T.eq(l:num_parameters(), 61706); T.eq(p:num_parameters(), 235146); T.eq(r:num_parameters(), 77754)
  local names = {}
  for _, layer in ipairs(r:layers()) do names[layer.name] = layer.type end
  T.eq(names["stage2.shortcut.conv"], "conv2d"); T.eq(names["stage1.add"], "add"); T.eq(names["fc"], "linear")
  T.eq(names["stage1.shortcut.conv"], nil)            -- identity shortcut in stage 1
  T.eq(r:layer("stage2.conv1").stride[1], 2); T.eq(r:layer("stem.conv").bias, false)
  local x = tensor.randn({2, 1, 28, 28}, {seed = 7})
  for _, m in ipairs{l, p, r} do T.eq(table.concat(m:forward(x):shape(), ","), "2,10") end
  T.errors(function() return models.lenet{sed = 1} end, "models.lenet: unknown option 'sed'")
  -- the seed decides the weights
  T.ok(not models.lenet{seed = 1}:layer("fc3").weight:equal(l:layer("fc3").weight))
  T.ok(models.lenet{seed = 0}:layer("fc3").weight:equal(l:layer("fc3").weight))
end)

T.case("freed models raise, not crash", function()
  local m = models.mlp{}
  m:free()
  T.errors(function() return m:forward(tensor.zeros(1, 784)) end, "model has been freed")
  T.eq(tostring(m), "model (freed)")
  do
    local c <close> = models.mlp{}
    T.eq(#c, 6)
  end
end)

T.done()
