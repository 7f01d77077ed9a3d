-- train_common.lua — shared by train_lenet.lua, train_mlp.lua and
-- train_resnet.lua: trains one bundled architecture on Fashion-MNIST with
-- sanity's own trainer and writes the model file (data/*.h5) with its
-- training details and test accuracy as root attributes.
-- Each script loads it with dofile and calls it with its defaults.
-- cfg keys (all optional): epochs, seed, lr, batch_size, optimizer, schedule,
-- momentum, weight_decay, label_permutation, n (training samples; default
-- all 60000), out, threads.
local models = require "sanity.models"

return function(arch, defaults)
  local c = {}
  for k, v in pairs(defaults) do c[k] = v end
  for k, v in pairs(cfg) do c[k] = v end
  local seed = cfg.seed or defaults.seed or 0
  local x, y = data.fashion_mnist{split = "train", n = c.n}
  local xt, yt = data.fashion_mnist{split = "test"}
  local m = models[arch]{seed = seed}
  sanity.log(string.format("%s: %d training images%s, %d epochs, %s lr %g, batch %d, schedule %s, seed %d, %d threads",
    arch, x:size(1), c.label_permutation and " (permuted labels)" or "", c.epochs, c.optimizer, c.lr,
    c.batch_size, c.schedule, seed, sanity.threads))
  local t0 = sanity.clock()
  local opts = {
    epochs = c.epochs, batch_size = c.batch_size, optimizer = c.optimizer, lr = c.lr,
    weight_decay = c.weight_decay, schedule = c.schedule, seed = seed,
    label_permutation = c.label_permutation or false,
  }
  if c.optimizer == "sgd" then opts.momentum = c.momentum; opts.nesterov = c.nesterov end
  if not c.label_permutation then opts.x_val, opts.y_val = xt, yt end
  local h = train.fit(m, x, y, opts)
  local secs = sanity.clock() - t0
  local test_acc = train.evaluate(m, xt, yt)
  local y_fit = c.label_permutation and train.permute_labels(y, {seed = seed}) or y
  local train_acc = train.evaluate(m, x, y_fit)
  local out = c.out
  m:save(out, {attrs = {
    dataset = "Fashion-MNIST", architecture_name = arch, seed = seed, epochs = h.epochs,
    optimizer = c.optimizer, lr = c.lr, batch_size = c.batch_size, schedule = c.schedule,
    weight_decay = c.weight_decay or 0, momentum = c.momentum or 0,
    label_permutation = c.label_permutation or false, train_samples = x:size(1),
    train_accuracy = train_acc, test_accuracy = test_acc, train_seconds = secs,
    threads = sanity.threads, trained_with = "sanity " .. sanity.version,
  }})
  print(string.format("%s: %d epochs in %.0f s; train accuracy %.4f%s, test accuracy %.4f -> %s", arch, h.epochs, secs,
    train_acc, c.label_permutation and " (on the permuted labels)" or "", test_acc, out))
  return m, h
end
