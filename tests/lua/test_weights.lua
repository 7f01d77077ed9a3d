-- test_weights.lua — weight files: sanity's HDF5 model files (bitwise round
-- trips, layout, attributes, filling a given model), the bundled trained
-- models in data/, scripts/export_torch.py against PyTorch's logits (skipped
-- when PyTorch is absent), safetensors (mixed dtypes from a hand-written
-- fixture, round trips) and Keras HDF5 weights (logits against a numpy
-- reference), and every malformed input: shape mismatches, unknown layer
-- types, truncated or corrupt HDF5 and safetensors files.
local T = require "sanity.test"
local models = require "sanity.models"

local ROOT = os.getenv("SANITY_ROOT") or "."
local FIX = ROOT .. "/tests/fixtures/"

local function tmpname(suffix)
  local p = os.tmpname()
  os.remove(p)
  return p .. suffix
end

local function read_bytes(p)
  local f = assert(io.open(p, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function write_bytes(p, s)
  local f = assert(io.open(p, "wb"))
  f:write(s)
  f:close()
end

local function same_weights(a, b, msg)
  local pa, pb = a:parameters(), b:parameters()
  T.eq(#pa, #pb, msg)
  for i = 1, #pa do T.ok(pa[i].value:equal(pb[i].value), (msg or "") .. " " .. pa[i].name) end
  local ba, bb = a:buffers(), b:buffers()
  for i = 1, #ba do T.ok(ba[i].value:equal(bb[i].value), (msg or "") .. " " .. ba[i].name) end
end

-- max |a - b| / max |b|
local function relerr(a, b)
  return (a - b):abs():max() / b:abs():max()
end

-- A ResNet-8 whose batch-norm buffers are not their defaults.
local function trained_resnet()
  local m = models.resnet8{seed = 4}
  local x, y = data.fashion_mnist{split = "train", n = 32}
  train.fit(m, x, y, {epochs = 1, batch_size = 16, progress = false})
  return m
end

T.case("sanity model files: bitwise round trip, layout, attributes", function()
  for _, m in ipairs({models.lenet{seed = 1}, models.mlp{seed = 2}, trained_resnet()}) do
    local p = tmpname(".h5")
    T.eq(m:save(p, {attrs = {note = "hello", acc = 0.5, n = 3, ok = true}}), m)
    local r = model.load(p)
    same_weights(r, m, p)
    T.eq(r:to_json(), m:to_json(), "architecture")
    T.eq(r:training(), false)
    local x = data.fashion_mnist{n = 8}
    T.ok(r:forward(x):equal(m:forward(x)), "same logits")
    local a = results.read_attrs(p)
    T.eq(a.format, "sanity.model"); T.eq(a.format_version, 1); T.eq(a.note, "hello"); T.eq(a.acc, 0.5)
    T.eq(a.n, 3); T.eq(a.ok, true)
    T.ok(model.from_json(a.architecture), "architecture attribute is model JSON")
    os.remove(p)
  end
  local m = trained_resnet()
  local p = tmpname(".h5")
  m:save(p)
  local names = {}
  for _, n in ipairs(results.list(p)) do names[n] = true end
  T.ok(names["/stage2.shortcut.conv/weight"] and names["/stem.bn/running_var"] and names["/fc/bias"], "one group per layer")
  T.ok(names["/stem.bn/num_batches_tracked"])
  T.eq(results.read(p, "/stem.bn/num_batches_tracked"):item(), 2)
  T.eq(table.concat(results.read(p, "/stage1.conv1/weight"):shape(), ","), "16,16,3,3", "PyTorch layout")
  -- filling a given model (in place, returned) from the tensors of a file
  local fresh = models.resnet8{seed = 9}
  T.eq(model.load(p, fresh), fresh)
  same_weights(fresh, m, "filled")
  local from_json = model.load(p, m:to_json())
  same_weights(from_json, m, "from JSON")
  os.remove(p)
end)

local bundled = {
  {"lenet_fmnist.h5", "lenet", 0.89},
  {"mlp_fmnist.h5", "mlp", 0.88},
  {"resnet8_fmnist.h5", "resnet8", 0.91},
}

T.case("bundled models load, are small, and keep their accuracy on a test subset", function()
  local xt, yt = data.fashion_mnist{split = "test", n = 1000}
  for _, b in ipairs(bundled) do
    local p = ROOT .. "/data/" .. b[1]
    local m = model.load(p)
    local a = results.read_attrs(p)
    T.ok(#read_bytes(p) < 2 * 1024 * 1024, b[1] .. " under 2 MB")
    T.eq(a.architecture_name, b[2]); T.eq(a.label_permutation, false)
    T.ok(a.test_accuracy >= b[3], string.format("%s: recorded test accuracy %.4f", b[1], a.test_accuracy))
    local acc = train.evaluate(m, xt, yt)
    T.ok(acc >= b[3] - 0.03, string.format("%s: accuracy %.4f on the first 1000 test images", b[1], acc))
    T.eq(m:to_json(), models[b[2]]{seed = a.seed}:to_json(), b[1] .. ": the bundled architecture")
  end
  local p = ROOT .. "/data/lenet_fmnist_permuted.h5"
  local a = results.read_attrs(p)
  T.eq(a.label_permutation, true)
  T.ok(a.train_accuracy > 0.5, "fits its permuted labels: " .. a.train_accuracy)
  T.ok(train.evaluate(model.load(p), xt, yt) < 0.2, "near chance on true test labels")
end)

T.case("export_torch.py: same logits as PyTorch (LeNet, ResNet-8, Sequential, functional forward)", function()
  if not os.execute("/usr/bin/python3 -c 'import torch, h5py' >/dev/null 2>&1") then
    io.stderr:write("SKIP export_torch.py parity: /usr/bin/python3 cannot import torch and h5py\n")
    return
  end
  local dir = tmpname("_export")
  assert(os.execute("mkdir -p " .. dir))
  local ok = os.execute(string.format("/usr/bin/python3 %s/tests/lua/helpers/export_parity.py %s", ROOT, dir))
  T.ok(ok, "export_parity.py ran")
  for _, n in ipairs({"lenet", "resnet8", "sequential", "functional"}) do
    local m = model.load(dir .. "/" .. n .. ".h5")
    local ref = data.load_h5(dir .. "/" .. n .. "_ref.h5", "logits")
    local y = m:forward(data.load_h5(dir .. "/" .. n .. "_ref.h5", "x"))
    T.ok(relerr(y, ref) < 1e-5, string.format("%s: relative error %.3g", n, relerr(y, ref)))
    if n == "resnet8" then -- parameter names are the state_dict keys, as in models.lua
      local want = models.resnet8{seed = 0}:parameters()
      for i, p in ipairs(m:parameters()) do T.eq(p.name, want[i].name) end
    end
  end
  os.execute("rm -rf " .. dir)
end)

T.case("safetensors: mixed dtypes from a hand-written file; round trip", function()
  local ref = FIX .. "st_mixed_ref.h5"
  local m = model.load_safetensors(FIX .. "st_mixed.safetensors", results.read_attrs(ref).architecture)
  for _, p in ipairs(m:parameters()) do T.ok(p.value:equal(results.read(ref, p.name)), p.name) end
  for _, b in ipairs(m:buffers()) do T.ok(b.value:equal(results.read(ref, b.name)), b.name) end
  -- a given model is filled in place and returned
  local m2 = model.from_json(results.read_attrs(ref).architecture)
  T.eq(model.load_safetensors(FIX .. "st_mixed.safetensors", m2), m2)
  same_weights(m2, m)
  local r = trained_resnet()
  local p = tmpname(".safetensors")
  r:save_safetensors(p)
  local back = model.load_safetensors(p, models.resnet8{seed = 0})
  same_weights(back, r, "round trip")
  os.remove(p)
end)

T.case("Keras HDF5 weights: layout conversion gives the Keras logits", function()
  local arch = nn.sequential({
    {"conv1", nn.conv2d(1, 4, 3)}, {"bn", nn.batchnorm2d(4, {eps = 1e-3})}, {"relu1", nn.relu()},
    {"flatten", nn.flatten()}, {"fc1", nn.linear(144, 16)}, {"relu2", nn.relu()}, {"fc2", nn.linear(16, 10)},
  }, {seed = 0, input_shape = {1, 8, 8}})
  local map = {conv2d = "conv1", batch_normalization = "bn", dense = "fc1", dense_1 = "fc2"}
  local f = FIX .. "keras_model.h5"
  local m = model.load_keras(f, arch:clone(), {map = map})
  local want = data.load_h5(f, "logits")
  local y = m:forward(data.load_h5(f, "x"))
  T.ok(relerr(y, want) < 1e-5, "model.save() layout: " .. relerr(y, want))
  -- save_weights() layout, BatchNormalization(scale=False): gamma is 1
  local m2 = model.load_keras(FIX .. "keras_weights.h5", arch:to_json(), {map = map})
  local want2 = data.load_h5(FIX .. "keras_weights_ref.h5", "logits")
  local y2 = m2:forward(data.load_h5(FIX .. "keras_weights_ref.h5", "x"))
  T.ok(relerr(y2, want2) < 1e-5, "save_weights() layout: " .. relerr(y2, want2))
  T.ok(m2:layer("bn").weight:equal(tensor.ones(4)))
  -- without the channels-last reordering of fc1's rows the logits differ
  local m3 = model.load_keras(f, arch:clone(), {map = map, channels_last = false})
  T.ok(relerr(m3:forward(data.load_h5(f, "x")), want) > 1e-2, "flatten order matters")
  T.errors(function() model.load_keras(f, arch:clone()) end,
    "Keras layer 'batch_normalization' has weights but the model has no layer 'batch_normalization'", "map=")
  T.errors(function() model.load_keras(f, arch:clone(), {map = {conv2d = "conv9"}}) end,
    "option 'map': the model has no layer 'conv9' (mapped from Keras layer 'conv2d')")
  local wide = nn.sequential({
    {"conv1", nn.conv2d(1, 4, 5)}, {"bn", nn.batchnorm2d(4)}, {"relu1", nn.relu()}, {"flatten", nn.flatten()},
    {"fc1", nn.linear(64, 16)}, {"relu2", nn.relu()}, {"fc2", nn.linear(16, 10)},
  }, {seed = 0, input_shape = {1, 8, 8}})
  local before = wide:clone()
  T.errors(function() model.load_keras(f, wide, {map = map}) end, "layer 'conv1' (conv2d)",
    "has shape [3, 3, 1, 4], the model expects [5, 5, 1, 4] (HWIO of weight [4, 1, 5, 5])")
  same_weights(wide, before, "unchanged after a failed load")
end)

-- ---- malformed input ----

local function st_file(header, data_bytes, hlen)
  local h = type(header) == "string" and header or nil
  if not h then
    local parts = {}
    for name, e in pairs(header) do
      local shape = {}
      for i, v in ipairs(e.shape) do shape[i] = tostring(v) end
      parts[#parts + 1] = string.format('"%s":{"dtype":"%s","shape":[%s],"data_offsets":[%d,%d]}', name, e.dtype,
        table.concat(shape, ","), e.offsets[1], e.offsets[2])
    end
    h = "{" .. table.concat(parts, ",") .. "}"
  end
  local p = tmpname(".safetensors")
  write_bytes(p, string.pack("<I8", hlen or #h) .. h .. (data_bytes or ""))
  return p
end

local function fc(dtype, shape, offsets) return {dtype = dtype, shape = shape, offsets = offsets} end

T.case("bad safetensors files", function()
  local arch = nn.sequential({{"fc", nn.linear(2, 3)}}, {seed = 0})
  local good = {["fc.weight"] = fc("F32", {3, 2}, {0, 24}), ["fc.bias"] = fc("F32", {3}, {24, 36})}
  local bytes = string.rep("\0\0\128\63", 9) -- 9 float32 ones
  local p = st_file(good, bytes)
  local m = model.load_safetensors(p, arch:clone())
  T.ok(m:layer("fc").weight:equal(tensor.ones(3, 2)), "the well-formed file reads")
  os.remove(p)
  local function bad(header, data_bytes, hlen, ...)
    local q = st_file(header, data_bytes, hlen)
    local target = arch:clone()
    local before = target:clone()
    T.errors(function() model.load_safetensors(q, target) end, ...)
    same_weights(target, before, "unchanged")
    os.remove(q)
  end
  bad(good, bytes, 1 << 40, "header length 1099511627776 runs past the end of the file")
  bad(good, bytes:sub(1, 30), nil, "tensor 'fc.bias': data_offsets [24, 36] run past the end of the data (30 bytes")
  bad({["fc.weight"] = fc("F32", {3, 2}, {0, 24}), ["fc.bias"] = fc("F32", {3}, {24, 40})}, bytes .. "xxxx", nil,
    "data_offsets [24, 40] hold 16 bytes, shape [3] of F32 needs 12")
  bad({["fc.weight"] = fc("F32", {3, 2}, {0, 24}), ["fc.bias"] = fc("U8", {3}, {24, 27})}, bytes, nil,
    "tensor 'fc.bias' has dtype U8; sanity reads F32, F64, F16, BF16, I64 and I32")
  bad({["fc.weight"] = fc("F32", {2, 3}, {0, 24}), ["fc.bias"] = fc("F32", {3}, {24, 36})}, bytes, nil,
    "layer 'fc' (linear): fc.weight in '", "has shape [2, 3], the model expects [3, 2]")
  bad({["fc.weight"] = fc("F32", {3, 2}, {0, 24})}, bytes, nil, "layer 'fc' (linear):", "has no values for fc.bias")
  bad({["fc.weight"] = fc("F32", {3, 2}, {0, 24}), ["fc.bias"] = fc("F32", {3}, {24, 36}),
       ["fc2.weight"] = fc("F32", {1}, {0, 4})}, bytes, nil,
    "holds tensor 'fc2.weight', which is not a parameter or buffer of the model", "fc.weight, fc.bias")
  bad("[1, 2]", "", nil, "the header is not a JSON object")
  bad("{\"fc.weight\": {\"dtype\": \"F32\", \"shape\": [3, 2], \"data_offsets\": [8, 4]}}", bytes, nil,
    "has no valid \"data_offsets\"")
  bad("{\"fc.weight\": {\"dtype\": \"F32\", \"shape\": [3, -2], \"data_offsets\": [0, 24]}}", bytes, nil,
    "shape entry 2 is not a non-negative integer")
  bad("{not json", bytes, nil, "the header is not a JSON object")
  -- strict=false skips tensors the model does not have
  local q = st_file({["fc.weight"] = fc("F32", {3, 2}, {0, 24}), ["fc.bias"] = fc("F32", {3}, {24, 36}),
                     ["extra"] = fc("F32", {1}, {0, 4})}, bytes)
  T.ok(model.load_safetensors(q, arch:clone(), {strict = false}))
  os.remove(q)
  local tiny = tmpname(".safetensors")
  write_bytes(tiny, "abc")
  T.errors(function() model.load_safetensors(tiny, arch) end, "is not a safetensors file: 3 bytes")
  os.remove(tiny)
  T.errors(function() model.load_safetensors("/nonexistent/x.safetensors", arch) end,
    "cannot open safetensors file '/nonexistent/x.safetensors': No such file or directory")
  T.errors(function() model.load_safetensors(FIX .. "st_mixed.safetensors") end, "architecture expected")
  T.errors(function() model.load_safetensors(FIX .. "st_mixed.safetensors", 42) end, "model or architecture JSON expected")
end)

T.case("bad HDF5 model files", function()
  local m = models.lenet{seed = 1}
  local p = tmpname(".h5")
  m:save(p)
  -- shapes that do not fit: names the layer and both shapes; nothing changes
  local five = models.lenet{seed = 2, classes = 5}
  local before = five:clone()
  T.errors(function() model.load(p, five) end, "layer 'fc3' (linear): fc3/weight in '" .. p .. "' has shape [10, 84], "
    .. "the model expects [5, 84]")
  same_weights(five, before, "unchanged")
  -- truncated and garbage files
  local bytes = read_bytes(p)
  local cut = tmpname(".h5")
  write_bytes(cut, bytes:sub(1, #bytes // 2))
  T.errors(function() model.load(cut) end, "cannot open model file '" .. cut .. "': corrupt or truncated HDF5 file")
  write_bytes(cut, string.rep("x", 4096))
  T.errors(function() model.load(cut) end, "not an HDF5 file")
  T.errors(function() model.load("/nonexistent.h5") end, "cannot open model file '/nonexistent.h5': No such file")
  -- a file whose architecture names an unknown layer type
  local json = m:to_json():gsub('"type":%s*"conv2d"', '"type": "conv3d"', 1)
  local made = {cut}
  local function fresh() -- results.open takes each file once per run
    cut = tmpname(".h5")
    made[#made + 1] = cut
    return results.open(cut)
  end
  local f = fresh()
  f:write("x", tensor.zeros(1))
  f:attrs(nil, {format = "sanity.model", format_version = 1, architecture = json})
  f:close()
  T.errors(function() model.load(cut) end, "model file '" .. cut .. "': architecture:", "conv3d")
  -- a valid architecture but no tensors
  f = fresh()
  f:write("x", tensor.zeros(1))
  f:attrs(nil, {architecture = m:to_json()})
  f:close()
  T.errors(function() model.load(cut) end, "layer 'conv1' (conv2d):", "has no values for conv1.weight")
  -- an HDF5 file that is not a model file
  f = fresh()
  f:write("x", tensor.zeros(1))
  f:close()
  T.errors(function() model.load(cut) end, "is not a sanity model file", "export_torch.py")
  f = fresh()
  f:write("x", tensor.zeros(1))
  f:attrs(nil, {format = "other"})
  f:close()
  T.errors(function() model.load(cut) end, "its 'format' attribute is not 'sanity.model'")
  f = fresh()
  f:write("x", tensor.zeros(1))
  f:attrs(nil, {format = "sanity.model", format_version = 7, architecture = m:to_json()})
  f:close()
  T.errors(function() model.load(cut) end, "model format version 7 is not supported")
  -- a tensor that is not numeric
  f = fresh()
  f:write("conv1/weight", {"a", "b"})
  f:attrs(nil, {architecture = m:to_json()})
  f:close()
  T.errors(function() model.load(cut) end, "dataset 'conv1/weight' does not hold numbers")
  for _, q in ipairs(made) do os.remove(q) end
  os.remove(p)
  -- saving
  T.errors(function() m:save("/nonexistent/dir/m.h5") end, "/nonexistent/dir")
  T.errors(function() m:save(p, {attrs = {x = {}}}) end, "value of 'x' must be a number, string or boolean")
  T.errors(function() m:save(p, {attrs = {architecture = "x"}}) end, "'architecture' is written by sanity itself")
  T.errors(function() m:save(p, {atrs = {}}) end, "unknown option 'atrs'")
  m:free()
  T.errors(function() m:save(p) end, "model has been freed")
end)

T.case("corrupted model files raise errors, never crash", function()
  local p = tmpname(".h5")
  models.lenet{seed = 1}:save(p)
  local s = read_bytes(p)
  local q = tmpname(".h5")
  local failed = 0
  for i = 0, 39 do
    local off = (i * 7919) % (#s - 64) -- spread over the file, metadata and data
    write_bytes(q, s:sub(1, off) .. string.rep("\255", 64) .. s:sub(off + 65))
    local ok, err = pcall(model.load, q)
    if not ok then
      failed = failed + 1
      T.ok(tostring(err):find(q, 1, true), "the message names the file: " .. tostring(err))
    end
  end
  T.ok(failed > 0, "some corruptions are detected")
  -- safetensors: every byte of the header region and some of the data
  s = read_bytes(FIX .. "st_mixed.safetensors")
  local arch = results.read_attrs(FIX .. "st_mixed_ref.h5").architecture
  failed = 0
  for off = 0, #s - 1, 3 do
    for _, byte in ipairs({"\0", "9", "\255"}) do
      write_bytes(q, s:sub(1, off) .. byte .. s:sub(off + 2))
      local ok, err = pcall(model.load_safetensors, q, arch)
      if not ok then
        failed = failed + 1
        T.ok(tostring(err):find(q, 1, true), "the message names the file: " .. tostring(err))
      end
    end
  end
  T.ok(failed > 100, "header corruptions are detected: " .. failed)
  os.remove(p); os.remove(q)
end)

T.done()
