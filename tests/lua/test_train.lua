-- test_train.lua — the train module: cross-entropy against its closed form,
-- optimizer steps against hand-computed updates and against PyTorch
-- (tests/fixtures/train_optim.h5, scripts/fixtures/make_train_fixtures.py:
-- SGD with momentum/Nesterov/dampening, Adam, AdamW, weight decay, step and
-- cosine schedules, batch norm in training mode), schedules, label
-- permutation, bitwise determinism across thread counts (two processes),
-- a small run that learns, and the error messages of bad arguments.
local T = require "sanity.test"
local models = require "sanity.models"

local FIX = (os.getenv("SANITY_ROOT") or ".") .. "/tests/fixtures/train_optim.h5"

local function tmpname(suffix)
  local p = os.tmpname()
  os.remove(p)
  return p .. suffix
end

-- max |a - b| / max(1, max |b|)
local function relerr(a, b)
  return (a - b):abs():max() / math.max(1, b:abs():max())
end

T.case("cross_entropy: closed form of loss and gradient", function()
  local z = tensor.from({{1, 2, 3}, {0, 0, 0}, {-1000, 0, 1000}})
  local y = tensor.from({2, 1, 0})
  local loss, dz = train.cross_entropy(z, y)
  local l1 = math.log(math.exp(1) + math.exp(2) + math.exp(3)) - 3
  local l2 = math.log(3)
  local l3 = 2000 -- logsumexp = 1000 (stable), minus z[0] = -1000
  T.near(loss, (l1 + l2 + l3) / 3, 1e-9)
  local s = math.exp(1) + math.exp(2) + math.exp(3)
  local want = tensor.from({{math.exp(1) / s, math.exp(2) / s, math.exp(3) / s - 1},
                            {1 / 3, 1 / 3 - 1, 1 / 3}, {-1, 0, 1}}) / 3
  T.near(dz, want, 1e-7)
  T.near(dz:sum(2), tensor.zeros(3), 1e-7, "rows of the gradient sum to 0")
end)

T.case("optimizer steps: hand-computed updates", function()
  -- one linear layer 2 -> 1 with bias; parameters and gradients set by hand
  local function tiny()
    local m = nn.sequential({{"fc", nn.linear(2, 1)}}, {seed = 1})
    local l = m:layer("fc")
    l.weight:copy_(tensor.from({{1, -2}}))
    l.bias:copy_(tensor.from({0.5}))
    return m, l
  end
  local function set_grads(l, gw, gb)
    l.grads.weight:copy_(tensor.from({gw}))
    l.grads.bias:copy_(tensor.from({gb}))
  end
  -- SGD, momentum 0.9, weight decay 0.1, lr 0.5; two steps
  local m, l = tiny()
  local opt = train.optimizer(m, {optimizer = "sgd", lr = 0.5, momentum = 0.9, weight_decay = 0.1})
  set_grads(l, {0.2, 0.4}, 1)
  opt:step()
  -- d = g + 0.1 p = {0.3, 0.2}; buf = d; p = p - 0.5 d
  T.near(l.weight, tensor.from({{0.85, -2.1}}), 1e-7)
  T.near(l.bias, tensor.from({0.5 - 0.5 * 1.05}), 1e-7)
  set_grads(l, {0, 0}, 0)
  opt:step(0.1) -- lr for this step only
  -- d = 0.1 p = {0.085, -0.21}; buf = 0.9 {0.3, 0.2} + d; p -= 0.1 buf
  T.near(l.weight, tensor.from({{0.85 - 0.1 * (0.27 + 0.085), -2.1 - 0.1 * (0.18 - 0.21)}}), 1e-7)
  T.eq(opt:steps(), 2); T.near(opt:lr(), 0.5, 0)
  -- Adam, first step: m_hat = g, v_hat = g^2, so p -= lr g / (|g| + eps)
  m, l = tiny()
  opt = train.optimizer(m, {optimizer = "adam", lr = 0.01, eps = 1e-8})
  set_grads(l, {3, -0.5}, 1e-3)
  opt:step()
  T.near(l.weight, tensor.from({{1 - 0.01 * 3 / (3 + 1e-8), -2 + 0.01 * 0.5 / (0.5 + 1e-8)}}), 1e-7)
  T.near(l.bias, tensor.from({0.5 - 0.01 * 1e-3 / (1e-3 + 1e-8)}), 1e-7)
  -- AdamW decays first: p(1 - lr wd), then the Adam step
  m, l = tiny()
  opt = train.optimizer(m, {optimizer = "adamw", lr = 0.1, weight_decay = 0.5})
  set_grads(l, {1, 1}, 1)
  opt:step()
  T.near(l.weight, tensor.from({{1 * 0.95 - 0.1, -2 * 0.95 - 0.1}}), 1e-6)
  T.ok(tostring(opt):find("optimizer adamw", 1, true))
end)

