-- bench/nn_vs_torch.lua — sanity's side of scripts/bench/nn_vs_torch.py:
-- times the models the driver exported (same weights as PyTorch's) at
-- batch 256: forward, forward + input gradient, and one training epoch
-- (SGD, momentum 0.9, lr 0.01, batch 256) over the first epoch_samples
-- Fashion-MNIST training images. Prints one tab-separated RESULT line per
-- measurement: model, threads, pass, min ms, median ms.
--   bin/sanity run scripts/bench/nn_vs_torch.lua dir=DIR [models=lenet,resnet8]
--       [threads_list=1,2] [reps=10] [epoch_samples=60000] [epoch_reps=1]
local dir = assert(cfg.dir, "dir= (the folder nn_vs_torch.py exported the models to)")
local function list(v, default)
  if v == nil then return default end
  return type(v) == "table" and v or {v}
end
local names = list(cfg.models, {"lenet", "resnet8"})
local threads_list = list(cfg.threads_list, {1, 2})
local reps, epoch_reps = cfg.reps or 10, cfg.epoch_reps or 1
local nepoch = cfg.epoch_samples or 60000

local function timed(fn, r)
  fn() -- warm-up: buffers are allocated once
  local ms = {}
  for i = 1, r do
    local t0 = sanity.clock()
    fn()
    ms[i] = (sanity.clock() - t0) * 1e3
  end
  table.sort(ms)
  return ms[1], ms[(#ms + 1) // 2]
end

local x = data.fashion_mnist{split = "test", n = 256}
local g = tensor.randn({256, 10}, {seed = 1, stream = "bench.grad"})
local xtr, ytr
if nepoch > 0 then xtr, ytr = data.fashion_mnist{split = "train", n = nepoch} end

for _, name in ipairs(names) do
  local m = model.load(dir .. "/" .. name .. ".h5")
  for _, th in ipairs(threads_list) do
    local function out(pass, lo, med)
      print(string.format("RESULT\t%s\t%d\t%s\t%.3f\t%.3f", name, th, pass, lo, med))
      io.stdout:flush()
    end
    out("forward", timed(function() m:forward(x, {threads = th}) end, reps))
    out("forward + input gradient", timed(function()
      m:forward(x, {threads = th})
      m:backward(g, {param_grads = false, threads = th})
    end, reps))
    if nepoch > 0 then
      local r = m:clone()
      local t = {}
      for i = 1, epoch_reps do
        local t0 = sanity.clock()
        train.fit(r, xtr, ytr, {epochs = 1, batch_size = 256, optimizer = "sgd", lr = 0.01, momentum = 0.9,
                                threads = th, progress = false, seed = i})
        t[i] = (sanity.clock() - t0) * 1e3
      end
      table.sort(t)
      out("training epoch", t[1], t[(#t + 1) // 2])
    end
  end
end
