-- bench/attr.lua — wall time of the gradient-family attributions on a batch
-- of Fashion-MNIST test images: gradient, integrated gradients (32 steps,
-- Gauss-Legendre, zero baseline, with the completeness gap) and SmoothGrad
-- (50 draws, sigma 0.15), on LeNet and ResNet8, for this run's --threads.
-- Writes the weights, the batch, the targets and the timings (min and median
-- wall seconds, min process CPU seconds) to --out, so that
-- scripts/bench/attr_torch.py runs PyTorch on the same data; that script
-- drives this one, alternating the two so both see the same machine load:
--   /usr/bin/python3 scripts/bench/attr_torch.py            (the comparison)
--   bin/sanity run scripts/bench/attr.lua --threads 1 --out /tmp/a.h5   (sanity alone)
-- Options: reps=3 batch=256 models=lenet,resnet8 methods=gradient,ig32,smoothgrad50
-- (batch_size, the rows per pass, is sanity's default 256).
local models = require "sanity.models"

local reps = cfg.reps or 3
local batch = cfg.batch or 256
local function list(v, def)
  if v == nil then return def end
  if type(v) == "string" then
    local t = {}
    for s in v:gmatch("[^,]+") do t[#t + 1] = s end
    return t
  end
  return v
end
local names = list(cfg.models, {"lenet", "resnet8"})
local methods = list(cfg.methods, {"gradient", "ig32", "smoothgrad50"})
local threads = cfg.threads

local calls = {
  gradient = function(m, x, y) return attr.gradient(m, x, y) end,
  ig32 = function(m, x, y) return attr.integrated_gradients(m, x, y, {steps = 32}) end,
  smoothgrad50 = function(m, x, y) return attr.smoothgrad(m, x, y, {n = 50, sigma = 0.15}) end,
}

local f = results.open()
local x, y = data.fashion_mnist{split = "test", n = batch}
f:write("x", x)
f:write("target", y)
print(string.format("%-8s %7s  %-14s %9s %9s %9s", "model", "threads", "method", "min s", "median s", "cpu s"))
for _, name in ipairs(names) do
  local m = models[name]{seed = 0}
  for _, p in ipairs(m:parameters()) do f:write("weights/" .. name .. "/" .. p.name, p.value) end
  for _, b in ipairs(m:buffers()) do f:write("weights/" .. name .. "/" .. b.name, b.value) end
  for _, meth in ipairs(methods) do
    local fn = calls[meth] or error("unknown method " .. meth)
    local ts, cpu = {}, {}
    fn(m, x, y) -- warm-up
    for r = 1, reps do
      local t0, c0 = sanity.clock(), os.clock()
      fn(m, x, y)
      ts[r], cpu[r] = sanity.clock() - t0, os.clock() - c0
      collectgarbage()
    end
    table.sort(ts)
    table.sort(cpu)
    local lo, med = ts[1], ts[(#ts + 1) // 2]
    f:write("time/" .. name .. "/" .. meth, {lo, med, cpu[1]})
    print(string.format("%-8s %7d  %-14s %9.3f %9.3f %9.3f", name, threads, meth, lo, med, cpu[1]))
  end
end
f:close()