-- The fixture's tiny model with its initial weights.
local function fixture_model()
  local arch = results.read_attrs(FIX).architecture
  local m = model.from_json(arch)
  for _, p in ipairs(m:parameters()) do p.value:copy_(results.read(FIX, "init/" .. p.name)) end
  return m
end

local cases = {"sgd", "sgd_momentum", "sgd_nesterov", "sgd_dampening", "adam", "adam_wd", "adamw", "sgd_step",
               "adam_cosine"}

T.case("train.fit matches PyTorch: 3 full-batch steps per optimizer and schedule", function()
  local x, y = results.read(FIX, "x"), results.read(FIX, "y")
  for _, name in ipairs(cases) do
    local opts = results.read_attrs(FIX, name)
    opts.epochs, opts.batch_size, opts.shuffle, opts.progress = 3, 8, false, false
    local m = fixture_model()
    local h = train.fit(m, x, y, opts)
    T.eq(h.epochs, 3, name)
    T.near(tensor.from(h.loss), results.read(FIX, name .. "/loss"), 2e-6, name .. " losses")
    T.near(tensor.from(h.lr), results.read(FIX, name .. "/lr"), 1e-12, name .. " learning rates")
    for _, p in ipairs(m:parameters()) do
      local want = results.read(FIX, name .. "/" .. p.name)
      T.ok(relerr(p.value, want) < 1e-5, string.format("%s %s: rel. error %.3g", name, p.name, relerr(p.value, want)))
    end
    for _, b in ipairs(m:buffers()) do
      if not b.name:find("num_batches", 1, true) then
        T.near(b.value, results.read(FIX, name .. "/" .. b.name), 1e-5, name .. " " .. b.name)
      end
    end
    T.eq(m:training(), false, "fit leaves the model in eval mode")
  end
end)

T.case("optimizer objects in a hand-written loop match PyTorch", function()
  local x, y = results.read(FIX, "x"), results.read(FIX, "y")
  local m = fixture_model()
  local o = results.read_attrs(FIX, "adam_wd")
  local opt = train.optimizer(m, o)
  m:train()
  for _ = 1, 3 do
    local loss, dz = train.cross_entropy(m:forward(x), y)
    m:zero_grad()
    m:backward(dz, {input_grad = false})
    opt:step()
  end
  for _, p in ipairs(m:parameters()) do
    T.ok(relerr(p.value, results.read(FIX, "adam_wd/" .. p.name)) < 1e-5, p.name)
  end
end)

T.case("schedules", function()
  local c = {lr = 0.1, schedule = "cosine", epochs = 10, lr_min = 0.01}
  T.near(train.schedule_lr(c, 1), 0.1, 1e-15)
  T.near(train.schedule_lr(c, 6), 0.01 + 0.09 * (1 + math.cos(math.pi * 5 / 10)) / 2, 1e-15)
  local s = {lr = 1, schedule = "step", step_size = 3, gamma = 0.5}
  T.eq(train.schedule_lr(s, 3), 1); T.eq(train.schedule_lr(s, 4), 0.5); T.eq(train.schedule_lr(s, 7), 0.25)
  T.eq(train.schedule_lr({lr = 0.3}, 100), 0.3)
  T.errors(function() train.schedule_lr(s, 0) end, "epochs are numbered from 1")
  T.errors(function() train.schedule_lr({lr = 1, schedule = "linear"}, 1) end, "unknown value 'linear'", "cosine")
end)

