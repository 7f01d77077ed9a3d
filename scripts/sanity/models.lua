-- sanity.models — the bundled architectures, built with the nn module.
--   local models = require "sanity.models"
--   local m = models.lenet{seed = 0}          -- 1x28x28 -> 10 logits
--   local m = models.mlp{seed = 0}            -- 784 -> 256 -> 128 -> 10
--   local m = models.resnet8{seed = 0}        -- 1x28x28 -> 10, batch norm
-- Options: seed (initializer seed; default: the run seed), and for
-- resnet8/mlp the sizes below. Layer names match the PyTorch modules in
-- scripts/fixtures/make_nn_fixtures.py, so state_dict keys equal sanity's
-- parameter names ("stage2.shortcut.conv.weight").
local M = {}

local function check_opts(opts, known, fname)
  opts = opts or {}
  for k in pairs(opts) do
    if not known[k] then
      local names = {}
      for n in pairs(known) do names[#names + 1] = n end
      table.sort(names)
      error(string.format("models.%s: unknown option '%s' (valid: %s)", fname, tostring(k),
        table.concat(names, ", ")), 3)
    end
  end
  return opts
end

-- LeNet-5 as in the issue: conv 1->6 5x5 pad 2, relu, maxpool 2,
-- conv 6->16 5x5, relu, maxpool 2, flatten, 400->120->84->10 with relu.
function M.lenet(opts)
  opts = check_opts(opts, {seed = true, in_channels = true, classes = true}, "lenet")
  local c, k = opts.in_channels or 1, opts.classes or 10
  return nn.sequential({
    {"conv1", nn.conv2d(c, 6, 5, {padding = 2})}, {"relu1", nn.relu()}, {"pool1", nn.maxpool2d(2)},
    {"conv2", nn.conv2d(6, 16, 5)}, {"relu2", nn.relu()}, {"pool2", nn.maxpool2d(2)},
    {"flatten", nn.flatten()},
    {"fc1", nn.linear(400, 120)}, {"relu3", nn.relu()},
    {"fc2", nn.linear(120, 84)}, {"relu4", nn.relu()},
    {"fc3", nn.linear(84, k)},
  }, {seed = opts.seed, input_shape = {c, 28, 28}})
end

-- MLP: flatten, 784 -> hidden[1] -> hidden[2] -> classes with relu.
function M.mlp(opts)
  opts = check_opts(opts, {seed = true, inputs = true, hidden = true, classes = true}, "mlp")
  local hidden = opts.hidden or {256, 128}
  local n_in, k = opts.inputs or 784, opts.classes or 10
  local layers = {{"flatten", nn.flatten()}}
  local prev = n_in
  for i, h in ipairs(hidden) do
    layers[#layers + 1] = {"fc" .. i, nn.linear(prev, h)}
    layers[#layers + 1] = {"relu" .. i, nn.relu()}
    prev = h
  end
  layers[#layers + 1] = {"fc" .. (#hidden + 1), nn.linear(prev, k)}
  return nn.sequential(layers, {seed = opts.seed, input_shape = {n_in}})
end

-- A basic residual block: conv3x3-bn-relu-conv3x3-bn, plus the input
-- (identity, or 1x1 conv + bn when the shape changes), then relu.
local function basic_block(g, name, x, cin, cout, stride)
  local p = name .. "."
  local h = g:add(p .. "conv1", nn.conv2d(cin, cout, 3, {stride = stride, padding = 1, bias = false}), x)
  h = g:add(p .. "bn1", nn.batchnorm2d(cout), h)
  h = g:add(p .. "relu1", nn.relu(), h)
  h = g:add(p .. "conv2", nn.conv2d(cout, cout, 3, {padding = 1, bias = false}), h)
  h = g:add(p .. "bn2", nn.batchnorm2d(cout), h)
  local s = x
  if stride ~= 1 or cin ~= cout then
    s = g:add(p .. "shortcut.conv", nn.conv2d(cin, cout, 1, {stride = stride, bias = false}), x)
    s = g:add(p .. "shortcut.bn", nn.batchnorm2d(cout), s)
  end
  h = g:add(p .. "add", nn.add(), h, s)
  return g:add(p .. "relu2", nn.relu(), h)
end

-- ResNet8: stem conv 3x3 (1->16, no bias) + bn + relu, three basic
-- blocks 16->16 (stride 1), 16->32 (stride 2), 32->64 (stride 2),
-- global average pool, flatten, fc 64->10.
function M.resnet8(opts)
  opts = check_opts(opts, {seed = true, in_channels = true, classes = true, width = true}, "resnet8")
  local c, k, w = opts.in_channels or 1, opts.classes or 10, opts.width or 16
  local g = nn.graph{seed = opts.seed, input_shape = {c, 28, 28}}
  local x = g:add("stem.conv", nn.conv2d(c, w, 3, {padding = 1, bias = false}), g:input())
  x = g:add("stem.bn", nn.batchnorm2d(w), x)
  x = g:add("stem.relu", nn.relu(), x)
  x = basic_block(g, "stage1", x, w, w, 1)
  x = basic_block(g, "stage2", x, w, 2 * w, 2)
  x = basic_block(g, "stage3", x, 2 * w, 4 * w, 2)
  x = g:add("pool", nn.adaptive_avgpool2d(1), x)
  x = g:add("flatten", nn.flatten(), x)
  x = g:add("fc", nn.linear(4 * w, k), x)
  return g:build(x)
end

return M
