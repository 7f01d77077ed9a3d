-- bench/nn.lua — wall time of the bundled models at batch 256:
-- forward, forward + input gradient (attribution), forward + backward with
-- parameter gradients (training), for 1 and 2 threads (or cfg.threads_list).
--   bin/sanity run scripts/bench/nn.lua [reps=20] [batch=256] [models=lenet,resnet8,mlp]
-- Prints min and median milliseconds per pass (the VM's timings are noisy;
-- min is the steadier number). Compare with scripts/bench/nn_torch.py.
-- Run with OPENBLAS_NUM_THREADS=1 (as `make bench` does): otherwise OpenBLAS
-- starts an idle thread pool when it loads, which sanity never uses (its
-- own workers call OpenBLAS single-threaded) but which adds timing noise.
local models = require "sanity.models"

local reps = cfg.reps or 20
local batch = cfg.batch or 256
local names = cfg.models or {"lenet", "resnet8", "mlp"}
if type(names) == "string" then names = {names} end
local threads_list = cfg.threads_list or {1, 2}
if type(threads_list) == "number" then threads_list = {threads_list} end

local function stats(t)
  table.sort(t)
  return t[1], t[(#t + 1) // 2]
end

local function time(fn)
  local ms = {}
  fn() -- warm-up: buffers allocated once
  for r = 1, reps do
    local t0 = sanity.clock()
    fn()
    ms[r] = (sanity.clock() - t0) * 1e3
  end
  return stats(ms)
end

print(string.format("%-8s %7s  %-28s %9s %9s", "model", "threads", "pass", "min ms", "median ms"))
for _, name in ipairs(names) do
  local m = models[name]{seed = 0}
  local x = tensor.randn({batch, 1, 28, 28}, {seed = 1, stream = "bench"})
  local g = tensor.randn({batch, 10}, {seed = 1, stream = "bench.grad"})
  for _, th in ipairs(threads_list) do
    local passes = {
      {"forward", function() m:forward(x, {threads = th}) end},
      {"forward + input gradient", function()
        m:forward(x, {threads = th})
        m:backward(g, {param_grads = false, threads = th})
      end},
      {"forward + all gradients", function()
        m:forward(x, {threads = th})
        m:backward(g, {param_grads = true, input_grad = false, threads = th})
      end},
    }
    for _, p in ipairs(passes) do
      local lo, med = time(p[2])
      print(string.format("%-8s %7d  %-28s %9.2f %9.2f", name, th, p[1], lo, med))
    end
  end
end
