-- bench/lrp.lua — wall time of LRP-epsilon (and, for scale, the plain
-- gradient, LRP epsilon_plus and DeepLift) on LeNet and ResNet8, batch 256
-- of Fashion-MNIST, with the session's thread count:
--   for t in 1 2; do bin/sanity run scripts/bench/lrp.lua --threads $t; done
--   /usr/bin/python3 scripts/bench/lrp_torch.py      (PyTorch, same weights and batch)
-- Weights: tests/lua/helpers/seeded_weights.lua (seeds 11 and 13), which
-- lrp_torch.py reproduces bit for bit. Writes the batch, its targets and the
-- LRP-epsilon maps to cfg.out (default /tmp/sanity_lrp_bench.h5) so
-- lrp_torch.py runs on the same input and checks its maps against these.
-- Prints min and median wall milliseconds per call and the min process CPU
-- milliseconds (os.clock: all threads; on a shared, loaded machine the CPU
-- time of a 1-thread run is the steadier number).
local models = require "sanity.models"
local seeded = dofile("tests/lua/helpers/seeded_weights.lua")

local reps = cfg.reps or 10
local batch = cfg.batch or 256
local out = cfg.out or "/tmp/sanity_lrp_bench.h5"
local th = cfg.threads or 1

local function time(fn)
  local ms, cpu = {}, math.huge
  fn()
  for r = 1, reps do
    local t0, c0 = sanity.clock(), os.clock()
    fn()
    ms[r] = (sanity.clock() - t0) * 1e3
    cpu = math.min(cpu, (os.clock() - c0) * 1e3)
  end
  table.sort(ms)
  return ms[1], ms[(#ms + 1) // 2], cpu
end

local x = data.fashion_mnist{n = batch}
local f = results.open(out)
f:write("x", x)
print(string.format("%-8s %7s  %-22s %9s %9s %9s", "model", "threads", "method", "min ms", "median ms", "cpu ms"))
for _, spec in ipairs{{"lenet", 11}, {"resnet8", 13}} do
  local name = spec[1]
  local m = seeded(models[name]{seed = 0}, spec[2])
  local y = m:forward(x):argmax(2)
  f:write(name .. "/targets", y)
  f:write(name .. "/lrp_epsilon", attr.lrp(m, x, y, {epsilon = 1e-6}))
  for _, meth in ipairs{
    {"gradient", function() attr.gradient(m, x, y) end},
    {"lrp epsilon", function() attr.lrp(m, x, y, {epsilon = 1e-6}) end},
    {"lrp epsilon_plus", function() attr.lrp(m, x, y, {composite = "epsilon_plus"}) end},
    {"lrp epsilon_gamma_box", function() attr.lrp(m, x, y, {composite = "epsilon_gamma_box"}) end},
    {"deeplift", function() attr.deeplift(m, x, y) end},
  } do
    local lo, med, cpu = time(meth[2])
    print(string.format("%-8s %7d  %-22s %9.2f %9.2f %9.2f", name, th, meth[1], lo, med, cpu))
  end
end
f:close()