T.case("permute_labels: a keyed permutation of the labels", function()
  local y = tensor.from({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
  local a, b = train.permute_labels(y, {seed = 1}), train.permute_labels(y, {seed = 1})
  T.ok(a:equal(b), "same seed, same permutation")
  T.ok(not a:equal(y), "labels moved")
  T.ok(not a:equal(train.permute_labels(y, {seed = 2})), "other seed, other permutation")
  local count = {}
  for _, v in ipairs(a:totable()) do count[v] = (count[v] or 0) + 1 end
  for c = 0, 9 do T.eq(count[c], 2, "class frequencies kept") end
  -- documented key: out[i] = y[perm[i]], perm = rng.permutation(n, seed, "label_permutation" stream)
  local perm = rng.permutation(20, {seed = 1, stream = rng.stream("label_permutation", 0, 0)})
  for i = 1, 20 do T.eq(a[i], y[perm[i] + 1]) end
end)

T.case("label_permutation=true trains on permute_labels(y)", function()
  local x, y = data.fashion_mnist{split = "train", n = 96}
  local o = {epochs = 1, batch_size = 32, seed = 5, progress = false}
  local m1, m2 = models.mlp{seed = 1}, models.mlp{seed = 1}
  o.label_permutation = true
  local h = train.fit(m1, x, y, o)
  T.eq(h.label_permutation, true)
  o.label_permutation = false
  train.fit(m2, x, train.permute_labels(y, {seed = 5}), o)
  for i, p in ipairs(m1:parameters()) do T.ok(p.value:equal(m2:parameters()[i].value), p.name) end
end)

T.case("training is bit-identical for 1 and 2 threads (two processes)", function()
  local script = (os.getenv("SANITY_ROOT") or ".") .. "/tests/lua/helpers/train_small.lua"
  local files = {}
  for _, th in ipairs({1, 2}) do
    files[th] = tmpname(".h5")
    local status, out, err = T.sanity(string.format("run %s --threads %d --quiet out=%s", script, th, files[th]))
    T.eq(status, 0, err .. out)
  end
  local a, b = model.load(files[1]), model.load(files[2])
  for i, p in ipairs(a:parameters()) do T.ok(p.value:equal(b:parameters()[i].value), p.name) end
  for i, p in ipairs(a:buffers()) do T.ok(p.value:equal(b:buffers()[i].value), p.name) end
  local r1 = results.read_attrs(files[1])
  T.ok(r1.loss > 0 and r1.loss == results.read_attrs(files[2]).loss, "same loss")
  os.remove(files[1]); os.remove(files[2])
end)

T.case("a small run learns; seeds and shuffling matter", function()
  local x, y = data.fashion_mnist{split = "train", n = 1000}
  local xt, yt = data.fashion_mnist{split = "test", n = 500}
  local m = models.mlp{seed = 0}
  local acc0 = train.evaluate(m, xt, yt)
  local h = train.fit(m, x, y, {epochs = 3, batch_size = 50, lr = 2e-3, x_val = xt, y_val = yt, progress = false,
                                seed = 3})
  T.ok(acc0 < 0.3, "untrained: near chance")
  T.ok(h.val_accuracy[3] > 0.65, "trained: " .. h.val_accuracy[3])
  T.ok(h.loss[3] < h.loss[1], "loss falls")
  local acc, loss = train.evaluate(m, xt, yt)
  T.near(acc, h.val_accuracy[3], 1e-12); T.near(loss, h.val_loss[3], 1e-9)
  -- evaluate agrees with argmax by hand, whatever the batch size
  local pred = m:forward(xt):argmax(2)
  local hits = 0
  for i = 1, 500 do if pred[i] == yt[i] then hits = hits + 1 end end
  T.near(train.evaluate(m, xt, yt, {batch_size = 7}), hits / 500, 1e-12)
  -- same seed: same bits; another seed or no shuffling: other weights
  local function run(o)
    local r = models.mlp{seed = 0}
    o.epochs, o.batch_size, o.progress = 1, 50, false
    train.fit(r, x, y, o)
    return r:parameters()[1].value
  end
  local w = run({seed = 3})
  T.ok(w:equal(run({seed = 3})), "same seed")
  T.ok(not w:equal(run({seed = 4})), "other seed")
  T.ok(not w:equal(run({seed = 3, shuffle = false})), "no shuffle")
end)

T.case("on_epoch sees each epoch and can stop training", function()
  local x, y = data.fashion_mnist{split = "train", n = 64}
  local seen = {}
  local h = train.fit(models.mlp{seed = 0}, x, y, {epochs = 5, batch_size = 32, progress = false,
    on_epoch = function(e, st) seen[#seen + 1] = st.loss; return e < 2 end})
  T.eq(h.epochs, 2); T.eq(#seen, 2); T.eq(#h.loss, 2); T.eq(seen[2], h.loss[2])
  -- drop_last: 64 samples with batch 48 -> one batch
  local h2 = train.fit(models.mlp{seed = 0}, x, y, {epochs = 1, batch_size = 48, drop_last = true, progress = false})
  T.eq(h2.epochs, 1)
end)

T.case("progress lines on stderr, none with --quiet", function()
  local script = (os.getenv("SANITY_ROOT") or ".") .. "/tests/lua/helpers/train_small.lua"
  local f = tmpname(".h5")
  local status, _, err = T.sanity(string.format("run %s --threads 1 out=%s", script, f))
  T.eq(status, 0, err)
  T.ok(err:find("epoch 1/2  loss", 1, true), "plain epoch lines when stderr is not a terminal: " .. err)
  T.ok(not err:find("\r", 1, true), "no bar when stderr is not a terminal")
  status, _, err = T.sanity(string.format("run %s --threads 1 --quiet out=%s", script, f))
  T.eq(status, 0); T.eq(err, "")
  os.remove(f)
end)

T.case("bad arguments", function()
  local x, y = data.fashion_mnist{split = "train", n = 8}
  local m = models.mlp{seed = 0}
  T.errors(function() train.fit(m, x, tensor.zeros(7)) end, "labels [N] for inputs [8, 1, 28, 28] expected, got [7]")
  T.errors(function() train.fit(m, x, y + 5) end, "is not a class index 0..9", "(the model has 10 outputs)")
  T.errors(function() train.fit(m, x, y * 0.5) end, "label 4.5 (sample 1)")
  T.errors(function() train.fit(m, x, y, {epoch = 2}) end, "unknown option 'epoch'")
  T.errors(function() train.fit(m, x, y, {optimizer = "rmsprop"}) end, "unknown value 'rmsprop'", "sgd, adam, adamw")
  T.errors(function() train.fit(m, x, y, {momentum = 0.9}) end, "option 'momentum': is an SGD option")
  T.errors(function() train.fit(m, x, y, {optimizer = "sgd", lr = -1}) end, "lr must be a non-negative number")
  T.errors(function() train.fit(m, x, y, {optimizer = "sgd", nesterov = true}) end, "nesterov needs momentum > 0")
  T.errors(function() train.fit(m, x, y, {batch_size = 0}) end, "option 'batch_size'")
  T.errors(function() train.fit(m, x, y, {x_val = x}) end, "x_val and y_val go together")
  T.errors(function() train.fit(m, x, y, {x_val = x, y_val = tensor.zeros(3)}) end, "labels [N] for inputs")
  T.errors(function() train.fit(m, x, y, {on_epoch = 1}) end, "option 'on_epoch': function expected")
  T.errors(function() train.fit(m, tensor.zeros(8, 3, 28, 28), y) end, "input has 2352 features") -- wrong input
  local conv = nn.sequential({nn.conv2d(1, 2, 3)}, {seed = 0})
  T.errors(function() train.fit(conv, x, y) end, "need logits [N, classes]")
  T.errors(function() train.evaluate(conv, x, y) end, "need logits [N, classes]")
  T.errors(function() train.cross_entropy(tensor.zeros(2, 3), tensor.from({0, 3})) end, "label 3 (sample 2)")
  T.errors(function() train.cross_entropy(tensor.zeros(6), tensor.zeros(6)) end, "logits [N, classes] expected")
  local o = train.optimizer(m, {optimizer = "sgd"})
  o:free()
  T.errors(function() o:step() end, "optimizer has been freed")
  local m2 = models.mlp{seed = 0}
  local o2 = train.optimizer(m2)
  m2:free()
  T.errors(function() o2:step() end, "model has been freed")
  T.errors(function() train.optimizer(m, {optimizer = "adam", beta1 = 1}) end, "beta1 must be in [0, 1)")
end)

T.done()
